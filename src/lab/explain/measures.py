"""Scores of an explanation rather than claims: the deletion check and driver precision, applied the same
way to LICE and to every toolkit method."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd


def deletion_check(score: Callable[[np.ndarray], np.ndarray], x: np.ndarray, importance: np.ndarray, k: int = 3,
                   baseline: np.ndarray | None = None, n_random: int = 5, random_state: int = 0) -> dict[str, float]:
    """Mean |change| of ``score(x)`` when each row's top-``k`` features by ``importance`` (``[n, d]`` or a
    global ``[d]``) are set to ``baseline``, against ``k`` random features (mean of ``n_random`` draws)."""
    x = np.asarray(x, dtype=np.float32)
    base = x.mean(axis=0) if baseline is None else np.asarray(baseline, dtype=np.float32)
    importance = np.broadcast_to(np.asarray(importance, dtype=float), x.shape)
    before = score(x)
    rows = np.arange(len(x))[:, None]

    def drop(cols: np.ndarray) -> float:
        z = x.copy()
        z[rows, cols] = base[cols]
        return float(np.abs(score(z) - before).mean())

    rng = np.random.default_rng(random_state)
    ranked = drop(np.argsort(-importance, axis=1, kind="stable")[:, :k])
    random = np.mean([drop(np.argsort(rng.random(x.shape), axis=1)[:, :k]) for _ in range(n_random)])
    return {"ranked": ranked, "random": float(random)}


def driver_precision(ranking: pd.Series | Sequence[str], drivers: Sequence[str]) -> float:
    """Share of the top-``len(drivers)`` ranked features that are true drivers (NaN without drivers)."""
    if not drivers:
        return float("nan")
    top = list(ranking.index if isinstance(ranking, pd.Series) else ranking)[:len(drivers)]
    return len(set(top) & set(drivers)) / len(drivers)
