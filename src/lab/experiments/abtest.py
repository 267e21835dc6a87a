"""The statistics of a two-arm randomised test, from its design to its read-out.

* **Design:** ``sample_size_per_arm`` and ``design_power`` (statsmodels' normal power for two
  independent samples; Cohen's h for a binary outcome, the standardised difference otherwise);
* **checks:** ``sample_ratio_mismatch`` (chi-square of the arm counts against the design's split);
* **estimates:** ``difference_in_means`` (Welch) and ``cuped`` (regression adjustment on pre-period
  covariates, Deng et al. 2013), ``non_inferiority`` for a guardrail metric, ``adjust_pvalues`` over
  metrics (Holm) and segments (Benjamini-Hochberg);
* **monitoring:** ``sequential_bounds`` (group-sequential boundaries from a Lan-DeMets alpha-spending
  function) and ``monitor`` (the z-statistic at each look against them), valid however often one peeks
  at the planned looks, unlike a fixed 1.96 at every look;
* **validation by replicates** on a population whose outcomes are known: ``aa_false_positive_rates``
  (naive peeking vs the sequential design), ``simulated_power`` and ``cuped_variance_reduction``.

The boundaries are computed by the recursive numerical integration of Armitage, McPherson and Rowe
(1969), written here because no maintained Python library offers alpha-spending boundaries.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from lab.core import welch_difference

SPENDING = ("obrien_fleming", "pocock")
GRID_POINTS = 801  # grid of the recursive integration: boundaries accurate to about 1e-3


@dataclass
class Estimate:
    """A treated-minus-control difference with its standard error, 95% interval and two-sided p-value."""

    lift: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float

    @classmethod
    def normal(cls, lift: float, se: float, level: float = 0.95) -> Estimate:
        """The estimate with its normal interval at ``level`` and the p-value of ``lift = 0``."""
        z = stats.norm.ppf(0.5 + level / 2)
        p = 2 * stats.norm.sf(abs(lift) / se) if se > 0 else float("nan")
        return cls(float(lift), float(se), float(lift - z * se), float(lift + z * se), float(p))


def difference_in_means(y, t) -> Estimate:
    """Treated mean minus control mean with the Welch (unequal variance) standard error."""
    return Estimate.normal(*welch_difference(y, t))


def cuped(y, t, covariates) -> Estimate:
    """The difference in means of ``y - (x - mean x) theta``, ``theta`` the pooled OLS slope of ``y`` on the
    pre-period covariates: unbiased under randomisation, its variance shrunk by about ``1 - R^2``."""
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(covariates, dtype=np.float64).reshape(len(y), -1)
    centred = x - x.mean(axis=0)
    theta = np.linalg.lstsq(centred, y - y.mean(), rcond=None)[0]
    return difference_in_means(y - centred @ theta, t)


def non_inferiority(y, t, margin: float, alpha: float = 0.05) -> tuple[Estimate, float]:
    """A guardrail (a metric that must not get worse, e.g. the default rate): its lift and the one-sided
    p-value of ``lift >= margin``; the guardrail holds when that p-value is below ``alpha``."""
    estimate = difference_in_means(y, t)
    return estimate, float(stats.norm.cdf((estimate.lift - margin) / estimate.se))


def adjust_pvalues(p_values, method: str) -> np.ndarray:
    """p-values adjusted for testing many at once: ``"holm"`` controls the family-wise error rate (the
    few metrics of a test), ``"fdr_bh"`` the false discovery rate (its many segments)."""
    return multipletests(np.asarray(p_values, dtype=np.float64), method=method)[1]


def sample_ratio_mismatch(n_treated: int, n_control: int, treated_share: float) -> float:
    """p-value of the arm counts under the design's treated share (chi-square, 1 df). Below 0.001 the
    assignment or the logging is broken and the test's read-out should not be trusted."""
    total = n_treated + n_control
    return float(stats.chisquare([n_treated, n_control], [total * treated_share, total * (1 - treated_share)]).pvalue)


