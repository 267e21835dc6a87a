"""The observable state of an account, the logged episodes built from it, and the policies learned offline.

A lender sees neither the hazards nor the stocks of ``lab.data.world.lifecycle``: it sees the month, the
balance (its first month's balance is the amount drawn), the top-ups so far, which paid actions it took
and how long ago, and the customer's features in ``users``. ``History`` is that state, updated month by
month from what happened; the same class builds the features of the logged ``account_months`` and of
the simulator's accounts in a rollout, so a policy learned on the logs acts the same way in truth.

Action-value models follow scikit-learn's estimator contract; each one regresses a target on the state
and the action's one-hot with ``HistGradientBoostingRegressor``:

* ``FittedQ``: fitted-Q iteration over the finite horizon (``horizon`` sweeps; month is in the state, so
  after ``horizon`` sweeps the Q-function is exact for every month). ``next_probs=None`` backs up the best
  next action (FQI, the policy to learn); given next-action probabilities it evaluates that policy (FQE).
  ``horizon=1`` is the one-month reward model behind the myopic policy.
* ``MonteCarloQ``: the logged discounted return-to-go per action (the logging policy's action value),
  behind the value-greedy (CLV) policy.
* ``PessimisticFittedQ``: a bootstrap ensemble of ``FittedQ`` (customers resampled) whose paid actions are
  valued at a lower confidence bound of their advantage over no action (Ensemble/LCB offline RL), so its
  greedy policy acts only where the logs reliably say acting pays and otherwise does nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.utils.validation import check_is_fitted

from lab.data.world.lifecycle import ACTIONS

N_ACTIONS = len(ACTIONS)
PAID = ACTIONS[1:]
# Numeric users columns a lender knows of each customer, used where the users table has them.
STATIC_COLUMNS = ("age", "income", "credit_score", "tenure_months", "app_sessions_30d", "savings_balance",
                  "debt_to_income", "digital_affinity", "risk_appetite", "price_sensitivity", "prior_drawdowns")
OUTCOMES = ("defaulted", "churned", "topped_up")  # what happened to an account in a logged month
DYNAMIC_FEATURES = ("month", "balance", "amount", "balance_share", "top_ups",
                    *(f"times_{a}" for a in PAID), *(f"months_since_{a}" for a in PAID))


def static_columns_of(users: pd.DataFrame) -> tuple[str, ...]:
    """The ``STATIC_COLUMNS`` the users table has."""
    return tuple(c for c in STATIC_COLUMNS if c in users.columns)


@dataclass
class History:
    """What the lender has seen of each account by the start of a month (arrays of length ``n``)."""

    month: int
    n_months: int
    amount: np.ndarray
    balance: np.ndarray
    top_ups: np.ndarray
    times: np.ndarray   # [n, 3] paid actions taken so far
    since: np.ndarray   # [n, 3] months since each paid action, n_months if never
    static: np.ndarray  # [n, k] the users features

    @classmethod
    def start(cls, amount: np.ndarray, static: np.ndarray, n_months: int) -> History:
        n = len(amount)
        return cls(0, n_months, amount.astype(np.float64), amount.astype(np.float64), np.zeros(n),
                   np.zeros((n, len(PAID))), np.full((n, len(PAID)), float(n_months)), static)

    def features(self) -> np.ndarray:
        """``DYNAMIC_FEATURES`` then the static columns, shape ``[n, d]``."""
        share = self.balance / np.maximum(self.amount, 1e-9)
        return np.column_stack([np.full(len(self.amount), self.month), self.balance, self.amount, share,
                                self.top_ups, self.times, self.since, self.static])

    def after(self, action: np.ndarray, topped_up: np.ndarray, balance: np.ndarray) -> History:
        """The history a month later, given the month's action, top-up and the next month's balance."""
        paid = (np.asarray(action)[:, None] == np.arange(1, N_ACTIONS)[None, :])
        since = np.where(paid, 1.0, np.minimum(self.since + 1, self.n_months))
        return History(self.month + 1, self.n_months, self.amount, np.nan_to_num(balance), self.top_ups + topped_up,
                       self.times + paid, since, self.static)


@dataclass
class Episodes:
    """The logged months as dense ``[customers, months]`` arrays (closed months masked out)."""

    user_id: np.ndarray
    features: np.ndarray    # [n, H, d]
    action: np.ndarray      # [n, H], 0 where closed
    reward: np.ndarray      # [n, H], 0 where closed
    propensity: np.ndarray  # [n, H], 1 where closed
    open: np.ndarray        # [n, H] bool
    feature_names: tuple[str, ...]
    outcomes: dict[str, np.ndarray] | None = None  # OUTCOMES of each month, [n, H] 0/1, 0 where closed

    @property
    def n_months(self) -> int:
        return self.action.shape[1]

    def subset(self, rows: np.ndarray) -> Episodes:
        """The episodes of the customers at ``rows`` (for cross-fitting)."""
        outcomes = None if self.outcomes is None else {name: v[rows] for name, v in self.outcomes.items()}
        return Episodes(self.user_id[rows], self.features[rows], self.action[rows], self.reward[rows],
                        self.propensity[rows], self.open[rows], self.feature_names, outcomes)

    def returns(self, gamma: float) -> np.ndarray:
        """Discounted return-to-go from every month, ``[n, H]``."""
        out = np.zeros_like(self.reward)
        running = np.zeros(len(self.reward))
        for month in reversed(range(self.n_months)):
            running = self.reward[:, month] + gamma * running
            out[:, month] = running
        return out

    def transitions(self) -> dict[str, np.ndarray]:
        """One row per open logged month: ``X``, ``action``, ``reward``, ``X_next``, ``done``, ``row``
        (customer) and ``month`` to index the dense arrays with, and the month's ``OUTCOMES`` where logged."""
        row, month = np.nonzero(self.open)
        has_next = month + 1 < self.n_months
        next_month = np.minimum(month + 1, self.n_months - 1)
        done = ~has_next | ~self.open[row, next_month]
        return {"X": self.features[row, month], "action": self.action[row, month],
                "reward": self.reward[row, month], "X_next": self.features[row, next_month], "done": done,
                "row": row, "month": month,
                **{name: values[row, month] for name, values in (self.outcomes or {}).items()}}


