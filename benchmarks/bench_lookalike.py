"""Benchmarks for the lookalike study: the issue's bars, measured and printed.

    python benchmarks/bench_lookalike.py quality   # default world, 3 seeds: dynamic GNN vs oracle vs static
    python benchmarks/bench_lookalike.py train     # fit on 100k users x 30 daily snapshots (bar: < 5 min)
                                                   # (notebook-sized epochs would be --epochs 8)
    python benchmarks/bench_lookalike.py score     # score a 3.7M-user / 4.3M-edge graph (bar: fits in 24 GB)

Each part prints its figures; peak memory is the process's ``ru_maxrss``.
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from lab.core import limit_threads, world_for
from lab.lookalike import DynamicGNN, GraphSeries
from lab.lookalike.evaluate import STATIC_BASELINES
from lab.lookalike.study import Config, after_shift, daily_table, run


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def quality(n_seeds: int, n_threads: int) -> None:
    """The study's own ``run`` at its default world, without ablations, over ``n_seeds`` repetitions."""
    result = run(Config(n_seeds=n_seeds, ablations=(), n_threads=n_threads))
    after = after_shift(result)
    auc = after[after["metric"] == "auc"].pivot(index="model", columns="seed", values="value")
    mean = auc.mean(axis=1)
    static = mean[[m for m in STATIC_BASELINES if m in mean.index]]
    print(auc.assign(mean=mean, std=auc.std(axis=1)).sort_values("mean", ascending=False).round(3).to_string())
    print(f"BAR dynamic_gnn AUC after shift {mean['dynamic_gnn']:.3f}; oracle {mean['oracle']:.3f} "
          f"(gap {mean['oracle'] - mean['dynamic_gnn']:.3f}, bar <= 0.02); best static {static.idxmax()} "
          f"{static.max():.3f} (margin {mean['dynamic_gnn'] - static.max():+.3f}, bar >= +0.02); "
          f"refreshed LR {mean['logistic_regression_refreshed']:.3f}")
    reference = auc.loc["supervised_reference"]
    print(f"supervised reference (LR given the true labels of the regime in force, same snapshot features, 5-fold "
          f"cross-fitted): {reference.mean():.3f} ± {reference.std():.3f}, "
          f"{mean['oracle'] - reference.mean():.3f} below the oracle even with labels no deployed model has")
    shown = daily_table(result, "auc")[["oracle", "supervised_reference", "dynamic_gnn", static.idxmax()]]
    print(f"AUC by day (mean over seeds; the shift is on day {result.metrics['shift_day']}, scores use data strictly "
          "before the day):")
    print(shown.assign(oracle_minus_reference=shown["oracle"] - shown["supervised_reference"]).round(3).T.to_string())


def train(n_users: int, n_days: int, epochs: int) -> None:
    start = time.perf_counter()
    world = world_for(preset="dense_graph", n_users=n_users, n_days=n_days + 1, seed=0, shift_days=(20,))
    obs = world.observed
    series = GraphSeries(obs["users"], obs["interactions"], obs["edges"], product_ids=obs["products"]["product_id"])
    snapshots = [series.snapshot(d) for d in range(1, n_days + 1)]
    prepared = time.perf_counter() - start
    positives = np.isin(series.user_ids, obs["seeds"]["user_id"])
    start = time.perf_counter()
    model = DynamicGNN(epochs=epochs, progress=True, random_state=0).fit(snapshots, positives)
    fitted = time.perf_counter() - start
    regime = world.oracle["regimes"].set_index("day")["regime"].loc[n_days]
    targets = world.oracle["targets"]
    truth = targets[targets["regime"] == regime].set_index("user_id").loc[series.user_ids]
    last_day = model.decision_function([series.snapshot(n_days)])[0]
    unseen = ~positives
    print(f"quality at this scale: held-out-seed validation AUC per epoch {np.round(model.validation_auc_, 3)}; "
          f"day-{n_days} AUC vs the true target {roc_auc_score(truth['is_target'][unseen], last_day[unseen]):.3f} "
          f"(oracle {roc_auc_score(truth['is_target'][unseen], truth['p_target'][unseen]):.3f})")
    print(f"BAR train: {n_users:,} users x {len(snapshots)} snapshots, {len(obs['edges']):,} edges, "
          f"{len(obs['interactions']):,} interactions; snapshots built in {prepared:.1f} s; "
          f"fit ({model.epochs} epochs) {fitted:.1f} s = {fitted / 60:.2f} min (bar < 5 min); "
          f"torch threads {torch.get_num_threads()}; peak RSS {peak_gb():.2f} GB")


def score(n_users: int, n_edges: int, n_features: int, window: int) -> None:
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    users = pd.DataFrame(rng.normal(size=(n_users, n_features)).astype(np.float32),
                         columns=[f"f{i}" for i in range(n_features)])
    users.insert(0, "user_id", np.arange(n_users, dtype=np.int64))
    edges = pd.DataFrame({"day": rng.integers(0, window, n_edges).astype(np.int16),
                          "src": rng.integers(0, n_users, n_edges), "dst": rng.integers(0, n_users, n_edges),
                          "weight": rng.gamma(2.0, 0.5, n_edges).astype(np.float32)})
    interactions = pd.DataFrame({"day": rng.integers(0, window, n_users).astype(np.int16),
                                 "user_id": np.arange(n_users, dtype=np.int64),
                                 "product_id": rng.integers(0, 6, n_users).astype(np.int16)})
    series = GraphSeries(users, interactions, edges, product_ids=range(6))
    del users, edges, interactions
    snapshot = series.snapshot(window, window)
    built = time.perf_counter() - start
    small = snapshot.x[:20_000]
    keep = (snapshot.edge_index < 20_000).all(0)
    train_snap = type(snapshot)(window, small, snapshot.edge_index[:, keep], snapshot.edge_weight[keep])
    model = DynamicGNN(epochs=1, random_state=0).fit([train_snap], rng.random(20_000) < 0.05)
    start = time.perf_counter()
    scores = model.decision_function([snapshot])
    scored = time.perf_counter() - start
    print(f"BAR score: {n_users:,} users, {n_edges:,} edges ({snapshot.edge_index.size(1):,} directed after "
          f"symmetrising), {snapshot.x.size(1)} features; snapshot built in {built:.1f} s, scored in {scored:.1f} s; "
          f"{np.isfinite(scores).mean():.0%} finite scores; peak RSS {peak_gb():.2f} GB (bar: fits in 24 GB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["quality", "train", "score"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=2, help="2 epochs x 30 snapshots = 60 steps, as many as "
                        "the notebook's 8 epochs x 8 snapshots (64) at 5k users")
    parser.add_argument("--edges", type=int, default=4_300_000)
    args = parser.parse_args()
    if args.part == "quality":
        quality(args.seeds, args.threads)
    else:
        with limit_threads(args.threads):
            if args.part == "train":
                train(args.users or 100_000, args.days, args.epochs)
            else:
                score(args.users or 3_700_000, args.edges, 17, 7)
