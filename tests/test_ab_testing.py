"""The A/B testing statistics against published boundaries and known truths, and the study on the world
and on a researcher's own table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lab.experiments import abtest
from lab.experiments.study import Config, check, run, verdict, world_test


def test_alpha_spending_boundaries_match_the_published_tables():
    # Lan-DeMets spending, 5 equally spaced looks, two-sided alpha 0.05 (Jennison & Turnbull 2000, gsDesign).
    looks = np.arange(1, 6) / 5
    assert abtest.sequential_bounds(looks, 0.05, "obrien_fleming") == pytest.approx(
        [4.877, 3.357, 2.680, 2.290, 2.031], abs=3e-3)
    assert abtest.sequential_bounds(looks, 0.05, "pocock") == pytest.approx(
        [2.438, 2.427, 2.410, 2.397, 2.386], abs=3e-3)
    assert abtest.sequential_bounds([1.0], 0.05)[0] == pytest.approx(1.95996, abs=1e-4)  # one look: 1.96


def test_peeking_inflates_false_positives_and_the_sequential_design_does_not():
    outcomes = (np.random.default_rng(0).random(20_000) < 0.1).astype(float)
    rates = abtest.aa_false_positive_rates(outcomes, n_per_arm=1000, n_looks=10, n_replicates=2000, seed=1)
    assert rates["naive_peeking"] > 0.12  # about 0.19 in theory for 10 looks
    assert rates["sequential"] == pytest.approx(0.05, abs=0.015)
    assert rates["fixed_horizon"] == pytest.approx(0.05, abs=0.015)


def test_simulated_power_meets_the_design():
    rng = np.random.default_rng(2)
    control, treated = (rng.random(50_000) < 0.10).astype(float), (rng.random(50_000) < 0.12).astype(float)
    baseline, lift = control.mean(), treated.mean() - control.mean()
    n = abtest.sample_size_per_arm(baseline, lift, power=0.8)
    assert abtest.design_power(n, baseline, lift) == pytest.approx(0.8, abs=0.005)
    power = abtest.simulated_power(control, treated, n, n_replicates=2000, seed=3)
    assert power["fixed_horizon"] == pytest.approx(0.8, abs=0.03)
    assert power["sequential"] < power["fixed_horizon"] + 0.01  # monitoring costs a little power, never gains


def test_cuped_is_unbiased_and_narrower_by_its_theory():
    rng = np.random.default_rng(4)
    n = 20_000
    x = rng.normal(size=n)
    t = rng.random(n) < 0.5
    y = 0.8 * x + rng.normal(size=n) + 0.1 * t  # rho^2 = 0.64 / 1.64
    plain, adjusted = abtest.difference_in_means(y, t), abtest.cuped(y, t, x)
    assert adjusted.ci_low < 0.1 < adjusted.ci_high
    assert (adjusted.se / plain.se) ** 2 == pytest.approx(1 - 0.64 / 1.64, rel=0.05)
    y0, y1 = 0.8 * x + rng.normal(size=n), 0.8 * x + rng.normal(size=n) + 0.1
    measured = abtest.cuped_variance_reduction(y0, y1, x, x, n_per_arm=500, n_replicates=1000, seed=5)
    assert measured["variance_reduction_theory"] == pytest.approx(0.64 / 1.64, abs=0.02)
    assert measured["variance_reduction"] == pytest.approx(measured["variance_reduction_theory"], abs=0.05)


def test_checks_flag_a_broken_split_a_failing_guardrail_and_adjust_for_many_tests():
    assert abtest.sample_ratio_mismatch(10_400, 9_600, 0.5) < 0.001
    assert abtest.sample_ratio_mismatch(10_050, 9_950, 0.5) > 0.1
    rng = np.random.default_rng(6)
    t = rng.random(40_000) < 0.5
    defaults = (rng.random(40_000) < np.where(t, 0.08, 0.04)).astype(float)  # the treated default twice as often
    _, p_worse = abtest.non_inferiority(defaults, t, margin=0.01)
    _, p_same = abtest.non_inferiority((rng.random(40_000) < 0.04).astype(float), t, margin=0.01)
    assert p_worse > 0.5 and p_same < 0.05
    raw = np.array([0.01, 0.02, 0.03, 0.5])
    assert (abtest.adjust_pvalues(raw, "holm") >= raw).all()
    assert abtest.adjust_pvalues(raw, "holm")[0] == pytest.approx(0.04)


def test_study_on_the_world_finds_the_true_lift_and_reports_the_contract():
    result = run(Config(n_users=6000, n_replicates=300))
    rows = result.results
    models = set(rows["model"])
    assert {"naive_peeking", "sequential", "cuped", "power_design", "srm", "guardrail"} <= models
    value = rows[rows["segment"].isna()].set_index(["model", "metric", "outcome"])["value"]
    low, high = value[("cuped", "ci_low", "conversion")], value[("cuped", "ci_high", "conversion")]
    truth = value[("oracle", "lift", "conversion")]
    assert low < truth < high
    assert 0 < value[("cuped", "variance_reduction_theory", "conversion")] < 1  # measured vs theory: bench_ab.py
    plain = value[("difference_in_means", "ci_high", "conversion")] - value[("difference_in_means", "ci_low",
                                                                                 "conversion")]
    assert high - low < plain  # the pre-period covariates narrow the interval
    assert value[("naive_peeking", "aa_false_positive_rate", "conversion")] > value[
        ("sequential", "aa_false_positive_rate", "conversion")]
    assert "Peeking" in verdict(result)


def test_the_world_test_randomises_in_the_designs_split():
    data = world_test(n_users=6000, offer="coupon", seed=1)
    assert abtest.sample_ratio_mismatch(int(data.t.sum()), int((~data.t).sum()), data.treated_share) > 0.001
    assert data.treated_share == pytest.approx(1 / 3)


def _own_table(tmp_path, n: int = 4000):
    rng = np.random.default_rng(7)
    pre = rng.poisson(2.0, n)
    t = rng.random(n) < 0.5
    frame = pd.DataFrame({"variant": t.astype(int), "signed_up": (rng.random(n) < 0.1 + 0.03 * t + 0.02 * pre),
                          "pre_visits": pre, "channel": rng.choice(["app", "web", "branch"], n),
                          "defaulted": np.where(rng.random(n) < 0.3, (rng.random(n) < 0.05).astype(float), np.nan)})
    frame["signed_up"] = frame["signed_up"].astype(int)
    path = tmp_path / "test.csv"
    frame.to_csv(path, index=False)
    return path


def test_study_runs_on_an_own_table(tmp_path):
    path = _own_table(tmp_path)
    config = Config(data_path=str(path), treatment_col="variant", outcome_col="signed_up", guardrail_col="defaulted",
                    covariate_cols=("pre_visits",), segment_col="channel", n_replicates=200)
    assert check(config) == []
    result = run(config)
    value = result.results[result.results["segment"].isna()].set_index(["model", "metric", "outcome"])["value"]
    assert value[("cuped", "ci_low", "signed_up")] < 0.03 < value[("cuped", "ci_high", "signed_up")]
    assert ("oracle", "lift", "signed_up") not in value.index  # a table's truth is unknown
    assert set(result.artefacts["segments"]["segment"]) == {"app", "web", "branch"}
    assert ("guardrail", "non_inferiority_p", "defaulted") in value.index


def test_bad_tables_and_parameters_fail_with_one_line_each(tmp_path):
    path = _own_table(tmp_path)
    assert check(Config(alpha=0.7, n_looks=0, spending="linear")) == [
        "alpha must lie in (0, 0.5), got 0.7", "n_looks must lie in 1..50, got 0",
        f"spending must be one of {abtest.SPENDING}, got 'linear'"]
    missing = check(Config(data_path=str(path), treatment_col="variant", outcome_col="revenue"))
    assert len(missing) == 1 and "missing column(s) ['revenue']" in missing[0]
    wrong = check(Config(data_path=str(path), treatment_col="channel", outcome_col="signed_up"))
    assert wrong == ["test.csv: treatment column 'channel' must be 0/1 with no gaps"]
    with pytest.raises(ValueError, match="data_path needs treatment_col"):
        run(Config(data_path=str(path)))
