"""Time and peak memory of generating the world at scale (goal: 1M users x 30 days, < 60 s, < 4 GB).

Usage: python benchmarks/bench_world.py [--n-users 1000000] [--n-days 30] [--write DIR]
Peak memory is the process's maximum resident set size, baseline (imports) included.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time

from lab.data import simulate_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-users", type=int, default=1_000_000)
    parser.add_argument("--n-days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="also time writing the parquet tables")
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
    if args.write:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            world.save(tmp)
            print(f"written as parquet in {time.perf_counter() - start:.1f} s, "
                  f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB")


if __name__ == "__main__":
    main()
