"""The campaign: heterogeneous offer effects, randomised or targeted assignment, and the funnel
exposure -> click -> apply -> approve -> drawdown with its true probabilities."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from lab.data.world.config import FEATURED_PRODUCT, OFFERS, PRODUCTS, STAGES, WorldConfig


def offer_effects(users: pd.DataFrame, latent: dict[str, np.ndarray]) -> np.ndarray:
    """True effect of each offer on the logit of applying, shape ``[n_users, n_offers]``.

    Coupons move price-sensitive, low-income users; rate discounts move creditworthy users who borrow
    big tickets; SMS reminders wake up users who rarely open the app and annoy heavy app users.
    """
    price = users["price_sensitivity"].to_numpy()
    score = (users["credit_score"].to_numpy() - 650) / 80
    low_income = -(np.log(users["income"].to_numpy()) - 8.4)
    digital = users["digital_affinity"].to_numpy()
    tau = np.zeros((len(users), len(OFFERS)), dtype=np.float32)
    tau[:, 1] = 2.0 * (price - 0.4) + 0.6 * low_income
    tau[:, 2] = 0.4 + 0.9 * np.tanh(score) + 0.7 * (latent["segment"] == 1)
    tau[:, 3] = 1.4 * (0.45 - digital)
    return tau


def offer_propensity(cfg: WorldConfig, users: pd.DataFrame, rng) -> np.ndarray:
    """Probability of each offer per user: fixed shares, or targeted at users marketers favour."""
    shares = np.asarray(cfg.offer_shares, dtype=np.float64)
    if cfg.assignment == "randomised":
        return np.tile(shares, (len(users), 1))
    score = (users["credit_score"].to_numpy() - 680) / 60
    active = (users["app_sessions_30d"].to_numpy() - 15) / 8
    price = (users["price_sensitivity"].to_numpy() - 0.5) / 0.2
    k = cfg.confounding
    logits = np.log(shares)[None, :] + k * np.stack(
        [np.zeros(len(users)), 0.7 * active + 0.5 * price, 0.9 * score + 0.3 * active, -0.6 * active], axis=1
    )
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def stage_probabilities(users, latent, taste_loan, tau, approved, apply_shift=0.0) -> dict[str, np.ndarray]:
    """True probability of each funnel stage given the previous one: ``exposure``, ``approve`` and
    ``drawdown`` per user ``[n]``, ``click`` and ``apply`` per user and offer ``[n, n_offers]``.

    Offers act on the click and apply stages (the attention and the decision), never on approval,
    which is the lender's policy: ``approved`` (the scorecard at or above its cut-off) for every applicant.
    ``apply_shift`` moves the logit of applying (peer influence, engagement).
    """
    digital = users["digital_affinity"].to_numpy()
    sessions = users["app_sessions_30d"].to_numpy()
    m, a = latent["motivation"], latent["ability"]
    click_logit = -1.4 + 1.2 * taste_loan + 1.5 * (m - 0.5)
    apply_logit = 10.0 * (m * a - 0.30) + 0.6 * taste_loan - 0.4 + apply_shift
    return {"exposure": expit(-0.2 + 1.8 * digital + 0.05 * (sessions - 15)),
            "click": expit(click_logit[:, None] + 0.5 * tau), "apply": expit(apply_logit[:, None] + tau),
            "approve": approved.astype(np.float64),
            "drawdown": expit(0.8 + 2.0 * (m - 0.5) - 0.6 * (latent["segment"] == 2))}


def conversion_by_offer(stages: dict[str, np.ndarray]) -> np.ndarray:
    """True probability of reaching drawdown under each offer, ``[n, n_offers]``."""
    downstream = stages["exposure"] * stages["approve"] * stages["drawdown"]
    return downstream[:, None] * stages["click"] * stages["apply"]


def draw_funnel(rng, cfg, users, latent, taste_loan, tau, propensity, approved, apply_shift=0.0):
    """Campaign funnel with true probabilities per stage (``stage_probabilities``) under the assigned
    offer and every offer, the outcomes and the drawdown value."""
    n = len(users)
    stages = stage_probabilities(users, latent, taste_loan, tau, approved, apply_shift)
    cum = np.cumsum(propensity, axis=1)
    offer = (rng.random(n)[:, None] > cum[:, :-1]).sum(axis=1).astype(np.int8)
    rows = np.arange(n)
    conditional = np.stack([stages["exposure"], stages["click"][rows, offer], stages["apply"][rows, offer],
                            stages["approve"], stages["drawdown"]], axis=1)
    draws = rng.random((n, len(STAGES))) < conditional
    outcomes = np.cumprod(draws, axis=1).astype(np.int8)
    cumulative = np.cumprod(conditional, axis=1)

    income = users["income"].to_numpy()
    expected_value = (np.array(PRODUCTS["avg_ticket"])[FEATURED_PRODUCT] * (income / 5000) ** 0.5
                      * (0.6 + 0.8 * latent["ability"])).astype(np.float32)
    value = rng.lognormal(np.log(expected_value) - 0.125, 0.5).astype(np.float32) * outcomes[:, -1]
    return offer, conditional, cumulative, outcomes, value, expected_value, conversion_by_offer(stages)
