"""A structured policy learner: a learned model of the observable month, and a one-dimensional policy search on it.

Why: a limit increase earns a low-risk customer about 0.006 of the loan a month more, while one default
costs 0.6 of it, so a regressor of the realised monthly profit (fitted-Q) drowns the gain in default noise.
Most of the month is bookkeeping the logs show exactly (the interest margin on the balance, the action's cost,
the loss at default, amortisation and the size of a top-up: all linear in balance and amount); what is
uncertain is three chances, default, churn and top-up. ``ObservedDynamics`` learns that decomposition from
the logs and rolls a policy out in expectation over default and churn (top-ups sampled, since they change the
balance), so a policy's value rests on three classifiers instead of one regressor of noisy returns.

``RiskThreshold`` searches the one-dimensional family "``action`` every month for the ``share`` of customers
with the lowest predicted default risk at drawdown, nothing for the others", choosing ``share`` on a grid by
that model's value of each rule on the training customers. The default model is a logistic regression with
the counts of paid actions on a log scale: boosted trees are flat beyond the few raises the logs hold (a
customer raised every month meets a risk no logged customer had) and so overrate raising; a logit linear in
the raw count compounds the risk of every further raise and underrates it; the log count sits between.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.validation import check_is_fitted

from lab.data.world.lifecycle import ACTIONS
from lab.lifecycle.policies import DYNAMIC_FEATURES, N_ACTIONS, PAID, History, Policy, state_action_design

BALANCE, AMOUNT = DYNAMIC_FEATURES.index("balance"), DYNAMIC_FEATURES.index("amount")
PAID_COUNTS = [DYNAMIC_FEATURES.index(f"times_{a}") for a in PAID]
SHARES = tuple(round(0.05 * k, 2) for k in range(13))  # 0, 5%, ..., 60% of customers


def _default_features(X: np.ndarray) -> np.ndarray:
    """The state without the month, paid-action counts on a log scale (the default model's input)."""
    out = np.array(X, dtype=np.float64)
    out[:, PAID_COUNTS] = np.log1p(out[:, PAID_COUNTS])
    return out[:, 1:]


def _chance(model: ClassifierMixin, X: np.ndarray) -> np.ndarray:
    """The fitted classifier's probability of 1 (0 where the logs held no 1 at all)."""
    probs = model.predict_proba(X)
    return probs[:, list(model.classes_).index(1)] if 1 in model.classes_ else np.zeros(len(X))


def _least_squares(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(design, target, rcond=None)[0]


class ObservedDynamics(BaseEstimator):
    """A learned model of one month on ``History``'s features, and policy values rolled out in it.

    Fitted attributes: ``default_`` (the chance of default this month from the state: a logistic regression
    with paid-action counts on a log scale, regularised by ``default_c``), ``churn_`` and ``top_up_``
    (boosted classifiers on state and action, each fitted on the accounts still open at that point of the
    month), ``margin_`` and ``cost_`` per action (the month's profit of a surviving account is
    ``margin * balance - cost``), ``loss_rate_`` (the loss per unit of balance at default), ``amortisation_``
    and ``top_up_size_`` per action (next balance = ``amortisation * balance + top_up_size * amount`` if
    topped up), ``n_months_``, and ``default_draws_``: ``n_bootstrap`` default models refitted on bootstraps of
    the customers (``groups``; rows if ``None``), so a value can carry the uncertainty of the rare defaults.
    """

    def __init__(self, max_iter: int = 100, default_c: float = 1.0, n_bootstrap: int = 8, random_state: int = 0):
        self.max_iter = max_iter
        self.default_c = default_c
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    def _default_model(self, X: np.ndarray, defaulted: np.ndarray) -> ClassifierMixin:
        if defaulted.any() and not defaulted.all():
            model = make_pipeline(FunctionTransformer(_default_features), StandardScaler(),
                                  LogisticRegression(C=self.default_c, max_iter=2000))
        else:  # one class only: the boosted classifier fits it as a constant chance
            model = self._classifier()
        return model.fit(X, defaulted.astype(int))

    def _classifier(self) -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(max_iter=self.max_iter, learning_rate=0.1, max_leaf_nodes=8,
                                              min_samples_leaf=200, early_stopping=False,
                                              random_state=self.random_state)

    def fit(self, X: np.ndarray, action: np.ndarray, reward: np.ndarray, X_next: np.ndarray, done: np.ndarray,
            defaulted: np.ndarray, churned: np.ndarray, topped_up: np.ndarray,
            groups: np.ndarray | None = None) -> ObservedDynamics:
        X, X_next = np.asarray(X, dtype=np.float64), np.asarray(X_next, dtype=np.float64)
        action, reward = np.asarray(action, dtype=np.int64), np.asarray(reward, dtype=np.float64)
        done = np.asarray(done)
        defaulted, churned, topped_up = (np.asarray(v).astype(bool) for v in (defaulted, churned, topped_up))
        balance, amount = X[:, BALANCE], X[:, AMOUNT]
        self.n_months_ = int(X[:, 0].max()) + 1
        self.default_ = self._default_model(X, defaulted)
        ids, group = np.unique(np.arange(len(X)) if groups is None else np.asarray(groups), return_inverse=True)
        rng = np.random.default_rng(self.random_state)
        self.default_draws_ = []
        for _ in range(self.n_bootstrap):
            counts = np.bincount(rng.integers(0, len(ids), len(ids)), minlength=len(ids))
            rows = np.repeat(np.arange(len(X)), counts[group])
            self.default_draws_.append(self._default_model(X[rows], defaulted[rows]))
        survives = ~defaulted
        self.churn_ = self._classifier().fit(state_action_design(X[survives], action[survives]),
                                             churned[survives].astype(int))
        stays = survives & ~churned
        self.top_up_ = self._classifier().fit(state_action_design(X[stays], action[stays]),
                                              topped_up[stays].astype(int))
        self.margin_, self.cost_ = np.zeros(N_ACTIONS), np.zeros(N_ACTIONS)
        for a in range(N_ACTIONS):
            rows = survives & (action == a)
            self.margin_[a], minus_cost = _least_squares(np.column_stack([balance[rows], np.ones(rows.sum())]),
                                                         reward[rows])
            self.cost_[a] = -minus_cost
        lost = -(reward[defaulted] + self.cost_[action[defaulted]])
        self.loss_rate_ = float(_least_squares(balance[defaulted, None], lost)[0]) if defaulted.any() else 0.0
        carried = stays & ~done
        top_up = amount * topped_up
        design = np.column_stack([balance, *(top_up * (action == a) for a in range(N_ACTIONS))])[carried]
        coefficients = _least_squares(design, X_next[carried, BALANCE])
        self.amortisation_, self.top_up_size_ = float(coefficients[0]), coefficients[1:]
        return self

    def default_hazard(self, X: np.ndarray) -> np.ndarray:
        """The chance that an account in state ``X`` defaults this month."""
        check_is_fitted(self)
        return _chance(self.default_, np.asarray(X, dtype=np.float64))

    def expected_reward(self, X: np.ndarray, action: np.ndarray, hazard: np.ndarray) -> np.ndarray:
        """The month's expected profit of ``action`` in ``X`` given its default ``hazard``."""
        balance = X[:, BALANCE]
        return (1 - hazard) * self.margin_[action] * balance - hazard * self.loss_rate_ * balance - self.cost_[action]

    def value(self, policy: Policy, start: np.ndarray, gamma: float, n_lives: int = 4, seed: int = 0) -> np.ndarray:
        """The mean discounted profit of ``policy`` from the drawdown states ``start`` over ``n_months_``, in
        this model (first) and with each of ``default_draws_`` for the default model (after it): default and
        churn in expectation (each life weighted by its chance to be open), top-ups drawn ``n_lives`` times per
        customer from ``seed`` (the same draws for every policy)."""
        check_is_fitted(self)
        start = np.repeat(np.asarray(start, dtype=np.float64), n_lives, axis=0)
        rng = np.random.default_rng(seed)
        history = History.start(start[:, AMOUNT], start[:, len(DYNAMIC_FEATURES):], self.n_months_)
        models = [self.default_, *self.default_draws_]
        open_chance, total = np.ones((len(models), len(start))), np.zeros((len(models), len(start)))
        for month in range(self.n_months_):
            X = history.features()
            probs, draws = policy.probabilities(X), rng.random((2, len(X)))
            action = np.minimum((draws[0][:, None] > probs.cumsum(axis=1)).sum(axis=1), N_ACTIONS - 1)
            hazard = np.stack([_chance(model, X) for model in models])
            total += gamma ** month * open_chance * self.expected_reward(X, action, hazard)
            open_chance *= (1 - hazard) * (1 - _chance(self.churn_, state_action_design(X, action)))
            topped_up = draws[1] < _chance(self.top_up_, state_action_design(X, action))
            balance = self.amortisation_ * X[:, BALANCE] + self.top_up_size_[action] * X[:, AMOUNT] * topped_up
            history = history.after(action, topped_up, balance)
        return total.mean(axis=1)


class ThresholdRule(Policy):
    """``action`` in every state whose ``risk`` is below ``cut``, no action elsewhere."""

    def __init__(self, risk: Callable[[np.ndarray], np.ndarray], cut: float, action: int):
        self.risk, self.cut, self.action = risk, cut, action

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        return np.eye(N_ACTIONS)[np.where(self.risk(X) < self.cut, self.action, 0)]


class RiskThreshold(BaseEstimator):
    """``action`` every month for the ``share_`` of customers with the lowest predicted default risk at
    drawdown, ``share_`` chosen from ``shares`` by ``ObservedDynamics``' value of each rule on the training
    customers: the share whose value less ``penalty`` standard deviations of its gain over no action across
    the bootstrapped default models is largest (``values_`` and ``lower_bounds_``, by share; 1.645: a one-sided
    95% bound), since the rare defaults leave the risk a raise adds uncertain and underrating it raises far too
    many customers; ``cut_`` is the risk below which it acts.

    ``predict`` gives a preference per action, not a value: 0 for no action, ``cut_ - risk`` for ``action``
    (positive where the rule acts, larger for safer customers, so a budget cap keeps the safest), ``-inf``
    for the other actions; a ``GreedyPolicy`` on it is the rule.
    """

    def __init__(self, gamma: float = 0.99, shares: tuple[float, ...] = SHARES, action: str = "limit_increase",
                 n_lives: int = 4, n_bootstrap: int = 10, penalty: float = 1.645, max_iter: int = 100,
                 default_c: float = 1.0, random_state: int = 0):
        self.gamma = gamma
        self.shares = shares
        self.action = action
        self.n_lives = n_lives
        self.n_bootstrap = n_bootstrap
        self.penalty = penalty
        self.max_iter = max_iter
        self.default_c = default_c
        self.random_state = random_state

    def fit(self, X: np.ndarray, action: np.ndarray, reward: np.ndarray, X_next: np.ndarray, done: np.ndarray,
            defaulted: np.ndarray, churned: np.ndarray, topped_up: np.ndarray,
            groups: np.ndarray | None = None) -> RiskThreshold:
        X = np.asarray(X, dtype=np.float64)
        self.dynamics_ = ObservedDynamics(self.max_iter, self.default_c, self.n_bootstrap, self.random_state).fit(
            X, action, reward, X_next, done, defaulted, churned, topped_up, groups)
        start = X[X[:, 0] == 0]
        risk = self._risk(start)
        code = ACTIONS.index(self.action)
        cuts = {share: float(np.quantile(risk, share)) if share > 0 else -np.inf for share in self.shares}
        values = {share: self.dynamics_.value(ThresholdRule(self._risk, cut, code), start, self.gamma, self.n_lives,
                                              self.random_state) for share, cut in cuts.items()}
        nothing = self.dynamics_.value(ThresholdRule(self._risk, -np.inf, code), start, self.gamma, self.n_lives,
                                       self.random_state)
        self.values_ = {share: float(v[0]) for share, v in values.items()}
        self.lower_bounds_ = {share: float(v[0] - self.penalty * (np.std(v[1:] - nothing[1:], ddof=1)
                                                                  if len(v) > 2 else 0.0))
                              for share, v in values.items()}
        self.share_ = max(self.lower_bounds_, key=self.lower_bounds_.__getitem__)
        self.cut_ = cuts[self.share_]
        return self

    def _risk(self, X: np.ndarray) -> np.ndarray:
        """The default hazard the customer in each state had at drawdown (first month, no action yet)."""
        X = np.asarray(X, dtype=np.float64)
        fresh = History.start(X[:, AMOUNT], X[:, len(DYNAMIC_FEATURES):], self.dynamics_.n_months_)
        return self.dynamics_.default_hazard(fresh.features())

    def risk(self, X: np.ndarray) -> np.ndarray:
        """The predicted default hazard at drawdown of the customer in each state: the rule's score."""
        check_is_fitted(self)
        return self._risk(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        out = np.full((len(X), N_ACTIONS), -np.inf)
        out[:, 0] = 0.0
        out[:, ACTIONS.index(self.action)] = self.cut_ - self._risk(X)
        return out
