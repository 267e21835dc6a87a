"""Off-policy evaluation on the logged episodes, and the truth it is checked against.

The estimators (per-decision, over the horizon of months, discounted by ``gamma``; ``rho_t`` is the
policy's probability of the logged action over the logging propensity, ``w_t`` their product to month t):

* ``ips``: per-decision importance sampling, the mean over customers of sum_t gamma^t w_t r_t;
* ``snips``: the same with each month's weights normalised to mean 1 over customers (self-normalised);
* ``dr``: per-decision doubly robust (Jiang & Li 2016) with the FQE Q-function: sum_t gamma^t
  (w_t (r_t - Q(s_t, a_t)) + w_{t-1} V(s_t)), so the weights only correct the model's errors;
* ``fqe``: the FQE Q-function's value of the first month, V(s_0).

``weight_effective_share`` says how far the weights can be trusted: Kish's effective sample size of the last
month's weights, (sum w)^2 / sum w^2, as a share of the customers (1 for the logging policy itself; a
deterministic policy's weights are products of up to twelve 1/propensity factors, so a few customers whose
logged actions happened to match it carry the estimate).

``true_value`` rolls a policy out in the simulator on the world's customers (``lab.data.world.lifecycle.step``),
``n_rollouts`` lives each, with common random numbers across policies (the same seed draws the same
defaults, churns and top-ups for every policy), so paired differences between policies are tight;
``pooled`` joins the truths of disjoint groups of customers (the folds of a cross-fitted study).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
from scipy import stats

from lab.data.world.lifecycle import Accounts, Customers, step
from lab.lifecycle.policies import N_ACTIONS, Episodes, FittedQ, History, Policy, policy_probabilities


def estimates(episodes: Episodes, target: np.ndarray, q_logged: np.ndarray, v: np.ndarray,
              gamma: float) -> dict[str, float]:
    """IPS, SNIPS, DR and FQE of a policy, and its weights' effective share of customers, from its probability
    of each logged action ``target`` and the FQE values at the logged action ``q_logged`` and under the policy
    ``v`` (all ``[n, H]``, 0 where closed)."""
    rho = np.where(episodes.open, target / episodes.propensity, 1.0)
    w = np.cumprod(rho, axis=1)
    w_before = np.column_stack([np.ones(len(w)), w[:, :-1]])
    discount = gamma ** np.arange(episodes.n_months)
    reward = np.where(episodes.open, episodes.reward, 0.0)
    q_logged, v = np.where(episodes.open, q_logged, 0.0), np.where(episodes.open, v, 0.0)
    normalised = w / np.maximum(w.mean(axis=0), 1e-300)
    dr = (discount * (w * (reward - q_logged) + w_before * v)).sum(axis=1)
    last = w[:, -1]
    return {"ope_ips": float((discount * w * reward).sum(axis=1).mean()),
            "ope_snips": float((discount * normalised * reward).sum(axis=1).mean()),
            "ope_dr": float(dr.mean()), "ope_fqe": float(v[:, 0].mean()),
            "weight_effective_share": float(last.sum() ** 2 / max(len(last) * (last ** 2).sum(), 1e-300))}


def evaluate_policy(policy: Policy, episodes: Episodes, gamma: float, max_iter: int, random_state: int,
                    logging: bool = False) -> dict[str, float]:
    """Every estimator's value of ``policy`` on the logs; ``logging=True`` for the logging policy itself,
    whose probabilities are the logged propensities and whose FQE backs up the logged next action."""
    t = episodes.transitions()
    probs = policy_probabilities(policy, episodes)
    if logging:
        next_probs = np.eye(N_ACTIONS)[episodes.action[t["row"], np.minimum(t["month"] + 1, episodes.n_months - 1)]]
    else:
        next_probs = probs[t["row"], np.minimum(t["month"] + 1, episodes.n_months - 1)]
    fqe = FittedQ(gamma, max_iter, random_state=random_state)
    fqe.fit(t["X"], t["action"], t["reward"], t["X_next"], t["done"], next_probs=next_probs)
    q = np.zeros((*episodes.open.shape, N_ACTIONS))
    q[t["row"], t["month"]] = fqe.predict(t["X"])
    q_logged = np.take_along_axis(q, episodes.action[..., None], axis=2)[..., 0]
    if logging:
        target, v = episodes.propensity, q_logged
    else:
        target = np.take_along_axis(probs, episodes.action[..., None], axis=2)[..., 0]
        v = (q * probs).sum(axis=2)
    return estimates(episodes, target, q_logged, v, gamma)


@dataclass
class Truth:
    """A policy's rollouts: the mean discounted value per rollout, the mean cumulative discounted profit
    per customer by month, and the share of open accounts given each action by month."""

    per_rollout: np.ndarray  # [n_rollouts]
    curve: np.ndarray        # [H]
    action_shares: np.ndarray  # [H, 4]

    @property
    def value(self) -> float:
        return float(self.per_rollout.mean())

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """Student-t interval of the value over the rollouts (the Monte Carlo error of the truth)."""
        half = stats.t.ppf(0.5 + level / 2, len(self.per_rollout) - 1) * self.per_rollout.std(ddof=1)
        half /= np.sqrt(len(self.per_rollout))
        return self.value - half, self.value + half


def pooled(truths: Sequence[Truth], sizes: Sequence[int] | np.ndarray) -> Truth:
    """The truth over the union of disjoint groups of customers: each group's rollout means, curve and
    action shares weighted by its number of customers ``sizes``."""
    weight = np.asarray(sizes, dtype=np.float64) / np.sum(sizes)
    return Truth(*(sum(w * getattr(t, f.name) for w, t in zip(weight, truths)) for f in fields(Truth)))


def customers_at(customers: Customers, rows: np.ndarray) -> Customers:
    """The customers at ``rows``."""
    return Customers(**{f.name: getattr(customers, f.name)[rows] for f in fields(Customers)})


def true_value(policy: Policy, customers: Customers, static: np.ndarray, n_months: int, gamma: float,
               n_rollouts: int, seed: int | Sequence[int]) -> Truth:
    """Roll ``policy`` out in the simulator ``n_rollouts`` times per customer, acting on ``History``'s features.

    The world's draws come from ``[*seed, 0]`` and the policy's own randomisation from ``[*seed, 1]``, so
    every policy meets the same luck."""
    many = customers.repeat(n_rollouts)
    key = [int(s) for s in np.atleast_1d(seed)]
    world_rng, policy_rng = np.random.default_rng([*key, 0]), np.random.default_rng([*key, 1])
    accounts = Accounts.start(many)
    history = History.start(many.amount, np.repeat(static, n_rollouts, axis=0), n_months)
    total, curve, shares = np.zeros(len(many)), np.zeros(n_months), np.zeros((n_months, N_ACTIONS))
    for month in range(n_months):
        open_rows = np.flatnonzero(accounts.open)
        action = np.zeros(len(many), dtype=np.int64)
        if len(open_rows):
            probs = policy.probabilities(history.features()[open_rows])
            draws = policy_rng.random(len(open_rows))[:, None]
            action[open_rows] = np.minimum((draws > probs.cumsum(axis=1)).sum(axis=1), N_ACTIONS - 1)
            shares[month] = np.bincount(action[open_rows], minlength=N_ACTIONS) / len(open_rows)
        accounts, outcome = step(many, accounts, action, world_rng)
        history = history.after(action, outcome["topped_up"], accounts.balance)
        total += gamma ** month * outcome["profit"]
        curve[month] = total.mean()
    return Truth(total.reshape(len(customers), n_rollouts).mean(axis=0), curve, shares)

