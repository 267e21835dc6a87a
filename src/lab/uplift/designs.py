"""Quasi-experimental designs on the simulated world's natural experiments, each scored against its truth.

* ``rdd_estimate``: sharp regression discontinuity of drawdown at the approval cut-off (``rdrobust``,
  uniform kernel on ``RDD_BAND`` points either side, the band the world's truth averages over; robust
  bias-corrected interval). Drawdown's chance is almost flat in the scorecard near the cut-off, so the
  band's mean effect and the effect at the cut-off agree to about 1e-4.
* ``did_estimate``: two-way fixed effects on the region x period panel of featured-loan events per
  signed-up user (``linearmodels.PanelOLS``). The days are collapsed to a pre and a post mean per region
  (Bertrand, Duflo & Mullainathan 2004): the point estimate is the daily panel's, but with 6 regions
  neither clustering by region nor treating the days as independent gives honest intervals (region
  shocks persist over days), while the 6 regions' own pre/post changes do: homoskedastic errors, Student
  t on the 4 residual degrees of freedom.
* ``synthetic_control_estimate``: the priced regions' mean against a convex mix of the 4 other regions
  (``pysyncon``), fitted on each unit's pre-period-demeaned daily rates; the estimate is the post-period
  mean gap, ``change(treated) - sum w_j change(donor j)``. Its standard error takes the variance of a
  region's pre/post change from the DID's residuals, times ``1/2 + sum w_j^2``, with the same t quantile.
  pysyncon's conformal intervals are per post day and cannot reach 95% with few pre days, and placebo
  tests over 4 donors cannot go below p = 1/5, so neither gives a 95% interval for the average effect.
* ``iv_estimate``: two-stage least squares of drawdown on engagement instrumented by the randomised
  reminder (``linearmodels.IV2SLS``, heteroskedasticity-robust errors, normal interval).

``quasi_experiment_rows`` lays the four out as tidy rows (``model``, ``metric``, ``value``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from linearmodels import IV2SLS, PanelOLS
from linearmodels.panel.results import PanelEffectsResults
from pysyncon import Dataprep, Synth
from rdrobust import rdrobust
from scipy import stats

from lab.data.world.config import FEATURED_PRODUCT, World, WorldConfig
from lab.data.world.experiments import RDD_BAND

LEVEL = 0.95
TREATED_UNIT = "priced"


@dataclass(frozen=True)
class DesignEstimate:
    """One design's estimate with its standard error, 95% interval and the world's true effect."""

    design: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    true_effect: float


def true_effect(world: World, design: str) -> float:
    """The oracle's true effect for ``design``."""
    return float(world.oracle["experiments"].set_index("design")["true_effect"][design])


def _config(world: World) -> WorldConfig:
    """The simulation's knobs (cut-off, pricing regions and day), which a researcher's own tables lack."""
    if world.config is None:
        raise ValueError("the natural experiments need a simulated world: its cut-off and pricing change")
    return world.config


def _t_interval(design: str, world: World, estimate: float, se: float, df: float) -> DesignEstimate:
    """Estimate +- the Student t quantile (normal where ``df`` is infinite) times its standard error."""
    half = stats.t.ppf(0.5 + LEVEL / 2, df) * se
    return DesignEstimate(design, float(estimate), float(se), float(estimate - half), float(estimate + half),
                          true_effect(world, design))


def rdd_estimate(world: World) -> DesignEstimate:
    """Sharp RDD of ``drawn`` on the scorecard at the approval cut-off among applicants: local linear,
    uniform kernel of half-width ``RDD_BAND`` (the truth's band), robust bias-corrected interval."""
    loans = world.observed["loans"]
    fit = rdrobust(loans["drawn"].to_numpy(float), loans["scorecard"].to_numpy(float), c=_config(world).approval_cutoff,
                   h=RDD_BAND, kernel="uniform", level=LEVEL * 100)
    low, high = fit.ci.loc["Robust"]
    return DesignEstimate("rdd", float(fit.coef.loc["Conventional"].iloc[0]), float(fit.se.loc["Robust"].iloc[0]),
                          float(low), float(high), true_effect(world, "rdd"))


def region_panel(world: World) -> pd.DataFrame:
    """Featured-loan events per signed-up user by region and day, with ``priced`` (a priced region) and
    ``post`` (on or after the pricing day)."""
    users = world.observed["users"][["user_id", "region", "signup_day"]]
    events, cfg = world.observed["interactions"], _config(world)
    featured = events.loc[events["product_id"] == FEATURED_PRODUCT, ["user_id", "day"]].merge(users, on="user_id")
    days = np.arange(cfg.n_days)
    cells = pd.MultiIndex.from_product([np.sort(users["region"].unique()), days], names=["region", "day"])
    counts = featured.groupby(["region", "day"]).size().reindex(cells, fill_value=0)
    joined = pd.crosstab(users["region"], users["signup_day"]).reindex(columns=days, fill_value=0).cumsum(axis=1)
    panel = pd.DataFrame({"rate": counts / joined.stack().reindex(cells)}).reset_index()
    panel["priced"] = panel["region"].isin(cfg.pricing_regions)
    panel["post"] = panel["day"] >= cfg.pricing_day
    return panel


