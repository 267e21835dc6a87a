"""The months after the campaign: every customer who drew down lives ``n_months`` monthly periods in
which the lender may act, and the actions have delayed effects, as in lending.

Each month an open account earns its interest margin on the balance, amortises over ``TERM_MONTHS``,
may top up (a repeat drawdown), churn (prepay and leave) or default (the balance times ``LGD`` is
lost). The lender's monthly action is one of ``ACTIONS``:

* ``retention_offer`` builds a retention stock that lowers the churn hazard for months after;
* ``limit_increase`` raises top-ups now and, through a risk stock that decays slowly, the default
  hazard in the following months;
* ``rate_discount`` lifts top-ups of the price-sensitive this month but builds a habit of waiting:
  the more discounts a price-sensitive customer has had, the less they top up without one.

So the myopic best action is not always the lifetime best. ``step`` is the one transition, shared by
the logged data (``rollout`` under the randomised ``LOGGING_POLICY``, with its propensities), the
truth (the expected discounted profit under that policy, ``clv``, from ``n_rollouts`` repeats) and
``LifecycleEnv``, the same dynamics behind the Gymnasium API, whose reward is the month's true profit.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import gymnasium
import numpy as np
import pandas as pd
from scipy.special import expit, logit

from lab.data.world.credit import LGD, MARGIN, RATE_DISCOUNT_MARGIN

ACTIONS = ("none", "retention_offer", "limit_increase", "rate_discount")
ACTION_COST = np.array([0.0, 15.0, 5.0, 10.0], dtype=np.float64)
LOGGING_POLICY = np.array([0.55, 0.15, 0.15, 0.15])  # the randomised policy behind the logged months
TERM_MONTHS = 24
MONTHLY_DISCOUNT = 0.99  # the lender's discount factor per month for lifetime value
OBSERVATION = ("month_share", "balance_share", "engagement", "retention_stock", "risk_stock", "discount_habit",
               "price_sensitivity")
# Upper bounds of the observation: the stocks' fixed points (an action every month), balance capped at 10x.
OBSERVATION_HIGH = np.array([1.0, 10.0, 1.0, 1 / 0.4, 1 / 0.15, 1 / 0.25, 1.0], dtype=np.float32)


@dataclass
class Customers:
    """What does not change over a customer's life, one entry per customer (arrays of length ``n``)."""

    user_id: np.ndarray
    amount: np.ndarray             # the loan drawn in the campaign
    default_hazard: np.ndarray     # monthly default hazard without any action
    churn_logit: np.ndarray        # logit of the monthly churn hazard without any action
    motivation: np.ndarray         # latent need for credit: drives top-ups
    price_sensitivity: np.ndarray
    engagement: np.ndarray         # engagement at the start, to which it reverts

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Customers:
        """From the oracle ``lifecycle`` table (one row per customer)."""
        return cls(**{f.name: frame[f.name].to_numpy(np.float64 if f.name != "user_id" else np.int64)
                      for f in fields(cls)})

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({f.name: getattr(self, f.name) for f in fields(self)})

    def repeat(self, times: int) -> Customers:
        """Each customer ``times`` over (customer-major), for repeated rollouts in one pass."""
        return Customers(**{f.name: np.repeat(getattr(self, f.name), times) for f in fields(self)})

    def __len__(self) -> int:
        return len(self.user_id)


@dataclass
class Accounts:
    """The state of every account at the start of a month."""

    month: int
    balance: np.ndarray
    engagement: np.ndarray
    retention_stock: np.ndarray
    risk_stock: np.ndarray
    discount_habit: np.ndarray
    open: np.ndarray

    @classmethod
    def start(cls, customers: Customers) -> Accounts:
        n = len(customers)
        return cls(0, customers.amount.astype(np.float64).copy(), customers.engagement.astype(np.float64).copy(),
                   np.zeros(n), np.zeros(n), np.zeros(n), np.ones(n, dtype=bool))

    def observation(self, customers: Customers, n_months: int) -> np.ndarray:
        """``OBSERVATION`` per account, shape ``[n, 7]``: what a policy may look at (no latent)."""
        values = np.stack([np.full(len(customers), self.month / n_months), self.balance / customers.amount,
                           self.engagement, self.retention_stock, self.risk_stock, self.discount_habit,
                           customers.price_sensitivity], axis=1).astype(np.float32)
        return np.clip(values, 0.0, OBSERVATION_HIGH)


