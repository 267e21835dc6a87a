"""What every study notebook writes into its ``output_dir``: results.csv, metrics.json, PNG figures.

``results.csv`` is tidy: one row per (model, metric[, split, seed, ...]) with a numeric ``value``.
``metrics.json`` holds a ``headline`` dict (the few numbers the reports index shows) and anything
else the study wants machine-readable.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

RESULT_COLUMNS = ("model", "metric", "value")


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return None if math.isnan(float(obj)) else float(obj)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    return obj


def write_results(output_dir: str | Path, results: pd.DataFrame, headline: dict | None = None,
                  **extra) -> Path:
    """Validate and write ``results.csv`` and ``metrics.json`` into ``output_dir``; return the dir.

    ``headline`` is a small dict of the study's key figures (shown in ``reports/index.html``);
    ``extra`` keyword arguments are stored alongside it in ``metrics.json``.
    """
    missing = [c for c in RESULT_COLUMNS if c not in results.columns]
    if missing:
        raise ValueError(f"results is missing column(s) {missing}; it needs at least {list(RESULT_COLUMNS)}")
    values = pd.to_numeric(results["value"], errors="coerce")
    if values.isna().any():
        bad = results.loc[values.isna(), ["model", "metric"]].head(3).to_dict("records")
        raise ValueError(f"results has non-numeric or missing values, e.g. {bad}")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    results.assign(value=values).to_csv(out / "results.csv", index=False)
    metrics = {"headline": _jsonable(headline or {}), **_jsonable(extra)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return out


def save_figure(fig, output_dir: str | Path, name: str) -> Path:
    """Save a matplotlib figure as ``output_dir/name.png`` (150 dpi, tight) and return the path."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fig.savefig(path, dpi=150, bbox_inches="tight")
    return path


def mean_std_table(results: pd.DataFrame, index: str = "model", columns: str = "metric",
                   digits: int = 3) -> pd.DataFrame:
    """Pivot tidy results into a model x metric table of 'mean ± std' strings (std over seeds)."""
    grouped = results.groupby([index, columns], sort=False)["value"].agg(["mean", "std"])
    text = grouped.apply(lambda r: f"{r['mean']:.{digits}f}" + ("" if pd.isna(r["std"]) else f" ± {r['std']:.{digits}f}"),
                         axis=1)
    return text.unstack(columns)
