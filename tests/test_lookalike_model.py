"""The lookalike model's parts: the fused message-passing layer against a per-centre loop, centres without
neighbours, the tie-strength sampler and contact days, and the estimator's fit, determinism and RNG hygiene."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from lab.lookalike import DynamicGNN, GraphSeries, Snapshot, sample_neighbours
from lab.lookalike.model import (STD_EPS, CentreAttentionAggregation, DynamicConv, centre_adjacency,
                                 neighbourhood_summaries)

AGGRS = ("mean", "max", "sum", "std", "min")


def tiny_graph() -> tuple[torch.Tensor, torch.Tensor]:
    """Six nodes; node 4 has no incoming edge, node 5 exactly one; edge 0 -> 3 is repeated (it counts once)."""
    src = torch.tensor([1, 2, 3, 3, 0, 2, 0, 0, 1])
    dst = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, 5])
    torch.manual_seed(0)
    return torch.stack([src, dst]), torch.randn(6, 3)


def naive_summaries(edge_index: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(h.size(0), len(AGGRS), h.size(1))
    for centre in range(h.size(0)):
        m = h[torch.unique(edge_index[0][edge_index[1] == centre])]
        if len(m) == 0:
            continue
        variance = (m ** 2).mean(0) - m.mean(0) ** 2
        std = torch.sqrt(variance.clamp_min(0) + STD_EPS) - math.sqrt(STD_EPS)
        out[centre] = torch.stack([m.mean(0), m.max(0).values, m.sum(0), std, m.min(0).values])
    return out


def test_summaries_equal_a_loop_over_centres_and_an_empty_centre_gets_zeros():
    edge_index, h = tiny_graph()
    raw, count = neighbourhood_summaries(centre_adjacency(edge_index, 6), h, AGGRS)
    assert torch.allclose(raw, naive_summaries(edge_index, h), atol=1e-5)
    assert count.tolist() == [3, 2, 1, 1, 0, 1]
    assert (raw[4] == 0).all() and (raw[5, AGGRS.index("std")] == 0).all()


def test_layer_equals_its_reference_composition_and_both_input_layouts_agree():
    edge_index, x = tiny_graph()
    torch.manual_seed(1)
    conv = DynamicConv(3, AGGRS)
    out, attention = conv(x, edge_index)
    h = conv.message_lin(x)
    count = torch.tensor([3.0, 2, 1, 1, 0, 1])
    a, expected_attention = conv.aggregation.mix(naive_summaries(edge_index, h), count, x)
    assert torch.allclose(out, conv.combine(x, a), atol=1e-5)
    assert torch.allclose(attention, expected_attention, atol=1e-5)
    assert torch.allclose(conv(x, centre_adjacency(edge_index, 6))[0], out)
    once = edge_index[:, torch.arange(9) != 7]  # without the repeated edge
    per_edge, _ = conv.aggregation(h[once[0]], once[1], x)  # messages formed per edge
    assert torch.allclose(per_edge, a, atol=1e-5)
    assert torch.allclose(attention.sum(-1), torch.ones(6), atol=1e-5)


def test_centre_without_neighbours_gets_a_zero_aggregate_and_finite_gradients():
    edge_index, x = tiny_graph()
    x.requires_grad_(True)
    layer = CentreAttentionAggregation(3, ("mean", "max", "std"))
    out, attention = layer(x[edge_index[0]], edge_index[1], x)
    assert (out[4] == 0).all() and torch.isfinite(attention).all()
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and layer.log_temperature.grad is not None
    with pytest.raises(ValueError):
        CentreAttentionAggregation(3, ("median",))


def test_a_lower_temperature_sharpens_the_attention():
    edge_index, x = tiny_graph()
    layer = CentreAttentionAggregation(3, AGGRS)
    _, flat = layer(x[edge_index[0]], edge_index[1], x)
    with torch.no_grad():
        layer.log_temperature.fill_(-3.0)
    _, sharp = layer(x[edge_index[0]], edge_index[1], x)
    assert sharp.max(-1).values.mean() > flat.max(-1).values.mean()


def test_sampler_keeps_at_most_k_and_prefers_ties_seen_on_more_days():
    # centre 0 has five neighbours of equal weight and degree; neighbours 3 and 5 were met on 3 days
    src, dst = torch.tensor([1, 2, 3, 4, 5]), torch.zeros(5, dtype=torch.long)
    weight, days = torch.ones(5), torch.tensor([1.0, 1.0, 3.0, 1.0, 3.0])
    kept, _ = sample_neighbours(torch.stack([src, dst]), weight, 6, k=2, contact_days=days)
    assert sorted(kept[0].tolist()) == [3, 5]
    # one heavy day can still beat two light ones: importance is log weight + log days
    kept, _ = sample_neighbours(torch.stack([src[:2], dst[:2]]), torch.tensor([5.0, 1.0]), 6, k=1,
                                contact_days=torch.tensor([1.0, 2.0]))
    assert kept[0].tolist() == [1]
    many = torch.randint(0, 50, (2, 500), generator=torch.Generator().manual_seed(0))
    for strategy in ("heuristic", "uniform"):
        kept, _ = sample_neighbours(many, torch.rand(500), 50, k=3, strategy=strategy,
                                    generator=torch.Generator().manual_seed(1))
        assert torch.bincount(kept[1], minlength=50).max() <= 3


def test_snapshot_counts_distinct_contact_days_per_pair():
    users = pd.DataFrame({"user_id": [10, 11, 12], "age": [30.0, 40.0, 50.0]})
    edges = pd.DataFrame({"day": [0, 1, 1, 2, 5], "src": [10, 11, 10, 10, 11], "dst": [11, 10, 11, 12, 12]})
    snap = GraphSeries(users, None, edges).snapshot(day=5, window=5)  # days 0..4: the day-5 edge is unseen
    days = {tuple(e): d for e, d in zip(snap.edge_index.T.tolist(), snap.contact_days.tolist())}
    assert days == {(0, 1): 2.0, (1, 0): 2.0, (0, 2): 1.0, (2, 0): 1.0}


@pytest.fixture(scope="module")
def snapshots() -> tuple[list[Snapshot], np.ndarray]:
    generator = torch.Generator().manual_seed(0)
    n = 300
    edge_index = torch.randint(0, n, (2, 1200), generator=generator)
    edge_index = torch.cat([edge_index, edge_index.flip(0)], 1)
    snaps = []
    for day in range(3):
        x = torch.randn(n, 5, generator=generator)
        snaps.append(Snapshot(day, x, edge_index, torch.rand(edge_index.size(1), generator=generator),
                              torch.randint(1, 4, (edge_index.size(1),), generator=generator).float()))
    positives = (snaps[-1].x[:, 0] > 1.0).numpy()
    return snaps, positives


def test_model_fits_scores_and_is_deterministic_without_moving_the_global_rng(snapshots):
    snaps, positives = snapshots
    torch.manual_seed(7)
    before = torch.get_rng_state()
    model = DynamicGNN(epochs=2, hidden_channels=8, random_state=3).fit(snaps, positives)
    assert torch.equal(torch.get_rng_state(), before)
    rollout = model.rollout(snaps)
    assert rollout.scores.shape == (3, 300) and np.isfinite(rollout.scores).all()
    assert rollout.embedding.shape == (300, 8) and rollout.attention.shape == (3, 300, 4)
    assert len(model.epoch_seconds_) == 2 and len(model.validation_auc_) == 2
    again = DynamicGNN(epochs=2, hidden_channels=8, random_state=3).fit(snaps, positives)
    assert np.array_equal(again.decision_function(snaps), rollout.scores)
    other = DynamicGNN(epochs=2, hidden_channels=8, random_state=4).fit(snaps, positives)
    assert not np.array_equal(other.decision_function(snaps), rollout.scores)
    for params in ({"sampler": "uniform"}, {"aggrs": ("mean",)}, {"update": "concat"}, {"gae_weight": 0.0},
                   {"memory": True}):
        scores = DynamicGNN(epochs=1, hidden_channels=8, **params).fit(snaps, positives).decision_function(snaps)
        assert np.isfinite(scores).all(), params
