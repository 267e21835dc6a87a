"""Bars of issue #19: LICE and a graph-aware explanation on the lookalike dynamic GNN (``lab.explain.graph``).

Default scale (5000 users, 30 days, dense_graph, a shift on day 20), one thread. Per world: LICE fidelity and
K per GNN layer over 3 seeds, the cold-start expanded audience's neighbour-feature top-3 share at
peer_effect 0.8, 1.6 and 0, the report section's cost, and, to say why the share is what it is, how much
the cold-start audience's score moves when their sampled neighbours are removed vs when their own features
are set to the mean (frozen scorer, ``neighbourhood_effect``), and what the truth says about the same users
(``true_peer_drivers``: who has a strong tie who would take the product, and the peer term's share of their
true target logit's variance); and the deletion check (how far the score moves when each explained user's
three most attributed entries are set to their mean, against three drawn at random).
Run: ``.venv/bin/python benchmarks/bench_lice_gnn.py``.
"""
from __future__ import annotations

import time
import warnings

import numpy as np
import torch
from scipy.special import logit

from lab.core import limit_threads, world_for
from lab.data import World
from lab.explain import graph
from lab.lookalike.evaluate import COLD_START_INTERACTIONS, LookalikeRun, own_history, rolling_evaluation


def neighbourhood_effect(run: LookalikeRun, multiple: int = 5) -> tuple[float, float]:
    """Mean |score change| of the cold-start audience (every scored day) when their incoming sampled edges
    are removed, and when their own (scaled) features are set to the mean instead."""
    states = run.model.layer_states(run.snapshots)
    history = own_history(run.series, run.days)
    graph_moves, own_moves = [], []
    for i, day in enumerate(run.days):
        record = states[day - 1]
        chosen, _ = graph.audience(record["score"], run.eval_mask, graph.n_audience(run, multiple))
        users = np.flatnonzero(chosen & (history[i] <= COLD_START_INTERACTIONS))
        edge_index = torch.as_tensor(record["edge_index"])
        scorer = graph.FrozenSnapshotScorer(run.model, run.snapshots[day - 1], edge_index)
        with torch.no_grad():
            base = scorer(scorer.x, edge_index)[users]
            cut = edge_index[:, ~torch.isin(edge_index[1], torch.as_tensor(users))]
            graph_moves.append((scorer(scorer.x, cut)[users] - base).abs().numpy())
            x = scorer.x.clone()
            x[users] = 0.0
            own_moves.append((scorer(x, edge_index)[users] - base).abs().numpy())
    return float(np.concatenate(graph_moves).mean()), float(np.concatenate(own_moves).mean())


def true_peer_drivers(run: LookalikeRun, world: World, peer_effect: float, multiple: int = 5) -> tuple[float, float]:
    """What the truth says about the cold-start audience (every scored day): the share with at least one
    strong tie who would take the product alone (the only users whose target the peer effect moves), and
    the peer term's share of the variance of their true target logit (``peer_effect x log1p(such ties)``
    against the rest, own taste and ability)."""
    regimes = world.oracle["regimes"].set_index("day")["regime"]
    targets = {regime: table.set_index("user_id").loc[run.series.user_ids]
               for regime, table in world.oracle["targets"].groupby("regime")}
    history = own_history(run.series, run.days)
    states = run.model.layer_states(run.snapshots)
    peers, own = [], []
    for i, day in enumerate(run.days):
        chosen, _ = graph.audience(states[day - 1]["score"], run.eval_mask, graph.n_audience(run, multiple))
        truth = targets[regimes.loc[day]].iloc[np.flatnonzero(chosen & (history[i] <= COLD_START_INTERACTIONS))]
        peer = peer_effect * np.log1p(truth["target_peers"].to_numpy(np.float64))
        peers.append(peer)
        own.append(logit(truth["p_target"].to_numpy(np.float64)) - peer)
    peer, rest = np.concatenate(peers), np.concatenate(own)
    return float(np.mean(peer > 0)), float(peer.var() / (peer.var() + rest.var()))


