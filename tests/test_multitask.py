"""Multi-task funnel study: model contract, funnel-order invariant, selection, segments, the study's run."""
from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from lab.core import validation_folds
from lab.data import STAGES, SchemaError, World, simulate_world
from lab.multitask import (CascadeSelector, DrawdownValueModel, MultiStageSelector, MultiTaskFunnelClassifier,
                           assign_tiers, build_funnel_data, plots, selection_overlap, stp_table, tier_table,
                           train_test_rows)
from lab.multitask.evaluate import expected_calibration_error, funnel_violation_rate
from lab.multitask.study import (Config, Gap, audience_overlap, comparison_table, data_summary, design_table, run,
                                 verdict, weighting_summary)
from lab.results import save_figure, write_results

matplotlib.use("Agg")
CONTRACT_MODELS = {"multi_stage", "cascade", "shared_bottom", "mmoe", "ple", "funnel_aware",
                   "multi_objective_graph", "oracle"}
TINY = {"n_users": 1500, "n_days": 10, "shift_day": 6, "max_epochs": 3, "n_jobs": 1}


@pytest.fixture(scope="module")
def world():
    return simulate_world(n_users=1500, n_days=10, shift_days=(6,), seed=1)


@pytest.fixture(scope="module")
def data(world):
    return build_funnel_data(world)


@pytest.fixture(scope="module")
def split(data):
    return train_test_rows(data, seed=0)


def test_funnel_data_shapes_and_graph(data, world):
    n = len(world.observed["users"])
    assert data.tabular_all.shape[0] == n and np.isfinite(data.tabular_all).all()
    assert data.labels_all.shape == (n, len(STAGES))
    assert data.edge_index.max() < n + data.n_products
    assert (data.sequence_items[:, -1] > 0).mean() > 0.5  # left-padded: the last slot holds the latest event
    view = data[np.array([3, 5])]
    assert view.labels.shape == (2, 5) and view.n_users == n


def test_users_are_encoded_by_the_shared_encoder(data):
    """Region is one code, channel one-hot (region was dropped before the shared encoder), ids are not features."""
    names = set(data.feature_names)
    assert "region" in names and not any(n.startswith("region=") for n in names)
    assert "preferred_channel=email" in names
    assert "user_id" not in names and {"income", "savings_balance"} <= names


@pytest.mark.parametrize("architecture", ["shared_bottom", "mmoe", "ple", "funnel_aware"])
def test_multitask_estimator_contract(data, split, architecture):
    train, test = split
    model = MultiTaskFunnelClassifier(architecture, max_epochs=5, patience=5)
    assert model.fit(data[train]) is model
    proba = model.predict_proba(data[test])
    assert proba.shape == (len(test), len(STAGES)) and ((proba > 0) & (proba < 1)).all()
    assert model.task_weights_history_.shape == (model.n_epochs_, len(STAGES))
    assert len(np.unique(model.select(data[test], 25))) == 25


@pytest.mark.parametrize("weighting", ["uncertainty", "gradnorm"])
def test_graph_model_never_violates_funnel_order_and_learns_weights(data, split, weighting):
    train, test = split
    model = MultiTaskFunnelClassifier("funnel_aware", use_graph=True, use_sequence=True, task_weighting=weighting,
                                      max_epochs=15, patience=15).fit(data[train])
    proba = model.predict_proba(data[test])
    assert funnel_violation_rate(proba) == 0.0
    assert (np.diff(proba, axis=1) <= 1e-12).all()
    weights = model.task_weights_history_
    assert not np.allclose(weights[0], weights[-1])  # the weights moved: they are learned, not fixed
    if weighting == "gradnorm":
        assert np.allclose(weights.sum(axis=1), len(STAGES), atol=1e-4)


def test_ensemble_members_validate_on_disjoint_folds_and_average_in_funnel_order(data, split):
    train, test = split
    model = MultiTaskFunnelClassifier("funnel_aware", use_graph=True, n_ensemble=3, max_epochs=8, patience=8)
    folds = validation_folds(len(train), model.validation_fraction, model.n_ensemble, model.random_state)
    rows = np.concatenate(folds)
    assert len(folds) == 3 and len(np.unique(rows)) == len(rows)  # disjoint
    assert abs(len(folds[0]) - 0.15 * len(train)) < 0.02 * len(train)
    proba = model.fit(data[train]).predict_proba(data[test])
    assert len(model.networks_) == 3
    single = MultiTaskFunnelClassifier("funnel_aware", use_graph=True, max_epochs=8, patience=8).fit(data[train])
    members = model.member_proba(data[test])
    assert np.allclose(single.predict_proba(data[test]), members[0], atol=1e-6)  # member 0 is the single network
    assert np.allclose(proba, members.mean(0)) and not np.allclose(members[0], members[1])
    assert funnel_violation_rate(proba) == 0.0
    with pytest.raises(ValueError, match="n_ensemble"):
        MultiTaskFunnelClassifier(n_ensemble=0).fit(data[train])


