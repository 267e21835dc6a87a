"""The table the explanation study works on: simulated users and a funnel outcome, or a user's own file.

Both paths return numeric features (categoricals one-hot encoded as ``column=level``) and a 0/1
target. On the simulated world the true drivers of each outcome are known from the generator.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from lab.data import SchemaError, read_table, simulate_world

# Who applies in the generator: exposure (digital_affinity, app_sessions_30d), click (motivation,
# loan taste) and the apply decision (motivation x ability). Motivation comes from risk_appetite,
# debt_to_income and price_sensitivity; ability from credit_score, digital_affinity and income.
WORLD_DRIVERS = {
    "apply": ("risk_appetite", "debt_to_income", "price_sensitivity", "credit_score", "digital_affinity",
              "income", "app_sessions_30d"),
    "drawdown": ("risk_appetite", "debt_to_income", "price_sensitivity", "credit_score", "digital_affinity",
                 "income", "app_sessions_30d"),
}
MAX_LEVELS = 30


def encode_features(frame: pd.DataFrame, table: str = "features") -> pd.DataFrame:
    """Numeric columns as float (missing -> median), the rest one-hot as ``column=level`` (0/1)."""
    parts = []
    for col in frame.columns:
        values = frame[col]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            numeric = values.astype("float64")
            if numeric.isna().all():
                raise SchemaError(f"{table}: column '{col}' is empty")
            parts.append(numeric.fillna(numeric.median()).rename(col))
            continue
        levels = values.astype("string").fillna("missing")
        if levels.nunique() > MAX_LEVELS:
            raise SchemaError(f"{table}: column '{col}' is text with {levels.nunique()} distinct values "
                              f"(at most {MAX_LEVELS} levels can be one-hot encoded); drop it or pass feature_cols")
        parts.append(pd.get_dummies(levels, prefix=col, prefix_sep="=", dtype="float64"))
    return pd.concat(parts, axis=1)


def world_table(n_users: int = 5000, seed: int = 0, target: str = "apply") -> tuple[pd.DataFrame, pd.Series]:
    """Observed user features and one funnel stage of the simulated world as the 0/1 target."""
    if target not in WORLD_DRIVERS:
        raise ValueError(f"target must be one of {sorted(WORLD_DRIVERS)}, got {target!r}")
    world = simulate_world(n_users=n_users, seed=seed)
    users = world.observed["users"].drop(columns="user_id")
    users["region"] = users["region"].astype("string")
    y = world.observed["funnel"][target].astype(int).rename(target)
    return encode_features(users, "users"), y


def is_identifier(column: str) -> bool:
    """True for id columns (``id``, ``user_id``, ``customer-id`` ...): labels, not features."""
    name = column.lower()
    return name == "id" or name.endswith(("_id", "-id", " id"))


def user_table(data_path: str, target_col: str, feature_cols: str | list[str] = "") -> tuple[pd.DataFrame, pd.Series]:
    """A researcher's CSV/parquet: a binary ``target_col`` and features (by default all other columns
    except identifiers: ``id`` and names ending in ``_id``, which would let the model learn row labels).

    The positive class is 1/True when the target is 0/1 or boolean, else the rarer of the two values.
    """
    frame = read_table(data_path)
    name = data_path.rsplit("/", 1)[-1]
    if not target_col:
        raise SchemaError(f"{name}: target_col is not set; name the 0/1 column to explain")
    if target_col not in frame.columns:
        raise SchemaError(f"{name}: target column '{target_col}' not found; columns are {list(frame.columns)}")
    features = [c.strip() for c in feature_cols.split(",") if c.strip()] if isinstance(feature_cols, str) \
        else list(feature_cols)
    features = features or [c for c in frame.columns if c != target_col and not is_identifier(c)]
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
    if set(levels) <= {0, 1, True, False}:
        positive = 1
    else:
        counts = target.value_counts()
        positive = counts.index[np.argmin(counts.to_numpy())]
    y = (target == positive).astype(int).rename(f"{target_col}={positive}")
    if y.sum() < 20 or (1 - y).sum() < 20:
        raise SchemaError(f"{name}: target column '{target_col}' needs at least 20 rows of each class")
    return encode_features(frame[features], name), y


def load_table(data_path: str = "", target_col: str = "", feature_cols: str = "", n_users: int = 5000,
               seed: int = 0, target: str = "apply") -> tuple[pd.DataFrame, pd.Series, tuple[str, ...]]:
    """The notebook's entry point: ``(X, y, true_drivers)``; drivers are empty for a user's own data."""
    if data_path:
        X, y = user_table(data_path, target_col, feature_cols)
        return X, y, ()
    X, y = world_table(n_users, seed, target)
    return X, y, WORLD_DRIVERS[target]
