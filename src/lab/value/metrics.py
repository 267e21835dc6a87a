"""Metrics of the risk and value models: discrimination and calibration of a PD, and the ranking and
calibration of a value prediction.

PD metrics take ``truth`` either as observed 0/1 defaults or as the world's true probabilities of
default. With probabilities each row counts as a default with weight ``p`` and as a non-default with
weight ``1 - p``: the metric is then its expectation over the Bernoulli draws of who defaults, without
their noise (an expected AUC, KS and Brier score), which is how every applicant, rejected ones
included, can be scored against the oracle.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score


def _soft(truth: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row twice, as a default (weight ``truth``) and a non-default (weight ``1 - truth``)."""
    truth, score = np.asarray(truth, np.float64), np.asarray(score, np.float64)
    return (np.r_[np.ones(len(truth)), np.zeros(len(truth))], np.r_[score, score], np.r_[truth, 1.0 - truth])


def auc(truth: np.ndarray, score: np.ndarray) -> float:
    """(Expected) area under the ROC curve of ``score`` for defaults ``truth`` (0/1 or probabilities)."""
    labels, scores, weights = _soft(truth, score)
    return float(roc_auc_score(labels, scores, sample_weight=weights))


def ks(truth: np.ndarray, score: np.ndarray) -> float:
    """(Expected) Kolmogorov-Smirnov statistic: the largest gap between the score's distributions among
    defaults and non-defaults."""
    labels, scores, weights = _soft(truth, score)
    order = np.argsort(scores, kind="mergesort")
    bad = np.cumsum((weights * labels)[order])
    good = np.cumsum((weights * (1 - labels))[order])
    last = np.r_[scores[order][1:] != scores[order][:-1], True]  # compare only between distinct scores
    return float(np.max(np.abs(bad[last] / bad[-1] - good[last] / good[-1])))


def brier(truth: np.ndarray, score: np.ndarray) -> float:
    """(Expected) Brier score: mean squared gap between the predicted PD and the default."""
    labels, scores, weights = _soft(truth, score)
    return float(np.average((scores - labels) ** 2, weights=weights))


def calibration_curve(truth: np.ndarray, score: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Mean predicted PD and mean (true or observed) default per quantile bin of the prediction."""
    frame = pd.DataFrame({"predicted": np.asarray(score, np.float64), "observed": np.asarray(truth, np.float64)})
    frame["bin"] = pd.qcut(frame["predicted"].rank(method="first"), n_bins, labels=False)
    return frame.groupby("bin")[["predicted", "observed"]].mean().reset_index(drop=True)


def pd_metrics(truth: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """``auc``, ``ks`` and ``brier`` of one PD."""
    return {"auc": auc(truth, score), "ks": ks(truth, score), "brier": brier(truth, score)}


def gini(truth: np.ndarray, prediction: np.ndarray) -> float:
    """Gini of ``prediction``: twice the area between the cumulative share of ``truth`` collected by
    ranking on the prediction and the diagonal of a random ranking (ties in order of appearance)."""
    truth = np.asarray(truth, np.float64)
    order = np.argsort(-np.asarray(prediction, np.float64), kind="mergesort")
    collected = np.cumsum(truth[order]) / truth.sum()
    share = np.arange(1, len(truth) + 1) / len(truth)
    return float(2 * np.mean(collected - share))


def normalised_gini(truth: np.ndarray, prediction: np.ndarray) -> float:
    """Gini of the prediction over the Gini of the truth itself (1 = the true value's own ranking)."""
    return gini(truth, prediction) / gini(truth, truth)


def spearman(truth: np.ndarray, prediction: np.ndarray) -> float:
    """Spearman rank correlation of the prediction with the truth."""
    return float(spearmanr(truth, prediction).statistic)


def decile_calibration(truth: np.ndarray, prediction: np.ndarray) -> pd.DataFrame:
    """Mean predicted and mean true value per decile of the prediction (decile 1 = the lowest)."""
    frame = pd.DataFrame({"predicted": np.asarray(prediction, np.float64), "true": np.asarray(truth, np.float64)})
    frame["decile"] = pd.qcut(frame["predicted"].rank(method="first"), 10, labels=False) + 1
    return frame.groupby("decile")[["predicted", "true"]].mean()
