"""Figures for issue 18's A/B bars, measured by the study's own ``run`` on the default world (3 seeds):
the sequential design's A/A false-positive rate within 0.05 +/- 0.015 over at least 1,000 replicates of
10 looks each, with naive peeking's above it; CUPED's remaining variance within 10% of 1 - rho^2; the
simulated power within 0.03 of the design's nominal 0.8; the notebook at default scale under 2 minutes.

    .venv/bin/python benchmarks/bench_ab.py [--seeds 3] [--replicates 4000] [--skip-notebook]
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np

from lab.experiments.study import Config, run
from timing import notebook_seconds


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--replicates", type=int, default=4000)
    parser.add_argument("--skip-notebook", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    figures: dict[str, list[float]] = {k: [] for k in ("naive", "sequential", "fixed", "power", "nominal",
                                                       "reduction", "theory")}
    for seed in range(args.seeds):
        result = run(Config(seed=seed, n_replicates=args.replicates))
        value = result.results.set_index(["model", "metric"])["value"]
        for key, (model, metric) in {"naive": ("naive_peeking", "aa_false_positive_rate"),
                                     "sequential": ("sequential", "aa_false_positive_rate"),
                                     "fixed": ("fixed_horizon", "aa_false_positive_rate"),
                                     "power": ("power_design", "power"), "nominal": ("power_design", "nominal_power"),
                                     "reduction": ("cuped", "variance_reduction"),
                                     "theory": ("cuped", "variance_reduction_theory")}.items():
            figures[key].append(float(value[(model, metric)]))
        print(f"seed {seed}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in figures.items())
              + f" ({result.runtime_seconds:.0f} s)")
    f = {k: np.array(v) for k, v in figures.items()}
    total = args.seeds * args.replicates
    seq, naive = f["sequential"].mean(), f["naive"].mean()
    print(f"BAR aa_false_positive_rate: sequential {seq:.4f} (per seed {np.round(f['sequential'], 4).tolist()}), "
          f"naive peeking {naive:.4f}, one look at the end {f['fixed'].mean():.4f}, over {total:,} A/A tests of 10 "
          f"looks -> {verdict(abs(seq - 0.05) <= 0.015 and naive > seq)}")
    remaining, theory = 1 - f["reduction"], 1 - f["theory"]
    gap = np.abs(remaining / theory - 1).max()
    print(f"BAR cuped_variance: remaining variance {np.round(remaining, 4).tolist()} vs 1 - rho^2 "
          f"{np.round(theory, 4).tolist()}, worst relative gap {gap:.2%} (reduction {f['reduction'].mean():.4f} vs "
          f"theory rho^2 {f['theory'].mean():.4f}) -> {verdict(gap <= 0.10)}")
    power_gap = np.abs(f["power"] - f["nominal"]).max()
    print(f"BAR power: simulated {np.round(f['power'], 4).tolist()} vs nominal {np.round(f['nominal'], 4).tolist()}, "
          f"worst gap {power_gap:.4f} over {args.replicates:,} tests per seed -> {verdict(power_gap <= 0.03)}")
    if not args.skip_notebook:
        seconds = notebook_seconds("80_ab_testing.ipynb")
        print(f"BAR notebook_runtime: {seconds:.0f} s at default scale (bar 120 s) -> {verdict(seconds < 120)}")

if __name__ == "__main__":
    main()
