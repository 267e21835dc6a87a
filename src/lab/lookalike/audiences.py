"""The three audience modes: identify a named segment, expand from seeds (the model's top-N), and
discover groups among the unlabelled users. Nearest-neighbour search over embeddings goes through a
faiss index (exact inner product by default, HNSW for scale) rather than a brute-force matrix product."""
from __future__ import annotations

import faiss
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


def similarity_index(references: np.ndarray, index: str = "flat", hnsw_m: int = 32,
                     ef_search: int = 64) -> faiss.Index:
    """A faiss inner-product index over the reference rows [M, H] (cosine when they are L2-normalised).

    ``index="flat"`` is exact (``IndexFlatIP``, a blocked matrix product); ``"hnsw"`` builds an
    ``IndexHNSWFlat`` graph (``hnsw_m`` links per node, ``ef_search`` candidates per query), approximate
    but logarithmic in M. The flat index is the faster below ~10^5 references: 3.7M queries of 32 dims
    against 3.7k took 29 s flat and 209 s HNSW on one thread, the same top 100k users."""
    if index not in ("flat", "hnsw"):
        raise ValueError(f"index must be 'flat' or 'hnsw', got {index!r}")
    refs = np.ascontiguousarray(references, dtype=np.float32)
    if refs.ndim != 2 or len(refs) == 0:
        raise ValueError(f"references must be a non-empty 2-d array, got shape {refs.shape}")
    search: faiss.Index
    if index == "flat":
        search = faiss.IndexFlatIP(refs.shape[1])
    else:
        graph = faiss.IndexHNSWFlat(refs.shape[1], hnsw_m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efSearch = ef_search
        search = graph
    search.add(refs)
    return search


def max_similarity(queries: np.ndarray, search: faiss.Index, chunk_size: int = 65536) -> np.ndarray:
    """Per query row [Q, H], the largest inner product with any row of the index ``search`` [Q]; the
    queries go to faiss in blocks of ``chunk_size``."""
    out = np.empty(len(queries), dtype=np.float32)
    for start in range(0, len(queries), chunk_size):
        block = np.ascontiguousarray(queries[start:start + chunk_size], dtype=np.float32)
        out[start:start + len(block)] = search.search(block, 1)[0][:, 0]
    return out


def nearest_to_seeds(embedding: np.ndarray, seed_mask: np.ndarray, k: int, index: str = "flat",
                     hnsw_m: int = 32, ef_search: int = 64, chunk_size: int = 65536) -> np.ndarray:
    """Expansion at scale: boolean mask [N] of the ``k`` non-seed users whose embedding [N, H] is most
    cosine-similar to any seed (``seed_mask`` [N]). The seeds go into a faiss index (exact by default;
    ``index="hnsw"`` only for very many seeds, see ``similarity_index``) and every other user asks it
    for their nearest seed; ties keep the user order."""
    seeds = np.asarray(seed_mask, dtype=bool)
    if seeds.shape != (len(embedding),) or not seeds.any():
        raise ValueError("seed_mask must be a boolean mask [N] over the embedding's rows with at least one seed")
    unit = np.asarray(embedding, dtype=np.float32)
    unit = unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
    scores = np.full(len(unit), -np.inf, dtype=np.float32)
    scores[~seeds] = max_similarity(unit[~seeds], similarity_index(unit[seeds], index, hnsw_m, ef_search), chunk_size)
    return expand(scores, min(k, int((~seeds).sum())), exclude=seeds)


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
