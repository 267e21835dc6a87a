"""Segments a marketer can act on: value tiers, the STP table, and how selections overlap.

Tiers cut users by expected drawdown value, P(drawdown) x predicted value if they draw down. The STP
table reads each tier as Segmentation (who they are), Targeting (how much of the tier the top-K
budget reaches) and Positioning (the stage where the tier leaks most, and the message for it).
"""
from __future__ import annotations

from itertools import product

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.utils.validation import check_is_fitted

from lab.core import limit_threads
from lab.data import STAGES
from lab.multitask.features import FunnelData

TIER_NAMES = ("1 top", "2 high", "3 mid", "4 low")
POSITIONING = {
    "exposure": "reach: add channels they use (push / email / partner)",
    "click": "attention: creative and loan message that fits their taste",
    "apply": "decision: price offer or simpler application",
    "approve": "eligibility: pre-approved limit, ask only those likely to pass",
    "drawdown": "activation: reminder and instant-disbursal nudge after approval",
}
PROFILE_COLUMNS = ("age", "income", "credit_score", "digital_affinity", "debt_to_income")


class DrawdownValueModel(BaseEstimator):
    """Value of a drawdown given that it happens: gradient boosting on log(value) of past drawdowns.

    ``fit(data[train])`` uses the training users who drew down; with fewer than 30 it predicts their mean.
    ``n_threads`` OpenMP threads fit and predict (small fits: one is fastest, and safe on a shared machine).
    """

    def __init__(self, max_iter: int = 100, n_threads: int = 1, random_state: int = 0):
        self.max_iter = max_iter
        self.n_threads = n_threads
        self.random_state = random_state

    def fit(self, X: FunnelData, y: None = None) -> DrawdownValueModel:
        """Fit log(value) on the users of ``X`` who drew down (``y`` is unused: values come from ``X``)."""
        drew = X.labels[:, -1] == 1
        values = X.value_all[X.rows][drew]
        self.fallback_ = float(values.mean()) if len(values) else 0.0
        self.regressor_: HistGradientBoostingRegressor | None = None
        if drew.sum() >= 30 and (values > 0).all():
            self.regressor_ = HistGradientBoostingRegressor(max_iter=self.max_iter, random_state=self.random_state)
            with limit_threads(self.n_threads):
                self.regressor_.fit(X.tabular[drew], np.log(values))
        return self

    def predict(self, X: FunnelData) -> np.ndarray:
        """Predicted value of a drawdown for each user of ``X``, [len(X)]."""
        check_is_fitted(self, "fallback_")
        if self.regressor_ is None:
            return np.full(len(X), self.fallback_)
        with limit_threads(self.n_threads):
            return np.exp(self.regressor_.predict(X.tabular))


def assign_tiers(expected_value: np.ndarray, shares: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4)) -> np.ndarray:
    """Tier index per user (0 = top), by rank of expected value, with the given tier shares."""
    if len(shares) != len(TIER_NAMES) or not np.isclose(sum(shares), 1.0):
        raise ValueError(f"shares must be {len(TIER_NAMES)} numbers summing to 1, got {shares}")
    rank = np.argsort(np.argsort(-expected_value, kind="stable"), kind="stable") / len(expected_value)
    return np.searchsorted(np.cumsum(shares)[:-1], rank, side="right")


def tier_table(tiers: np.ndarray, proba: np.ndarray, labels: np.ndarray, expected_value: np.ndarray) -> pd.DataFrame:
    """Size, predicted and observed per-stage rates, expected value and drawdown lift of each tier."""
    rows = []
    base = labels[:, -1].mean()
    for t, name in enumerate(TIER_NAMES):
        m = tiers == t
        if not m.any():
            continue
        row = {"tier": name, "users": int(m.sum()), "share": m.mean()}
        row.update({f"pred_{s}": proba[m, i].mean() for i, s in enumerate(STAGES)})
        row.update({f"obs_{s}": labels[m, i].mean() for i, s in enumerate(STAGES)})
        row["expected_value_per_user"] = expected_value[m].mean()
        row["drawdown_lift"] = labels[m, -1].mean() / base if base > 0 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def stp_table(tiers: np.ndarray, proba: np.ndarray, selected: np.ndarray, profile: pd.DataFrame) -> pd.DataFrame:
    """Segment -> target -> positioning, one row per tier.

    ``profile`` holds user features aligned with ``proba`` rows (median shown); ``selected`` the positions
    of the top-K audience. The weakest stage is the one whose predicted conditional pass rate falls
    furthest below the population's.
    """
    conditional = proba / np.concatenate([np.ones((len(proba), 1)), proba[:, :-1]], axis=1).clip(1e-9)
    overall = conditional.mean(axis=0)
    in_selection = np.zeros(len(proba), bool)
    in_selection[selected] = True
    rows = []
    for t, name in enumerate(TIER_NAMES):
        m = tiers == t
        if not m.any():
            continue
        medians = {c: profile.loc[m, c].median() for c in PROFILE_COLUMNS if c in profile.columns}
        weakest = STAGES[int(np.argmin(conditional[m].mean(axis=0) / overall))]
        rows.append({
            "tier": name,
            "segment": ", ".join(f"{c} {v:,.2f}" if v < 10 else f"{c} {v:,.0f}" for c, v in medians.items()),
            "users": int(m.sum()),
            "share_targeted": in_selection[m].mean(),
            "weakest_stage": weakest,
            "positioning": POSITIONING[weakest],
        })
    return pd.DataFrame(rows)


def selection_overlap(selections: dict[str, np.ndarray]) -> pd.DataFrame:
    """Upset-style counts: for every combination of approaches, the users picked by exactly those."""
    names = list(selections)
    members = {name: set(np.asarray(sel).tolist()) for name, sel in selections.items()}
    everyone = set().union(*members.values())
    rows = []
    for pattern in product([True, False], repeat=len(names)):
        if not any(pattern):
            continue
        count = sum(all((u in members[n]) == flag for n, flag in zip(names, pattern)) for u in everyone)
        rows.append({**dict(zip(names, pattern)), "users": count})
    return pd.DataFrame(rows).sort_values("users", ascending=False, ignore_index=True)