def _collapsed_did(panel: pd.DataFrame) -> PanelEffectsResults:
    """PanelOLS with region and period effects on each region's pre and post mean rate (homoskedastic)."""
    periods = panel.groupby(["region", "post"], as_index=False).agg(rate=("rate", "mean"), priced=("priced", "first"))
    periods["treated"] = (periods["priced"] & periods["post"]).astype(float)
    periods["period"] = periods["post"].astype(int)
    data = periods.set_index(["region", "period"])
    return PanelOLS(data["rate"], data[["treated"]], entity_effects=True, time_effects=True).fit(
        cov_type="unadjusted", debiased=True)


def did_estimate(world: World) -> DesignEstimate:
    """Two-way fixed effects DID of the pricing change on the region panel, with inference from the 6
    regions' pre/post changes (t on the collapsed panel's residual degrees of freedom)."""
    fit = _collapsed_did(region_panel(world))
    return _t_interval("did", world, fit.params["treated"], fit.std_errors["treated"], fit.df_resid)


def _synthetic_panel(panel: pd.DataFrame) -> pd.DataFrame:
    """Donor regions and the priced regions' mean as one unit, each rate less its unit's pre-period mean."""
    donors = panel.loc[~panel["priced"], ["region", "day", "post", "rate"]]
    donors = donors.assign(unit=donors["region"].astype(str))
    treated = panel[panel["priced"]].groupby(["day", "post"], as_index=False)["rate"].mean().assign(unit=TREATED_UNIT)
    units = pd.concat([donors.drop(columns="region"), treated], ignore_index=True)
    pre_mean = units[~units["post"]].groupby("unit")["rate"].mean()
    return units.assign(demeaned=units["rate"] - units["unit"].map(pre_mean))


def synthetic_control_estimate(world: World) -> DesignEstimate:
    """Synthetic control of the priced regions' mean from the 4 other regions on demeaned daily rates;
    the standard error scales the DID's region-change variance by the weights (``1/2 + sum w^2``)."""
    panel = region_panel(world)
    units = _synthetic_panel(panel)
    pre_days = sorted(units.loc[~units["post"], "day"].unique())
    donors = sorted(set(units["unit"]) - {TREATED_UNIT})
    prep = Dataprep(foo=units, predictors=[], predictors_op="mean", time_predictors_prior=pre_days,
                    special_predictors=[("demeaned", [day], "mean") for day in pre_days], dependent="demeaned",
                    unit_variable="unit", time_variable="day", treatment_identifier=TREATED_UNIT,
                    controls_identifier=donors, time_optimize_ssr=pre_days)
    synth = Synth()
    synth.fit(dataprep=prep, custom_V=np.ones(len(pre_days)))
    wide = units.pivot(index="day", columns="unit", values="demeaned")
    gap = wide[TREATED_UNIT] - wide[donors].to_numpy() @ synth.W
    estimate = gap[wide.index >= _config(world).pricing_day].mean()
    did, n_priced = _collapsed_did(panel), panel.loc[panel["priced"], "region"].nunique()
    change_sd = did.std_errors["treated"] / np.sqrt(1 / n_priced + 1 / len(donors))  # of one region's pre/post change
    se = change_sd * np.sqrt(1 / n_priced + float(np.sum(synth.W ** 2)))
    return _t_interval("synthetic_control", world, estimate, se, did.df_resid)


def iv_estimate(world: World) -> DesignEstimate:
    """2SLS of drawdown on engaging, instrumented by the randomised reminder (robust errors)."""
    data = world.observed["reminders"].merge(world.observed["funnel"][["user_id", "drawdown"]], on="user_id")
    data = data.astype({"reminded": float, "engaged": float, "drawdown": float})
    fit = IV2SLS.from_formula("drawdown ~ 1 + [engaged ~ reminded]", data).fit(cov_type="robust")
    return _t_interval("iv", world, fit.params["engaged"], fit.std_errors["engaged"], np.inf)


DESIGNS = {"rdd": rdd_estimate, "did": did_estimate, "synthetic_control": synthetic_control_estimate,
           "iv": iv_estimate}


def quasi_experiment_rows(world: World) -> list[dict]:
    """Tidy rows, one per design and metric (``estimate``, ``true_effect``, ``ci_low``, ``ci_high``)."""
    rows = []
    for model, estimate in DESIGNS.items():
        result = estimate(world)
        rows += [{"model": model, "metric": metric, "value": getattr(result, metric)}
                 for metric in ("estimate", "true_effect", "ci_low", "ci_high")]
    return rows
