"""Daily activity: market regimes that shift segment x product affinity, user-product interactions
drawn from the day's affinity, and user-user edges with regime-dependent homophily."""
from __future__ import annotations

import numpy as np
import pandas as pd

from lab.data.world.config import FEATURED_PRODUCT, PRODUCTS, SEGMENTS


def regime_shifts(rng: np.random.Generator, n_regimes: int) -> np.ndarray:
    """Segment x product affinity offsets per regime, shape ``[n_regimes, n_segments, n_products]``.

    Regime 0 is the baseline market. Each later regime is a rate/market shock: the featured loan loses
    its appeal for the segment that liked it and gains it for two others, and the rest drifts a little.
    """
    n_seg, n_prod = len(SEGMENTS), len(PRODUCTS)
    base = np.zeros((n_seg, n_prod))
    base[0, [1, 2]] = 1.0
    base[1, [0, 3]] = 1.2
    base[2, [4, 5]] = 1.4
    base[3, [1, 2]] = 0.8
    base[4, [0, 1]] = 0.9
    shifts = [base]
    for r in range(1, n_regimes):
        b = shifts[-1] + rng.normal(0, 0.25, size=base.shape)
        pair = [(1, 4, 0), (4, 0, 3)][(r - 1) % 2]
        b[pair[0], FEATURED_PRODUCT] -= 1.6
        b[pair[1], FEATURED_PRODUCT] += 1.4
        b[pair[2], FEATURED_PRODUCT] += 1.2
        shifts.append(b)
    return np.stack(shifts)


def draw_interactions(rng, cfg, affinity, activity, regime_of) -> pd.DataFrame:
    """Daily user-product events drawn from the affinity of the day's regime."""
    n = cfg.n_users
    rates = activity * cfg.interactions_per_user_day
    per_day = [rng.poisson(rates) for _ in range(cfg.n_days)]
    counts = np.stack(per_day).astype(np.int32)
    days = np.repeat(np.repeat(np.arange(cfg.n_days, dtype=np.int16), n), counts.ravel())
    users = np.repeat(np.tile(np.arange(n, dtype=np.int64), cfg.n_days), counts.ravel())
    regimes = regime_of[days]
    probs = np.empty_like(affinity, dtype=np.float32)
    for r in range(affinity.shape[0]):
        logits = affinity[r] * 1.5
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        probs[r] = e / e.sum(axis=1, keepdims=True)
    cum = np.cumsum(probs, axis=2)
    u = rng.random(len(users), dtype=np.float32)
    product = np.zeros(len(users), dtype=np.int16)
    for p in range(probs.shape[2] - 1):
        product += (u > cum[regimes, users, p]).astype(np.int16)
    dwell = rng.gamma(2.0, 20.0, size=len(users)).astype(np.float32)
    return pd.DataFrame({"day": days, "user_id": users, "product_id": product, "weight": dwell})


def draw_edges(rng, cfg, segment, activity, regime_of) -> pd.DataFrame:
    """Daily user-user edges (referral and social) with segment homophily that shifts by regime."""
    n = cfg.n_users
    order = np.argsort(segment, kind="stable")
    seg_start = np.searchsorted(segment[order], np.arange(len(SEGMENTS)))
    seg_size = np.bincount(segment, minlength=len(SEGMENTS))
    p_src = activity / activity.sum()
    frames = []
    for day in range(cfg.n_days):
        r = regime_of[day]
        m = rng.poisson(cfg.edges_per_user_day * n)
        src = rng.choice(n, size=m, p=p_src)
        homophily = 0.8 if r % 2 == 0 else 0.55
        same = rng.random(m) < homophily
        s = segment[src]
        pos = (rng.random(m) * seg_size[s]).astype(np.int64)
        dst = np.where(same, order[seg_start[s] + pos], rng.integers(0, n, size=m))
        keep = dst != src
        src, dst = src[keep], dst[keep]
        referral_share = 0.3 if r % 2 == 0 else 0.6
        kind = (rng.random(len(src)) < referral_share).astype(np.int8)
        frames.append(pd.DataFrame({
            "day": np.full(len(src), day, dtype=np.int16), "src": src.astype(np.int64),
            "dst": dst.astype(np.int64), "kind": kind,
            "weight": rng.gamma(2.0, 0.5, size=len(src)).astype(np.float32),
        }))
    edges = pd.concat(frames, ignore_index=True)
    edges["kind"] = pd.Categorical.from_codes(edges["kind"].to_numpy(), pd.Index(["social", "referral"]))
    return edges
