"""Benchmark of the multi-task funnel study: the issue's bars, measured.

Prints, for multi-stage, cascade, the funnel-aware and the multi-objective graph model, final-stage
AUC and true drawdowns captured at K (mean ± std over seeds), funnel violations, fit time and peak
memory; then whether each bar is met, on the paired per-seed gap. Ten seeds by default: a single seed's
drawdown AUC moves by about 0.01 between models, so three seeds cannot tell a match from a small loss.
The comparison is the study's own ``run`` (``lab.multitask.study``) at the notebook's defaults but for the
options below. ``--notebook`` also times the notebook at its default scale.

    .venv/bin/python benchmarks/bench_multitask.py [--n-users 10000] [--seeds 10] [--n-jobs 2] [--notebook]
"""
from __future__ import annotations

import argparse
import resource

import pandas as pd

from lab.multitask.study import GRAPH_MODEL, Config, bar_gap, run
from timing import notebook_seconds

SHOWN = ["multi_stage", "cascade", "multi_stage_mlp", "cascade_mlp", "shared_bottom", "mmoe", "ple", "funnel_aware",
         "multi_objective_graph", "multi_objective_graph_single", "multi_objective_graph_fixed_weights",
         "multi_objective_graph_gradnorm", "oracle"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-users", type=int, default=10000)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--k-share", type=float, default=0.1)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--notebook", action="store_true", help="also time the notebook at its default scale")
    args = parser.parse_args()

    result = run(Config(n_users=args.n_users, n_seeds=args.seeds, k_share=args.k_share, n_jobs=args.n_jobs))
    results = result.results
    stats = results.groupby(["model", "metric"])["value"].agg(["mean", "std"])
    metrics = ["auc_drawdown", "logloss_drawdown", "ece_drawdown", "drawdowns_captured_at_k",
               "realised_drawdowns_at_k", "funnel_violations", "fit_seconds"]
    table = pd.DataFrame({m: [f"{stats.loc[(model, m), 'mean']:.3f} ± {stats.loc[(model, m), 'std']:.3f}"
                              if (model, m) in stats.index else "" for model in SHOWN] for m in metrics}, index=SHOWN)
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(f"\nn_users={args.n_users}, seeds={args.seeds}, K = {args.k_share:.0%} of test users")
        print(table)

    mean, std = stats["mean"], stats["std"]
    mog = GRAPH_MODEL
    for metric in ("auc_drawdown", "drawdowns_captured_at_k"):
        gap = bar_gap(results, metric)
        best = gap.baseline
        verdict = "MET" if gap.met else "NOT MET" + (" (short by less than the paired spread)"
                                                     if gap.within_spread else "")
        print(f"BAR {metric}: {mog} {mean[(mog, metric)]:.3f} ± {std[(mog, metric)]:.3f} vs best baseline {best} "
              f"{mean[(best, metric)]:.3f} ± {std[(best, metric)]:.3f}; paired gap per seed "
              f"{gap.mean:+.3f} ± {gap.spread:.3f} ({', '.join(f'{g:+.3f}' for g in gap.per_seed)}; "
              f"ahead on {gap.wins} of {len(gap.per_seed)} seeds) -> {verdict}")
    violations = results.query("model == 'funnel_aware' and metric == 'funnel_violations'")["value"].max()
    print(f"BAR funnel violations of funnel_aware (max over seeds): {violations:.4f} -> "
          f"{'MET' if violations == 0 else 'NOT MET'}")
    print(f"comparison wall time: {result.runtime_seconds:.1f} s; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")

    if args.notebook:
        seconds = notebook_seconds("20_multitask_segmentation.ipynb")
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = children.ru_utime + children.ru_stime
        print(f"BAR notebook at default scale: {seconds:.1f} s wall ({cpu:.1f} s CPU in papermill + kernel; wall on a "
              f"shared machine overstates it) -> {'MET' if seconds < 120 else 'NOT MET'} (< 120 s wall)")


if __name__ == "__main__":
    main()
