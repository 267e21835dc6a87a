"""The practitioner's graph baselines (neighbour aggregates + GBM, label propagation from the seeds) and
the faiss nearest-neighbour search behind max-similarity and expansion at scale."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from lab.core import limit_threads
from lab.lookalike.audiences import nearest_to_seeds
from lab.lookalike.baselines import (NEIGHBOUR_STATISTICS, LabelPropagation, NeighbourGBM, SeedSimilarity,
                                     gradient_boosting, neighbour_aggregate_names, neighbour_aggregates)
from lab.lookalike.sampling import Snapshot


@pytest.fixture(autouse=True)
def one_thread():
    with limit_threads(1):
        yield


def snapshot(n: int, pairs: list[tuple[int, int]], weights: list[float], x: np.ndarray | None = None) -> Snapshot:
    """An undirected snapshot: each pair in both directions with its weight."""
    src, dst = zip(*pairs, strict=True) if pairs else ((), ())
    edge_index = torch.tensor([list(src) + list(dst), list(dst) + list(src)], dtype=torch.long).reshape(2, -1)
    features = np.arange(n * 2, dtype=np.float32).reshape(n, 2) if x is None else x
    return Snapshot(day=0, x=torch.as_tensor(features, dtype=torch.float32), edge_index=edge_index,
                    edge_weight=torch.tensor(weights + weights, dtype=torch.float32))


def community_graph(seed: int = 0) -> tuple[Snapshot, np.ndarray, np.ndarray]:
    """30 communities of 20 users, dense inside and sparse across; the first 15 are the target. Seeds are
    a third of the target communities' users; own features are noise, so only neighbours tell."""
    rng = np.random.default_rng(seed)
    n, size = 600, 20
    community = np.arange(n) // size
    truth = community < 15
    same = community[:, None] == community[None, :]
    upper = np.triu(rng.random((n, n)) < np.where(same, 0.4, 0.004), k=1)
    src, dst = np.nonzero(upper)
    snap = snapshot(n, list(zip(src.tolist(), dst.tolist(), strict=True)), rng.uniform(0.5, 2.0, len(src)).tolist(),
                    rng.normal(size=(n, 3)).astype(np.float32))
    seeds = truth & (rng.random(n) < 1 / 3)
    return snap, seeds.astype(int), truth


def test_neighbour_aggregates_match_a_python_loop_with_an_isolated_node_and_a_self_loop():
    pairs, weights = [(0, 1), (0, 2), (1, 2), (2, 3), (3, 3)], [1.0, 2.0, 0.5, 3.0, 9.0]
    snap = snapshot(5, pairs, weights)
    labels = np.array([1, 0, 1, 0, 1])
    out = neighbour_aggregates(snap, labels)
    assert out.shape == (5, 2 + len(NEIGHBOUR_STATISTICS))
    assert neighbour_aggregate_names(["a", "b"])[:3] == ["neighbour_mean_a", "neighbour_mean_b",
                                                         "neighbour_seed_share"]
    x = snap.x.numpy()
    for node in range(5):
        ties = [(b if a == node else a, w) for (a, b), w in zip(pairs, weights, strict=True)
                if node in (a, b) and a != b]
        if not ties:
            assert np.all(out[node] == 0), "an isolated node gets zeros"
            continue
        total = sum(w for _, w in ties)
        mean = sum(w * x[j] for j, w in ties) / total
        expected = [*mean, sum(w * labels[j] for j, w in ties) / total, sum(labels[j] for j, _ in ties), len(ties),
                    total, max(w for _, w in ties)]
        np.testing.assert_allclose(out[node], expected, rtol=1e-6)
    assert out[4].sum() == 0 and out[3, 4] == 1, "node 3's self-loop is neither a neighbour nor a tie"
    np.testing.assert_allclose(neighbour_aggregates(snap, labels, chunk_size=3), out, rtol=1e-6)


def test_neighbour_gbm_finds_a_neighbour_driven_target_that_own_features_cannot():
    snap, y, truth = community_graph()
    unlabelled = y == 0
    model = NeighbourGBM(random_state=0)
    assert model.fit(snap, y) is model
    graph_auc = roc_auc_score(truth[unlabelled], model.decision_function(snap)[unlabelled])
    own = gradient_boosting(0).fit(snap.x.numpy(), y)
    own_auc = roc_auc_score(truth[unlabelled], own.decision_function(snap.x.numpy())[unlabelled])
    assert graph_auc > 0.85 and own_auc < 0.65, (graph_auc, own_auc)