def step(customers: Customers, accounts: Accounts, action: np.ndarray,
         rng: np.random.Generator) -> tuple[Accounts, dict[str, np.ndarray]]:
    """One month: the next state and the month's ``profit``, ``topped_up``, ``churned``, ``defaulted``.

    Default this month reads the risk stock built before it (limit increases bite with a lag); churn
    reads the retention stock including this month's offer; closed accounts earn and lose nothing.
    """
    action = np.asarray(action, dtype=np.int64)
    is_open = accounts.open
    retention = 0.6 * accounts.retention_stock + (action == 1)
    risk = 0.85 * accounts.risk_stock + (action == 2)
    habit = 0.75 * accounts.discount_habit + (action == 3)
    engagement = np.clip(0.8 * accounts.engagement + 0.2 * customers.engagement + 0.05 * (action != 0), 0.0, 1.0)

    default_hazard = np.clip(customers.default_hazard * (1.0 + 1.5 * accounts.risk_stock), 0.0, 1.0)
    churn_hazard = expit(customers.churn_logit - 1.5 * retention - 1.5 * (engagement - 0.5))
    price = customers.price_sensitivity
    top_up_chance = expit(-1.8 + 3.0 * (customers.motivation - 0.5) + 2.0 * price * (action == 3)
                          - 1.6 * price * accounts.discount_habit + 1.0 * (action == 2))
    draws = rng.random((3, len(customers)))
    defaulted = is_open & (draws[0] < default_hazard)
    churned = is_open & ~defaulted & (draws[1] < churn_hazard)
    topped_up = is_open & ~defaulted & ~churned & (draws[2] < top_up_chance)

    margin = MARGIN - RATE_DISCOUNT_MARGIN * (action == 3)
    interest = accounts.balance * margin / 12.0 * ~defaulted
    profit = np.where(is_open, interest - LGD * accounts.balance * defaulted - ACTION_COST[action], 0.0)
    top_up = 0.25 * customers.amount * (1.0 + (action == 2))
    still_open = is_open & ~defaulted & ~churned
    balance = np.where(still_open, accounts.balance * (1.0 - 1.0 / TERM_MONTHS) + topped_up * top_up, 0.0)
    after = Accounts(accounts.month + 1, balance, engagement, retention, risk, habit, still_open)
    return after, {"profit": profit, "topped_up": topped_up, "churned": churned, "defaulted": defaulted}


def rollout(customers: Customers, n_months: int, rng: np.random.Generator,
            policy: np.ndarray = LOGGING_POLICY) -> pd.DataFrame:
    """Every customer's months under a randomised ``policy`` (action probabilities): one row per open
    account and month with the action, its propensity, the balance at the start and what happened."""
    accounts = Accounts.start(customers)
    months = []
    for month in range(n_months):
        action = rng.choice(len(ACTIONS), size=len(customers), p=policy)
        before = accounts
        accounts, outcome = step(customers, accounts, action, rng)
        rows = np.flatnonzero(before.open)
        months.append(pd.DataFrame({
            "user_id": customers.user_id[rows], "month": np.full(len(rows), month, dtype=np.int16),
            "action": pd.Categorical.from_codes(action[rows], pd.Index(ACTIONS)),
            "propensity": policy[action[rows]].astype(np.float32),
            "balance": before.balance[rows].astype(np.float32),
            **{name: outcome[name][rows].astype(np.int8) for name in ("topped_up", "churned", "defaulted")},
            "profit": outcome["profit"][rows].astype(np.float32)}))
    return pd.concat(months, ignore_index=True)


