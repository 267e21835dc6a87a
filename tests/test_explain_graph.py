"""Explaining the lookalike GNN: layer states reproduce the rollout, the frozen scorer reproduces the day's
scores, rows follow the results contract, worked examples name no user, and the graph attribution finds
a planted neighbour effect."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch
from torch import Tensor, nn

from lab.core import limit_threads
from lab.data import simulate_world
from lab.explain import graph
from lab.lookalike.evaluate import rolling_evaluation
from lab.results import check_results


@pytest.fixture(scope="module")
def run():
    world = simulate_world(n_users=400, n_days=12, shift_days=(8,), seed=0, interactions_per_user_day=2.0,
                           edges_per_user_day=0.3)
    with limit_threads(1):
        yield rolling_evaluation(world, train_end=5, gnn_params={"epochs": 2, "hidden_channels": 8}, ablations=(),
                                 reference=False, progress=False)


def test_layer_states_have_the_layer_shapes_and_reproduce_the_rollout(run):
    states = run.model.layer_states(run.snapshots)
    assert len(states) == len(run.snapshots)
    n = run.series.n_users
    for name in graph.gnn_layers(run.model):
        assert states[0][name].shape == (n, 8)
    last = run.model.n_layers - 1
    rebuilt = np.maximum(states[-1][f"layer{last}_centre"] + states[-1][f"layer{last}_cross"], 0)
    np.testing.assert_allclose(rebuilt, run.rollout.embedding, atol=1e-4)
    np.testing.assert_allclose(np.stack([s["score"] for s in states]), run.rollout.scores, atol=1e-3)


def test_frozen_scorer_scores_an_ego_graph_as_the_full_snapshot(run):
    day = int(run.days[0])
    record = run.model.layer_states(run.snapshots)[day - 1]
    edge_index = torch.as_tensor(record["edge_index"])
    scorer = graph.FrozenSnapshotScorer(run.model, run.snapshots[day - 1], edge_index)
    with torch.no_grad():
        np.testing.assert_allclose(scorer(scorer.x, edge_index).numpy(), record["score"], atol=1e-3)
        user = int(edge_index[1, 0])
        subset, sub_edges, mapping, _ = graph.k_hop_subgraph(user, 1, edge_index, relabel_nodes=True,
                                                             num_nodes=scorer.x.size(0))
        ego = scorer(scorer.x[subset], sub_edges)[mapping[0]]
    assert float(ego) == pytest.approx(float(record["score"][user]), abs=1e-3)


def test_stored_layers_replay_recorded_rows_and_refuse_new_ones():
    X = np.arange(6, dtype=np.float32).reshape(3, 2)
    model = graph.StoredLayers(X, np.array([1.0, -1.0, 2.0]), {"layer0_centre": np.eye(3)})
    assert model(torch.from_numpy(X[[2, 0]])).tolist() == [2.0, 1.0]
    with pytest.raises(KeyError):
        model(torch.zeros(1, 2))


def test_report_rows_follow_the_results_contract(run):
    reading = graph.read_gnn(run, max_rows=600)
    lice_rows = graph.gnn_lice_rows(run, seeds=(0, 1), max_clusters=3, reading=reading)
    check_results(lice_rows)
    assert set(lice_rows["metric"]) == {"fidelity", "n_clusters", "ari", "path_agreement", "decision_rate"}
    assert set(graph.gnn_layers(run.model)) <= set(lice_rows["layer"])
    assert lice_rows.query("metric == 'fidelity'")["value"].between(0, 1).all()
    explanation = graph.graph_explanation_rows(run, days=run.days[:2], epochs=20)
    check_results(explanation)
    assert set(explanation["split"]) == {"test_cold", "test_warm"}
    assert explanation.query("metric == 'neighbour_feature_top3_share'")["value"].between(0, 1).all()
    deletion = explanation[explanation["metric"].str.startswith("deletion_")]
    assert set(zip(deletion["metric"], deletion["split"])) == {
        (f"deletion_{c}", s) for c in ("top_change", "random_change") for s in ("test_cold", "test_warm")}
    assert (deletion["value"] >= 0).all() and (deletion["value"] > 0).any()
    paths = graph.lice_paths(run, reading=reading)
    assert paths["n"].sum() <= int((reading.logits > 0).sum())


def test_worked_examples_name_no_user(run):
    examples = graph.worked_examples(run)
    assert examples, "no worked example"
    for label, table in examples.items():
        assert re.fullmatch(r"user [A-Z] \((cold start|warm)\)", label)
        assert "feature" in set(table["what"])
        for text in table["description"]:
            assert not re.findall(r"(?<![\w.])\d+(?![\w.])", text), f"a bare number (an id?) in {text!r}"


class NeighbourSum(nn.Module):
    """A planted model: a node's score is the sum of its in-neighbours' first feature, nothing else."""

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return torch.zeros(x.size(0)).index_add(0, edge_index[1], x[edge_index[0], 0])


def test_attribution_ranks_the_planted_neighbour_feature_first():
    torch.manual_seed(0)
    x = torch.randn(6, 3) + 2.0
    edge_index = torch.tensor([[1, 2, 4, 5], [0, 0, 3, 3]])
    found = graph.graph_attributions(NeighbourSum(), x, edge_index, np.array([0, 3]), ["a", "b", "c"])
    assert (found.features.idxmax(axis=1) == "neighbour: a").all()
    assert graph.neighbour_in_top(found.features, top=1).all()
    assert set(found.neighbours["node"]) == {1, 2, 4, 5}


def test_deleting_the_top_entries_removes_what_the_planted_model_reads():
    torch.manual_seed(0)
    x = torch.randn(6, 10) + 2.0
    edge_index = torch.tensor([[1, 2, 4, 5], [0, 0, 3, 3]])
    found = graph.graph_attributions(NeighbourSum(), x, edge_index, np.array([0, 3]), [f"f{i}" for i in range(10)])
    score = NeighbourSum()(x, edge_index)[[0, 3]].numpy()
    np.testing.assert_allclose(found.deletion["top_change"], score, rtol=1e-6)  # the score falls to 0
    assert (found.deletion["random_change"] <= found.deletion["top_change"] + 1e-5).all()
    assert found.deletion["random_change"].mean() < found.deletion["top_change"].mean()


def test_the_frozen_scorer_stays_frozen_through_the_explainer(run):
    """PyG's Explainer puts back the mode it found; the scorer must stay in evaluation mode, or the deletion
    check would score with dropout and batch statistics and differ from one call to the next."""
    day = int(run.days[0])
    record = run.model.layer_states(run.snapshots)[day - 1]
    edge_index = torch.as_tensor(record["edge_index"])
    scorer = graph.FrozenSnapshotScorer(run.model, run.snapshots[day - 1], edge_index)
    users = np.unique(edge_index[1].numpy())[:5]
    first, second = (graph.graph_attributions(scorer, scorer.x, edge_index, users, run.series.feature_names, epochs=5)
                     for _ in range(2))
    assert not any(module.training for module in scorer.modules())
    pd.testing.assert_frame_equal(first.deletion, second.deletion)