def main() -> None:
    warnings.filterwarnings("ignore")
    limit_threads(1)
    torch.set_num_threads(1)
    shares = {}
    for peer_effect in (0.8, 1.6, 0.0):
        world = world_for(preset="dense_graph", n_users=5000, n_days=30, seed=0, shift_days=(20,),
                          peer_effect=peer_effect)
        run = rolling_evaluation(world, seed=0, ablations=(), reference=False, progress=False)
        started = time.perf_counter()
        rows = graph.explain_run(run).rows
        seconds = time.perf_counter() - started
        share = rows.query("model == 'graph_explanation' and metric == 'neighbour_feature_top3_share'")
        shares[peer_effect] = share.set_index("split")["value"]
        n_cold = int(rows.query("model == 'graph_explanation' and metric == 'n_users' and split == 'test_cold'")
                     ["value"].iloc[0])
        moved_graph, moved_own = neighbourhood_effect(run)
        with_peers, peer_share = true_peer_drivers(run, world, peer_effect)
        deletion = rows.query("model == 'graph_explanation' and metric.str.startswith('deletion_')", engine="python")
        deleted = deletion.set_index(["metric", "split"])["value"]
        top, drawn = (deleted.xs(f"deletion_{c}_change", level="metric") for c in ("top", "random"))
        print(f"peer_effect={peer_effect}: deletion check |score change|, three most attributed entries vs three "
              f"at random: cold {top['test_cold']:.3f} vs {drawn['test_cold']:.3f}, warm {top['test_warm']:.3f} vs "
              f"{drawn['test_warm']:.3f}")
        print(f"peer_effect={peer_effect}: neighbour top-3 share cold {shares[peer_effect]['test_cold']:.2f} "
              f"warm {shares[peer_effect]['test_warm']:.2f} (n_cold={n_cold}); cold audience |score change| "
              f"without neighbours {moved_graph:.3f} vs own features at the mean {moved_own:.3f}; truth: "
              f"{with_peers:.2f} of the cold audience have a strong tie who would take it alone, the peer term is "
              f"{peer_share:.3f} of their target logit's variance")
        if peer_effect == 0.8:
            lice = rows.query("model == 'lice_gnn'")
            fidelity = lice.query("metric == 'fidelity'").groupby("layer")["value"].min()
            k = lice.query("metric == 'n_clusters'").groupby("layer")["value"].max()
            ari = lice.query("metric == 'ari'").set_index("layer")["value"]
            path = lice.query("metric == 'path_agreement'").set_index("layer")["value"]
            rate = float(lice.query("metric == 'decision_rate'")["value"].iloc[0])
            figures = ", ".join(f"{layer} {fidelity[layer]:.3f} (K<={int(k[layer])}, ARI {ari[layer]:.2f}, "
                                f"path agreement {path[layer]:.2f})" for layer in fidelity.index)
            met = (fidelity >= 0.9).all() and (k <= 8).all()
            print(f"BAR lice_gnn_fidelity: min over 3 seeds {figures}; always-'not picked' {1 - rate:.3f} "
                  f"-> {'MET' if met else 'NOT MET'}")
            print(f"BAR report_cost: {seconds:.1f} s at 5000 users -> {'MET' if seconds < 30 else 'NOT MET'}")
    on = {pe: shares[pe]["test_cold"] for pe in (0.8, 1.6)}
    print(f"BAR neighbour_top3_peer_on: cold share {on[0.8]:.2f} at peer_effect 0.8, {on[1.6]:.2f} at 1.6 "
          f"(>= 0.70) -> {'MET' if min(on.values()) >= 0.7 else 'NOT MET'}")
    off = shares[0.0]["test_cold"]
    print(f"BAR neighbour_top3_peer_off: cold share {off:.2f} at peer_effect 0 (< 0.30) "
          f"-> {'MET' if off < 0.3 else 'NOT MET'}")


if __name__ == "__main__":
    main()
