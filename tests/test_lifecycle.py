"""World v2's credit risk and lifecycle: each mechanism's truth agrees with its sampled outcomes, the
approval is a sharp scorecard cut-off, and the Gymnasium environment reproduces the logged months."""
from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from lab.data import LifecycleEnv, load_world, simulate_world, validate
from lab.data.world.lifecycle import ACTIONS, MONTHLY_DISCOUNT, Accounts, Customers, customers_of, rollout, step


@pytest.fixture(scope="module")
def large_world():
    return simulate_world(n_users=40000, n_days=4, shift_days=(2,), seed=11)


def test_mean_pd_is_the_default_rate_and_price_risk_is_a_dial():
    calm = simulate_world(n_users=4000, n_days=2, shift_days=(1,), seed=0, price_risk=0.0, default_rate=0.05)
    risky = simulate_world(n_users=4000, n_days=2, shift_days=(1,), seed=0, price_risk=2.0, default_rate=0.05)
    for world in (calm, risky):
        assert world.oracle["credit"]["p_default"].mean() == pytest.approx(0.05, abs=1e-4)
    price = calm.observed["users"]["price_sensitivity"]
    corr = [np.corrcoef(price, w.oracle["credit"]["p_default"])[0, 1] for w in (calm, risky)]
    assert corr[1] > corr[0] + 0.1


def test_approval_is_a_sharp_scorecard_cut_off(large_world):
    loans = large_world.observed["loans"]
    cutoff = large_world.config.approval_cutoff
    assert (loans["approved"] == (loans["scorecard"] >= cutoff)).all()
    assert 0.2 < loans["approved"].mean() < 0.9


def test_defaults_are_observed_only_for_drawn_loans(large_world):
    loans = large_world.observed["loans"]
    assert loans.loc[loans["drawn"] == 0, "defaulted"].isna().all()
    assert loans.loc[loans["drawn"] == 1, "defaulted"].notna().all()
    assert (loans.loc[loans["approved"] == 0, "drawn"] == 0).all()
    drawn = loans.loc[loans["drawn"] == 1, "user_id"]
    credit = large_world.oracle["credit"].set_index("user_id")["p_default"]
    assert credit.loc[drawn].mean() < credit.mean()  # the scorecard selects the safer applicants


def test_sampled_defaults_agree_with_the_true_pd():
    rng = np.random.default_rng(0)
    n = 200_000
    p_default = rng.uniform(0.01, 0.2, n)
    customers = customers_of(np.arange(n), np.full(n, 1000.0), p_default, 1e-6, np.full(n, 0.5), np.full(n, 0.5),
                             np.full(n, 0.5))
    months = rollout(customers, 12, rng, policy=np.eye(len(ACTIONS))[0])
    share = months.groupby("user_id")["defaulted"].max().mean()
    se = np.sqrt(p_default.mean() * (1 - p_default.mean()) / n)
    assert abs(share - p_default.mean()) < 3 * se


def test_true_lifetime_value_agrees_with_the_logged_months(large_world):
    months = large_world.observed["account_months"]
    discounted = (months["profit"] * MONTHLY_DISCOUNT ** months["month"]).groupby(months["user_id"]).sum()
    clv = large_world.oracle["lifecycle"].set_index("user_id")["clv"]
    se = np.sqrt(discounted.var() / len(discounted) + clv.var() / len(clv) / large_world.config.clv_rollouts)
    assert abs(discounted.mean() - clv.loc[discounted.index].mean()) < 3 * se


def test_the_myopic_best_action_is_not_the_lifetime_best(large_world):
    customers = Customers.from_frame(large_world.oracle["lifecycle"]).repeat(8)

    def value(first: int) -> tuple[float, float]:
        rng, accounts, total, immediate = np.random.default_rng(0), Accounts.start(customers), 0.0, 0.0
        for month in range(12):
            accounts, outcome = step(customers, accounts, np.full(len(customers), first if month == 0 else 0), rng)
            total += MONTHLY_DISCOUNT ** month * outcome["profit"].mean()
            immediate = immediate or outcome["profit"].mean()
        return immediate, total

    none, retention = value(0), value(ACTIONS.index("retention_offer"))
    assert none[0] > retention[0] and retention[1] > none[1]


def test_environment_follows_the_gymnasium_api_and_reproduces_the_logged_profit(large_world):
    env = LifecycleEnv(large_world.oracle["lifecycle"], n_months=large_world.config.n_months)
    check_env(env, skip_render_check=True)
    policy = np.array([0.55, 0.15, 0.15, 0.15])
    rng = np.random.default_rng(1)
    totals = []
    for customer in range(len(env.customers)):
        env.reset(seed=int(rng.integers(1 << 30)), options={"customer": customer})
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(int(rng.choice(len(ACTIONS), p=policy)))
            total, done = total + reward, terminated or truncated
        totals.append(total)
    logged = large_world.observed["account_months"].groupby("user_id")["profit"].sum()
    se = np.sqrt(np.var(totals) / len(totals) + logged.var() / len(logged))
    assert abs(np.mean(totals) - logged.mean()) < 3 * se


def test_environment_refuses_a_bad_action(large_world):
    env = LifecycleEnv(large_world.oracle["lifecycle"])
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be one of"):
        env.step(7)


def test_saved_world_v2_reloads_and_validates(tmp_path):
    world = simulate_world(n_users=3000, n_days=4, shift_days=(2,), seed=2)
    world.save(tmp_path / "w")
    loaded = load_world(tmp_path / "w")
    assert {"loans", "account_months"} <= set(loaded.observed)
    assert loaded.observed["loans"]["defaulted"].isna().any()
    validate("account_months", world.observed["account_months"])
    assert set(world.oracle["lifecycle"]["user_id"]) == set(world.observed["account_months"]["user_id"])