def logged_episodes(account_months: pd.DataFrame, users: pd.DataFrame, n_months: int | None = None) -> Episodes:
    """The episodes of ``account_months`` (months 0, 1, ... per customer), their state built by ``History``."""
    frame = account_months.sort_values(["user_id", "month"])
    horizon = int(frame["month"].max()) + 1 if n_months is None else n_months
    ids, row = np.unique(frame["user_id"].to_numpy(), return_inverse=True)
    month = frame["month"].to_numpy().astype(np.int64)
    shape = (len(ids), horizon)

    def dense(values: np.ndarray, fill: float) -> np.ndarray:
        out = np.full(shape, fill, dtype=np.float64)
        out[row, month] = values
        return out

    action = dense(pd.Categorical(frame["action"], categories=ACTIONS).codes, 0).astype(np.int64)
    balance = dense(frame["balance"].to_numpy(), np.nan) if "balance" in frame else np.full(shape, np.nan)
    topped_up = dense(frame["topped_up"].to_numpy(), 0) if "topped_up" in frame else np.zeros(shape)
    propensity = dense(frame["propensity"].to_numpy(), 1.0) if "propensity" in frame else np.ones(shape)
    static_names = static_columns_of(users)
    static = users.set_index("user_id").reindex(ids)[list(static_names)].to_numpy(np.float64)
    history = History.start(np.nan_to_num(balance[:, 0]), static, horizon)
    features = np.zeros((*shape, len(DYNAMIC_FEATURES) + len(static_names)))
    for m in range(horizon):
        features[:, m] = history.features()
        following = balance[:, m + 1] if m + 1 < horizon else np.zeros(len(ids))
        history = history.after(action[:, m], topped_up[:, m], following)
    outcomes = ({name: dense(frame[name].to_numpy(), 0) for name in OUTCOMES}
                if all(name in frame for name in OUTCOMES) else None)
    return Episodes(ids, features, action, dense(frame["profit"].to_numpy(), 0.0), propensity,
                    dense(np.ones(len(frame)), 0).astype(bool), (*DYNAMIC_FEATURES, *static_names), outcomes)


def _amount(X: np.ndarray) -> np.ndarray:
    return np.maximum(X[:, DYNAMIC_FEATURES.index("amount")], 1.0)


def state_action_design(X: np.ndarray, action: np.ndarray) -> np.ndarray:
    """The state then the action's one-hot: the input of every action-value model."""
    return np.column_stack([X, np.eye(N_ACTIONS)[action]])