def test_graph_model_learns_something(data, split):
    train, test = split
    model = MultiTaskFunnelClassifier("funnel_aware", use_graph=True, use_sequence=True, max_epochs=60).fit(data[train])
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(data.labels_all[test, 0], model.predict_proba(data[test])[:, 0]) > 0.6


def test_baselines_contract_and_selection(data, split):
    train, test = split
    multi = MultiStageSelector("gbm").fit(data[train])
    cascade = CascadeSelector("mlp").fit(data[train])
    p_multi, p_cascade = multi.predict_proba(data[test]), cascade.predict_proba(data[test])
    assert p_multi.shape == p_cascade.shape == (len(test), 5)
    assert funnel_violation_rate(p_cascade) == 0.0  # fused by multiplying conditionals
    chosen = multi.select(data[test], 40)
    assert len(np.unique(chosen)) == 40
    # threshold & intersect: every chosen user sits at or above the same per-stage percentile
    ranks = p_multi.argsort(axis=0).argsort(axis=0)
    worst = ranks.min(axis=1)
    assert worst[chosen].min() >= np.sort(worst)[-40]


@pytest.fixture(scope="module")
def result():
    return run(Config(seed=1, n_seeds=2, n_ensemble=2, **TINY))


def test_metrics_and_results_contract(result):
    results = result.results.query("seed == 1")
    assert set(result.artefacts["fits"][0].proba) == set(results["model"])
    assert CONTRACT_MODELS <= set(results["model"])
    metrics = set(results["metric"])
    assert {f"{m}_{s}" for m in ("auc", "logloss", "ece") for s in STAGES} <= metrics
    assert {"drawdowns_captured_at_k", "funnel_violations"} <= metrics
    assert set(result.results["seed"]) == {1, 2} and results["value"].notna().all()
    captured = results.query("metric == 'drawdowns_captured_at_k'").set_index("model")["value"]
    assert captured["oracle"] >= captured.drop("oracle").max() - 1e-9  # the oracle picks the true top-K
    assert results.query("model == 'funnel_aware' and metric == 'funnel_violations'")["value"].item() == 0.0


def test_ece_is_zero_for_calibrated_bins_and_large_when_off():
    y = np.array([0, 1] * 50, dtype=float)
    assert expected_calibration_error(y, np.full(100, 0.5)) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.full(100, 0.9)) == pytest.approx(0.4)


def test_segments_tiers_stp_and_overlap(world, data, split):
    train, test = split
    rng = np.random.default_rng(0)
    proba = np.sort(rng.random((len(test), 5)), axis=1)[:, ::-1]
    value = DrawdownValueModel().fit(data[train]).predict(data[test])
    assert value.shape == (len(test),) and (value > 0).all()
    tiers = assign_tiers(proba[:, -1] * value)
    assert np.bincount(tiers).tolist() == pytest.approx([0.1 * len(test), 0.2 * len(test), 0.3 * len(test),
                                                         0.4 * len(test)], abs=1)
    table = tier_table(tiers, proba, data.labels_all[test], proba[:, -1] * value)
    assert table["users"].sum() == len(test)
    assert table["expected_value_per_user"].is_monotonic_decreasing
    users = world.observed["users"].iloc[test].reset_index(drop=True)
    stp = stp_table(tiers, proba, np.arange(20), users)
    assert set(stp["weakest_stage"]) <= set(STAGES) and stp["positioning"].str.len().gt(0).all()
    overlap = selection_overlap({"a": np.array([1, 2, 3]), "b": np.array([2, 3, 4])})
    counts = {(r.a, r.b): r.users for r in overlap.itertuples()}
    assert counts[(True, True)] == 2 and counts[(True, False)] == 1 and counts[(False, True)] == 1


def test_bad_user_tables_raise_schema_error(world):
    observed = dict(world.observed)
    observed.pop("funnel")
    with pytest.raises(SchemaError, match="funnel"):
        build_funnel_data(World(config=None, observed=observed))
    observed = dict(world.observed, funnel=world.observed["funnel"].iloc[10:])
    with pytest.raises(SchemaError, match="no funnel row"):
        build_funnel_data(World(config=None, observed=observed))


def test_runs_on_user_tables_without_graph_or_oracle(world, tmp_path):
    observed = {k: world.observed[k] for k in ("users", "funnel")}
    data = build_funnel_data(World(config=None, observed=observed))
    assert data.edge_index.shape == (2, 0)
    train, test = train_test_rows(data)
    model = MultiTaskFunnelClassifier("funnel_aware", use_graph=True, use_sequence=True, max_epochs=3).fit(data[train])
    assert model.predict_proba(data[test]).shape == (len(test), 5)


