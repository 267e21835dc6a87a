"""Average effects with confidence intervals, and the diagnostics that say whether to believe them.

* randomised data: ``difference_in_means`` (Welch standard error) is the reference;
* observational data: ``psm`` (1-nearest-neighbour matching on the logit propensity, bootstrap CI),
  ``ipw`` (normalised / Hajek weights) and ``aipw`` (doubly robust, cross-fitted outcome models), both
  with influence-function standard errors; each reports the ATE and the ATT (the effect on the treated);
* ``estimate_propensity`` (cross-fitted, L2-regularised logistic regression, penalty chosen by inner CV),
  ``crump_bounds`` (the optimal overlap trimming of Crump et al. 2009) and ``e_values`` (VanderWeele &
  Ding 2017: how strong an unobserved confounder would have to be to explain an estimate away);
* ``two_stage_least_squares`` for an instrument, ``difference_in_differences`` for pre/post data,
  both OLS with heteroskedasticity-robust (HC1) standard errors;
* ``balance_table`` (standardised mean differences before and after weighting / matching) and
  ``overlap_summary`` (how much of the sample has propensities near 0 or 1).

All intervals are normal-approximation 95% intervals unless ``level`` says otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lab.core import IdentificationError, limit_threads, welch_difference
from lab.data.summary import smd
from lab.uplift.learners import regressor

CLIP = 0.01
PROPENSITY_CS = (0.01, 0.1, 1.0, 10.0)  # inverse L2 penalties the inner CV picks from
ESTIMANDS = ("ate", "att")


@dataclass
class AverageEffect:
    """An average effect estimate with its standard error and confidence interval.

    ``baseline`` is the estimated mean untreated outcome of the estimand's population (the risk an
    E-value's risk ratio is taken against); ``population`` marks the rows of the data the estimand is
    about (``None``: every row; a trimmed sample otherwise).
    """

    method: str
    estimand: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    n: int
    baseline: float = float("nan")
    population: np.ndarray | None = field(default=None, repr=False)

    def rows(self) -> list[dict]:
        """Tidy results rows: the estimand (``ate``, ``att``, ...) and its ``<estimand>_ci_low`` / ``_ci_high``."""
        return [{"model": self.method, "metric": m, "value": v}
                for m, v in ((self.estimand, self.estimate), (f"{self.estimand}_ci_low", self.ci_low),
                             (f"{self.estimand}_ci_high", self.ci_high))]


def normal_ci(method: str, estimand: str, estimate: float, se: float, n: int, level: float = 0.95,
              baseline: float = float("nan")) -> AverageEffect:
    """An estimate with its standard error and the normal confidence interval at ``level``."""
    z = stats.norm.ppf(0.5 + level / 2)
    return AverageEffect(method, estimand, float(estimate), float(se), float(estimate - z * se),
                         float(estimate + z * se), int(n), float(baseline))


def difference_in_means(t, y, level: float = 0.95) -> AverageEffect:
    """Treated mean minus control mean with the Welch (unequal variance) standard error."""
    y = np.asarray(y, dtype=np.float64)
    difference, se = welch_difference(y, np.asarray(t) == 1)
    return normal_ci("diff_in_means", "ate", difference, se, len(y), level, baseline=y[np.asarray(t) == 0].mean())


def estimate_propensity(X, t, n_folds: int = 5, random_state: int = 0) -> np.ndarray:
    """Cross-fitted propensity ``P(t=1 | x)``: every unit is scored by a model fitted without it.

    The model is an L2 logistic regression whose penalty an inner 3-fold CV picks from ``PROPENSITY_CS`` by
    log loss. Numeric columns are standardised; 0/1 columns (one-hot codes) are left as they are, so a rare
    code's coefficient is shrunk harder than a common one's and a few units cannot push the propensity of
    their code to 0 or 1 (standardising a code of frequency p would multiply it by 1/sqrt(p(1-p)) and
    weaken its penalty accordingly).
    """
    X, t = np.asarray(X, dtype=np.float64), np.asarray(t)
    numeric = ~np.all((X == 0) | (X == 1), axis=0)
    model = make_pipeline(
        make_column_transformer((StandardScaler(), numeric), remainder="passthrough"),
        LogisticRegressionCV(Cs=list(PROPENSITY_CS), l1_ratios=(0.0,), cv=3, scoring="neg_log_loss",
                             max_iter=1000, use_legacy_attributes=False))
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=random_state)
    with limit_threads(1):
        return cross_val_predict(model, X, t, cv=folds, method="predict_proba")[:, 1]


def crump_bounds(e) -> tuple[float, float]:
    """The optimal overlap region ``[alpha, 1 - alpha]`` of Crump, Hotz, Imbens & Mitnik (2009).

    Dropping units outside it minimises the variance of the efficient ATE estimator on the units kept:
    with ``g = 1 / (e (1 - e))``, nothing is trimmed when ``max g <= 2 E[g]``; otherwise ``gamma`` solves
    ``gamma = 2 E[g | g <= gamma]`` and ``alpha (1 - alpha) = 1 / gamma`` (``alpha`` ~ 0.1 for most
    propensity distributions). A constant propensity (a randomised design) trims nothing.
    """
    e = np.clip(np.asarray(e, dtype=np.float64), CLIP, 1 - CLIP)
    g = np.sort(1 / (e * (1 - e)))
    if g[-1] <= 2 * g.mean():
        return 0.0, 1.0
    below = 2 * np.cumsum(g) / np.arange(1, len(g) + 1)
    gamma = below[np.flatnonzero(g <= below)[-1]]
    alpha = 0.5 - np.sqrt(max(0.25 - 1 / gamma, 0.0))
    return float(alpha), float(1 - alpha)


def ipw_weights(t, e, estimand: str = "ate") -> np.ndarray:
    """Inverse-propensity weights (propensity clipped to [0.01, 0.99]), normalised within each arm.

    ATE: ``1/e`` for the treated, ``1/(1-e)`` for controls; ATT: 1 for the treated, ``e/(1-e)`` for controls
    (controls re-weighted to look like the treated).
    """
    t, e = np.asarray(t), np.clip(np.asarray(e, dtype=np.float64), CLIP, 1 - CLIP)
    w = np.where(t == 1, 1 / e, 1 / (1 - e)) if estimand == "ate" else np.where(t == 1, 1.0, e / (1 - e))
    for arm in (0, 1):
        w[t == arm] /= w[t == arm].mean()
    return w


def ipw(t, y, e, level: float = 0.95) -> list[AverageEffect]:
    """Hajek inverse-propensity-weighted ATE and ATT; SEs from their influence functions (propensity taken as known).

    With a constant (design) propensity both equal the difference in means.
    """
    t, y = np.asarray(t), np.asarray(y, dtype=np.float64)
    effects = []
    for estimand in ESTIMANDS:
        w = ipw_weights(t, e, estimand)
        w1, w0 = w * t, w * (1 - t)
        m1, m0 = np.sum(w1 * y) / np.sum(w1), np.sum(w0 * y) / np.sum(w0)
        psi = w1 * (y - m1) / w1.mean() - w0 * (y - m0) / w0.mean()
        effects.append(normal_ci("ipw", estimand, m1 - m0, psi.std(ddof=1) / np.sqrt(len(y)), len(y), level,
                                 baseline=m0))
    return effects


def outcome_predictions(X, t, y, n_folds: int = 5, random_state: int = 0) -> np.ndarray:
    """Cross-fitted ``mu_a(x)`` (columns a = 0, 1): gradient boosting of ``y`` on ``x`` within arm ``a``, each
    unit predicted by models that never saw it."""
    X, t, y = np.asarray(X, dtype=np.float64), np.asarray(t), np.asarray(y, dtype=np.float64)
    mu = np.zeros((len(y), 2))
    with limit_threads(1):
        for train, test in StratifiedKFold(n_folds, shuffle=True, random_state=random_state).split(X, t):
            for arm in (0, 1):
                rows = train[t[train] == arm]
                mu[test, arm] = regressor(random_state).fit(X[rows], y[rows]).predict(X[test])
    return mu


def aipw(X, t, y, e, n_folds: int = 5, random_state: int = 0, level: float = 0.95) -> list[AverageEffect]:
    """Augmented IPW (doubly robust) ATE and ATT with cross-fitted outcome models and influence-function SEs.

    ATE: the mean of ``mu1 - mu0 + t (y - mu1) / e - (1 - t) (y - mu0) / (1 - e)``. ATT: the doubly robust
    score of Chernozhukov et al. (2018, section 5.1), ``[t (y - mu0) - (1 - t) e (y - mu0) / (1 - e)] / P(t=1)``,
    which needs only the control outcome model.
    """
    t, y = np.asarray(t), np.asarray(y, dtype=np.float64)
    e = np.clip(np.asarray(e, dtype=np.float64), CLIP, 1 - CLIP)
    mu = outcome_predictions(X, t, y, n_folds, random_state)
    n, share = len(y), t.mean()
    untreated = mu[:, 0] + (1 - t) * (y - mu[:, 0]) / (1 - e)
    psi = mu[:, 1] + t * (y - mu[:, 1]) / e - untreated
    ate = normal_ci("aipw", "ate", psi.mean(), psi.std(ddof=1) / np.sqrt(n), n, level, baseline=untreated.mean())
    score = t * (y - mu[:, 0]) - (1 - t) * e * (y - mu[:, 0]) / (1 - e)
    effect = score.mean() / share
    psi_att = (score - t * effect) / share
    att = normal_ci("aipw", "att", effect, psi_att.std(ddof=1) / np.sqrt(n), n, level,
                    baseline=y[t == 1].mean() - effect)
    return [ate, att]


def _match(logit_from: np.ndarray, logit_to: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                               np.ndarray]:
    """Nearest unit of the other arm (with replacement) for each unit on the 1-d logit propensity, ties averaged.

    Returns ``order`` (positions of ``logit_to`` sorted), the mask of ``logit_from`` units with a match within
    ``width``, and for those the run ``[lo, hi)`` of ``order`` holding their nearest value: every unit tied at
    the nearest distance counts as a match with weight ``1 / (hi - lo)`` (Abadie & Imbens 2006), so that a
    constant propensity matches every treated unit to all controls.
    """
    order = np.argsort(logit_to, kind="stable")
    sorted_to = logit_to[order]
    pos = np.clip(np.searchsorted(sorted_to, logit_from), 1, len(sorted_to) - 1)
    nearer_left = np.abs(logit_from - sorted_to[pos - 1]) <= np.abs(sorted_to[pos] - logit_from)
    nearest = sorted_to[np.where(nearer_left, pos - 1, pos)]
    kept = np.abs(nearest - logit_from) <= width
    nearest = nearest[kept]
    return order, kept, np.searchsorted(sorted_to, nearest, "left"), np.searchsorted(sorted_to, nearest, "right")


def _matched_gap(y_from: np.ndarray, y_to: np.ndarray, logit_from: np.ndarray, logit_to: np.ndarray,
                 width: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean of ``y_from - y(matched)`` over the matched ``from`` units, the mask of those units, and the match
    weight of each ``to`` unit (how many ``from`` units it stands in for)."""
    order, kept, lo, hi = _match(logit_from, logit_to, width)
    sums = np.r_[0.0, np.cumsum(y_to[order])]
    gap = float(np.mean(y_from[kept] - (sums[hi] - sums[lo]) / (hi - lo))) if kept.any() else float("nan")
    spread = np.zeros(len(order) + 1)
    np.add.at(spread, lo, 1 / (hi - lo))
    np.add.at(spread, hi, -1 / (hi - lo))
    weights = np.empty(len(order))
    weights[order] = np.cumsum(spread)[:-1]
    return gap, kept, weights


