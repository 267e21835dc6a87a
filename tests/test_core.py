"""The shared core: encoder, folds and seeds, early stopping, thread guard, statistics, presets, results."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import torch
from threadpoolctl import threadpool_info

from lab.core import (EarlyStopping, SchemaError, StudyConfig, StudyResult, UserEncoder, limit_threads,
                      member_seed, member_seeds, paired_gap, paired_interval, validation_folds, world_params)
from lab.results import check_results, comparable, write_results


def credit_table(n=600, seed=0):
    """A real-looking credit table: a 35-level ordered sub-grade, a 50-level state, gaps in income."""
    rng = np.random.default_rng(seed)
    grades = [f"{g}{i}" for g in "ABCDEFG" for i in range(1, 6)]
    table = pd.DataFrame({"member_id": rng.permutation(n) + 10_000,
                          "sub_grade": rng.choice(grades, n),
                          "addr_state": rng.choice([f"S{i:02d}" for i in range(50)], n),
                          "income": rng.lognormal(10, 0.5, n),
                          "dti": rng.uniform(0, 40, n)})
    table.loc[rng.choice(n, 30, replace=False), "income"] = np.nan
    y = (rng.random(n) < 0.2 + 0.02 * pd.Series(table["sub_grade"]).map(grades.index)).astype(int)
    return table, y.to_numpy()


def test_encoder_takes_a_credit_table_with_many_levels():
    table, y = credit_table()
    encoder = UserEncoder(ordinal=("sub_grade",), max_categories=10)
    X = encoder.fit(table).transform(table)
    assert "member_id" not in X.columns
    assert encoder.ordinal_ == ["sub_grade"] and encoder.categorical_ == ["addr_state"]
    state_columns = [c for c in X.columns if c.startswith("addr_state=")]
    assert 1 < len(state_columns) <= 10
    assert "income_missing" in X.columns and X["income_missing"].sum() == 30
    assert np.isfinite(X.to_numpy()).all()
    assert X["sub_grade"].corr(table["sub_grade"].map(sorted(set(table["sub_grade"])).index)) > 0.999


def test_encoder_orders_grades_and_learns_only_from_the_training_rows():
    table, y = credit_table()
    train, test = table.iloc[:400], table.iloc[400:]
    encoder = UserEncoder(ordinal=("sub_grade",)).fit(train)
    refit = UserEncoder(ordinal=("sub_grade",)).fit(table)
    assert not np.allclose(encoder.transform(test)["dti"], refit.transform(test)["dti"])
    assert np.isclose(encoder.transform(train)["dti"].mean(), 0.0, atol=1e-9)


def test_target_encoding_is_cross_fitted_inside_fit():
    table, y = credit_table()
    encoder = UserEncoder(ordinal=("sub_grade",), categorical_encoding="target", random_state=0)
    train_codes = encoder.fit_transform(table, y)
    assert list(train_codes.columns).count("addr_state") == 1
    assert not np.allclose(train_codes["addr_state"], encoder.transform(table)["addr_state"])
    with pytest.raises(ValueError, match="needs y"):
        UserEncoder(categorical_encoding="target").fit(table)


def test_encoder_one_line_errors():
    table, _ = credit_table()
    with pytest.raises(SchemaError, match="not declared categorical"):
        UserEncoder(categorical=()).fit(table)
    with pytest.raises(SchemaError, match="Feature names seen at fit time, yet now missing: - dti"):
        UserEncoder(ordinal=("sub_grade",)).fit(table).transform(table.drop(columns="dti"))
    with pytest.raises(ValueError, match="categorical_encoding"):
        UserEncoder(categorical_encoding="hash").fit(table)
    with pytest.raises(SchemaError, match=r"column\(s\) \['dti'\] hold infinite values"):
        UserEncoder(ordinal=("sub_grade",)).fit(table.assign(dti=np.inf))


def test_member_seeds_do_not_collide_across_neighbouring_states():
    assert member_seed(7, 0) == 7
    seeds = {s for state in range(50) for s in member_seeds(state, 5)[1:]}
    assert len(seeds) == 50 * 4 and not seeds & set(range(50))


def test_validation_folds_are_disjoint_then_cycle():
    folds = validation_folds(100, 0.2, 7, random_state=3)
    assert all(len(f) == 20 for f in folds)
    assert len(np.unique(np.concatenate(folds[:5]))) == 100
    np.testing.assert_array_equal(folds[5], folds[0])
    with pytest.raises(ValueError, match="validation_fraction"):
        validation_folds(100, 1.5, 2, random_state=0)


def test_early_stopping_restores_the_best_state_and_waits_patience():
    module = torch.nn.Linear(2, 1)
    stopper = EarlyStopping(module, patience=2)
    losses = [3.0, 2.0, 2.5, 2.4]
    stops = []
    for epoch, loss in enumerate(losses):
        with torch.no_grad():
            module.weight.fill_(float(epoch))
        stops.append(stopper.update(loss))
    assert stops == [False, False, False, True] and stopper.best_epoch == 1
    assert float(stopper.restore().weight.detach()[0, 0]) == 1.0


def test_early_stopping_without_gain_keeps_the_initial_weights():
    module = torch.nn.Linear(2, 1)
    initial = module.weight.detach().clone()
    stopper = EarlyStopping(module, patience=1)
    with torch.no_grad():
        module.weight.add_(1.0)
    assert stopper.update(float("nan"))
    torch.testing.assert_close(stopper.restore().weight, initial)


def test_limit_threads_limits_torch_and_blas_and_restores():
    before = torch.get_num_threads()
    with limit_threads(1):
        assert torch.get_num_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="n_threads"):
        with limit_threads(0):
            pass


def test_paired_gap_takes_the_best_baseline_and_pairs_by_seed():
    results = pd.DataFrame({"model": ["new", "a", "b"] * 3, "metric": "auc", "seed": np.repeat([0, 1, 2], 3),
                            "value": [0.80, 0.70, 0.75, 0.82, 0.71, 0.78, 0.79, 0.72, 0.76]})
    gap, best = paired_gap(results, "auc", "new", ("a", "b"))
    assert best == "b"
    np.testing.assert_allclose(gap.to_numpy(), [0.05, 0.04, 0.03])
    mean, low, high = paired_interval(gap)
    assert low < mean < high and np.isclose(mean, 0.04)
    with pytest.raises(ValueError, match="paired_gap needs"):
        paired_gap(results, "auc", "missing", ("a",))


def test_world_presets_are_overridable_and_named():
    assert world_params("campaign", n_users=100) == {"n_days": 2, "shift_days": (1,), "n_users": 100}
    with pytest.raises(ValueError, match="unknown world preset"):
        world_params("huge")


@dataclass
class TinyConfig(StudyConfig):
    n_users: int = 10
    models: tuple[str, ...] = ("a", "b")


def test_config_from_notebook_parameters_keeps_only_fields_and_reports_overrides():
    config = TinyConfig.from_parameters({"seed": 3, "n_users": 10, "models": ["a", "c"], "output_dir": "x"})
    assert config.models == ("a", "c")
    assert config.overrides() == {"seed": 3, "models": ("a", "c")}


def _result(rows, **headline):
    return StudyResult(TinyConfig(), pd.DataFrame(rows), headline or {"x": 1.0}, runtime_seconds=1.5)


def test_write_results_writes_strict_json_and_the_contract_keys(tmp_path):
    out = write_results(tmp_path, _result([{"model": "m", "metric": "auc", "value": 0.7, "split": "test"}],
                                          auc=np.float32(0.7), gap=float("nan")))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["runtime_seconds"] == 1.5 and metrics["headline"]["gap"] is None
    assert metrics["config"] == {}
    assert pd.read_csv(out / "results.csv").shape == (1, 4)


@pytest.mark.parametrize("row,message", [
    ({"model": "m", "metric": "auc", "value": 0.7, "split": "3"}, "split value"),
    ({"model": "m", "metric": "auc", "value": 0.7, "fold": 1}, "outside the vocabulary"),
    ({"model": "m", "metric": "auc", "value": float("inf")}, "infinite"),
    ({"model": "m", "metric": "auc", "value": "high"}, "non-numeric"),
    ({"model": "m", "metric": "seconds", "value": 1.0}, "_seconds"),
])
def test_results_outside_the_vocabulary_are_refused(row, message):
    with pytest.raises(ValueError, match=message):
        check_results(pd.DataFrame([row]))


def test_duplicate_keys_and_empty_headlines_are_refused(tmp_path):
    row = {"model": "m", "metric": "auc", "value": 0.7, "seed": 0}
    with pytest.raises(ValueError, match="several rows"):
        check_results(pd.DataFrame([row, row]))
    with pytest.raises(ValueError, match="headline"):
        write_results(tmp_path, StudyResult(TinyConfig(), pd.DataFrame([row]), {}))


def test_comparable_drops_timing_rows():
    rows = pd.DataFrame([{"model": "m", "metric": "fit_seconds", "value": 1.0},
                         {"model": "m", "metric": "auc", "value": 0.7}])
    assert list(comparable(rows)["metric"]) == ["auc"]


def test_lab_compare_reports_differences_beyond_timing(tmp_path, capsys):
    from lab.cli import main

    rows = pd.DataFrame([{"model": "m", "metric": "auc", "value": 0.7, "seed": 0},
                         {"model": "m", "metric": "fit_seconds", "value": 1.0, "seed": 0}])
    for name, auc, seconds in (("a", 0.7, 1.0), ("b", 0.7, 9.0), ("c", 0.71, 1.0)):
        (tmp_path / name).mkdir()
        rows.assign(value=[auc, seconds]).to_csv(tmp_path / name / "results.csv", index=False)
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert "identical: 1 result rows" in capsys.readouterr().out
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "c")]) == 1
    assert "1 of 1 result rows differ" in capsys.readouterr().out
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "c"), "--tolerance", "0.02"]) == 0
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "missing")]) == 2