def effect_size(baseline: float, lift: float, sd: float | None = None) -> float:
    """Standardised effect: Cohen's h for a rate (``sd`` None), else ``lift / sd``."""
    if sd is None:
        return abs(float(proportion_effectsize(baseline + lift, baseline)))
    return abs(lift) / sd


def sample_size_per_arm(baseline: float, lift: float, alpha: float = 0.05, power: float = 0.8,
                        sd: float | None = None) -> int:
    """Users per arm for a two-sided test at ``alpha`` to detect ``lift`` with probability ``power``."""
    n = NormalIndPower().solve_power(effect_size=effect_size(baseline, lift, sd), alpha=alpha, power=power)
    return int(np.ceil(n))


def design_power(n_per_arm: int, baseline: float, lift: float, alpha: float = 0.05, sd: float | None = None) -> float:
    """The nominal power of a two-sided test with ``n_per_arm`` users per arm against ``lift``."""
    return float(NormalIndPower().power(effect_size=effect_size(baseline, lift, sd), nobs1=n_per_arm, alpha=alpha))


def spent_alpha(fraction, alpha: float, spending: str) -> np.ndarray:
    """Lan-DeMets spending functions: the two-sided type I error spent by information ``fraction`` in (0, 1].

    ``obrien_fleming`` spends almost nothing early (stopping early needs overwhelming evidence);
    ``pocock`` spends evenly (early stops are easier, the final look is stricter). Each side spends half,
    as in gsDesign and Jennison & Turnbull's tables."""
    t = np.asarray(fraction, dtype=np.float64)
    if spending == "obrien_fleming":
        return 2 * (2 - 2 * stats.norm.cdf(stats.norm.isf(alpha / 4) / np.sqrt(t)))
    if spending == "pocock":
        return alpha * np.log(1 + (math.e - 1) * t)
    raise ValueError(f"spending must be one of {SPENDING}, got {spending!r}")


def _crossing(bound: float, grid: np.ndarray, weights: np.ndarray, sd: float) -> float:
    """Chance that a path continuing from ``grid`` (density times grid spacing ``weights``) ends beyond
    ``+-bound`` after an increment of standard deviation ``sd``."""
    return float(weights @ (stats.norm.cdf((-bound - grid) / sd) + stats.norm.sf((bound - grid) / sd)))


def sequential_bounds(fractions, alpha: float = 0.05, spending: str = "obrien_fleming") -> np.ndarray:
    """Two-sided z boundaries at the looks' information ``fractions`` (increasing, the last 1).

    Under the null the score ``S_k = Z_k sqrt(t_k)`` is a Brownian motion; look by look the density of
    the paths not yet stopped is carried on a grid and each boundary solves "the chance of first
    crossing here = the alpha spent since the last look"."""
    t = np.asarray(fractions, dtype=np.float64)
    spend = np.diff(np.r_[0.0, spent_alpha(t, alpha, spending)])
    bounds = np.empty(len(t))
    bounds[0] = stats.norm.isf(spend[0] / 2)
    grid = np.linspace(-1, 1, GRID_POINTS) * bounds[0] * np.sqrt(t[0])
    density = stats.norm.pdf(grid, scale=np.sqrt(t[0]))
    for k in range(1, len(t)):
        sd = np.sqrt(t[k] - t[k - 1])
        weights = density * np.gradient(grid)
        if _crossing(1e-9, grid, weights, sd) <= spend[k]:
            b = 1e-9
        else:
            b = optimize.brentq(lambda b, args=(grid, weights, sd), spent=spend[k]: _crossing(b, *args) - spent,
                                1e-9, 40.0 * np.sqrt(t[k]), xtol=1e-10)
        bounds[k] = b / np.sqrt(t[k])
        new_grid = np.linspace(-b, b, GRID_POINTS)
        density = stats.norm.pdf((new_grid[:, None] - grid[None, :]) / sd) @ weights / sd
        grid = new_grid
    return bounds


