"""Scoring effect estimates: Qini and uplift curves from observed outcomes, PEHE and ATE error from truth.

Conventions (stated once, used everywhere):

* Users are ranked by estimated effect, highest first; ``k`` is the number targeted.
* Qini curve (Radcliffe): ``Q(k) = Y_T(k) - Y_C(k) * N_T(k) / N_C(k)``, the incremental outcomes
  among the top ``k``, with ``Y`` sums of outcomes and ``N`` counts per arm. Optional weights
  (``t/e + (1-t)/(1-e)``) turn sums and counts into inverse-propensity weighted ones, which keeps
  the curve unbiased on observational test data.
* Uplift curve: ``U(k) = (Y_T(k)/N_T(k) - Y_C(k)/N_C(k)) * k``.
* Both are drawn against the fraction targeted ``k/n``; the Qini curve is divided by ``N_T(n)`` and the
  uplift curve by ``n``, so both end at the (weighted) difference in means, the ATE on that set. The
  random curve is the straight line to that end point.
* Normalised Qini coefficient = (area between the model's Qini curve and the random line) /
  (area between the perfect curve and the random line). The perfect curve ranks every converting
  treated unit first and every converting control unit last (Radcliffe's upper bound), so a real
  model scores far below 1 when outcomes are noisy; compare models with each other and with the
  oracle ranked by the true effect, on the same test set.
* ``qini_truth`` (only with known effects): the same normalised area but the curve accumulates the
  *true* effect of the users ranked, and the perfect ranking is by the true effect. It removes the
  outcome noise; the oracle scores 1.
* AUUC: the area under the normalised uplift curve (units of the outcome per user; random = ATE / 2).
* ``uplift@k%``: treated minus control mean outcome among the top ``k`` percent.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

UPLIFT_AT = (10, 30)


def _ranked(score, t, y, weights):
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")
    t, y = np.asarray(t)[order], np.asarray(y, dtype=np.float64)[order]
    w = np.ones(len(t)) if weights is None else np.asarray(weights, dtype=np.float64)[order]
    return t, y, w


def qini_curve(score, t, y, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """``(fraction targeted, Q(k) / N_T(n))`` for ``k = 0..n`` ranking by ``score`` (see module conventions)."""
    t, y, w = _ranked(score, t, y, weights)
    n_t = np.r_[0, np.cumsum(w * t)]
    n_c = np.r_[0, np.cumsum(w * (1 - t))]
    y_t = np.r_[0, np.cumsum(w * t * y)]
    y_c = np.r_[0, np.cumsum(w * (1 - t) * y)]
    scale = n_t[-1] / np.maximum(n_c[-1], 1e-12)
    q = y_t - y_c * np.divide(n_t, n_c, out=np.full_like(n_t, scale), where=n_c > 0)
    return np.linspace(0, 1, len(q)), q / np.maximum(n_t[-1], 1e-12)


def uplift_curve(score, t, y, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """``(fraction targeted, U(k)/n)``: difference of arm means among the top ``k``, times ``k/n``."""
    t, y, w = _ranked(score, t, y, weights)
    n_t, n_c = np.cumsum(w * t), np.cumsum(w * (1 - t))
    mean_t = np.divide(np.cumsum(w * t * y), n_t, out=np.zeros_like(n_t), where=n_t > 0)
    mean_c = np.divide(np.cumsum(w * (1 - t) * y), n_c, out=np.zeros_like(n_c), where=n_c > 0)
    frac = np.arange(1, len(t) + 1) / len(t)
    return np.r_[0, frac], np.r_[0, (mean_t - mean_c) * frac]


def perfect_qini_score(t, y) -> np.ndarray:
    """A ranking score that realises the perfect Qini curve: treated converters first, control converters last."""
    t, y = np.asarray(t), np.asarray(y, dtype=np.float64)
    return y * (2 * t - 1)


def _area_above_random(x: np.ndarray, curve: np.ndarray) -> float:
    return float(np.trapezoid(curve - x * curve[-1], x))


def qini_coefficient(score, t, y, weights=None) -> float:
    """Normalised Qini coefficient (model area above random over perfect area above random)."""
    x, q = qini_curve(score, t, y, weights)
    _, q_best = qini_curve(perfect_qini_score(t, y), t, y, weights)
    return _area_above_random(x, q) / _area_above_random(x, q_best)


def qini_truth(score, tau) -> float:
    """Qini coefficient on known effects: gain curve of the true effects, normalised by the oracle ranking."""
    tau = np.asarray(tau, dtype=np.float64)
    x = np.linspace(0, 1, len(tau) + 1)
    gain = lambda s: np.r_[0, np.cumsum(tau[np.argsort(-np.asarray(s), kind="stable")])] / len(tau)  # noqa: E731
    return _area_above_random(x, gain(score)) / _area_above_random(x, gain(tau))


def auuc(score, t, y, weights=None) -> float:
    """Area under the normalised uplift curve (random targeting gives ATE / 2)."""
    x, u = uplift_curve(score, t, y, weights)
    return float(np.trapezoid(u, x))


def uplift_at(score, t, y, percent: float, weights=None) -> float:
    """Treated minus control mean outcome among the top ``percent`` % ranked by ``score``."""
    t, y, w = _ranked(score, t, y, weights)
    k = max(1, int(round(len(t) * percent / 100)))
    t, y, w = t[:k], y[:k], w[:k]
    if t.min() == t.max():
        return float("nan")
    return float(np.average(y[t == 1], weights=w[t == 1]) - np.average(y[t == 0], weights=w[t == 0]))


def uplift_by_decile(score, t, y, tau=None, weights=None) -> pd.DataFrame:
    """Per decile of the ranking (1 = highest predicted effect): counts, observed uplift, mean predicted and
    true effect."""
    score = np.asarray(score, dtype=np.float64)
    order = np.argsort(-score, kind="stable")
    decile = np.empty(len(score), dtype=int)
    decile[order] = np.arange(len(score)) * 10 // len(score) + 1
    t, y = np.asarray(t), np.asarray(y, dtype=np.float64)
    w = np.ones(len(t)) if weights is None else np.asarray(weights, dtype=np.float64)
    rows = []
    for d in range(1, 11):
        m = decile == d
        treated, control = m & (t == 1), m & (t == 0)
        observed = (np.average(y[treated], weights=w[treated]) - np.average(y[control], weights=w[control])
                    if treated.any() and control.any() else np.nan)
        row = {"decile": d, "n_treated": int(treated.sum()), "n_control": int(control.sum()),
               "observed_uplift": observed, "predicted": score[m].mean()}
        if tau is not None:
            row["true"] = float(np.mean(np.asarray(tau)[m]))
        rows.append(row)
    return pd.DataFrame(rows)


def pehe(tau_hat, tau) -> float:
    """sqrt(PEHE): root mean squared error of the estimated individual effects."""
    return float(np.sqrt(np.mean((np.asarray(tau_hat) - np.asarray(tau)) ** 2)))


def ate_error(estimate: float, tau) -> float:
    """Absolute error of an average effect against the sample mean of the true effects."""
    return float(abs(estimate - np.mean(tau)))


def uplift_ranking_metrics(model: str, score, t, y, tau=None, weights=None) -> list[dict]:
    """Tidy rows of every ranking metric for one model on one test set."""
    rows = [{"model": model, "metric": "qini", "value": qini_coefficient(score, t, y, weights)},
            {"model": model, "metric": "auuc", "value": auuc(score, t, y, weights)}]
    rows += [{"model": model, "metric": f"uplift_at_{k}pct", "value": uplift_at(score, t, y, k, weights)}
             for k in UPLIFT_AT]
    if tau is not None:
        rows.append({"model": model, "metric": "qini_truth", "value": qini_truth(score, tau)})
    return rows