class _ActionValue(BaseEstimator):
    """Shared by the action-value models: the value of every action in each state, ``[n, 4]``.

    Values scale with the amount drawn, so the regressors learn value per unit of ``amount`` (the squared
    loss is then not ruled by the largest loans) and predictions are scaled back.
    """

    def _regressor(self, seed_offset: int = 0) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(max_iter=self.max_iter, learning_rate=self.learning_rate,
                                             max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=200,
                                             early_stopping=False, random_state=self.random_state + seed_offset)

    def predict(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        X = np.asarray(X, dtype=np.float64)
        per_unit = [self.model_.predict(state_action_design(X, np.full(len(X), a))) for a in range(N_ACTIONS)]
        return np.column_stack(per_unit) * _amount(X)[:, None]


class FittedQ(_ActionValue):
    """Fitted-Q iteration (``next_probs=None``) or fitted-Q evaluation, by backward induction over months.

    From the last month back, one regressor per month fits ``reward + gamma * V(X_next)`` (0 where
    ``done``) on state and action, ``V`` being the next month's best action value (FQI) or its mean under
    ``next_probs`` (FQE); exact for a finite horizon with the month in the state. ``gamma=0`` is the
    month's reward model (the myopic policy's).
    """

    def __init__(self, gamma: float = 0.99, max_iter: int = 100, learning_rate: float = 0.05,
                 max_leaf_nodes: int = 8, random_state: int = 0):
        self.gamma = gamma
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.random_state = random_state

    def fit(self, X: np.ndarray, action: np.ndarray, reward: np.ndarray, X_next: np.ndarray, done: np.ndarray,
            next_probs: np.ndarray | None = None) -> FittedQ:
        X, X_next = np.asarray(X, dtype=np.float64), np.asarray(X_next, dtype=np.float64)
        month, action, reward = X[:, 0].astype(np.int64), np.asarray(action), np.asarray(reward, dtype=np.float64)
        self.models_: list[HistGradientBoostingRegressor] = []
        for m in reversed(range(int(month.max()) + 1)):
            rows = np.flatnonzero(month == m)
            target = reward[rows].copy()
            if self.models_ and self.gamma > 0:
                live = rows[~np.asarray(done)[rows]]
                q_next = self._month_values(0, X_next[live])
                v_next = q_next.max(axis=1) if next_probs is None else (q_next * next_probs[live]).sum(axis=1)
                target[~np.asarray(done)[rows]] += self.gamma * v_next
            design = state_action_design(X[rows], action[rows])
            self.models_.insert(0, self._regressor(m).fit(design, target / _amount(X[rows])))
        return self

    def _month_values(self, m: int, X: np.ndarray) -> np.ndarray:
        model = self.models_[m]
        per_unit = [model.predict(state_action_design(X, np.full(len(X), a))) for a in range(N_ACTIONS)]
        return np.column_stack(per_unit) * _amount(X)[:, None]

    def predict(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        X = np.asarray(X, dtype=np.float64)
        month = np.minimum(X[:, 0].astype(np.int64), len(self.models_) - 1)
        out = np.zeros((len(X), N_ACTIONS))
        for m in np.unique(month):
            out[month == m] = self._month_values(int(m), X[month == m])
        return out


class PessimisticFittedQ(BaseEstimator):
    """Fitted-Q with a lower confidence bound on the advantage of each paid action over no action.

    ``n_estimators`` ``FittedQ`` models, each fitted on a bootstrap of the customers (``groups``; rows if
    ``None``), so an estimate resting on a few noisy lives varies across them. ``predict`` gives no action
    the ensemble's mean value and each paid action that plus ``mean - penalty * std`` of its advantage over
    no action: a greedy policy on it takes a paid action only where that bound is positive.
    """

    def __init__(self, gamma: float = 0.99, n_estimators: int = 4, penalty: float = 1.0, max_iter: int = 100,
                 learning_rate: float = 0.05, max_leaf_nodes: int = 8, random_state: int = 0):
        self.gamma = gamma
        self.n_estimators = n_estimators
        self.penalty = penalty
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.random_state = random_state

    def fit(self, X: np.ndarray, action: np.ndarray, reward: np.ndarray, X_next: np.ndarray, done: np.ndarray,
            groups: np.ndarray | None = None) -> PessimisticFittedQ:
        X, X_next = np.asarray(X, dtype=np.float64), np.asarray(X_next, dtype=np.float64)
        action, reward, done = np.asarray(action), np.asarray(reward, dtype=np.float64), np.asarray(done)
        ids, group = np.unique(np.arange(len(X)) if groups is None else np.asarray(groups), return_inverse=True)
        rng = np.random.default_rng(self.random_state)
        self.estimators_: list[FittedQ] = []
        for k in range(self.n_estimators):
            counts = np.bincount(rng.integers(0, len(ids), len(ids)), minlength=len(ids))
            rows = np.repeat(np.arange(len(X)), counts[group])
            model = FittedQ(self.gamma, self.max_iter, self.learning_rate, self.max_leaf_nodes, self.random_state + k)
            self.estimators_.append(model.fit(X[rows], action[rows], reward[rows], X_next[rows], done[rows]))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        q = np.stack([model.predict(X) for model in self.estimators_])
        advantage = q[:, :, 1:] - q[:, :, :1]
        spread = advantage.std(axis=0, ddof=1) if len(q) > 1 else np.zeros_like(advantage[0])
        base = q[:, :, 0].mean(axis=0)
        return np.column_stack([base, base[:, None] + advantage.mean(axis=0) - self.penalty * spread])


class MonteCarloQ(_ActionValue):
    """The logged discounted return-to-go regressed on state and action (the logging policy's Q)."""

    def __init__(self, max_iter: int = 100, learning_rate: float = 0.05, max_leaf_nodes: int = 8,
                 random_state: int = 0):
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.random_state = random_state

    def fit(self, X: np.ndarray, action: np.ndarray, returns: np.ndarray) -> MonteCarloQ:
        X = np.asarray(X, dtype=np.float64)
        self.model_ = self._regressor().fit(state_action_design(X, np.asarray(action)), returns / _amount(X))
        return self


ActionValue = FittedQ | MonteCarloQ | PessimisticFittedQ


class ActionScorer(Protocol):
    """What a greedy policy acts on: a score per action in each state, ``predict(X) -> [n, 4]``."""

    def predict(self, X: np.ndarray) -> np.ndarray: ...


class Policy:
    """A policy acting on observable features: ``probabilities(X) -> [n, 4]`` for one month's accounts."""

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class FixedPolicy(Policy):
    """The same action probabilities in every state (no action; the randomised logging policy)."""

    def __init__(self, probs: np.ndarray):
        self.probs = np.asarray(probs, dtype=np.float64)

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        return np.tile(self.probs, (len(X), 1))


class GreedyPolicy(Policy):
    """The best action by an action-value model; with ``budget_share`` < 1 at most that share of the month's
    accounts gets a paid action (those with the largest advantage over no action), the rest none."""

    def __init__(self, model: ActionScorer, budget_share: float = 1.0):
        self.model = model
        self.budget_share = budget_share

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        q = self.model.predict(X)
        best = q.argmax(axis=1)
        if self.budget_share < 1.0:
            advantage = np.where(best > 0, q.max(axis=1) - q[:, 0], -np.inf)
            allowed = int(np.floor(self.budget_share * len(X)))
            keep = np.zeros(len(X), dtype=bool)
            keep[np.argsort(-advantage, kind="stable")[:allowed]] = True
            best = np.where(keep, best, 0)
        return np.eye(N_ACTIONS)[best]


def policy_probabilities(policy: Policy, episodes: Episodes) -> np.ndarray:
    """The policy's action probabilities at every logged state, ``[n, H, 4]``, month by month (a budget
    binds within a month's open accounts); uniform where the account is closed."""
    out = np.full((*episodes.open.shape, N_ACTIONS), 1.0 / N_ACTIONS)
    for month in range(episodes.n_months):
        rows = np.flatnonzero(episodes.open[:, month])
        if len(rows):
            out[rows, month] = policy.probabilities(episodes.features[rows, month])
    return out


def fit_q_learners(episodes: Episodes, gamma: float, max_iter: int, random_state: int, n_bootstrap: int = 3,
                   penalty: float = 1.0) -> dict[str, ActionValue]:
    """The action-value models behind the learned policies, fitted on the logged episodes: ``myopic``,
    ``clv_greedy``, ``fitted_q`` and ``fitted_q_lcb`` (``PessimisticFittedQ``, customers bootstrapped)."""
    t = episodes.transitions()
    returns = episodes.returns(gamma)[t["row"], t["month"]]
    args = (t["X"], t["action"], t["reward"], t["X_next"], t["done"])
    pessimistic = PessimisticFittedQ(gamma, n_bootstrap, penalty, max_iter, random_state=random_state)
    return {"myopic": FittedQ(0.0, max_iter, random_state=random_state).fit(*args),
            "clv_greedy": MonteCarloQ(max_iter, random_state=random_state).fit(t["X"], t["action"], returns),
            "fitted_q": FittedQ(gamma, max_iter, random_state=random_state).fit(*args),
            "fitted_q_lcb": pessimistic.fit(*args, groups=t["row"])}