def look_sizes(n_total: int, n_looks: int) -> np.ndarray:
    """Cumulative sample sizes at ``n_looks`` equally spaced looks, the last one ``n_total``."""
    return np.round(np.arange(1, n_looks + 1) / n_looks * n_total).astype(int)


def _welch_z(sum1, sq1, n1, sum0, sq0, n0) -> np.ndarray:
    """Welch z-statistics from per-arm sums, sums of squares and counts (arrays of any shape)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        m1, m0 = sum1 / n1, sum0 / n0
        v1 = (sq1 - n1 * m1 ** 2) / (n1 - 1)
        v0 = (sq0 - n0 * m0 ** 2) / (n0 - 1)
        z = (m1 - m0) / np.sqrt(v1 / n1 + v0 / n0)
    return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)


def monitor(y, t, n_looks: int, alpha: float = 0.05, spending: str = "obrien_fleming") -> dict[str, np.ndarray]:
    """The test read at ``n_looks`` equally spaced looks in arrival order (the rows' order): the sizes,
    the z-statistic and the sequential boundary at each look."""
    y, t = np.asarray(y, dtype=np.float64), np.asarray(t).astype(bool)
    sizes = look_sizes(len(y), n_looks)
    sums = [np.cumsum(np.where(arm, v, 0.0))[sizes - 1] for arm in (t, ~t) for v in (y, y ** 2)]
    counts = [np.cumsum(arm)[sizes - 1] for arm in (t, ~t)]
    z = _welch_z(sums[0], sums[1], counts[0], sums[2], sums[3], counts[1])
    return {"n": sizes, "z": z, "bound": sequential_bounds(sizes / len(y), alpha, spending)}


def _replicate_z(rng: np.random.Generator, outcomes0: np.ndarray, outcomes1: np.ndarray, n_per_arm: int,
                 sizes: np.ndarray, n_replicates: int, chunk: int = 100) -> np.ndarray:
    """z-statistics ``[n_replicates, len(sizes)]`` of simulated tests: each replicate draws ``n_per_arm`` users
    per arm (arm 1 from ``outcomes1``, arm 0 from ``outcomes0``, with replacement), interleaves them in a
    random arrival order and reads the test at the cumulative ``sizes``."""
    out = np.empty((n_replicates, len(sizes)))
    for start in range(0, n_replicates, chunk):
        r = min(chunk, n_replicates - start)
        y = np.concatenate([outcomes1[rng.integers(0, len(outcomes1), (r, n_per_arm))],
                            outcomes0[rng.integers(0, len(outcomes0), (r, n_per_arm))]], axis=1)
        arm = np.concatenate([np.ones((r, n_per_arm), bool), np.zeros((r, n_per_arm), bool)], axis=1)
        order = rng.permuted(np.tile(np.arange(2 * n_per_arm), (r, 1)), axis=1)
        y, arm = np.take_along_axis(y, order, 1), np.take_along_axis(arm, order, 1)
        cum = [np.cumsum(np.where(a, v, 0.0), axis=1)[:, sizes - 1] for a in (arm, ~arm) for v in (y, y ** 2)]
        n = [np.cumsum(a, axis=1)[:, sizes - 1] for a in (arm, ~arm)]
        out[start:start + r] = _welch_z(cum[0], cum[1], n[0], cum[2], cum[3], n[1])
    return out


def aa_false_positive_rates(outcomes, n_per_arm: int, n_looks: int, n_replicates: int, alpha: float = 0.05,
                            spending: str = "obrien_fleming", seed: int = 0) -> dict[str, float]:
    """A/A tests (both arms drawn from the same ``outcomes``) read at ``n_looks`` looks: the share that a
    naive peeker (stop at the first ``|z| > z_{1-alpha/2}``) and the sequential design wrongly call."""
    rng = np.random.default_rng(seed)
    outcomes = np.asarray(outcomes, dtype=np.float64)
    sizes = look_sizes(2 * n_per_arm, n_looks)
    z = np.abs(_replicate_z(rng, outcomes, outcomes, n_per_arm, sizes, n_replicates))
    bounds = sequential_bounds(sizes / sizes[-1], alpha, spending)
    return {"naive_peeking": float((z > stats.norm.isf(alpha / 2)).any(axis=1).mean()),
            "sequential": float((z >= bounds).any(axis=1).mean()),
            "fixed_horizon": float((z[:, -1] > stats.norm.isf(alpha / 2)).mean())}


def simulated_power(outcomes0, outcomes1, n_per_arm: int, n_replicates: int, alpha: float = 0.05, n_looks: int = 10,
                    spending: str = "obrien_fleming", seed: int = 0) -> dict[str, float]:
    """The share of simulated tests (arms drawn from their own outcomes) that detect the difference: the
    fixed-horizon test read once at the end, and the sequential design over ``n_looks`` looks."""
    rng = np.random.default_rng(seed)
    sizes = look_sizes(2 * n_per_arm, n_looks)
    z = np.abs(_replicate_z(rng, np.asarray(outcomes0, np.float64), np.asarray(outcomes1, np.float64), n_per_arm,
                            sizes, n_replicates))
    bounds = sequential_bounds(sizes / sizes[-1], alpha, spending)
    return {"fixed_horizon": float((z[:, -1] > stats.norm.isf(alpha / 2)).mean()),
            "sequential": float((z >= bounds).any(axis=1).mean())}


def cuped_variance_reduction(outcomes0, outcomes1, covariates0, covariates1, n_per_arm: int, n_replicates: int,
                             seed: int = 0, chunk: int = 100) -> dict[str, float]:
    """CUPED's variance reduction measured over simulated tests, against its theory.

    Measured: ``1 - Var(CUPED lift) / Var(difference in means)`` across replicates (each ``cuped``'s
    pooled slope fitted within its replicate, in batches of ``chunk``). Theory: the share of
    each arm's outcome variance the covariates explain (``R^2``, i.e. ``rho^2`` for one covariate), weighted
    by the arms' variances, so the remaining variance is ``1 - rho^2`` of the unadjusted one."""
    rng = np.random.default_rng(seed)
    arms = [(np.asarray(outcomes0, np.float64), np.asarray(covariates0, np.float64).reshape(len(outcomes0), -1)),
            (np.asarray(outcomes1, np.float64), np.asarray(covariates1, np.float64).reshape(len(outcomes1), -1))]
    plain, adjusted = np.empty(n_replicates), np.empty(n_replicates)
    for start in range(0, n_replicates, chunk):
        r = min(chunk, n_replicates - start)
        rows = [rng.integers(0, len(y), (r, n_per_arm)) for y, _ in arms]
        y = np.concatenate([arms[a][0][rows[a]] for a in (0, 1)], axis=1)  # [r, 2n], control first
        x = np.concatenate([arms[a][1][rows[a]] for a in (0, 1)], axis=1)  # [r, 2n, k]
        x = x - x.mean(axis=1, keepdims=True)
        theta = np.linalg.solve(np.einsum("rnk,rnj->rkj", x, x) + 1e-9 * np.eye(x.shape[2]),
                                np.einsum("rnk,rn->rk", x, y - y.mean(axis=1, keepdims=True))[..., None])[..., 0]
        residual = y - np.einsum("rnk,rk->rn", x, theta)
        plain[start:start + r] = y[:, n_per_arm:].mean(axis=1) - y[:, :n_per_arm].mean(axis=1)
        adjusted[start:start + r] = residual[:, n_per_arm:].mean(axis=1) - residual[:, :n_per_arm].mean(axis=1)
    explained, total = 0.0, 0.0
    for y, x in arms:
        centred = x - x.mean(axis=0)
        residual = (y - y.mean()) - centred @ np.linalg.lstsq(centred, y - y.mean(), rcond=None)[0]
        explained += y.var() - residual.var()
        total += y.var()
    return {"variance_reduction": float(1 - adjusted.var(ddof=1) / plain.var(ddof=1)),
            "variance_reduction_theory": float(explained / total)}
