"""Daily activity: market regimes that shift segment x product affinity, user-product interactions
drawn from the day's affinity, and user-user edges with regime-dependent homophily.

Cold starts and heavy tails: a ``cold_start_share`` of the users sign up during the window (uniform
over its days; the rest were there before it), and each user's activity carries a lognormal factor
of spread ``activity_tail`` (mean 1), so that many users scored on any day have almost no history.

A natural experiment: a regional pricing change on ``pricing_day`` makes the featured loan more
attractive in ``pricing_regions``; the daily featured-loan events by region form the panel for
difference in differences and synthetic control, with the true effect known.

The graph is sparse with a heavy-tailed degree: sources and destinations are drawn in proportion to
a lognormal sociability. Each edge is a referral or a social contact, or, with probability
``tie_noise``, a noise tie between random users. Strong ties (``tie_table``) are the non-noise pairs
linked by a referral or by contact on two days or more: they carry peer influence, noise ties do not."""
from __future__ import annotations

import numpy as np
import pandas as pd

from lab.data.world.config import FEATURED_PRODUCT, PRODUCTS, SEGMENTS, WorldConfig


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


def activity_levels(rng: np.random.Generator, cfg: WorldConfig, digital: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each user's daily activity multiplier (digital affinity times a lognormal heavy tail of mean 1)
    and sign-up day (0 for users there before the window)."""
    n = len(digital)
    tail = rng.lognormal(-cfg.activity_tail ** 2 / 2, cfg.activity_tail, n)
    signup = np.where(rng.random(n) < cfg.cold_start_share, rng.integers(1, cfg.n_days, n), 0).astype(np.int16)
    return (0.3 + 1.4 * digital) * tail, signup


def _choice_probabilities(affinity: np.ndarray) -> np.ndarray:
    """Softmax over products of 1.5 x affinity, per regime and user: ``[n_regimes, n_users, n_products]``."""
    logits = affinity * 1.5
    e = np.exp(logits - logits.max(axis=2, keepdims=True))
    return (e / e.sum(axis=2, keepdims=True)).astype(np.float32)


def draw_interactions(rng, cfg, affinity, activity, signup, regime_of, priced) -> tuple[pd.DataFrame, float]:
    """Daily user-product events drawn from the affinity of the day's regime, from each user's sign-up on.

    The regional pricing change: from ``pricing_day`` on, users of the ``priced`` regions like the featured
    loan ``pricing_effect`` more. Returns the events and the change's true effect: extra featured-loan
    events per signed-up user and day in the priced regions after it.
    """
    n = cfg.n_users
    rates = activity * cfg.interactions_per_user_day
    counts = np.stack([rng.poisson(rates) * (signup <= day) for day in range(cfg.n_days)]).astype(np.int32)
    days = np.repeat(np.repeat(np.arange(cfg.n_days, dtype=np.int16), n), counts.ravel())
    users = np.repeat(np.tile(np.arange(n, dtype=np.int64), cfg.n_days), counts.ravel())
    regimes = regime_of[days]
    boost = np.zeros(affinity.shape[2], dtype=np.float32)
    boost[FEATURED_PRODUCT] = cfg.pricing_effect
    probs = np.stack([_choice_probabilities(affinity), _choice_probabilities(affinity + boost)])
    cum = np.cumsum(probs, axis=3)
    after = (priced[users] & (days >= cfg.pricing_day)).astype(np.int8)
    u = rng.random(len(users), dtype=np.float32)
    product = np.zeros(len(users), dtype=np.int16)
    for p in range(probs.shape[3] - 1):
        product += (u > cum[after, regimes, users, p]).astype(np.int16)
    dwell = rng.gamma(2.0, 20.0, size=len(users)).astype(np.float32)
    post = np.arange(cfg.pricing_day, cfg.n_days)
    exposed = (signup[None, :] <= post[:, None]) & priced[None, :]  # [post days, users]
    lift = (probs[1, regime_of[post]] - probs[0, regime_of[post]])[:, :, FEATURED_PRODUCT] * rates[None, :]
    effect = float(lift[exposed].mean()) if exposed.any() else float("nan")
    return pd.DataFrame({"day": days, "user_id": users, "product_id": product, "weight": dwell}), effect


def _weighted_pick(rng: np.random.Generator, cumulative: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Positions drawn in proportion to weights whose running sum is ``cumulative``, each between the
    running sums ``low`` and ``high`` (a block of positions: a segment, or everyone)."""
    target = low + rng.random(len(low)) * (high - low)
    return np.minimum(np.searchsorted(cumulative, target, side="right"), len(cumulative) - 1)


def draw_edges(rng, cfg, segment, activity, sociability, signup, regime_of) -> pd.DataFrame:
    """Daily user-user edges among the users signed up by that day: referral and social contacts with
    segment homophily that shifts by regime, drawn by sociability (a heavy-tailed degree), and noise ties
    between random users (``tie_noise``; ``noise`` is 1 on them, known only to the oracle)."""
    n = cfg.n_users
    order = np.argsort(segment, kind="stable")
    seg_start = np.searchsorted(segment[order], np.arange(len(SEGMENTS) + 1))
    frames = []
    for day in range(cfg.n_days):
        present = signup <= day
        weight = sociability * present
        cumulative = np.cumsum(weight[order])
        bounds = np.concatenate([[0.0], cumulative])[seg_start]  # running sum at each segment's start
        r = regime_of[day]
        m = rng.poisson(cfg.edges_per_user_day * present.sum())
        p_src = activity * weight
        src = rng.choice(n, size=m, p=p_src / p_src.sum())
        noise = rng.random(m) < cfg.tie_noise
        homophily = 0.8 if r % 2 == 0 else 0.55
        same = rng.random(m) < homophily
        s = segment[src]
        within = order[_weighted_pick(rng, cumulative, bounds[s], bounds[s + 1])]
        anyone = order[_weighted_pick(rng, cumulative, np.zeros(m), np.full(m, cumulative[-1]))]
        uniform = rng.choice(np.flatnonzero(present), size=m)
        dst = np.where(noise, uniform, np.where(same, within, anyone))
        keep = dst != src
        src, dst, noise = src[keep], dst[keep], noise[keep]
        referral_share = 0.3 if r % 2 == 0 else 0.6
        kind = ((rng.random(len(src)) < referral_share) & ~noise).astype(np.int8)
        frames.append(pd.DataFrame({
            "day": np.full(len(src), day, dtype=np.int16), "src": src.astype(np.int64),
            "dst": dst.astype(np.int64), "kind": kind,
            "weight": rng.gamma(2.0, 0.5, size=len(src)).astype(np.float32), "noise": noise.astype(np.int8),
        }))
    edges = pd.concat(frames, ignore_index=True)
    edges["kind"] = pd.Categorical.from_codes(edges["kind"].to_numpy(), pd.Index(["social", "referral"]))
    return edges


def tie_table(edges: pd.DataFrame) -> pd.DataFrame:
    """One row per linked pair of users (``src < dst``): contact days, whether any was a referral,
    whether the pair is a noise tie, and ``strong``: a non-noise pair with a referral or two contact days."""
    low, high = np.minimum(edges["src"], edges["dst"]), np.maximum(edges["src"], edges["dst"])
    pairs = pd.DataFrame({"src": low, "dst": high, "day": edges["day"],
                          "referral": (edges["kind"] == "referral").astype(np.int8), "noise": edges["noise"]})
    ties = pairs.groupby(["src", "dst"], sort=True).agg(contact_days=("day", "nunique"), referral=("referral", "max"),
                                                         noise=("noise", "min")).reset_index()
    ties["strong"] = ((ties["noise"] == 0) & ((ties["referral"] == 1) | (ties["contact_days"] >= 2))).astype(np.int8)
    return ties


def peer_exposure(ties: pd.DataFrame, adopted: np.ndarray) -> np.ndarray:
    """Per user, how many strong-tie neighbours ``adopted`` (a 0/1 array over users)."""
    strong = ties[ties["strong"] == 1]
    src, dst = strong["src"].to_numpy(), strong["dst"].to_numpy()
    exposure = np.bincount(src, weights=adopted[dst], minlength=len(adopted))
    return exposure + np.bincount(dst, weights=adopted[src], minlength=len(adopted))
