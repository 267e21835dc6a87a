"""Figures for issue 17's bars on the default world v2 over 5 seeds: the best learned policy's true
discounted 12-month profit at least 5% above the myopic policy's (paired interval over seeds) and above the
logging policy's; doubly robust OPE within 10% of the true value for every policy; the notebook's default
run (``Config()``, seed 0, which is also the first of the 5 seeds here) under 3 minutes.

    .venv/bin/python benchmarks/bench_lifecycle.py [--seeds 5]
"""
from __future__ import annotations

import argparse

import pandas as pd

from lab.core import StudyResult
from lab.lifecycle.study import BASELINES, DR_BAR, GAIN_BAR, LEARNED, Config, best_learned, gains, run

NOTEBOOK_SECONDS = 180.0


def main(n_seeds: int) -> None:
    first = run(Config())
    rest = run(Config(seed=1, n_seeds=n_seeds - 1)) if n_seeds > 1 else None
    results = pd.concat([first.results, *([rest.results] if rest else [])], ignore_index=True)
    combined = StudyResult(first.config, results, first.headline)
    main_rows = results[results["budget"].isna()]
    means = main_rows.groupby(["model", "metric"])["value"].mean()
    print(f"[lifecycle] {n_seeds} seeds, best learned policy {best_learned(results)}")
    for policy in (*BASELINES, *LEARNED):
        print(f"  {policy:>10}: true {means[(policy, 'true_value')]:8.1f}  "
              + "  ".join(f"{m.removeprefix('ope_')} {means[(policy, m)]:8.1f}"
                          for m in ("ope_ips", "ope_snips", "ope_dr", "ope_fqe")))
    gain = gains(combined.results)
    mean, low, high = gain["myopic"]
    print(f"BAR gain over myopic: {mean:+.1f}% (paired 95% interval {low:+.1f}% to {high:+.1f}%, bar: interval above "
          f"+{100 * GAIN_BAR:.0f}%) -> {'MET' if low > 100 * GAIN_BAR else 'NOT MET'}")
    mean, low, high = gain["logging"]
    print(f"BAR gain over logging: {mean:+.1f}% (paired 95% interval {low:+.1f}% to {high:+.1f}%, bar: above 0) -> "
          f"{'MET' if low > 0 else 'NOT MET'}")
    errors = {p: 100 * abs(means[(p, "ope_dr")] - means[(p, "true_value")]) / abs(means[(p, "true_value")])
              for p in (*BASELINES, *LEARNED)}
    worst = max(errors, key=errors.__getitem__)
    print("BAR DR within 10%: " + ", ".join(f"{p} {e:.1f}%" for p, e in errors.items())
          + f" (worst {worst}) -> {'MET' if errors[worst] < 100 * DR_BAR else 'NOT MET'}")
    print(f"BAR notebook default run: {first.runtime_seconds:.0f} s (bar {NOTEBOOK_SECONDS:.0f} s) -> "
          f"{'MET' if first.runtime_seconds < NOTEBOOK_SECONDS else 'NOT MET'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    main(parser.parse_args().seeds)
