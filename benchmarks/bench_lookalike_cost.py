"""Cost of a training epoch: ``DynamicGNN`` against PyG's two-layer GraphSAGE on one snapshot (issue "Lookalike v2").

    python benchmarks/bench_lookalike_cost.py                  # 100k users, 24 features, ~420k directed edges
    python benchmarks/bench_lookalike_cost.py --users 20000    # a quicker look

The snapshot is synthetic and seeded: 24 standard-normal features, random user pairs made undirected (about 4.2
directed edges per user), decayed weights and contact days per edge, and 5 % seed users whose logit reads their
own features and their neighbours' mean, so the graph carries signal. Both models train on it with one thread,
the same class-balanced binary cross-entropy (seeds vs the rest) and Adam:

* ``dynamic_gnn``: ``DynamicGNN(epochs=E).fit([snapshot], seeds)`` at its defaults. An epoch is what a user pays
  per epoch of ``fit`` (``epoch_seconds_``): forward, the BCE and GAE losses, backward, the Adam step, the
  held-out seed AUC and the early-stopping copy. Neighbour sampling and feature scaling run once per ``fit``,
  before the first epoch; they are timed apart (``setup``) and their memory is inside the peak.
* ``graphsage``: ``lab.lookalike.baselines.GraphSAGENetwork`` (two ``SAGEConv``, 32 hidden channels) on the
  same edges, full batch; an epoch is forward, loss, backward and step.

Time is the median over the ``E`` epochs. Memory is measured in a fresh subprocess per model, because torch's
allocations are invisible to ``tracemalloc``: after the snapshot is built the process's peak resident set
(``VmHWM``) is reset by writing ``5`` to ``/proc/self/clear_refs``, training runs, and the extra memory is
``VmHWM`` after training minus ``VmRSS`` before it: the peak extra memory of training, every epoch included
(after the first epoch the allocator reuses its pages, so this is the peak of an epoch plus Adam's small state).
The bars: an epoch within 1.5x GraphSAGE's time and within 2x its memory. ``--parts`` also times
variants of ``dynamic_gnn`` without some of its parts (one aggregator, no GAE term, no dropout, GraphSAGE's
concat update, and all of these at once), so the cost of each part can be read beside what it buys (the
study's paired ablations). ``--profile`` also prints where ``dynamic_gnn``'s time goes: torch's profiler over one
more ``fit`` (sampling and scaling included once), the operators with the most time of their own, per epoch.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch_geometric.utils import scatter, to_undirected

from lab.lookalike import DynamicGNN, Snapshot
from lab.lookalike.baselines import GraphSAGENetwork

N_FEATURES = 24


def synthetic_snapshot(n_users: int, seed: int = 0) -> tuple[Snapshot, np.ndarray]:
    """A random undirected graph with ~4.2 directed edges per user, and a seed mask that depends on the graph."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n_users, N_FEATURES, generator=generator)
    pairs = torch.randint(0, n_users, (2, int(2.1 * n_users)), generator=generator)
    pairs = pairs[:, pairs[0] != pairs[1]]
    days = torch.randint(1, 4, (pairs.size(1),), generator=generator).float()
    weight = torch.rand(pairs.size(1), generator=generator) * days
    edge_index, (edge_weight, contact_days) = to_undirected(pairs, [weight, days], num_nodes=n_users, reduce="max")
    neighbours = scatter(x[edge_index[0]], edge_index[1], dim=0, dim_size=n_users, reduce="mean")
    direction = torch.randn(2, N_FEATURES, generator=generator)
    logit = x @ direction[0] + 2.0 * neighbours @ direction[1]
    seeds = (logit > torch.quantile(logit, 0.95)).numpy()
    return Snapshot(0, x, edge_index, edge_weight, contact_days), seeds


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def train_graphsage(snapshot: Snapshot, seeds: np.ndarray, epochs: int) -> tuple[list[float], np.ndarray]:
    torch.manual_seed(0)
    model = GraphSAGENetwork(N_FEATURES, 32)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    y = torch.as_tensor(seeds, dtype=torch.float32)
    pos_weight = (len(y) - y.sum()) / y.sum()
    seconds = []
    for _ in range(epochs):
        started = time.perf_counter()
        optimiser.zero_grad()
        logits = model(snapshot.x, snapshot.edge_index)
        F.binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight).backward()
        optimiser.step()
        seconds.append(time.perf_counter() - started)
    return seconds, logits.detach().numpy()


PARTS = {"one aggregator (mean)": {"aggrs": ["mean"]}, "no GAE term": {"gae_weight": 0.0},
         "no dropout": {"dropout": 0.0}, "concat update": {"update": "concat"},
         "all four": {"aggrs": ["mean"], "gae_weight": 0.0, "dropout": 0.0, "update": "concat"}}