def psm(t, y, e, caliper: float = 0.2, n_boot: int = 200, random_state: int = 0,
        level: float = 0.95) -> tuple[list[AverageEffect], np.ndarray]:
    """Propensity score matching: 1-NN matching with replacement on the logit propensity, ATE and ATT.

    ATT matches every treated unit to its nearest control; the effect on the controls matches every control
    to its nearest treated unit, and the ATE averages the two by the arms' matched counts. Units without a
    match within ``caliper`` standard deviations of the logit are dropped. The CIs are percentile bootstraps
    that re-sample both arms and re-match. Returns the effects and the matching weights of the ATT (1 for a
    matched treated unit, for a control the number of treated units it stands in for) for the balance table.
    """
    t, y = np.asarray(t), np.asarray(y, dtype=np.float64)
    logit = np.log(np.clip(e, CLIP, 1 - CLIP) / (1 - np.clip(e, CLIP, 1 - CLIP)))
    width = caliper * logit.std()
    treated, control = np.flatnonzero(t == 1), np.flatnonzero(t == 0)

    def both_ways(tr: np.ndarray, co: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray, np.ndarray]:
        att, kept_t, weights = _matched_gap(y[tr], y[co], logit[tr], logit[co], width)
        minus_atc, kept_c, _ = _matched_gap(y[co], y[tr], logit[co], logit[tr], width)  # control - matched treated
        n_t, n_c = kept_t.sum(), kept_c.sum()
        return (n_t * att - n_c * minus_atc) / (n_t + n_c), att, kept_t, kept_c, weights

    ate, att, kept_t, kept_c, control_weights = both_ways(treated, control)
    rng = np.random.default_rng(random_state)
    boots = np.array([both_ways(rng.choice(treated, len(treated)), rng.choice(control, len(control)))[:2]
                      for _ in range(n_boot)])
    lo, hi = np.nanquantile(boots, [(1 - level) / 2, (1 + level) / 2], axis=0)
    se = np.nanstd(boots, axis=0, ddof=1)
    weights = np.zeros(len(t))
    weights[treated], weights[control] = kept_t, control_weights
    base_att = control_weights @ y[control] / kept_t.sum()  # mean outcome of the matched controls
    base_ate = (kept_t.sum() * base_att + y[control][kept_c].sum()) / (kept_t.sum() + kept_c.sum())
    return [AverageEffect("psm", estimand, float(value), float(se[i]), float(lo[i]), float(hi[i]), len(t),
                          float(base))
            for i, (estimand, value, base) in enumerate(zip(ESTIMANDS, (ate, att), (base_ate, base_att)))], weights


