"""Natural experiments and the truth behind them, so quasi-experimental designs can be scored.

* **Regression discontinuity:** approval is the scorecard at or above ``approval_cutoff``; the true
  effect of approval on drawdown at the cut-off is the mean chance that an approved applicant draws
  down, over applicants within ``RDD_BAND`` points of it.
* **Instrument:** a randomised SMS reminder (``reminded``, half of the users) makes users more likely
  to engage with the app during the campaign (``engaged``), and engaging raises the will to apply by
  ``encouragement_effect``. The reminder moves drawdown only through engagement, so it is an
  instrument; its true local average treatment effect is the complier-weighted effect of engaging.
* **Difference in differences / synthetic control:** the regional pricing change (``activity``) raises the
  featured loan's affinity; the true effect both designs estimate is its expected lift in featured-loan
  events per signed-up user and day in the priced regions after it, from the simulator's event rates (the
  affinity rise itself, ``pricing_effect``, is not in these units).
* **Variance reduction:** ``prior_drawdowns``, drawdowns in the 12 months before the window, a
  pre-period version of the campaign's outcome (for CUPED-style adjustment of A/B tests).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

RDD_BAND = 10.0  # scorecard points either side of the cut-off that define "at the cut-off"


def draw_encouragement(rng: np.random.Generator, digital: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The randomised reminder ``Z``, engagement ``D`` and each user's chance of engaging with and
    without the reminder ``[n, 2]`` (the complier share is their difference)."""
    n = len(digital)
    reminded = (rng.random(n) < 0.5).astype(np.int8)
    p_engaged = expit(-1.5 + 2.0 * digital[:, None] + 1.6 * np.array([0.0, 1.0])[None, :])
    engaged = (rng.random(n) < p_engaged[np.arange(n), reminded]).astype(np.int8)
    return reminded, engaged, p_engaged


def prior_drawdowns(rng: np.random.Generator, p_drawdown: np.ndarray) -> np.ndarray:
    """Drawdowns in the 12 months before the window: Poisson around three campaigns' worth of the user's
    own drawdown chance (so it predicts the campaign's outcome without being it)."""
    return rng.poisson(3.0 * p_drawdown + 0.05).astype(np.int16)


def experiment_truth(points: np.ndarray, cutoff: float, applied_prob: np.ndarray, p_drawdown_if_approved: np.ndarray,
                     p_engaged: np.ndarray, p_convert_by_engagement: np.ndarray, pricing_lift: float) -> pd.DataFrame:
    """The true effect each design estimates, one row per design (``design``, ``estimand``, ``true_effect``);
    ``pricing_lift`` is the pricing change's expected extra featured-loan events per user-day."""
    near = np.abs(points - cutoff) <= RDD_BAND
    weight = applied_prob * near
    rdd = float((weight * p_drawdown_if_approved).sum() / weight.sum()) if weight.sum() > 0 else float("nan")
    compliers = p_engaged[:, 1] - p_engaged[:, 0]
    late = float((compliers * (p_convert_by_engagement[:, 1] - p_convert_by_engagement[:, 0])).sum() / compliers.sum())
    pricing = "extra featured-loan events per user-day in the priced regions after the pricing change"
    return pd.DataFrame([
        {"design": "rdd", "estimand": "effect of approval on drawdown among applicants at the scorecard cut-off",
         "true_effect": rdd},
        {"design": "iv", "estimand": "effect of engaging on drawdown among users the reminder moves (LATE)",
         "true_effect": late},
        {"design": "did", "estimand": pricing, "true_effect": pricing_lift},
        {"design": "synthetic_control", "estimand": pricing, "true_effect": pricing_lift},
    ])