def test_run_writes_results_figures_and_a_verdict(result, tmp_path):
    for name in ("roc_per_stage", "selection_overlap", "task_weights"):
        save_figure(getattr(plots, name)(result), tmp_path, name)
    write_results(tmp_path, result)
    results = pd.read_csv(tmp_path / "results.csv")
    assert CONTRACT_MODELS <= set(results["model"]) and set(results["seed"]) == {1, 2}
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert "auc_drawdown_multi_objective_graph" in metrics["headline"] and metrics["runtime_seconds"] > 0
    assert metrics["config"]["n_users"] == 1500 and len(metrics["tiers"]) == 4 and metrics["k"] > 0
    assert {"roc_per_stage.png", "selection_overlap.png", "task_weights.png"} <= {p.name for p in tmp_path.iterdir()}
    assert verdict(result).startswith("**Verdict.**") and "1,500 users" in data_summary(result)
    assert list(comparison_table(result).columns[:5]) == [f"auc_{s}" for s in STAGES]
    assert len(design_table(result)) == 3 and "Jaccard" in audience_overlap(result)
    assert weighting_summary(result).count("vs fixed equal weights") == 2


def test_gap_words_follow_the_paired_spread():
    assert Gap("auc_drawdown", "cascade", pd.Series([0.01, -0.005])).words() == "matches or beats it"
    assert Gap("auc_drawdown", "cascade", pd.Series([0.01, -0.02])).words() == "falls short, within the seed spread"
    assert Gap("auc_drawdown", "cascade", pd.Series([-0.01, -0.011])).words() == "falls short"


@pytest.mark.parametrize("bad", [{"n_seeds": 0}, {"k_share": 0.0}, {"test_size": 1.0}, {"shift_day": 30},
                                 {"n_ensemble": 0}])
def test_bad_parameters_raise_value_error(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        run(Config(**bad))


def shifted_product_ids(world, by: int = 100) -> World:
    """The same world with product ids ``by`` higher: ids are labels, not positions."""
    observed = dict(world.observed)
    observed["products"] = observed["products"].assign(product_id=observed["products"]["product_id"] + by)
    observed["interactions"] = observed["interactions"].assign(
        product_id=observed["interactions"]["product_id"] + by)
    return World(config=None, observed=observed)


def test_product_ids_are_labels_not_positions(world, data):
    shifted = build_funnel_data(shifted_product_ids(world))
    np.testing.assert_array_equal(shifted.tabular_all, data.tabular_all)
    np.testing.assert_array_equal(shifted.edge_index, data.edge_index)
    np.testing.assert_array_equal(shifted.sequence_items, data.sequence_items)
    assert "log_count_product_100" in shifted.feature_names and shifted.n_products == data.n_products


def test_run_reads_user_tables_from_disk_once(world, tmp_path):
    for name in ("users", "funnel", "interactions", "edges", "products"):
        shifted_product_ids(world).observed[name].to_csv(tmp_path / f"{name}.csv", index=False)
    result = run(Config(data_dir=str(tmp_path), n_seeds=2, n_jobs=1, max_epochs=3, include_ablations=False))
    assert {"multi_stage", "cascade", "funnel_aware", "multi_objective_graph"} <= set(result.results["model"])
    assert "oracle" not in set(result.results["model"])
    first, second = result.artefacts["fits"]
    assert first.data is second.data and not np.array_equal(first.test, second.test)  # one read, fresh splits
    assert "the tables in" in data_summary(result)


def test_lice_opens_the_multi_objective_graph_model(data, split):
    from lab.explain import LICE

    train, test = split
    model = MultiTaskFunnelClassifier("funnel_aware", use_graph=True, use_sequence=True, max_epochs=20).fit(data[train])
    module, inputs = model.explainable(data[test])
    assert list(inputs.columns[:len(data.feature_names)]) == data.feature_names and "graph_0" in inputs.columns
    with torch.no_grad():
        p = torch.sigmoid(module(torch.tensor(inputs.to_numpy(np.float32)))).numpy()
    np.testing.assert_allclose(p, model.predict_proba(data[test])[:, -1], rtol=1e-4, atol=1e-6)
    threshold = float(np.quantile(p, 0.9))  # the campaign picks the top 10% by P(drawdown)
    lice = LICE(module, layers=["heads.stem", "heads.towers.4"], max_clusters=4, threshold=threshold).fit(inputs)
    assert set(lice.fidelity_) == {"heads.stem", "heads.towers.4"}
    assert all(f > 0.8 for f in lice.fidelity_.values())
    assert lice.explain(inputs.iloc[:3])["layer"].nunique() == 2


def test_interactions_with_unknown_products_are_refused(world):
    observed = dict(world.observed)
    observed["interactions"] = observed["interactions"].assign(product_id=observed["interactions"]["product_id"] + 50)
    with pytest.raises(SchemaError, match="not found in products"):
        build_funnel_data(World(config=None, observed=observed))