def e_value(rr: float) -> float:
    """E-value of a risk ratio (VanderWeele & Ding 2017): ``RR + sqrt(RR (RR - 1))``, with ``RR`` inverted below 1.

    The minimum strength of association, on the risk-ratio scale, that an unmeasured confounder would need
    with both the treatment and the outcome to fully explain the estimate away; 1 means no confounding is needed.
    """
    rr = 1 / rr if rr < 1 else rr
    return float(rr + np.sqrt(rr * (rr - 1)))


def e_values(effect: AverageEffect, outcome_sd: float, binary: bool) -> tuple[float, float]:
    """E-values of an effect's estimate and of its confidence limit closest to the null (1 if it spans 0).

    A binary outcome's effect is a risk difference, turned into the risk ratio ``(b + effect) / b`` with ``b``
    the effect's ``baseline`` risk; a continuous one is standardised by the outcome's SD and converted by
    ``RR ~ exp(0.91 d)`` (VanderWeele & Ding 2017, section 5).
    """
    def ratio(diff: float) -> float:
        if binary:
            return max(effect.baseline + diff, 1e-9) / max(effect.baseline, 1e-9)
        return float(np.exp(0.91 * diff / outcome_sd))

    spans_null = effect.ci_low <= 0 <= effect.ci_high
    nearest = effect.ci_low if effect.estimate > 0 else effect.ci_high
    return e_value(ratio(effect.estimate)), 1.0 if spans_null else e_value(ratio(nearest))


def balance_table(X: pd.DataFrame, t, e, matching_weights: np.ndarray | None = None,
                  kept: np.ndarray | None = None) -> pd.DataFrame:
    """SMD of every feature before adjustment (every unit), after IPW weighting and (if given) after matching.

    ``kept`` (a mask) restricts the adjusted columns to the units an overlap trimming kept; ``matching_weights``
    are ``psm``'s ATT weights over those units.
    """
    t = np.asarray(t)
    kept = np.ones(len(t), bool) if kept is None else np.asarray(kept, bool)
    X_kept, t_kept = X[kept], t[kept]
    table = pd.DataFrame({"before": smd(X, t), "ipw": smd(X_kept, t_kept, ipw_weights(t_kept, np.asarray(e)[kept]))})
    if matching_weights is not None:
        table["matched"] = smd(X_kept, t_kept, matching_weights)
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
