"""World v2's natural experiments: on a large world, the regression discontinuity at the approval
cut-off, difference in differences on the regional pricing change, and the randomised reminder as an
instrument each recover their true effect (the oracle's ``experiments`` table) within two standard
errors; plus the cold-start share and the graph's heavy tail and noise ties."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from lab.data import simulate_world
from lab.data.world.experiments import RDD_BAND


@pytest.fixture(scope="module")
def world():
    return simulate_world(n_users=200_000, n_days=12, shift_days=(8,), seed=1)


def truth(world, design: str) -> float:
    table = world.oracle["experiments"].set_index("design")
    return float(table.loc[design, "true_effect"])


def rdd_estimate(world) -> tuple[float, float]:
    """Sharp RDD: local linear fit of drawdown on the scorecard either side of the cut-off (within
    ``RDD_BAND``), the jump and its robust standard error."""
    loans = world.observed["loans"]
    band = loans.assign(distance=loans["scorecard"] - world.config.approval_cutoff)
    band = band[band["distance"].abs() <= RDD_BAND]
    fit = smf.ols("drawn ~ approved * distance", data=band).fit(cov_type="HC1")
    return fit.params["approved"], fit.bse["approved"]


def did_estimate(world) -> tuple[float, float]:
    """Two-way fixed effects on the region x day panel of featured-loan events per signed-up user."""
    users = world.observed["users"][["user_id", "region", "signup_day"]]
    events = world.observed["interactions"]
    counts = events[events["product_id"] == 0].merge(users, on="user_id").groupby(["region", "day"]).size()
    present = pd.Series({(r, d): int(((users["region"] == r) & (users["signup_day"] <= d)).sum())
                         for r in sorted(users["region"].unique()) for d in range(world.config.n_days)})
    panel = (counts.reindex(present.index, fill_value=0) / present).rename("rate").rename_axis(["region", "day"])
    panel = panel.reset_index()
    panel["treated"] = (panel["region"].isin(world.config.pricing_regions)
                        & (panel["day"] >= world.config.pricing_day)).astype(int)
    fit = smf.ols("rate ~ treated + C(region) + C(day)", data=panel).fit(cov_type="HC1")
    return fit.params["treated"], fit.bse["treated"]


def iv_estimate(world) -> tuple[float, float]:
    """The Wald / just-identified IV estimate of engaging on drawdown, instrumented by the reminder,
    with its heteroskedasticity-robust standard error."""
    data = world.observed["reminders"].merge(world.observed["funnel"][["user_id", "drawdown"]], on="user_id")
    z, d, y = (data[c].to_numpy(float) for c in ("reminded", "engaged", "drawdown"))
    zc, dc = z - z.mean(), d - d.mean()
    late = (zc * (y - y.mean())).sum() / (zc * dc).sum()
    residual = (y - y.mean()) - late * dc
    return late, np.sqrt((zc ** 2 * residual ** 2).sum()) / abs((zc * dc).sum())


@pytest.mark.parametrize("design, estimate", [("rdd", rdd_estimate), ("did", did_estimate), ("iv", iv_estimate)])
def test_each_design_recovers_its_true_effect(world, design, estimate):
    value, se = estimate(world)
    assert abs(value - truth(world, design)) < 2 * se
    if design == "rdd":
        assert value > 5 * se  # the design has power: the jump is plain


def test_many_users_scored_on_any_day_have_almost_no_history():
    world = simulate_world(seed=0)
    users, events = world.observed["users"], world.observed["interactions"]
    for day in (10, 20, 29):
        joined = users["user_id"][users["signup_day"] <= day]
        counts = events[events["day"] <= day].groupby("user_id").size().reindex(joined, fill_value=0)
        assert (counts <= 2).mean() >= 0.3


def test_the_graph_is_sparse_heavy_tailed_and_partly_noise():
    world = simulate_world(seed=0)
    edges = world.observed["edges"]
    degree = np.bincount(np.concatenate([edges["src"], edges["dst"]]), minlength=len(world.observed["users"]))
    assert 1.0 < degree.mean() < 5.0 and degree.max() > 20 * np.median(degree)
    ties = world.oracle["ties"]
    assert ties["noise"].mean() == pytest.approx(world.config.tie_noise, abs=0.05)
    assert not (ties["strong"].astype(bool) & ties["noise"].astype(bool)).any()


def test_peer_effect_is_a_dial_on_conversion():
    rates = [simulate_world(n_users=20_000, n_days=10, shift_days=(5,), seed=1, peer_effect=effect,
                            edges_per_user_day=0.3).observed["funnel"]["drawdown"].mean() for effect in (0.0, 3.0)]
    assert rates[1] > rates[0]


def test_calibration_table_sets_each_statistic_beside_its_anchor(tmp_path):
    from lab.overview.study import ANCHORS, Config, calibration_table, run

    table = calibration_table(run(Config(n_users=2000, n_days=10, shift_day=5)))
    assert set(table.index) == set(ANCHORS) and table["source"].str.len().min() > 10
    world = simulate_world(n_users=500, n_days=6, shift_days=(3,), seed=0)
    (tmp_path / "mine").mkdir()
    world.observed["users"].to_csv(tmp_path / "mine" / "users.csv", index=False)
    world.observed["edges"].to_csv(tmp_path / "mine" / "edges.csv", index=False)
    own = calibration_table(run(Config(data_dir=str(tmp_path / "mine"))))
    assert list(own.index) == ["mean user degree"]  # only what the tables allow


def test_nobody_acts_before_signing_up_and_peer_exposure_raises_conversion():
    world = simulate_world(n_users=20_000, n_days=10, shift_days=(5,), seed=2, edges_per_user_day=0.3)
    signup = world.observed["users"].set_index("user_id")["signup_day"]
    events, edges = world.observed["interactions"], world.observed["edges"]
    assert (events["day"].to_numpy() >= signup.loc[events["user_id"]].to_numpy()).all()
    for end in ("src", "dst"):
        assert (edges["day"].to_numpy() >= signup.loc[edges[end]].to_numpy()).all()
    probs = world.oracle["funnel_probs"]
    exposed = probs["peer_exposure"] > 0
    assert probs.loc[exposed, "p_apply"].mean() > probs.loc[~exposed, "p_apply"].mean()
    drawn = world.observed["funnel"]["drawdown"]
    assert drawn[exposed.to_numpy()].mean() > drawn[~exposed.to_numpy()].mean()  # and the outcomes show it


def test_users_who_sign_up_in_the_window_have_no_history_before_it():
    users = simulate_world(n_users=5000, n_days=10, shift_days=(5,), seed=3).observed["users"]
    late = users[users["signup_day"] > 0]
    assert len(late) and (late["prior_drawdowns"] == 0).all() and (late["tenure_months"] == 0).all()


def test_world_tour_of_users_alone_and_of_relabelled_ids(tmp_path):
    from lab.overview import plots
    from lab.overview.study import Config, calibration_table, run

    world = simulate_world(n_users=500, n_days=6, shift_days=(3,), seed=0)
    (tmp_path / "users").mkdir()
    world.observed["users"].to_csv(tmp_path / "users" / "users.csv", index=False)
    assert calibration_table(run(Config(data_dir=str(tmp_path / "users")))).empty
    (tmp_path / "relabelled").mkdir()  # ids far from row positions
    world.observed["users"].assign(user_id=lambda u: u["user_id"] + 10**9).to_csv(
        tmp_path / "relabelled" / "users.csv", index=False)
    world.observed["edges"].assign(src=lambda e: e["src"] + 10**9, dst=lambda e: e["dst"] + 10**9).to_csv(
        tmp_path / "relabelled" / "edges.csv", index=False)
    (tmp_path / "relabelled" / "seeds.csv").write_text("")  # a 0-byte optional table counts as absent
    figure = plots.degree_distribution(run(Config(data_dir=str(tmp_path / "relabelled"))))
    shares = figure.axes[0].lines[0].get_ydata()
    edges = world.observed["edges"]
    degree = np.bincount(np.concatenate([edges["src"], edges["dst"]]), minlength=500)
    assert shares[0] == pytest.approx((degree >= 1).mean())
