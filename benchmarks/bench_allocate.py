"""Figures for issue 8's bars: 1M users x 5 offers under 5 s with gap to the LP bound under 0.1%; on
10k-user instances the dual within 0.1% of HiGHS's optimum; uplift allocation beating response
allocation in true incremental value on the default world.

    .venv/bin/python benchmarks/bench_allocate.py [--quick]
"""
from __future__ import annotations

import argparse
import resource
import time
import warnings

import numpy as np

from lab.allocate import oracle_values, solve_dual, solve_greedy, solve_milp, synthetic_values, to_problem
from lab.allocate.study import Config, run
from lab.data import simulate_world


def scale(n_users: int, repeats: int) -> None:
    table = synthetic_values(n_users, n_offers=5, random_state=0)
    started = time.perf_counter()
    problems = {"budget only": to_problem(table, budget=3.0 * n_users),
                "budget + 2 stock limits": to_problem(table, budget=3.0 * n_users,
                                                      limits={"offer_0": n_users // 5, "offer_1": n_users // 50})}
    print(f"[scale] {n_users:,} users x 5 offers (table built in {time.perf_counter() - started:.1f} s)")
    for name, problem in problems.items():
        runs = [solve_dual(problem) for _ in range(repeats)]
        seconds = sorted(r.solve_seconds for r in runs)
        met = np.median(seconds) < 5.0 and 100 * runs[0].gap < 0.1
        print(f"BAR scale ({name}): {n_users:,} users, dual median {np.median(seconds):.2f} s (min {seconds[0]:.2f}, "
              f"max {seconds[-1]:.2f}), gap to LP bound {100 * runs[0].gap:.2g}% (bars < 5 s, < 0.1%), lambda "
              f"{runs[0].multipliers['budget']:.4f} -> {'MET' if met else 'NOT MET'}")
    for by in ("value", "ratio"):
        greedy = solve_greedy(problems["budget only"], by)
        bound = solve_dual(problems["budget only"]).upper_bound
        print(f"  greedy_{by}, budget only: {greedy.solve_seconds:.2f} s, gap to LP bound "
              f"{100 * (bound - greedy.objective) / bound:.3f}%")


def versus_milp(n_users: int, seeds: list[int]) -> None:
    print(f"[vs HiGHS] {n_users:,}-user instances")
    for seed in seeds:
        instances = {
            f"synthetic 5 offers, seed {seed}": to_problem(synthetic_values(n_users, 5, seed),
                                                           budget=3.0 * n_users),
            f"world truth 3 offers, seed {seed}": to_problem(
                oracle_values(simulate_world(n_users=n_users, n_days=3, shift_days=(1,), seed=seed)),
                budget=5.0 * n_users, limits={"rate_discount": n_users // 20}),
        }
        for name, problem in instances.items():
            dual, milp = solve_dual(problem), solve_milp(problem, time_limit=120)
            below = 100 * (milp.objective - dual.objective) / milp.objective
            print(f"BAR vs_highs ({name}): dual {dual.objective:,.1f} in {dual.solve_seconds:.2f} s, HiGHS "
                  f"{milp.objective:,.1f} (bound {milp.upper_bound:,.1f}) in {milp.solve_seconds:.1f} s, dual below "
                  f"HiGHS by {below:+.4f}% (bar < 0.1%), dual gap to LP {100 * dual.gap:.2g}% -> "
                  f"{'MET' if below < 0.1 else 'NOT MET'}")


def uplift_vs_response(n_seeds: int) -> None:
    """The study's own run on its default world (5,000 users, budget 5/user, rate_discount limited to 5%)."""
    config = Config(n_seeds=n_seeds)
    print(f"[values] the study's default world, budget {config.budget_per_user}/user, limits {config.limit_shares}, "
          f"uplift learner {config.uplift_learner}")
    result = run(config)
    rows = result.results
    truth = rows[rows["source"].isna() & (rows["metric"] == "true_incremental_value")]
    truth = truth.pivot(index="seed", columns="model", values="value")
    for seed, value in truth.iterrows():
        print(f"  seed {seed}: true incremental value  uplift {value['uplift_allocation']:,.0f}  response "
              f"{value['response_allocation']:,.0f}  oracle {value['oracle']:,.0f}  -> uplift/response "
              f"{value['uplift_allocation'] / value['response_allocation']:.2f}x")
    wins = int((truth["uplift_allocation"] > truth["response_allocation"]).sum())
    print(f"BAR uplift_vs_response: true incremental value uplift {truth['uplift_allocation'].mean():,.0f} vs "
          f"response {truth['response_allocation'].mean():,.0f} (mean over {len(truth)} seeds, uplift ahead on "
          f"{wins}); study runtime {result.runtime_seconds:.0f} s -> {'MET' if wins == len(truth) else 'NOT MET'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller instances (a smoke run)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    scale(100_000 if args.quick else 1_000_000, repeats=1 if args.quick else 3)
    versus_milp(2_000 if args.quick else 10_000, seeds=[0] if args.quick else [0, 1])
    uplift_vs_response(n_seeds=1 if args.quick else 3)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"total {time.perf_counter() - started:.0f} s, peak RSS {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
