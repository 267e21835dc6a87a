"""Scoring funnel models: per-stage AUC / log-loss / ECE, funnel-order violations, drawdowns captured at K.

``drawdowns_captured_at_k`` is the expected number of drawdowns among the K selected users, summed from
the oracle's true P(drawdown) when the world has an oracle, else the realised drawdowns.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

from lab.data import STAGES


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """ECE over equal-count bins of the predicted probability (rare stages leave equal-width bins empty)."""
    order = np.argsort(p, kind="stable")
    bins = np.array_split(order, n_bins)
    return float(sum(len(b) * abs(y[b].mean() - p[b].mean()) for b in bins if len(b)) / len(p))


def funnel_violation_rate(proba: np.ndarray, tolerance: float = 1e-9) -> float:
    """Share of users for whom some later stage's probability exceeds an earlier stage's."""
    return float((np.diff(proba, axis=1) > tolerance).any(axis=1).mean())


def stage_metrics(labels: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """``auc_<stage>``, ``logloss_<stage>``, ``ece_<stage>`` for each stage with both classes present."""
    out = {}
    p = np.clip(proba, 1e-6, 1 - 1e-6)
    for s, stage in enumerate(STAGES):
        y = labels[:, s]
        if 0 < y.sum() < len(y):
            out[f"auc_{stage}"] = float(roc_auc_score(y, p[:, s]))
            out[f"logloss_{stage}"] = float(log_loss(y, p[:, s], labels=[0, 1]))
            out[f"ece_{stage}"] = expected_calibration_error(y, p[:, s])
    return out


def selection_metrics(selected: np.ndarray, labels: np.ndarray, true_p_drawdown: np.ndarray | None) -> dict[str, float]:
    """Drawdowns captured by the selected positions (oracle expectation if known) and realised ones."""
    realised = float(labels[selected, -1].sum())
    captured = float(true_p_drawdown[selected].sum()) if true_p_drawdown is not None else realised
    return {"drawdowns_captured_at_k": captured, "realised_drawdowns_at_k": realised}


def evaluate_model(name: str, proba: np.ndarray, selected: np.ndarray, labels: np.ndarray,
                   true_p_drawdown: np.ndarray | None = None, **columns) -> pd.DataFrame:
    """Tidy rows (model, metric, value, **columns) for one fitted model on one test set."""
    metrics = stage_metrics(labels, proba)
    metrics["funnel_violations"] = funnel_violation_rate(proba)
    metrics.update(selection_metrics(selected, labels, true_p_drawdown))
    return pd.DataFrame({"model": name, "metric": list(metrics), "value": list(metrics.values()), **columns})


def oracle_probabilities(world, user_ids: np.ndarray) -> np.ndarray | None:
    """True cumulative funnel probabilities [n, 5] for ``user_ids``, or None without an oracle."""
    probs = world.oracle.get("funnel_probs")
    if probs is None:
        return None
    table = probs.set_index("user_id").loc[user_ids]
    return table[[f"p_{s}" for s in STAGES]].to_numpy(dtype=np.float64)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest scores (stable, so ties keep their order)."""
    return np.argsort(-scores, kind="stable")[:k]