def test_label_propagation_matches_dense_pagerank_and_prefers_users_near_seeds():
    pairs, weights = [(0, 1), (1, 2), (2, 3), (3, 4), (5, 6), (0, 7)], [1.0, 1.0, 2.0, 1.0, 1.0, 0.5]
    snap = snapshot(8, pairs, weights)
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0])
    model = LabelPropagation(alpha=0.2, n_iter=30).fit(snap, y)
    scores = model.decision_function(snap)
    adjacency = np.zeros((8, 8))
    for (a, b), w in zip(pairs, weights, strict=True):
        adjacency[a, b] = adjacency[b, a] = w
    degree = adjacency.sum(1)
    inverse = np.where(degree > 0, 1 / np.sqrt(np.maximum(degree, 1e-12)), 0.0)
    normalised = inverse[:, None] * adjacency * inverse[None, :]
    expected = y.astype(float)
    for _ in range(30):
        expected = 0.8 * normalised @ expected + 0.2 * y
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-7)
    assert scores[1] > scores[2] > scores[3] > scores[4] > 0
    assert scores[5] == scores[6] == 0, "no path to a seed, no score"
    rewired = snapshot(8, pairs + [(0, 4)], weights + [1.0])
    assert model.decision_function(rewired)[4] > 2 * scores[4], "re-scored on the given day's graph"


def test_faiss_max_similarity_equals_brute_force_and_hnsw_agrees_on_a_small_case():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 6)) * [1, 2, 3, 1, 1, 5] + 3
    y = (rng.random(500) < 0.08).astype(int)
    mean, std = X.mean(0), X.std(0)
    unit = (X - mean) / std
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    brute_max = (unit @ unit[y == 1].T).max(1)
    centroid = unit[y == 1].mean(0)
    brute_centroid = unit @ (centroid / np.linalg.norm(centroid))
    exact = SeedSimilarity("max", chunk_size=128).fit(X, y).decision_function(X)
    np.testing.assert_allclose(exact, brute_max, atol=1e-5)
    np.testing.assert_allclose(SeedSimilarity("centroid").fit(X, y).decision_function(X), brute_centroid, atol=1e-5)
    hnsw_model = SeedSimilarity("max", index="hnsw", ef_search=128).fit(X, y)
    np.testing.assert_allclose(hnsw_model.decision_function(X), brute_max, atol=1e-5)
    restored = pickle.loads(pickle.dumps(hnsw_model))
    assert restored.index_.hnsw.efSearch == 128, "the faiss index survives pickling with its settings"
    np.testing.assert_array_equal(restored.decision_function(X), hnsw_model.decision_function(X))
    prototypes = SeedSimilarity("max", n_prototypes=5).fit(X, y).decision_function(X)
    assert prototypes.shape == (500,) and np.isfinite(prototypes).all()
    with pytest.raises(ValueError):
        SeedSimilarity("max", index="ivf").fit(X, y)


def test_nearest_to_seeds_matches_brute_force():
    rng = np.random.default_rng(1)
    embedding = rng.normal(size=(300, 8)).astype(np.float32)
    seeds = rng.random(300) < 0.05
    unit = embedding / np.linalg.norm(embedding, axis=1, keepdims=True)
    best = np.where(seeds, -np.inf, (unit @ unit[seeds].T).max(1))
    expected = np.zeros(300, bool)
    expected[np.argsort(-best)[:20]] = True
    for index in ("flat", "hnsw"):
        chosen = nearest_to_seeds(embedding, seeds, 20, index=index, ef_search=64, chunk_size=50)
        assert chosen.dtype == bool and np.array_equal(chosen, expected), index
    assert nearest_to_seeds(embedding, seeds, 10_000).sum() == (~seeds).sum(), "never a seed, even asked for more"
    with pytest.raises(ValueError):
        nearest_to_seeds(embedding, np.zeros(300, bool), 5)


def test_graph_baselines_leave_their_inputs_alone_and_refuse_to_score_before_fit():
    snap, y, _ = community_graph(seed=2)
    copies = [t.clone() for t in (snap.x, snap.edge_index, snap.edge_weight)]
    labels = y.copy()
    for model in (NeighbourGBM(), LabelPropagation()):
        with pytest.raises(NotFittedError):
            model.decision_function(snap)
        first = model.fit(snap, y).decision_function(snap)
        assert np.array_equal(first, model.decision_function(snap)), "scoring changes nothing"
        assert all(torch.equal(a, b) for a, b in zip(copies, (snap.x, snap.edge_index, snap.edge_weight),
                                                     strict=True))
        assert np.array_equal(y, labels) and np.isfinite(first).all()
        with pytest.raises(ValueError):
            model.fit(snap, y[:-1])
        with pytest.raises(ValueError):
            model.decision_function(snapshot(10, [(0, 1)], [1.0], np.zeros((10, 3), np.float32)))
    with pytest.raises(NotFittedError):
        SeedSimilarity("max").decision_function(snap.x.numpy())
    with pytest.raises(ValueError):
        LabelPropagation(alpha=0.0).fit(snap, y)
