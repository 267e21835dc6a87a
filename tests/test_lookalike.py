"""Behaviour of the lookalike study: samplers, snapshots, the model's contract, metrics, the results
contract, the study's run and verdict, and bad input (the notebook's tiny run is in test_contract)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from sklearn.metrics import roc_auc_score

from lab.data import SchemaError, simulate_world
from lab.lookalike import (BaggingPU, CentreAttentionAggregation, DeepWalk, DynamicGNN, GraphSeries, SeedSimilarity,
                           UserCF, audience_metrics, audience_stability, cumulative_gains, discover, expand, identify,
                           rolling_evaluation, sample_neighbours)
from lab.lookalike.baselines import random_walks
from lab.lookalike.evaluate import NON_GRAPH_MODELS, supervised_reference
from lab.lookalike.study import Config, ablation_table, after_shift, comparison_table, graph_payoff, run, verdict
from lab.results import check_results


@pytest.fixture(scope="module")
def world():
    return simulate_world(n_users=400, n_days=12, seed=1, shift_days=(8,), interactions_per_user_day=1.0,
                          edges_per_user_day=0.3)


@pytest.fixture(scope="module")
def series(world):
    obs = world.observed
    return GraphSeries(obs["users"], obs["interactions"], obs["edges"], product_ids=obs["products"]["product_id"])


def test_samplers_keep_at_most_k_neighbours_and_heuristic_keeps_the_heaviest():
    dst = torch.tensor([0] * 6 + [1] * 2)
    src = torch.tensor([1, 2, 3, 4, 5, 6, 0, 2])
    weight = torch.tensor([0.1, 5.0, 0.2, 4.0, 0.3, 3.0, 1.0, 1.0])
    kept, kept_w = sample_neighbours(torch.stack([src, dst]), weight, 7, k=3, strategy="heuristic")
    assert torch.bincount(kept[1], minlength=2).tolist()[:2] == [3, 2]
    assert set(kept[0][kept[1] == 0].tolist()) == {2, 4, 6}
    uniform, _ = sample_neighbours(torch.stack([src, dst]), weight, 7, k=3, strategy="uniform",
                                   generator=torch.Generator().manual_seed(0))
    assert torch.bincount(uniform[1], minlength=2).max() <= 3
    with pytest.raises(ValueError):
        sample_neighbours(torch.stack([src, dst]), weight, 7, k=3, strategy="random")


def test_snapshot_sees_nothing_from_its_day_or_later(world, series):
    obs = world.observed
    day = 6
    changed = obs["interactions"].copy()
    changed.loc[changed["day"] >= day, "product_id"] = 0
    edges = obs["edges"][obs["edges"]["day"] < day]
    later = GraphSeries(obs["users"], changed, edges, product_ids=obs["products"]["product_id"]).snapshot(day)
    now = series.snapshot(day)
    assert torch.equal(now.x, later.x) and torch.equal(now.edge_index, later.edge_index)
    assert not torch.equal(series.snapshot(day + 1).x, now.x)
    assert torch.isfinite(now.x).all() and now.x.shape == (400, len(series.feature_names))


def test_centre_conditioned_attention_is_a_distribution_that_depends_on_the_centre():
    torch.manual_seed(0)
    layer = CentreAttentionAggregation(8)
    messages, index = torch.randn(30, 8), torch.randint(0, 5, (30,))
    out, attention = layer(messages, index, torch.randn(5, 8))
    assert out.shape == (5, 8) and attention.shape == (5, 4)
    assert torch.allclose(attention.sum(-1), torch.ones(5), atol=1e-5)
    _, other = layer(messages, index, torch.randn(5, 8) * 5)
    assert not torch.allclose(attention, other)


def test_dynamic_gnn_contract_and_pu_fit(series, world):
    positives = np.isin(series.user_ids, world.observed["seeds"]["user_id"])
    snaps = [series.snapshot(d) for d in range(1, 8)]
    model = DynamicGNN(epochs=3, hidden_channels=8, memory=True)
    assert model.fit(snaps, positives) is model
    rollout = model.rollout(snaps)
    assert rollout.scores.shape == (7, 400) and np.isfinite(rollout.scores).all()
    assert rollout.embedding.shape == (400, 8) and rollout.attention.shape == (7, 400, 4)
    assert np.array_equal(model.decision_function(snaps), rollout.scores)
    assert len(model.validation_auc_) == 3
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    DynamicGNN(epochs=1, hidden_channels=8, random_state=5).fit(snaps, positives)
    assert torch.equal(torch.rand(1), before), "fit must not move torch's global random state"
    with pytest.raises(ValueError):
        DynamicGNN(epochs=1).fit(snaps, np.zeros(400, bool))
    with pytest.raises(ValueError):
        DynamicGNN(update="sum").fit(snaps, positives)


def test_ranking_metrics_on_a_perfect_and_a_reversed_score():
    y = np.r_[np.ones(10), np.zeros(90)]
    perfect = audience_metrics(y, -np.arange(100.0), n_seeds=10)
    assert perfect["auc"] == 1.0 and perfect["recall_at_1x"] == 1.0 and perfect["precision_at_1x"] == 1.0
    assert perfect["lift_at_10pct"] == pytest.approx(10.0)
    reversed_ = audience_metrics(y, np.arange(100.0), n_seeds=10)
    assert reversed_["auc"] == 0.0 and reversed_["recall_at_1x"] == 0.0
    x, gains = cumulative_gains(y, -np.arange(100.0))
    assert gains[0] == 0 and gains[-1] == 1 and np.all(np.diff(gains) >= 0)
    stability = audience_stability(np.stack([np.arange(10.0), np.arange(10.0), -np.arange(10.0)]), k=3)
    assert np.isnan(stability[0]) and stability[1] == 1.0 and stability[2] == 0.0


def test_baselines_score_seeds_above_the_rest():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] > 1.0).astype(int)
    for model in (SeedSimilarity("centroid"), SeedSimilarity("max", n_prototypes=5), UserCF(n_neighbours=10),
                  BaggingPU(n_estimators=10)):
        scores = model.fit(X, y).decision_function(X)
        assert scores[y == 1].mean() > scores[y == 0].mean()


def test_random_walks_follow_edges(series):
    snap = series.union_snapshot(10)
    walks = random_walks(snap.edge_index, 400, walk_length=5, walks_per_node=2,
                         generator=torch.Generator().manual_seed(0))
    edges = set(map(tuple, snap.edge_index.T.tolist()))
    steps = torch.stack([walks[:, :-1].reshape(-1), walks[:, 1:].reshape(-1)], 1).tolist()
    assert all(a == b or (a, b) in edges for a, b in steps)
    scores = DeepWalk(epochs=1, walks_per_node=2, random_state=0).fit(snap, np.arange(400) < 20).decision_function()
    assert scores.shape == (400,) and np.isfinite(scores).all()


def test_rolling_evaluation_follows_the_results_contract(world):
    run = rolling_evaluation(world, seed=0, train_end=5, gnn_params={"epochs": 2, "hidden_channels": 8},
                             ablations=("single_aggregator", "static_graph", "add_update"), progress=False)
    res = check_results(run.results)
    assert set(res.columns) == {"model", "metric", "value", "split", "day", "seed"}
    models = set(res["model"])
    assert {"dynamic_gnn", "oracle", "dynamic_gnn_ablation_single_aggregator", "dynamic_gnn_ablation_static_graph",
            "dynamic_gnn_ablation_add_update",
            "logistic_regression", "bagging_pu", "deepwalk", "graphsage_static", "user_cf", "neighbour_gbm",
            "label_propagation", "gradient_boosting_refreshed"} <= models
    assert {"auc", "pr_auc", "recall_at_1x", "recall_at_10x", "lift_at_1pct", "lift_at_10pct"} <= set(res["metric"])
    scored = res[res["metric"] != "fit_seconds"]
    assert set(scored["split"]) == {"test", "test_cold", "test_warm"} and set(scored["day"]) == set(range(5, 12))
    slices = run.slices
    assert not (slices["test_cold"] & slices["test_warm"]).any()
    assert ((slices["test_cold"] | slices["test_warm"]) == slices["test"]).all() and slices["test_cold"].any()
    day = 7
    history = np.bincount(run.series.i_user[run.series.i_day < day], minlength=run.series.n_users)
    assert (slices["test_cold"][day - 5] == (run.eval_mask & (history <= 2))).all()
    cold = res[(res["split"] == "test_cold") & (res["model"] == "dynamic_gnn") & (res["metric"] == "auc")
               & (res["day"] == day)]["value"].item()
    mask = slices["test_cold"][day - 5]
    assert cold == pytest.approx(roc_auc_score(run.truth[day - 5, mask], run.scores["dynamic_gnn"][day - 5, mask]))
    assert res.loc[res["metric"] == "fit_seconds", ["model", "split"]].values.tolist() == [["dynamic_gnn", "train"]]
    oracle = res[(res["model"] == "oracle") & (res["metric"] == "auc")]["value"]
    assert oracle.min() > 0.7 and np.isfinite(res["value"]).all()
    assert run.scores["dynamic_gnn"].shape == (7, 400) and "supervised_reference" in models


def test_supervised_reference_learns_each_day_from_that_day_s_labels():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 600, 3))
    truth = np.stack([x[0, :, 0] > 0.5, x[1, :, 1] > 0.5]).astype(int)  # the target moves to another feature
    mask = np.arange(600) >= 100
    scores = supervised_reference(list(x), truth, mask, seed=0)
    assert scores.shape == (2, 600) and (scores[:, ~mask] == 0).all()
    for day in range(2):
        assert roc_auc_score(truth[day, mask], scores[day, mask]) > 0.95
    assert roc_auc_score(truth[1, mask], scores[0, mask]) < 0.6  # day 0's fit knows nothing of day 1's target
    rare = truth.copy()
    rare[1] = 0
    rare[1, 150:153] = 1  # three targets: too few to cross-fit, so the day is left unscored
    assert np.isnan(supervised_reference(list(x), rare, mask)[1]).all()


def test_audience_modes(world, series):
    users = world.observed["users"]
    assert identify(users, "credit_score >= 700").sum() == (users["credit_score"] >= 700).sum()
    with pytest.raises(SchemaError):
        identify(users, "no_such_column > 1")
    scores = np.arange(400.0)
    audience = expand(scores, 10, exclude=scores >= 395)
    assert audience.sum() == 10 and not audience[395:].any()
    labels, table = discover(np.random.default_rng(0).normal(size=(400, 4)), users, audience, n_clusters=3,
                             describe=("age",))
    assert len(labels) == 400 and table["users"].sum() == 400


def test_bad_tables_raise_schema_error(world):
    obs = dict(world.observed)
    obs["seeds"] = pd.DataFrame({"user_id": [10**9], "day": [0]})
    bad = type(world)(config=None, observed=obs, oracle={})
    with pytest.raises(SchemaError, match="seeds"):
        rolling_evaluation(bad, train_end=5, progress=False)
    edges = obs["edges"].assign(src=10**9)
    with pytest.raises(SchemaError, match="edges"):
        GraphSeries(obs["users"], obs["interactions"], edges)


def test_study_run_keeps_raw_rows_and_computes_the_mean_after_the_shift():
    config = Config(n_users=300, n_days=12, shift_day=8, train_end=5, epochs=2, n_seeds=2,
                    ablations=("single_aggregator",))
    result = run(config)
    rows = check_results(result.results)
    assert set(rows["split"]) == {"train", "test", "test_cold", "test_warm"} and result.runtime_seconds > 0
    dynamic = rows[(rows["model"] == "dynamic_gnn") & (rows["metric"] == "auc") & (rows["seed"] == 1)
                   & (rows["split"] == "test")]
    after = after_shift(result).set_index(["model", "metric", "seed"])["value"]
    assert after[("dynamic_gnn", "auc", 1)] == pytest.approx(dynamic.loc[dynamic["day"] >= 8, "value"].mean())
    assert result.headline["dynamic_gnn_auc_after_shift"] == pytest.approx(
        after.loc["dynamic_gnn", "auc"].mean())
    assert {"oracle", "dynamic_gnn_ablation_single_aggregator"} <= set(comparison_table(result).index)
    assert "dynamic GNN reaches AUC" in verdict(result)
    assert set(result.metrics["non_graph_models"]) <= set(NON_GRAPH_MODELS)
    assert "logistic_regression_refreshed" in result.metrics["non_graph_models"]
    assert not set(result.metrics["non_graph_models"]) & {"neighbour_gbm", "label_propagation", "deepwalk"}
    gains = rows[rows["metric"] == "paired_auc_gain"].set_index(["model", "split"])["value"]
    per_seed = after_shift(result, "test_cold")
    per_seed = per_seed[per_seed["metric"] == "auc"].pivot(index="seed", columns="model", values="value")
    expected = (per_seed["dynamic_gnn"] - per_seed["dynamic_gnn_ablation_single_aggregator"]).mean()
    assert gains[("dynamic_gnn_ablation_single_aggregator", "test_cold")] == pytest.approx(expected)
    low = rows[(rows["metric"] == "paired_auc_gain_ci_low") & (rows["split"] == "test")]["value"].item()
    high = rows[(rows["metric"] == "paired_auc_gain_ci_high") & (rows["split"] == "test")]["value"].item()
    assert low < gains[("dynamic_gnn_ablation_single_aggregator", "test")] < high
    assert set(ablation_table(result).index.get_level_values("split")) == {"test", "test_cold", "test_warm"}


def test_study_refuses_bad_parameters():
    with pytest.raises(ValueError, match="ablations"):
        run(Config(ablations=("no_such_ablation",)))
    with pytest.raises(ValueError, match="n_seeds"):
        run(Config(n_seeds=0))


def test_own_data_without_oracle_is_scored_against_later_seeds(world, tmp_path):
    from lab.data import load_world

    root = tmp_path / "tables"
    root.mkdir()
    for name in ("users", "products", "interactions", "edges", "seeds"):
        world.observed[name].to_csv(root / f"{name}.csv", index=False)
    own = load_world(root)
    run = rolling_evaluation(own, train_end=5, gnn_params={"epochs": 1, "hidden_channels": 8}, ablations=(),
                             progress=False)
    assert not {"oracle", "supervised_reference"} & set(run.results["model"]) and run.shift_day is None
    later = np.isin(run.series.user_ids, world.observed["seeds"].query("day >= 5")["user_id"])
    assert (run.truth[0] == later).all()


def test_product_ids_are_labels_not_positions(world, series):
    obs = world.observed
    interactions = obs["interactions"].assign(product_id=obs["interactions"]["product_id"] + 100)
    shifted = GraphSeries(obs["users"], interactions, obs["edges"], product_ids=obs["products"]["product_id"] + 100)
    assert torch.equal(shifted.snapshot(6).x, series.snapshot(6).x)
    assert "share_product_100" in shifted.feature_names
    with pytest.raises(SchemaError, match="ids not in products"):
        GraphSeries(obs["users"], interactions, obs["edges"], product_ids=obs["products"]["product_id"])


def test_users_with_missing_values_are_imputed_by_the_shared_encoder(world):
    users = world.observed["users"].assign(score_from_crm=np.where(np.arange(400) < 3, np.nan, 1.0))
    series = GraphSeries(users, world.observed["interactions"], world.observed["edges"])
    assert "score_from_crm_missing" in series.static_names and np.isfinite(series.static).all()
    assert "region" in series.static_names and "preferred_channel=email" in series.static_names


def test_unknown_featured_product_is_refused(world):
    with pytest.raises(SchemaError, match="featured_product=99"):
        rolling_evaluation(world, train_end=5, featured_product=99, ablations=(), progress=False)


def test_seeds_without_days_on_own_data_give_one_clear_message(world):
    from lab.data import World

    observed = dict(world.observed, seeds=world.observed["seeds"][["user_id"]])
    with pytest.raises(SchemaError, match="no seed is tagged on or after train_end"):
        rolling_evaluation(World(config=None, observed=observed), train_end=5, ablations=(), progress=False)


def test_graph_payoff_reads_a_sweep_s_folders_and_pairs_on_every_repetition(tmp_path):
    folders = []
    for i, (cold, gnn) in enumerate([(0.1, 0.70), (0.1, 0.74), (0.6, 0.80), (0.6, 0.84)]):
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        params = {"cold_start_share": cold, "peer_effect": 0.8, "tie_noise": 0.2}
        (folder / "params.yaml").write_text(yaml.safe_dump({"parameters": params}))
        (folder / "metrics.json").write_text(json.dumps({"shift_day": 3, "non_graph_models": ["rule", "lr"]}))
        rows = [{"model": model, "metric": "auc", "value": value, "split": split, "day": day, "seed": 0}
                for split in ("test", "test_cold") for day in (2, 3, 4)
                for model, value in (("dynamic_gnn", gnn if day >= 3 else 0.0), ("rule", 0.65), ("lr", 0.70),
                                     ("neighbour_gbm", 0.99))]
        pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
        folders.append(folder)
    payoff = graph_payoff(folders).set_index(["cold_start_share", "split"])
    cell = payoff.loc[(0.6, "test_cold")]
    assert cell["best_non_graph_model"] == "lr" and cell["repetitions"] == 2  # neighbour_gbm uses the graph
    assert cell["gain"] == pytest.approx(0.12) and cell["ci_low"] < 0.12 < cell["ci_high"]
    assert payoff.loc[(0.1, "test"), "gain"] == pytest.approx(0.02)


def test_ranking_areas_match_scikit_learn_with_tied_scores():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(3)
    y = rng.random(400) < 0.3
    score = np.round(rng.normal(size=400) + y, 1)  # many ties, as a rule on a share of 0 gives
    metrics = audience_metrics(y, score, 10)
    assert metrics["auc"] == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert metrics["pr_auc"] == pytest.approx(average_precision_score(y, score), abs=1e-12)
    with pytest.raises(ValueError, match="both classes"):
        audience_metrics(np.zeros(5, bool), np.arange(5.0), 1)
