"""Figures for issue 17's bars on the default world v2 over 5 seeds: the best learned policy's true
discounted 12-month profit at least 5% above the myopic policy's (paired interval over seeds) and above the
logging policy's; doubly robust OPE within 10% of the true value for every policy (the study's OPE is
cross-fitted: each learned policy is scored on customers it was not learned from); the notebook's default
run through papermill under 3 minutes. ``--large-users N`` adds one seed of a world with N users (10x the
default's logged customers at 1,000,000) to measure whether the learners' shortfall is one of data size.

    .venv/bin/python benchmarks/bench_lifecycle.py [--seeds 5] [--large-users 1000000]
"""
from __future__ import annotations

import argparse

import pandas as pd
from timing import notebook_seconds

from lab.lifecycle.study import BASELINES, LEARNED, Config, best_learned, gains, run

GAIN_BAR = 5.0           # percent over myopic the best learned policy's interval must clear
DR_BAR = 10.0            # percent of the true value DR must come within, for every policy
NOTEBOOK_SECONDS = 180.0


def _values(results: pd.DataFrame) -> pd.Series:
    return results[results["budget"].isna()].groupby(["model", "metric"])["value"].mean()


def main(n_seeds: int, large_users: int) -> None:
    results = run(Config(n_seeds=n_seeds)).results
    means = _values(results)
    print(f"[lifecycle] {n_seeds} seeds, cross-fitted, best learned policy {best_learned(results)}")
    for policy in (*BASELINES, *LEARNED):
        print(f"  {policy:>12}: true {means[(policy, 'true_value')]:8.1f}  "
              + "  ".join(f"{m.removeprefix('ope_')} {means[(policy, m)]:8.1f}"
                          for m in ("ope_ips", "ope_snips", "ope_dr", "ope_fqe")))
    gain = gains(results)
    mean, low, high = gain["myopic"]
    print(f"BAR gain over myopic: {mean:+.1f}% (paired 95% interval {low:+.1f}% to {high:+.1f}%, bar: interval above "
          f"+{GAIN_BAR:.0f}%) -> {'MET' if low > GAIN_BAR else 'NOT MET'}")
    mean, low, high = gain["logging"]
    print(f"BAR gain over logging: {mean:+.1f}% (paired 95% interval {low:+.1f}% to {high:+.1f}%, bar: above 0) -> "
          f"{'MET' if low > 0 else 'NOT MET'}")
    errors = {p: 100 * abs(means[(p, "ope_dr")] - means[(p, "true_value")]) / abs(means[(p, "true_value")])
              for p in (*BASELINES, *LEARNED)}
    worst = max(errors, key=errors.__getitem__)
    print("BAR DR within 10%: " + ", ".join(f"{p} {e:.1f}%" for p, e in errors.items())
          + f" (worst {worst}) -> {'MET' if errors[worst] < DR_BAR else 'NOT MET'}")
    seconds = notebook_seconds("70_lifecycle_policy.ipynb")
    print(f"BAR notebook_runtime: {seconds:.0f} s through papermill at the defaults (bar {NOTEBOOK_SECONDS:.0f} s) -> "
          f"{'MET' if seconds < NOTEBOOK_SECONDS else 'NOT MET'}")
    if large_users:
        result = run(Config(n_users=large_users, n_rollouts=2, gamma_grid=(), budget_grid=()))
        large, values = result.results, _values(result.results)
        customers = len(result.artefacts["episodes"].user_id)
        print(f"[lifecycle] one seed at {large_users:,} users (about {customers:,} logged customers): "
              + ", ".join(f"{p} {values[(p, 'true_value')]:.1f}" for p in (*BASELINES, *LEARNED)))
        for policy in LEARNED:
            over = gains(large, policy, ("myopic", "no_action"))
            print(f"  {policy}: {over['myopic'][0]:+.1f}% over myopic, {over['no_action'][0]:+.1f}% over no action")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--large-users", type=int, default=0)
    args = parser.parse_args()
    main(args.seeds, args.large_users)