def profile_fit(snapshot: Snapshot, seeds: np.ndarray, epochs: int, params: dict, top: int = 12) -> list[str]:
    """The ``top`` torch operators by their own CPU time in one ``DynamicGNN.fit``, as lines of ms per epoch."""
    from torch.profiler import profile

    with profile() as prof:
        DynamicGNN(epochs=epochs, random_state=0, **params).fit([snapshot], seeds)
    ops = sorted(prof.key_averages(), key=lambda op: op.self_cpu_time_total, reverse=True)
    total = sum(op.self_cpu_time_total for op in ops)
    return [f"{op.key:34s} {op.self_cpu_time_total / 1e3 / epochs:7.1f} ms/epoch "
            f"({op.self_cpu_time_total / total:5.1%}, {op.count / epochs:g} calls/epoch)" for op in ops[:top]]


def child(name: str, n_users: int, epochs: int, params: dict, profiled: bool = False) -> None:
    """Train one model (``dynamic_gnn`` with ``params``) in this fresh process; print its figures as JSON."""
    torch.set_num_threads(1)
    snapshot, seeds = synthetic_snapshot(n_users)
    before = rss_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    started = time.perf_counter()
    if name == "dynamic_gnn":
        model = DynamicGNN(epochs=epochs, random_state=0, **params).fit([snapshot], seeds)
        peak = rss_kib("VmHWM")
        seconds = model.epoch_seconds_
        setup = time.perf_counter() - started - sum(seconds)
        rollout = model.rollout([snapshot])
        scores = rollout.scores[0]
        extra = {"setup_s": setup, "attention": rollout.attention.astype(np.float32).mean(axis=(0, 1)).tolist()}
        if profiled:
            extra["profile"] = profile_fit(snapshot, seeds, epochs, params)
    else:
        seconds, scores = train_graphsage(snapshot, seeds, epochs)
        peak = rss_kib("VmHWM")
        extra = {}
    print(json.dumps({"model": name, "epoch_s": statistics.median(seconds), "extra_mib": (peak - before) / 1024,
                      "train_auc": roc_auc_score(seeds, scores), "edges": snapshot.edge_index.size(1), **extra}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--parts", action="store_true", help="also time dynamic_gnn without some of its parts")
    parser.add_argument("--profile", action="store_true", help="also print dynamic_gnn's costliest torch operators")
    parser.add_argument("--child", choices=("dynamic_gnn", "graphsage"), help=argparse.SUPPRESS)
    parser.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.users, args.epochs, json.loads(args.params), args.profile)
        return

    def measure(name: str, params: dict | None = None) -> dict:
        profiled = ["--profile"] if args.profile and name == "dynamic_gnn" and not params else []
        out = subprocess.run([sys.executable, __file__, "--child", name, "--users", str(args.users), "--epochs",
                              str(args.epochs), "--params", json.dumps(params or {}), *profiled], check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    figures = {name: measure(name) for name in ("graphsage", "dynamic_gnn")}
    sage, gnn = figures["graphsage"], figures["dynamic_gnn"]
    print(f"snapshot: {args.users:,} users, {N_FEATURES} features, {gnn['edges']:,} directed edges; one thread, "
          f"{args.epochs} epochs, median epoch")
    for name, f in figures.items():
        print(f"{name:12s} epoch {f['epoch_s']:.3f} s, peak extra memory {f['extra_mib']:.0f} MiB, "
              f"seed AUC on the training graph {f['train_auc']:.3f}")
    print(f"dynamic_gnn once per fit (sampling, scaling, model set-up): {gnn['setup_s']:.2f} s; mean attention "
          f"{[round(a, 3) for a in gnn['attention']]}")
    time_ratio, memory_ratio = gnn["epoch_s"] / sage["epoch_s"], gnn["extra_mib"] / sage["extra_mib"]
    print(f"BAR epoch_time: dynamic_gnn {gnn['epoch_s']:.3f} s vs graphsage {sage['epoch_s']:.3f} s = "
          f"{time_ratio:.2f}x (bar <= 1.5x) -> {'MET' if time_ratio <= 1.5 else 'NOT MET'}")
    print(f"BAR epoch_memory: dynamic_gnn {gnn['extra_mib']:.0f} MiB vs graphsage {sage['extra_mib']:.0f} MiB = "
          f"{memory_ratio:.2f}x (bar <= 2x) -> {'MET' if memory_ratio <= 2.0 else 'NOT MET'}")
    if args.profile:
        print("dynamic_gnn's costliest torch operators over one more fit (own CPU time, sampling included once):")
        for line in gnn["profile"]:
            print("  " + line)
    if args.parts:
        for part, params in PARTS.items():
            f = measure("dynamic_gnn", params)
            print(f"dynamic_gnn with {part}: epoch {f['epoch_s']:.3f} s ({f['epoch_s'] / sage['epoch_s']:.2f}x "
                  f"GraphSAGE), peak extra memory {f['extra_mib']:.0f} MiB ({f['extra_mib'] / sage['extra_mib']:.2f}x)")


if __name__ == "__main__":
    main()
