"""World v2's natural experiments: on a large world, each design of ``lab.uplift.designs`` (the regression
discontinuity at the approval cut-off, difference in differences and synthetic control on the regional
pricing change, the randomised reminder as an instrument) covers its true effect (the oracle's
``experiments`` table) with its 95% interval, the DID's truth is the outcome difference the pricing
change makes; plus the cold-start share and the graph's heavy tail and noise ties."""
from __future__ import annotations

import numpy as np
import pytest

from lab.data import World, simulate_world
from lab.uplift.designs import DESIGNS, quasi_experiment_rows, region_panel, rdd_estimate, true_effect


@pytest.fixture(scope="module")
def world():
    return simulate_world(n_users=200_000, n_days=12, shift_days=(8,), seed=1)


@pytest.mark.parametrize("design", list(DESIGNS))
def test_each_design_covers_its_true_effect(world, design):
    result = DESIGNS[design](world)
    assert result.true_effect == true_effect(world, design)
    assert result.ci_low <= result.true_effect <= result.ci_high
    assert result.se > 0
    if design != "rdd":  # rdrobust's robust interval is centred on its bias-corrected estimate, not this one
        assert result.ci_low < result.estimate < result.ci_high
    if design != "iv":
        assert result.estimate > 5 * result.se  # the design has power: the effect is plain


def test_rows_lay_out_each_design_and_metric(world):
    rows = quasi_experiment_rows(world)
    assert {row["model"] for row in rows} == {"rdd", "did", "synthetic_control", "iv"}
    assert {(row["model"], row["metric"]) for row in rows} == {
        (model, metric) for model in DESIGNS for metric in ("estimate", "true_effect", "ci_low", "ci_high")}
    assert len(rows) == 16 and all(np.isfinite(row["value"]) for row in rows)
    value = {(row["model"], row["metric"]): row["value"] for row in rows}
    assert value["synthetic_control", "true_effect"] == value["did", "true_effect"] == true_effect(world, "did")
    assert all(value[model, "ci_low"] < value[model, "ci_high"] for model in DESIGNS)


def test_designs_need_a_simulated_world(world):
    with pytest.raises(ValueError, match="simulated world"):
        rdd_estimate(World(config=None, observed=world.observed, oracle=world.oracle))


def test_did_truth_is_the_outcome_difference_the_pricing_change_makes():
    """The same seed with and without the pricing change draws the same events but for the featured loan's
    share in the priced regions after it: their difference in the panel's rate is the truth, in its units."""
    worlds = [simulate_world(n_users=100_000, n_days=12, shift_days=(8,), seed=2, pricing_effect=effect)
              for effect in (0.6, 0.0)]
    panels = [region_panel(w).set_index(["region", "day"]) for w in worlds]
    lift = panels[0]["rate"] - panels[1]["rate"]
    exposed = panels[0]["priced"] & panels[0]["post"]
    assert (lift[~exposed] == 0).all()
    assert lift[exposed].mean() == pytest.approx(true_effect(worlds[0], "did"), rel=0.05)
    assert true_effect(worlds[1], "did") == 0.0 and true_effect(worlds[0], "did") < worlds[0].config.pricing_effect / 10


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
