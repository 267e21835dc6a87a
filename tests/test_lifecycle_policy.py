"""Lifecycle policies and off-policy evaluation: OPE of the logging policy is the logged mean return, IPS
is unbiased on a toy bandit, the observable state is the same on the logs and in a rollout, fitted-Q
beats doing nothing where acting pays, the pessimistic fitted-Q does nothing under a large penalty, the
structured learner reads the month's bookkeeping exactly and raises the limit of safe customers only,
cross-fitting folds are disjoint and pooled truths are customer-weighted, and bad parameters give
one-line errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from lab.data import simulate_world
from lab.data.world.credit import LGD, MARGIN, RATE_DISCOUNT_MARGIN
from lab.data.world.lifecycle import ACTION_COST, LOGGING_POLICY, TERM_MONTHS, Customers, rollout
from lab.lifecycle.ope import Truth, estimates, evaluate_policy, pooled, true_value
from lab.lifecycle.policies import (DYNAMIC_FEATURES, OUTCOMES, Episodes, FittedQ, FixedPolicy, GreedyPolicy,
                                    History, PessimisticFittedQ, logged_episodes, policy_probabilities)
from lab.lifecycle.structured import ObservedDynamics, RiskThreshold
from lab.lifecycle.study import Config, check, fold_of


@pytest.fixture(scope="module")
def world():
    return simulate_world(n_users=6000, seed=1)


@pytest.fixture(scope="module")
def episodes(world) -> Episodes:
    return logged_episodes(world.observed["account_months"], world.observed["users"])


def test_logging_policy_ope_is_the_logged_mean_return(episodes):
    ope = evaluate_policy(FixedPolicy(LOGGING_POLICY), episodes, 0.99, max_iter=10, random_state=0, logging=True)
    logged = episodes.returns(0.99)[:, 0].mean()
    for name in ("ope_ips", "ope_snips", "ope_dr"):
        assert ope[name] == pytest.approx(logged, rel=1e-9)


def test_ips_is_unbiased_on_a_toy_bandit():
    """One month, two arms logged 50/50 with rewards 1 and 3: IPS of 'always arm 1' averages 3."""
    values = []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        action = rng.integers(0, 2, size=(400, 1))
        reward = np.where(action == 1, 3.0, 1.0) + rng.normal(0, 1, size=(400, 1))
        episodes = Episodes(np.arange(400), np.zeros((400, 1, 1)), action, reward, np.full((400, 1), 0.5),
                            np.ones((400, 1), dtype=bool), ("x",))
        target = (action == 1).astype(float)
        values.append(estimates(episodes, target, np.zeros((400, 1)), np.zeros((400, 1)), 1.0)["ope_ips"])
    assert np.mean(values) == pytest.approx(3.0, abs=0.03)
    assert np.std(values) > 0.05  # a noisy estimate, unbiased only on average


def test_weights_effective_share_counts_the_customers_a_deterministic_policy_rests_on():
    """Logging policy: every customer counts; 'always arm 1' over three months logged 50/50: only the customers
    whose three logged actions were all arm 1 carry (equal) weight, so the share is theirs."""
    rng = np.random.default_rng(0)
    action = rng.integers(0, 2, size=(800, 3))
    episodes = Episodes(np.arange(800), np.zeros((800, 3, 1)), action, rng.normal(size=(800, 3)),
                        np.full((800, 3), 0.5), np.ones((800, 3), dtype=bool), ("x",))
    zeros = np.zeros((800, 3))
    assert estimates(episodes, episodes.propensity, zeros, zeros, 1.0)["weight_effective_share"] == pytest.approx(1.0)
    share = estimates(episodes, (action == 1).astype(float), zeros, zeros, 1.0)["weight_effective_share"]
    assert share == pytest.approx((action == 1).all(axis=1).mean())
    assert 0.05 < share < 0.2


def test_logged_state_matches_the_rollout_state():
    """The features History builds from the logs are the ones it builds in the simulator for the same lives."""
    customers = Customers(np.arange(3), np.array([1000.0, 2000.0, 500.0]), np.full(3, 0.001), np.full(3, -3.0),
                          np.full(3, 0.6), np.full(3, 0.5), np.full(3, 0.5))
    months = rollout(customers, 6, np.random.default_rng(0))
    users = pd.DataFrame({"user_id": np.arange(3), "price_sensitivity": [0.5, 0.5, 0.5]})
    logged = logged_episodes(months, users, n_months=6)
    history = History.start(customers.amount, np.full((3, 1), 0.5), 6)
    for month in range(6):
        rows = logged.open[:, month]
        np.testing.assert_allclose(logged.features[rows, month], history.features()[rows], rtol=1e-5)
        frame = months[months["month"] == month].set_index("user_id").reindex(np.arange(3))
        nxt = months[months["month"] == month + 1].set_index("user_id").reindex(np.arange(3))["balance"]
        history = history.after(logged.action[:, month], frame["topped_up"].fillna(0).to_numpy(), nxt.to_numpy())
    assert len(DYNAMIC_FEATURES) + 1 == logged.features.shape[2]


def test_fitted_q_beats_no_action_in_truth_when_a_retention_offer_pays():
    """Customers who churn often on large balances: a retention offer is worth its cost, and fitted-Q finds it."""
    n = 3000
    rng = np.random.default_rng(0)
    customers = Customers(np.arange(n), rng.uniform(20_000, 40_000, n), np.full(n, 1e-4), np.full(n, -1.0),
                          np.full(n, 0.3), np.full(n, 0.2), np.full(n, 0.5))
    users = pd.DataFrame({"user_id": np.arange(n), "price_sensitivity": customers.price_sensitivity})
    episodes = logged_episodes(rollout(customers, 6, rng), users, n_months=6)
    t = episodes.transitions()
    model = FittedQ(0.99, max_iter=30).fit(t["X"], t["action"], t["reward"], t["X_next"], t["done"])
    static = users[["price_sensitivity"]].to_numpy()
    learned = true_value(GreedyPolicy(model), customers, static, 6, 0.99, 5, seed=3).value
    nothing = true_value(FixedPolicy(np.eye(4)[0]), customers, static, 6, 0.99, 5, seed=3).value
    assert learned > 1.05 * nothing


def test_pessimistic_fitted_q_is_the_ensemble_mean_without_penalty_and_does_nothing_with_a_large_one(episodes):
    t = episodes.transitions()
    args = (t["X"], t["action"], t["reward"], t["X_next"], t["done"])
    plain = PessimisticFittedQ(n_estimators=3, penalty=0.0, max_iter=20).fit(*args, groups=t["row"])
    mean = np.mean([model.predict(t["X"]) for model in plain.estimators_], axis=0)
    np.testing.assert_allclose(plain.predict(t["X"]), mean, rtol=1e-9, atol=1e-6)
    wary = PessimisticFittedQ(n_estimators=3, penalty=1e6, max_iter=20).fit(*args, groups=t["row"])
    assert (GreedyPolicy(wary).probabilities(t["X"])[:, 0] == 1).all()


def _outcome_args(t: dict) -> tuple:
    return (t["X"], t["action"], t["reward"], t["X_next"], t["done"], *(t[name] for name in OUTCOMES))


def test_observed_dynamics_recovers_the_bookkeeping_of_the_month(episodes):
    """Margin, action costs, loss at default, amortisation and top-up sizes are read exactly off the logs."""
    model = ObservedDynamics(max_iter=10).fit(*_outcome_args(episodes.transitions()))
    np.testing.assert_allclose(12 * model.margin_, [MARGIN] * 3 + [MARGIN - RATE_DISCOUNT_MARGIN], atol=1e-4)
    np.testing.assert_allclose(model.cost_, ACTION_COST, atol=1e-3)
    assert model.loss_rate_ == pytest.approx(LGD, abs=1e-4)
    assert model.amortisation_ == pytest.approx(1 - 1 / TERM_MONTHS, abs=1e-4)
    np.testing.assert_allclose(model.top_up_size_, [0.25, 0.25, 0.5, 0.25], atol=1e-3)


def test_risk_threshold_raises_the_limit_of_safe_customers_only():
    """Half the customers almost never default, half often: raising every month pays for the first half only,
    and the structured learner raises only (a cautious part of) them, well above doing nothing in truth."""
    n = 3000
    rng = np.random.default_rng(0)
    safe = np.arange(n) < n // 2
    customers = Customers(np.arange(n), rng.uniform(5_000, 10_000, n), np.where(safe, 1e-4, 0.03), np.full(n, -4.0),
                          np.full(n, 0.6), np.full(n, 0.3), np.full(n, 0.5))
    users = pd.DataFrame({"user_id": np.arange(n), "credit_score": np.where(safe, 760.0, 580.0) + rng.normal(0, 20, n)})
    episodes = logged_episodes(rollout(customers, 6, rng), users, n_months=6)
    t = episodes.transitions()
    model = RiskThreshold(0.99, max_iter=30).fit(*_outcome_args(t), groups=t["row"])
    raised = GreedyPolicy(model).probabilities(episodes.features[:, 0])[:, 2] == 1
    assert raised[safe].mean() > 0.2 and not raised[~safe].any()
    static = users[["credit_score"]].to_numpy()
    learned = true_value(GreedyPolicy(model), customers, static, 6, 0.99, 5, seed=3).value
    nothing = true_value(FixedPolicy(np.eye(4)[0]), customers, static, 6, 0.99, 5, seed=3).value
    assert learned > 1.1 * nothing


def test_risk_threshold_follows_the_estimator_contract(episodes):
    unfitted = RiskThreshold(shares=(0.0, 0.5), max_iter=5)
    assert clone(unfitted).get_params() == unfitted.get_params()
    with pytest.raises(NotFittedError):
        unfitted.predict(episodes.features[:, 0])
    fitted = unfitted.fit(*_outcome_args(episodes.transitions()))
    assert fitted is unfitted and fitted.share_ in (0.0, 0.5) and set(fitted.values_) == {0.0, 0.5}
    scores = fitted.predict(episodes.features[:, 0])
    assert (scores[:, 0] == 0).all() and np.isneginf(scores[:, [1, 3]]).all()


def test_cross_fitting_folds_are_disjoint_and_pooled_truth_is_customer_weighted(episodes):
    fold = fold_of(len(episodes.user_id), 2, seed=0)
    assert abs(np.bincount(fold)[0] - np.bincount(fold)[1]) <= 1
    train, test = episodes.subset(np.flatnonzero(fold != 0)), episodes.subset(np.flatnonzero(fold == 0))
    assert not set(train.user_id) & set(test.user_id)
    a = Truth(np.array([1.0, 3.0]), np.array([1.0]), np.array([[1.0, 0, 0, 0]]))
    b = Truth(np.array([4.0, 6.0]), np.array([4.0]), np.array([[0, 1.0, 0, 0]]))
    both = pooled([a, b], [1, 3])
    assert both.value == pytest.approx(0.25 * 2 + 0.75 * 5)
    np.testing.assert_allclose(both.action_shares, [[0.25, 0.75, 0, 0]])


def test_budget_share_caps_paid_actions(episodes):
    t = episodes.transitions()
    model = FittedQ(0.0, max_iter=5).fit(t["X"], t["action"], t["reward"], t["X_next"], t["done"])
    model.predict = lambda X: np.column_stack([np.zeros(len(X)), np.arange(len(X)), np.zeros((len(X), 2))])
    probs = policy_probabilities(GreedyPolicy(model, budget_share=0.1), episodes)
    for month in range(episodes.n_months):
        rows = episodes.open[:, month]
        assert probs[rows, month, 1:].sum() <= np.floor(0.1 * rows.sum())


@pytest.mark.parametrize("overrides, message", [
    ({"gamma": 1.5}, "gamma: must lie in (0, 1]"),
    ({"budget_share": 0.0}, "budget_share: must lie in (0, 1]"),
    ({"budget_grid": (0.5, 2.0)}, "budget_grid: every value"),
    ({"n_rollouts": 1}, "n_rollouts: must be at least 2"),
    ({"n_folds": 1}, "n_folds: must be at least 2"),
    ({"lcb_penalty": -1.0}, "lcb_penalty: must be at least 0"),
    ({"n_users": 10}, "at least 50 users"),
])
def test_bad_parameters_give_one_line_errors(overrides, message):
    problems = check(Config(**overrides))
    assert len(problems) == 1 and message in problems[0] and "\n" not in problems[0]


def test_own_logs_without_propensity_are_refused(tmp_path, world):
    world.observed["users"].to_csv(tmp_path / "users.csv", index=False)
    world.observed["account_months"].drop(columns="propensity").to_csv(tmp_path / "account_months.csv", index=False)
    problems = check(Config(data_dir=str(tmp_path)))
    assert any("propensity" in p for p in problems)


def test_own_logs_without_the_months_outcomes_are_refused(tmp_path, world):
    world.observed["users"].to_csv(tmp_path / "users.csv", index=False)
    world.observed["account_months"].drop(columns="churned").to_csv(tmp_path / "account_months.csv", index=False)
    problems = check(Config(data_dir=str(tmp_path)))
    assert len(problems) == 1 and "churned" in problems[0] and "risk_threshold" in problems[0]
