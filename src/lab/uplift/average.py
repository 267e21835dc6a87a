"""Average effects with confidence intervals, and the diagnostics that say whether to believe them.

* randomised data: ``difference_in_means`` (Welch standard error) is the reference;
* observational data: ``psm`` (1-nearest-neighbour matching on the logit propensity, ATT, bootstrap CI),
  ``ipw`` (normalised / Hajek weights) and ``aipw`` (doubly robust, cross-fitted outcome models), both
  with influence-function standard errors;
* ``two_stage_least_squares`` for an instrument, ``difference_in_differences`` for pre/post data,
  both OLS with heteroskedasticity-robust (HC1) standard errors;
* ``balance_table`` (standardised mean differences before and after weighting / matching) and
  ``overlap_summary`` (how much of the sample has propensities near 0 or 1).

All intervals are normal-approximation 95% intervals unless ``level`` says otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lab.core import IdentificationError, limit_threads
from lab.data.summary import smd
from lab.uplift.learners import regressor

CLIP = 0.01


@dataclass
class AverageEffect:
    """An average effect estimate with its standard error and confidence interval."""

    method: str
    estimand: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    n: int

    def rows(self) -> list[dict]:
        """Tidy results rows: the estimand, ``ci_low`` and ``ci_high`` for this method."""
        return [{"model": self.method, "metric": m, "value": v}
                for m, v in ((self.estimand, self.estimate), ("ci_low", self.ci_low), ("ci_high", self.ci_high))]


def normal_ci(method: str, estimand: str, estimate: float, se: float, n: int, level: float = 0.95) -> AverageEffect:
    """An estimate with its standard error and the normal confidence interval at ``level``."""
    z = stats.norm.ppf(0.5 + level / 2)
    return AverageEffect(method, estimand, float(estimate), float(se), float(estimate - z * se),
                         float(estimate + z * se), int(n))


def difference_in_means(t, y, level: float = 0.95) -> AverageEffect:
    """Treated mean minus control mean with the Welch (unequal variance) standard error."""
    t, y = np.asarray(t), np.asarray(y, dtype=np.float64)
    y1, y0 = y[t == 1], y[t == 0]
    se = np.sqrt(y1.var(ddof=1) / len(y1) + y0.var(ddof=1) / len(y0))
    return normal_ci("diff_in_means", "ate", y1.mean() - y0.mean(), se, len(y), level)


def estimate_propensity(X, t, n_folds: int = 5, random_state: int = 0) -> np.ndarray:
    """Cross-fitted propensity ``P(t=1 | x)`` from a standardised, lightly L2-penalised logistic regression."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000, random_state=random_state))
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=random_state)
    with limit_threads(1):
        return cross_val_predict(model, np.asarray(X, dtype=np.float64), np.asarray(t), cv=folds,
                                 method="predict_proba")[:, 1]


def ipw_weights(t, e, estimand: str = "ate") -> np.ndarray:
    """Inverse-propensity weights (propensity clipped to [0.01, 0.99]), normalised within each arm."""
    t, e = np.asarray(t), np.clip(np.asarray(e, dtype=np.float64), CLIP, 1 - CLIP)
    w = np.where(t == 1, 1 / e, 1 / (1 - e)) if estimand == "ate" else np.where(t == 1, 1.0, e / (1 - e))
    for arm in (0, 1):
        w[t == arm] /= w[t == arm].mean()
    return w


def ipw(t, y, e, level: float = 0.95) -> AverageEffect:
    """Hajek inverse-propensity-weighted ATE; SE from its influence function (propensity taken as known)."""
    t, y = np.asarray(t), np.asarray(y, dtype=np.float64)
    e = np.clip(np.asarray(e, dtype=np.float64), CLIP, 1 - CLIP)
    m1 = np.sum(t * y / e) / np.sum(t / e)
    m0 = np.sum((1 - t) * y / (1 - e)) / np.sum((1 - t) / (1 - e))
    psi = t * (y - m1) / e - (1 - t) * (y - m0) / (1 - e)
    return normal_ci("ipw", "ate", m1 - m0, psi.std(ddof=1) / np.sqrt(len(y)), len(y), level)


