"""The three audience modes: identify a named segment, expand from seeds (the model's top-N), and
discover groups among the unlabelled users."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

from lab.core import SchemaError


def identify(users: pd.DataFrame, query: str) -> np.ndarray:
    """Boolean mask [N] of the users a named segment selects, e.g. ``"credit_score >= 700"``."""
    try:
        mask = users.eval(query)
    except Exception as err:  # pandas raises many error types for a bad expression
        raise SchemaError(f"users: segment query {query!r} cannot be evaluated ({err})") from err
    if not isinstance(mask, pd.Series) or not pd.api.types.is_bool_dtype(mask):
        raise SchemaError(f"users: segment query {query!r} must give True/False per user")
    return mask.to_numpy()


def segment_profile(segment: np.ndarray, scores: np.ndarray, audience: np.ndarray,
                    truth: np.ndarray | None = None) -> pd.Series:
    """How a named segment scores: its size, mean score percentile among all users, the share of it the
    expanded ``audience`` takes, and (with the truth) its true target rate against everyone's."""
    percentile = pd.Series(scores).rank(pct=True).to_numpy()
    profile = {"users in segment": int(segment.sum()),
               "mean score percentile": float(percentile[segment].mean()) if segment.any() else np.nan,
               "share in expanded audience": float(audience[segment].mean()) if segment.any() else np.nan}
    if truth is not None:
        profile["true target rate in segment"] = float(truth[segment].mean()) if segment.any() else np.nan
        profile["true target rate, all users"] = float(truth.mean())
    return pd.Series(profile, name="value")


def expand(scores: np.ndarray, size: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask [N] of the ``size`` best-scored users, never including ``exclude`` (the seeds)."""
    ranked = np.where(exclude, -np.inf, scores) if exclude is not None else scores
    mask = np.zeros(len(scores), dtype=bool)
    mask[np.argsort(-ranked, kind="stable")[:size]] = True
    return mask


def discover(embedding: np.ndarray, users: pd.DataFrame, audience: np.ndarray, n_clusters: int = 6,
             random_state: int = 0, describe: tuple[str, ...] = ()) -> tuple[np.ndarray, pd.DataFrame]:
    """Cluster users on their embeddings and describe each cluster: size, share in the expanded
    ``audience`` and the mean of the ``describe`` columns. Returns (labels [N], description)."""
    labels = KMeans(n_clusters, n_init=3, random_state=random_state).fit_predict(embedding)
    table = pd.DataFrame({"cluster": labels, "in_audience": audience})
    for column in describe:
        table[column] = users[column].to_numpy()
    summary = table.groupby("cluster").agg(users=("in_audience", "size"), audience_share=("in_audience", "mean"),
                                           **{c: (c, "mean") for c in describe})
    return labels, summary.sort_values("audience_share", ascending=False)
