"""Statistics every study reports the same way: mean ± std over seeds and paired gaps between models."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as _stats
from scipy.special import expit, logit

__all__ = ["expit", "logit", "mean_std", "mean_std_table", "paired_gap", "paired_interval", "welch_difference"]


def welch_difference(y, t) -> tuple[float, float]:
    """Mean of ``y`` where ``t`` is 1 minus where it is 0, and its Welch (unequal variance) standard error:
    the randomised reference every effect estimate is read against (uplift and A/B studies alike)."""
    y, t = np.asarray(y, dtype=np.float64), np.asarray(t).astype(bool)
    y1, y0 = y[t], y[~t]
    return float(y1.mean() - y0.mean()), float(np.sqrt(y1.var(ddof=1) / len(y1) + y0.var(ddof=1) / len(y0)))


def mean_std(values: Sequence[float] | np.ndarray | pd.Series) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value) of ``values``."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        raise ValueError("mean_std needs at least one value")
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else 0.0


def mean_std_table(results: pd.DataFrame, index: str = "model", columns: str = "metric",
                   digits: int = 3) -> pd.DataFrame:
    """Pivot tidy results into an ``index`` x ``columns`` table of 'mean ± std' strings (std over seeds)."""
    grouped = results.groupby([index, columns], sort=False)["value"].agg(["mean", "std"])
    text = grouped.apply(lambda r: f"{r['mean']:.{digits}f}"
                         + ("" if pd.isna(r["std"]) else f" ± {r['std']:.{digits}f}"), axis=1)
    return text.unstack(columns)


def paired_gap(results: pd.DataFrame, metric: str, model: str, baselines: Sequence[str],
               pair_on: str | Sequence[str] = "seed", higher_is_better: bool = True) -> tuple[pd.Series, str]:
    """``model`` minus the best of ``baselines`` (by mean) on ``metric``, paired on ``pair_on``.

    Returns the per-pair gaps and the name of the baseline they are taken against. Pairs where either
    side is missing are dropped; ``higher_is_better=False`` picks the baseline with the lowest mean.
    """
    keys = [pair_on] if isinstance(pair_on, str) else list(pair_on)
    rows = results[results["metric"] == metric]
    wide = rows.pivot_table(index=keys, columns="model", values="value", aggfunc="mean")
    present = [b for b in baselines if b in wide.columns]
    if model not in wide.columns or not present:
        raise ValueError(f"paired_gap needs {model!r} and one of {list(baselines)} for metric {metric!r}")
    means = wide[present].mean()
    best = str(means.idxmax() if higher_is_better else means.idxmin())
    gap = (wide[model] - wide[best]).dropna()
    return gap, best


def paired_interval(gaps: Sequence[float] | np.ndarray | pd.Series, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of paired gaps and its Student-t interval at ``level`` (NaN bounds for fewer than two pairs)."""
    array = np.asarray(gaps, dtype=np.float64)
    mean = float(array.mean()) if array.size else float("nan")
    if array.size < 2:
        return mean, float("nan"), float("nan")
    half = float(_stats.t.ppf(0.5 + level / 2, array.size - 1) * array.std(ddof=1) / np.sqrt(array.size))
    return mean, mean - half, mean + half
