"""Credit risk: who would default, the lender's approval policy, and what a drawn loan is worth.

* **Default.** A true 12-month probability of default (PD) per user, on book and without any later
  action, from the bureau score, debt to income, price sensitivity (the ``price_risk`` dial: the
  price-sensitive users a discount wins are riskier) and a latent risk no feature carries; its
  intercept is set so that the population's mean PD is ``default_rate``.
* **Approval.** The lender's scorecard on observables (points from the bureau score, debt to income
  and income) approves every applicant at or above ``approval_cutoff``: a sharp discontinuity.
* **Value.** Exposure at default is the amount drawn, loss given default ``LGD``; a loan earns its
  interest margin ``MARGIN`` a year on its balance, less ``RATE_DISCOUNT_MARGIN`` when the rate
  discount was the offer that won it. Expected profit of an offer = P(draw down | offer) x (revenue
  - expected loss) - the offer's cost.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

LGD = 0.6                      # unsecured consumer credit: about 40% recovered after a default
MARGIN = 0.14                  # yearly interest margin over funding cost
RATE_DISCOUNT_MARGIN = 0.04    # what the rate-discount offer gives up of the margin


def scorecard_points(users: pd.DataFrame) -> np.ndarray:
    """The lender's scorecard: bureau score, less 90 points per unit of debt to income above 0.4, plus
    40 points per log-unit of income above 5,000 (observables only, so a study can rebuild it)."""
    score = users["credit_score"].to_numpy(np.float64)
    dti = users["debt_to_income"].to_numpy(np.float64)
    income = users["income"].to_numpy(np.float64)
    return (score - 90.0 * (dti - 0.4) + 40.0 * np.log(income / 5000.0)).astype(np.float32)


def default_logit(users: pd.DataFrame, latent_risk: np.ndarray, price_risk: float) -> np.ndarray:
    """The PD's logit before its intercept: worse bureau score, more debt, more price sensitivity
    (scaled by ``price_risk``) and the latent risk all raise it."""
    score = (users["credit_score"].to_numpy(np.float64) - 680.0) / 60.0
    dti = users["debt_to_income"].to_numpy(np.float64) - 0.4
    price = users["price_sensitivity"].to_numpy(np.float64) - 0.5
    return -0.9 * score + 1.2 * dti + 2.0 * price_risk * price + 0.7 * latent_risk


def probability_of_default(logit: np.ndarray, default_rate: float) -> np.ndarray:
    """``expit(intercept + logit)`` with the intercept that makes the mean PD ``default_rate``."""
    intercept = brentq(lambda a: float(expit(a + logit).mean()) - default_rate, -20.0, 20.0)
    return expit(intercept + logit).astype(np.float32)


def loan_revenue(amount: np.ndarray, offer: np.ndarray, rate_discount: int) -> np.ndarray:
    """A year's interest margin on ``amount``, less the rate discount for loans won by it."""
    margin = np.where(offer == rate_discount, MARGIN - RATE_DISCOUNT_MARGIN, MARGIN)
    return (amount * margin).astype(np.float32)
