"""The one results vocabulary: what every study writes into its ``output_dir``, checked by ``write_results``.

``results.csv`` is tidy: one row per (model, metric and key columns) with a finite numeric ``value``.
Besides ``model, metric, value`` a row may carry only the key columns of ``KEY_COLUMNS``; ``split``
takes only the values of ``SPLITS``. Rows are raw: a mean over days or seeds is computed by whoever
reads them, never stored beside them. Timings are metrics named ``*_seconds`` (``fit_seconds`` for a
model's fit) and are left out when two runs of one spec are compared (``comparable``).

``metrics.json`` is strict JSON: ``headline`` (the few figures ``reports/index.html`` shows),
``runtime_seconds`` (wall time of the study's ``run``), ``config`` (the parameters that differ from
the study's defaults) and whatever else the study keeps machine-readable.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lab.core.study import StudyResult

RESULT_COLUMNS = ("model", "metric", "value")
KEY_COLUMNS = {
    "seed": "the repetition's seed (for IHDP: the realization)",
    "split": "which rows were scored, one of SPLITS",
    "day": "the day scored (days are time, not a split)",
    "offer": "the offer (treatment arm) the row is about",
    "regime": "the market regime the row is about",
    "layer": "the network layer the row is about (LICE)",
    "budget": "the campaign budget the row was solved under",
    "source": "the value table an allocation was planned on",
    "outcome": "the measured metric an A/B test row is about (conversion, a guardrail)",
    "segment": "the segment of users the row is about",
}
SPLITS = {
    "all": "every unit: descriptive figures and whole-sample estimates",
    "train": "the rows a model was fitted on (in-sample)",
    "test": "held-out rows: users outside the training split, or days after training ends (out-of-sample)",
    "approved": "held-out applicants the lender approved (the population a scorecard is trained on)",
    "through_the_door": "every held-out applicant, approved or rejected (the population a scorecard decides on)",
    "test_cold": "held-out users with little own history (lookalike: two or fewer own interactions before the day)",
    "test_warm": "held-out users with more own history than the cold-start slice",
}
TIMING_SUFFIX = "_seconds"


def _jsonable(obj: Any) -> Any:
    """Plain JSON types; NaN and infinities become null so the file stays strict JSON."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(float(obj)) else None
    return obj


def check_results(results: pd.DataFrame) -> pd.DataFrame:
    """Raise ``ValueError`` unless ``results`` follows the vocabulary; return it with numeric values."""
    missing = [c for c in RESULT_COLUMNS if c not in results.columns]
    if missing:
        raise ValueError(f"results is missing column(s) {missing}; it needs at least {list(RESULT_COLUMNS)}")
    extra = sorted(set(results.columns) - set(RESULT_COLUMNS) - set(KEY_COLUMNS))
    if extra:
        raise ValueError(f"results has column(s) {extra} outside the vocabulary; allowed: {sorted(KEY_COLUMNS)}")
    values = pd.to_numeric(results["value"], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.fillna(0.0))
    if bad.any():
        examples = results.loc[bad, ["model", "metric"]].head(3).to_dict("records")
        raise ValueError(f"results has non-numeric, missing or infinite values, e.g. {examples}")
    if "split" in results.columns:
        splits = sorted(set(results["split"].dropna().astype(str)) - set(SPLITS))
        if splits:
            raise ValueError(f"results has split value(s) {splits}; the vocabulary is {sorted(SPLITS)}")
    timing = sorted({m for m in results["metric"].astype(str) if "second" in m and not m.endswith(TIMING_SUFFIX)})
    if timing:
        raise ValueError(f"timing metric(s) {timing} must be named '*{TIMING_SUFFIX}' (fit time: 'fit_seconds')")
    keys = ["model", "metric", *[c for c in KEY_COLUMNS if c in results.columns]]
    duplicated = results.duplicated(subset=keys, keep=False)
    if duplicated.any():
        examples = results.loc[duplicated, keys].head(2).to_dict("records")
        raise ValueError(f"results has several rows for one key, e.g. {examples}; every row must be raw and unique")
    return results.assign(value=values)


def comparable(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` without timing rows, sorted by key: two runs of one spec must agree on this."""
    rows = results[~results["metric"].astype(str).str.endswith(TIMING_SUFFIX)]
    keys = ["model", "metric", *[c for c in KEY_COLUMNS if c in rows.columns]]
    return rows.sort_values(keys).reset_index(drop=True)


def compare_results(first: pd.DataFrame, second: pd.DataFrame, tolerance: float = 0.0) -> pd.DataFrame:
    """Rows of two runs' results (timings left out) whose values differ by more than ``tolerance``, or that
    only one run has: one row per key with ``value_first``, ``value_second`` and ``difference``."""
    a, b = comparable(first), comparable(second)
    keys = ["model", "metric", *[c for c in KEY_COLUMNS if c in a.columns or c in b.columns]]
    a, b = (frame.reindex(columns=[*keys, "value"]).astype({k: str for k in keys}) for frame in (a, b))
    merged = a.merge(b, on=keys, how="outer", suffixes=("_first", "_second"), indicator=True)
    merged["difference"] = merged["value_second"] - merged["value_first"]
    one_missing = merged["value_first"].isna() != merged["value_second"].isna()  # NaN in both runs agrees
    differs = (merged.pop("_merge") != "both") | one_missing | (merged["difference"].abs() > tolerance)
    return merged[differs].reset_index(drop=True)


def write_results(output_dir: str | Path, result: StudyResult) -> Path:
    """Check ``result`` and write ``results.csv`` and ``metrics.json`` into ``output_dir``; return the dir."""
    if not isinstance(result, StudyResult):
        raise TypeError(f"write_results takes the StudyResult of a study's run, got {type(result).__name__}")
    results = check_results(result.results)
    if not result.headline:
        raise ValueError("the headline is empty: name the study's key figures")
    reserved = {"headline", "runtime_seconds", "config"} & set(result.metrics)
    if reserved:
        raise ValueError(f"metrics may not set the reserved key(s) {sorted(reserved)}")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    results.to_csv(out / "results.csv", index=False)
    metrics = {"headline": _jsonable(result.headline), "runtime_seconds": _jsonable(result.runtime_seconds),
               "config": _jsonable(result.config.overrides()), **_jsonable(result.metrics)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False))
    return out


def save_figure(fig: Any, output_dir: str | Path, name: str) -> Path:
    """Save a matplotlib figure as ``output_dir/name.png`` (150 dpi, tight) and return the path."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fig.savefig(path, dpi=150, bbox_inches="tight")
    return path