def aipw(X, t, y, e, n_folds: int = 5, random_state: int = 0, level: float = 0.95) -> AverageEffect:
    """Augmented IPW (doubly robust) ATE with cross-fitted outcome models and influence-function SE.

    ``mu_a(x)`` is a gradient-boosting regression of ``y`` on ``x`` within arm ``a``, each unit
    predicted by models that never saw it; the estimate is the mean of
    ``mu1 - mu0 + t (y - mu1) / e - (1 - t) (y - mu0) / (1 - e)``.
    """
    X, t, y = np.asarray(X, dtype=np.float64), np.asarray(t), np.asarray(y, dtype=np.float64)
    e = np.clip(np.asarray(e, dtype=np.float64), CLIP, 1 - CLIP)
    mu = np.zeros((len(y), 2))
    with limit_threads(1):
        for train, test in StratifiedKFold(n_folds, shuffle=True, random_state=random_state).split(X, t):
            for arm in (0, 1):
                rows = train[t[train] == arm]
                mu[test, arm] = regressor(random_state).fit(X[rows], y[rows]).predict(X[test])
    psi = mu[:, 1] - mu[:, 0] + t * (y - mu[:, 1]) / e - (1 - t) * (y - mu[:, 0]) / (1 - e)
    return normal_ci("aipw", "ate", psi.mean(), psi.std(ddof=1) / np.sqrt(len(y)), len(y), level)


def _match(logit_t: np.ndarray, logit_c: np.ndarray, caliper: float) -> tuple[np.ndarray, np.ndarray]:
    """Nearest control (with replacement) for each treated unit on the 1-d logit propensity."""
    order = np.argsort(logit_c)
    sorted_c = logit_c[order]
    pos = np.clip(np.searchsorted(sorted_c, logit_t), 1, len(sorted_c) - 1)
    nearer_left = np.abs(logit_t - sorted_c[pos - 1]) <= np.abs(sorted_c[pos] - logit_t)
    best = np.where(nearer_left, pos - 1, pos)
    within = np.abs(sorted_c[best] - logit_t) <= caliper
    return np.flatnonzero(within), order[best[within]]


def psm(t, y, e, caliper: float = 0.2, n_boot: int = 200, random_state: int = 0,
        level: float = 0.95) -> tuple[AverageEffect, np.ndarray, np.ndarray]:
    """Propensity score matching: ATT from 1-NN matching with replacement on the logit propensity.

    Treated units without a control within ``caliper`` standard deviations of the logit are dropped.
    The CI is a percentile bootstrap that re-samples both arms and re-matches. Returns the effect and
    the matched (treated, control) row positions for the balance table.
    """
    t, y = np.asarray(t), np.asarray(y, dtype=np.float64)
    logit = np.log(np.clip(e, CLIP, 1 - CLIP) / (1 - np.clip(e, CLIP, 1 - CLIP)))
    width = caliper * logit.std()
    treated, control = np.flatnonzero(t == 1), np.flatnonzero(t == 0)

    def att(tr, co):
        kept, match = _match(logit[tr], logit[co], width)
        return y[tr[kept]].mean() - y[co[match]].mean(), tr[kept], co[match]

    estimate, matched_t, matched_c = att(treated, control)
    rng = np.random.default_rng(random_state)
    boots = [att(rng.choice(treated, len(treated)), rng.choice(control, len(control)))[0] for _ in range(n_boot)]
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    effect = AverageEffect("psm", "att", float(estimate), float(np.std(boots, ddof=1)), float(lo), float(hi),
                           int(len(matched_t)))
    return effect, matched_t, matched_c


