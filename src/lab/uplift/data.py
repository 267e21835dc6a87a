"""Binary-treatment study data: one offer against no offer in the world, or a researcher's own table.

``CausalData`` carries what every estimator needs (features ``X``, treatment ``t``, outcome ``y``)
plus what only some data sets have: the true effect ``tau`` and propensity, an instrument, a
pre/post indicator for difference in differences. Features come from ``lab.core.UserEncoder`` with
numbers left in their units (``user_encoder``): every learner scales inside, or does not need to.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from lab.core import SchemaError, UserEncoder, sort_by_ids
from lab.data import OFFERS, World, read_table

USER_ID = "user_id"


@dataclass
class CausalData:
    """Features, binary treatment and outcome, with optional truth and design columns (numpy arrays).

    ``tau`` and ``true_propensity`` are ground truth (simulations only; never given to an estimator);
    ``propensity`` is a propensity the data owner supplies (used instead of an estimated one).
    """

    X: pd.DataFrame
    t: np.ndarray
    y: np.ndarray
    tau: np.ndarray | None = None
    true_propensity: np.ndarray | None = None
    propensity: np.ndarray | None = None
    instrument: np.ndarray | None = None
    post: np.ndarray | None = None
    ids: np.ndarray | None = None
    name: str = ""

    def __len__(self) -> int:
        return len(self.t)

    def subset(self, rows: np.ndarray) -> CausalData:
        """The rows ``rows`` (integer positions) of every column."""
        pick = lambda a: None if a is None else a[rows]  # noqa: E731
        return replace(self, X=self.X.iloc[rows].reset_index(drop=True), t=self.t[rows], y=self.y[rows],
                       tau=pick(self.tau), true_propensity=pick(self.true_propensity),
                       propensity=pick(self.propensity), instrument=pick(self.instrument), post=pick(self.post),
                       ids=pick(self.ids))

    def split_rows(self, test_fraction: float, random_state: int) -> tuple[np.ndarray, np.ndarray]:
        """Row positions of a random train/test split stratified by treatment arm."""
        rng = np.random.default_rng(random_state)
        test = np.zeros(len(self), dtype=bool)
        for arm in (0, 1):
            rows = np.flatnonzero(self.t == arm)
            test[rng.choice(rows, size=int(round(test_fraction * len(rows))), replace=False)] = True
        return np.flatnonzero(~test), np.flatnonzero(test)

    def split(self, test_fraction: float, random_state: int) -> tuple[CausalData, CausalData]:
        """Train and test subsets of ``split_rows``."""
        train, test = self.split_rows(test_fraction, random_state)
        return self.subset(train), self.subset(test)


def user_encoder() -> UserEncoder:
    """The study's ``lab.core.UserEncoder``: ids dropped, codes one-hot, numbers in their own units (no log,
    no scaling: the networks and the propensity model standardise inside, trees need neither).

    It is fitted on every row of a table: it sees no treatment or outcome, so nothing of a test split's
    outcomes leaks into the learners."""
    return UserEncoder(log_columns=(), scale=False)


def world_frames(world_or_frames) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """``(users, treatments, oracle effects or None)`` from a World, a dict of tables or a (users, treatments) pair."""
    if isinstance(world_or_frames, World):
        return (world_or_frames.observed["users"], world_or_frames.observed["treatments"],
                world_or_frames.oracle.get("effects"))
    if isinstance(world_or_frames, dict):
        return world_or_frames["users"], world_or_frames["treatments"], world_or_frames.get("effects")
    users, treatments = world_or_frames[:2]
    return users, treatments, None


def offer_arm(world_or_frames, offer: str, encoder: UserEncoder | None = None) -> CausalData:
    """Users given ``offer`` (t=1) or no offer (t=0), outcome ``converted``, truth from the oracle.

    ``encoder``: a fitted ``user_encoder`` of the users table (one is fitted when not given).
    """
    if offer not in OFFERS[1:]:
        raise ValueError(f"offer must be one of {OFFERS[1:]}, got {offer!r}")
    users, treatments, effects = world_frames(world_or_frames)
    encoder = encoder or user_encoder().fit(users)
    table = users.merge(treatments[[USER_ID, "offer", "converted"]], on=USER_ID, how="inner")
    keep = table["offer"].astype(str).isin(["none", offer]).to_numpy()
    table = table.loc[keep].reset_index(drop=True)
    tau = true_propensity = None
    if effects is not None and f"tau_{offer}" in effects:
        truth = table[[USER_ID]].merge(effects, on=USER_ID, how="left")
        tau = truth[f"tau_{offer}"].to_numpy(dtype=np.float64)
        p_t, p_c = truth[f"propensity_{offer}"].to_numpy(), truth["propensity_none"].to_numpy()
        true_propensity = (p_t / (p_t + p_c)).astype(np.float64)
    return CausalData(X=encoder.transform(table[users.columns]), t=(table["offer"].astype(str) == offer).to_numpy(int),
                      y=table["converted"].to_numpy(dtype=np.float64), tau=tau, true_propensity=true_propensity,
                      ids=table[USER_ID].to_numpy(), name=f"world: {offer} vs none")


def load_causal_table(data_path: str | Path, treatment_col: str, outcome_col: str,
                      feature_cols: Sequence[str] = (), propensity_col: str = "", instrument_col: str = "",
                      time_col: str = "") -> CausalData:
    """A researcher's own table (CSV/parquet) as ``CausalData``; every problem is one ``SchemaError``.

    The treatment must be binary 0/1 (or two distinct values, the larger one treated); the outcome
    numeric and not constant; ``time_col`` a 0/1 pre/post indicator for difference in differences.
    Features (``feature_cols``, default every other column but ids) go through ``user_encoder``: gaps
    imputed with the median plus a ``<column>_missing`` indicator, text one-hot.
    """
    df = sort_by_ids(read_table(data_path))
    name = Path(data_path).name
    wanted = [treatment_col, outcome_col, *feature_cols, propensity_col, instrument_col, time_col]
    missing = [c for c in wanted if c and c not in df.columns]
    if missing:
        raise SchemaError(f"{name}: missing column(s) {missing}; columns are {list(df.columns)[:20]}")
    design = {c for c in (treatment_col, outcome_col, propensity_col, instrument_col, time_col) if c}
    if df[[treatment_col, outcome_col]].isna().any().any():
        raise SchemaError(f"{name}: columns '{treatment_col}' and '{outcome_col}' must have no missing values")
    arms = pd.unique(df[treatment_col])
    if len(arms) != 2:
        raise SchemaError(f"{name}: column '{treatment_col}' must be a binary treatment with exactly two values, "
                          f"found {len(arms)} ({', '.join(map(str, arms[:5]))}); for several arms, compare "
                          f"one arm against control per run")
    t = (df[treatment_col] == sorted(arms)[1]).to_numpy(int)
    if not pd.api.types.is_numeric_dtype(df[outcome_col]):
        raise SchemaError(f"{name}: outcome column '{outcome_col}' must be numeric")
    y = df[outcome_col].to_numpy(dtype=np.float64)
    if np.ptp(y) == 0:
        raise SchemaError(f"{name}: outcome column '{outcome_col}' is constant; there is no effect to estimate")
    cols = list(feature_cols) or [c for c in df.columns if c not in design]
    if not cols:
        raise SchemaError(f"{name}: no feature columns left besides the treatment and outcome")
    X = user_encoder().fit_transform(df[cols])

    def optional(column: str, role: str) -> np.ndarray | None:
        """A design column as floats: numeric and complete, or one clear error."""
        if not column:
            return None
        if not pd.api.types.is_numeric_dtype(df[column]) or df[column].isna().any():
            raise SchemaError(f"{name}: {role} column '{column}' must be numeric with no missing values")
        return df[column].to_numpy(dtype=np.float64)

    propensity = optional(propensity_col, "propensity")
    if propensity is not None and not ((propensity > 0) & (propensity < 1)).all():
        raise SchemaError(f"{name}: propensity column '{propensity_col}' must lie strictly between 0 and 1")
    post = optional(time_col, "time")
    if post is not None and set(np.unique(post)) - {0.0, 1.0}:
        raise SchemaError(f"{name}: time column '{time_col}' must be 0 (pre) / 1 (post)")
    return CausalData(X=X, t=t, y=y, propensity=propensity, instrument=optional(instrument_col, "instrument"),
                      post=post, name=name)
