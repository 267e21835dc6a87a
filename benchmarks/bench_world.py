"""The world's bars: time and peak memory of generating it at scale (1M users x 30 days plus 12
lifecycle months, < 60 s, < 4 GB), the calibration statistics, and how often each natural
experiment's estimate (``lab.uplift.designs``) lies within two standard errors of its truth over several worlds.

Usage: python benchmarks/bench_world.py [--n-users 1000000] [--n-days 30] [--write] [--design-worlds 5]
Peak memory is the process's maximum resident set size, baseline (imports) included.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time

import numpy as np

from lab.data import simulate_world
from lab.uplift.designs import DESIGNS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-users", type=int, default=1_000_000)
    parser.add_argument("--n-days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="also time writing the parquet tables")
    parser.add_argument("--design-worlds", type=int, default=5, help="worlds the natural experiments are tried on")
    args = parser.parse_args()

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    start = time.perf_counter()
    world = simulate_world(n_users=args.n_users, n_days=args.n_days, seed=args.seed, shift_days=(args.n_days * 2 // 3,))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    rows = {name: len(t) for name, t in world.observed.items()}
    met = seconds < 60 and peak < 4
    print(f"BAR generate: world {args.n_users:,} users x {args.n_days} days generated in {seconds:.1f} s, peak RSS "
          f"{peak:.2f} GB (imports alone {baseline:.2f} GB; bars < 60 s, < 4 GB) -> {'MET' if met else 'NOT MET'}")
    print("rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
    users = world.observed["users"]
    events = world.observed["interactions"]
    day = args.n_days - 1
    counts = events.groupby("user_id").size().reindex(users["user_id"], fill_value=0)
    edges = world.observed["edges"]
    degree = np.bincount(np.concatenate([edges["src"], edges["dst"]]), minlength=len(users))
    loans = world.observed["loans"]
    print(f"calibration: users with <= 2 own interactions by day {day} {np.mean(counts <= 2):.1%}; mean degree "
          f"{degree.mean():.2f} (DGraphFin: 2 x 4.3M edges / 3.7M users = 2.32), degree quantiles 50/90/99/max "
          f"{np.quantile(degree, [0.5, 0.9, 0.99]).tolist()} / {degree.max()}; approval among applicants "
          f"{loans['approved'].mean():.1%}; 12-month default among drawn loans "
          f"{loans.loc[loans['drawn'] == 1, 'defaulted'].mean():.2%}; mean true CLV "
          f"{world.oracle['lifecycle']['clv'].mean():,.0f}")
    z: dict[str, list[float]] = {name: [] for name in DESIGNS}
    for seed in range(args.design_worlds):
        small = simulate_world(n_users=200_000, n_days=12, shift_days=(8,), seed=seed)
        for name, estimate in DESIGNS.items():
            result = estimate(small)
            z[name].append((result.estimate - result.true_effect) / result.se)
    for name, values in z.items():
        inside = np.mean(np.abs(values) <= 2)
        print(f"BAR design_{name}: over {len(values)} worlds of 200,000 users, (estimate - truth) / se = "
              f"{', '.join(f'{v:+.2f}' for v in values)}; within 2 se in {inside:.0%} (bar: most, about 95%) -> "
              f"{'MET' if inside >= 0.8 else 'NOT MET'}")
    if args.write:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            world.save(tmp)
            print(f"written as parquet in {time.perf_counter() - start:.1f} s, "
                  f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB")


if __name__ == "__main__":
    main()