def balance_table(X: pd.DataFrame, t, e, matched: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
    """SMD of every feature before adjustment, after IPW weighting and (if given) after matching."""
    table = pd.DataFrame({"before": smd(X, t), "ipw": smd(X, t, ipw_weights(t, e))})
    if matched is not None:
        rows = np.concatenate(matched)
        arm = np.r_[np.ones(len(matched[0]), int), np.zeros(len(matched[1]), int)]
        table["matched"] = smd(X.iloc[rows].reset_index(drop=True), arm)
    return table


def overlap_summary(t, e, low: float = 0.05) -> dict[str, float]:
    """Share of units with propensity outside ``[low, 1-low]`` and the arms' propensity ranges."""
    t, e = np.asarray(t), np.asarray(e, dtype=np.float64)
    return {"share_outside": float(np.mean((e < low) | (e > 1 - low))),
            "treated_min": float(e[t == 1].min()), "treated_max": float(e[t == 1].max()),
            "control_min": float(e[t == 0].min()), "control_max": float(e[t == 0].max())}


def check_overlap(t, e, max_share_outside: float = 0.5, low: float = 0.01) -> None:
    """Raise ``IdentificationError`` when most units have (near) deterministic treatment: no overlap to learn from."""
    share = overlap_summary(t, e, low)["share_outside"]
    if share > max_share_outside:
        raise IdentificationError(f"no overlap: {share:.0%} of units have an estimated propensity outside "
                          f"[{low}, {1 - low}], so treated and control units are not comparable")


def _ols(design: np.ndarray, y: np.ndarray, instruments: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(2SLS when ``instruments`` given) coefficients and HC1 robust standard errors."""
    if instruments is None:
        instruments = design
    first = np.linalg.lstsq(instruments, design, rcond=None)[0]
    fitted = instruments @ first
    beta = np.linalg.lstsq(fitted, y, rcond=None)[0]
    resid = y - design @ beta
    bread = np.linalg.pinv(fitted.T @ fitted)
    meat = (fitted * resid[:, None] ** 2).T @ fitted
    n, k = design.shape
    cov = bread @ meat @ bread * n / max(n - k, 1)
    return beta, np.sqrt(np.diag(cov))


def _covariates(X) -> np.ndarray:
    if X is None:
        return np.empty((0, 0))
    X = np.asarray(X, dtype=np.float64)
    keep = X.std(axis=0) > 0
    return (X[:, keep] - X[:, keep].mean(axis=0)) / X[:, keep].std(axis=0)


def two_stage_least_squares(y, t, z, X=None, level: float = 0.95) -> AverageEffect:
    """Local average treatment effect of ``t`` with instrument ``z`` (2SLS, covariates ``X`` optional)."""
    y, t, z = (np.asarray(a, dtype=np.float64) for a in (y, t, z))
    relevance = np.corrcoef(t, z)[0, 1] ** 2 if z.std() > 0 else 0.0
    if not relevance >= 1e-4:
        raise IdentificationError(f"weak instrument: its squared correlation with the treatment is {relevance:.1e} "
                                  f"(below 1e-4), so 2SLS is not identified")
    W = _covariates(X)
    ones = np.ones((len(y), 1))
    design = np.column_stack([ones, t, W]) if W.size else np.column_stack([ones, t])
    inst = np.column_stack([ones, z, W]) if W.size else np.column_stack([ones, z])
    beta, se = _ols(design, y, inst)
    return normal_ci("iv_2sls", "late", beta[1], se[1], len(y), level)


def difference_in_differences(y, treated, post, X=None, level: float = 0.95) -> AverageEffect:
    """ATT from ``y ~ treated + post + treated:post (+ X)`` by OLS; the interaction is the effect."""
    y, d, p = (np.asarray(a, dtype=np.float64) for a in (y, treated, post))
    W = _covariates(X)
    cols = [np.ones(len(y)), d, p, d * p]
    design = np.column_stack(cols + ([W] if W.size else []))
    beta, se = _ols(design, y)
    return normal_ci("did", "att", beta[3], se[3], len(y), level)
