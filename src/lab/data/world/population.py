"""The users: a latent segment draws demographics, behaviour and psychographics; Fogg's latent
motivation and ability sit behind them."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from lab.data.world.config import CHANNELS, SEGMENTS


def draw_users(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Observable user features and the latent variables behind them."""
    segment = rng.choice(len(SEGMENTS), size=n, p=[0.25, 0.2, 0.15, 0.2, 0.2]).astype(np.int8)
    age_mu = np.array([27, 40, 52, 24, 35])[segment]
    income_mu = np.log(np.array([4500, 7500, 12000, 2800, 3800]))[segment]
    score_mu = np.array([660, 730, 760, 600, 620])[segment]
    digital_mu = np.array([0.8, 0.55, 0.35, 0.7, 0.5])[segment]
    risk_mu = np.array([0.65, 0.45, 0.3, 0.55, 0.7])[segment]
    price_mu = np.array([0.7, 0.4, 0.25, 0.75, 0.65])[segment]

    age = np.clip(rng.normal(age_mu, 6), 18, 80).round().astype(np.int16)
    income = np.exp(rng.normal(income_mu, 0.35)).astype(np.float32)
    digital = np.clip(rng.normal(digital_mu, 0.15), 0, 1).astype(np.float32)
    risk_appetite = np.clip(rng.normal(risk_mu, 0.15), 0, 1).astype(np.float32)
    price_sensitivity = np.clip(rng.normal(price_mu, 0.15), 0, 1).astype(np.float32)
    credit_score = np.clip(rng.normal(score_mu, 45) + 30 * (np.log(income) - 8.3), 300, 850)
    credit_score = credit_score.round().astype(np.int16)
    tenure = np.clip(rng.gamma(2.0, 12 + 0.5 * (age - 18)), 0, 360).round().astype(np.int16)
    sessions = rng.poisson(2 + 28 * digital).astype(np.int16)
    savings = np.exp(rng.normal(np.log(income) + 0.8 * (segment == 2) - 0.6 * (segment == 3), 0.8))
    debt_to_income = np.clip(rng.gamma(2.0, 0.12 + 0.1 * risk_appetite), 0, 3).astype(np.float32)
    region = rng.integers(0, 6, size=n).astype(np.int8)
    channel = rng.choice(len(CHANNELS), size=n, p=[0.35, 0.2, 0.2, 0.15, 0.1]).astype(np.int8)

    need = expit(2.5 * (risk_appetite - 0.5) + 1.5 * (debt_to_income - 0.3) - 0.8 * (segment == 2))
    motivation = np.clip(0.55 * need + 0.45 * price_sensitivity + rng.normal(0, 0.08, n), 0.01, 0.99)
    ability = np.clip(
        0.5 * (credit_score - 300) / 550 + 0.3 * digital + 0.2 * np.tanh((np.log(income) - 8) / 1.0)
        + rng.normal(0, 0.06, n), 0.01, 0.99,
    )
    users = pd.DataFrame(
        {
            "user_id": np.arange(n, dtype=np.int64),
            "age": age,
            "income": income,
            "credit_score": credit_score,
            "tenure_months": tenure,
            "app_sessions_30d": sessions,
            "savings_balance": savings.astype(np.float32),
            "debt_to_income": debt_to_income,
            "digital_affinity": digital,
            "risk_appetite": risk_appetite,
            "price_sensitivity": price_sensitivity,
            "region": region,
            "preferred_channel": pd.Categorical.from_codes(channel, pd.Index(CHANNELS)),
        }
    )
    latent = {"segment": segment, "motivation": motivation.astype(np.float32),
              "ability": ability.astype(np.float32)}
    return users, latent