def lifetime_value(customers: Customers, n_months: int, n_rollouts: int, rng: np.random.Generator,
                   policy: np.ndarray = LOGGING_POLICY) -> tuple[np.ndarray, np.ndarray]:
    """Expected discounted profit per customer under ``policy`` and its standard error, from
    ``n_rollouts`` independent lives each (Monte Carlo: the truth up to that error)."""
    many = customers.repeat(n_rollouts)
    accounts, total = Accounts.start(many), np.zeros(len(many))
    for month in range(n_months):
        accounts, outcome = step(many, accounts, rng.choice(len(ACTIONS), size=len(many), p=policy), rng)
        total += MONTHLY_DISCOUNT ** month * outcome["profit"]
    per_rollout = total.reshape(len(customers), n_rollouts)
    return per_rollout.mean(axis=1), per_rollout.std(axis=1, ddof=1) / np.sqrt(n_rollouts)


def customers_of(user_id: np.ndarray, amount: np.ndarray, p_default: np.ndarray, churn_hazard: float,
                 motivation: np.ndarray, price_sensitivity: np.ndarray, engagement: np.ndarray) -> Customers:
    """The customers of a world: their 12-month PD as a monthly hazard, churn higher for the
    price-sensitive (they switch lenders for a better rate)."""
    return Customers(user_id=user_id.astype(np.int64), amount=amount.astype(np.float64),
                     default_hazard=1.0 - (1.0 - p_default.astype(np.float64)) ** (1.0 / 12.0),
                     churn_logit=logit(churn_hazard) + 1.2 * (price_sensitivity - 0.5),
                     motivation=motivation.astype(np.float64), price_sensitivity=price_sensitivity.astype(np.float64),
                     engagement=engagement.astype(np.float64))


class LifecycleEnv(gymnasium.Env):
    """One customer's months after the campaign, as a Gymnasium environment.

    ``reset`` draws a customer of the world (or takes ``options={"customer": i}``); each ``step(action)``
    is one month under ``ACTIONS[action]``, rewarded with its true profit; the episode ends when the
    account closes (churn or default) and is truncated after ``n_months``. Observations are
    ``OBSERVATION`` (shape ``[7]``), never the latent traits behind the dynamics.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, customers: Customers | pd.DataFrame, n_months: int = 12):
        self.customers = customers if isinstance(customers, Customers) else Customers.from_frame(customers)
        if len(self.customers) == 0:
            raise ValueError("the world has no customers (nobody drew down): nothing to simulate")
        self.n_months = n_months
        self.action_space = gymnasium.spaces.Discrete(len(ACTIONS))
        self.observation_space = gymnasium.spaces.Box(np.zeros(len(OBSERVATION), np.float32), OBSERVATION_HIGH,
                                                      dtype=np.float32)
        self._customer: Customers | None = None
        self._accounts: Accounts | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        index = (options or {}).get("customer", int(self.np_random.integers(len(self.customers))))
        self._customer = Customers(**{f.name: getattr(self.customers, f.name)[[index]] for f in fields(Customers)})
        self._accounts = Accounts.start(self._customer)
        return self._accounts.observation(self._customer, self.n_months)[0], {"user_id": int(self._customer.user_id[0])}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._customer is None or self._accounts is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be one of 0..{len(ACTIONS) - 1} ({', '.join(ACTIONS)}), got {action!r}")
        self._accounts, outcome = step(self._customer, self._accounts, np.array([action]), self.np_random)
        terminated = not bool(self._accounts.open[0])
        truncated = not terminated and self._accounts.month >= self.n_months
        info = {name: bool(outcome[name][0]) for name in ("topped_up", "churned", "defaulted")}
        return (self._accounts.observation(self._customer, self.n_months)[0], float(outcome["profit"][0]),
                terminated, truncated, info)

