"""The labelled table the explanation study works on: users and one funnel outcome of the workbench's
world (simulated, or the researcher's tables in ``data_dir``), or a researcher's own file with a 0/1 column.

Features come through ``lab.core.UserEncoder(scale=False)``: numbers stay in their units (so rules read
``income <= 4,200``), codes become ``column=level`` indicators, ids are dropped. On the simulated world
the true drivers of each outcome are known from the generator.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from lab.core import SchemaError, UserEncoder, is_identifier, sort_by_ids, world_for
from lab.data import World, read_table

# Who applies in the generator: exposure (digital_affinity, app_sessions_30d), click (motivation,
# loan taste) and the apply decision (motivation x ability). Motivation comes from risk_appetite,
# debt_to_income and price_sensitivity; ability from credit_score, digital_affinity and income.
WORLD_DRIVERS = {
    "apply": ("risk_appetite", "debt_to_income", "price_sensitivity", "credit_score", "digital_affinity",
              "income", "app_sessions_30d"),
    "drawdown": ("risk_appetite", "debt_to_income", "price_sensitivity", "credit_score", "digital_affinity",
                 "income", "app_sessions_30d"),
}


def encode_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Features in readable units: ``UserEncoder(scale=False)`` without the log of money columns.

    Fitted on every row: it learns no target, only medians and levels, and LICE explains the model on
    every row."""
    return UserEncoder(scale=False, log_columns=()).fit_transform(frame)


def world_table(world: World, target: str = "apply") -> tuple[pd.DataFrame, pd.Series]:
    """The world's user features and one funnel stage as the 0/1 target (users without a funnel row: 0)."""
    if target not in WORLD_DRIVERS:
        raise ValueError(f"target must be one of {sorted(WORLD_DRIVERS)}, got {target!r}")
    users, funnel = world.observed["users"], world.observed["funnel"]
    if target not in funnel.columns:
        raise SchemaError(f"funnel: column '{target}' not found; columns are {list(funnel.columns)}")
    y = users[["user_id"]].merge(funnel[["user_id", target]], on="user_id", how="left")[target]
    return encode_table(users), y.fillna(0).astype(int).rename(target).set_axis(users.index)


def user_table(data_path: str, target_col: str,
               feature_cols: Sequence[str] = ()) -> tuple[pd.DataFrame, pd.Series]:
    """A researcher's CSV/parquet: a binary ``target_col`` and features (by default all other columns
    except identifiers: ``id`` and names ending in ``_id``, which would let the model learn row labels).

    The positive class is 1/True when the target is 0/1 or boolean, else the rarer of the two values.
    """
    if isinstance(feature_cols, str):
        raise ValueError(f"feature_cols must be a list of column names, got the string {feature_cols!r}")
    frame = sort_by_ids(read_table(data_path))
    name = Path(data_path).name
    if not target_col:
        raise SchemaError(f"{name}: target_col is not set; name the 0/1 column to explain")
    if target_col not in frame.columns:
        raise SchemaError(f"{name}: target column '{target_col}' not found; columns are {list(frame.columns)}")
    features = list(feature_cols) or [c for c in frame.columns if c != target_col and not is_identifier(c)]
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise SchemaError(f"{name}: feature column(s) {missing} not found")
    if target_col in features:
        raise SchemaError(f"{name}: the target column '{target_col}' cannot also be a feature")
    target = frame[target_col].dropna()
    levels = pd.unique(target)
    if len(levels) != 2:
        raise SchemaError(f"{name}: target column '{target_col}' must have exactly 2 values, found {len(levels)}")
    if len(target) < len(frame):
        raise SchemaError(f"{name}: target column '{target_col}' has {len(frame) - len(target)} missing values")
    positive: object = 1
    if not set(levels) <= {0, 1}:  # True and False are 1 and 0
        positive = target.value_counts().idxmin()
    y = (target == positive).astype(int).rename(f"{target_col}={positive}")
    return encode_table(frame[features]), y


def load_labelled_table(data_dir: str = "", data_path: str = "", target_col: str = "",
                        feature_cols: Sequence[str] = (), n_users: int = 5000, seed: int = 0,
                        target: str = "apply") -> tuple[pd.DataFrame, pd.Series, tuple[str, ...]]:
    """The study's features, 0/1 target and true drivers ``(X, y, drivers)``.

    ``data_path`` set: the researcher's file and its ``target_col``; else the world (the tables in
    ``data_dir``, or the default simulated world of ``n_users`` users) with the funnel stage ``target``.
    The drivers are known only on the simulated world (empty otherwise).
    """
    if data_path:
        X, y = user_table(data_path, target_col, feature_cols)
        return X, y, ()
    world = world_for(data_dir, preset="default", require=("users", "funnel"), n_users=n_users, seed=seed)
    X, y = world_table(world, target)
    return X, y, () if data_dir else WORLD_DRIVERS[target]
