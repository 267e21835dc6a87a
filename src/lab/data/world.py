"""A simulated consumer-finance growth world whose ground truth is known.

Every table a model may see lives in ``World.observed``; everything a model must not see (latent
segments, motivation and ability, true funnel probabilities, true treatment effects, the true
lookalike target) lives in ``World.oracle``. Studies train on the first and are scored against the
second. The generator is vectorised end to end so that 1M users x 30 days stays within a minute.

Generative story, per user ``u``:

* a latent segment ``s_u`` draws demographics, behaviour and psychographics, and a latent taste
  vector ``z_u`` (segment centroid + noise);
* Fogg's behaviour model: latent motivation ``m_u`` and ability ``a_u`` in (0, 1); a user applies
  when ``m_u * a_u`` passes a threshold, smoothed by a logistic link;
* product affinity ``z_u . w_p + B_r[s_u, p]`` where ``B_r`` is a per-regime segment x product shift:
  the market regime changes on known days, and with it who engages with what;
* each day, interactions with products are drawn from the current affinity, and user-user edges
  (referral / social, the MGM channel) are drawn with segment homophily that also shifts by regime;
* a campaign funnel exposure -> click -> apply -> approve -> drawdown with true conditional
  probabilities, one of several offers acting on the apply stage with heterogeneous effects, and the
  offer assigned either at random or targeted (confounded) by observable features;
* the lookalike target: users who would take the featured product under the current regime; a
  fraction of the regime-0 targets is observed as seeds.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from lab.data.schema import in_row_order

SEGMENTS = ("young_digital", "prime_borrower", "affluent_saver", "thin_file", "credit_seeker")
STAGES = ("exposure", "click", "apply", "approve", "drawdown")
OFFERS = ("none", "coupon", "rate_discount", "sms")
OFFER_COST = {"none": 0.0, "coupon": 20.0, "rate_discount": 45.0, "sms": 0.5}
CHANNELS = ("app_push", "sms", "email", "partner", "referral")
PRODUCTS = pd.DataFrame(
    {
        "product_id": np.arange(6, dtype=np.int16),
        "name": ["personal_loan", "cash_loan", "basic_card", "premium_card", "wealth_fund", "term_deposit"],
        "kind": ["loan", "loan", "card", "card", "wealth", "wealth"],
        "avg_ticket": [8000.0, 1500.0, 900.0, 3500.0, 12000.0, 20000.0],
        "approval_strictness": [0.6, 0.3, 0.4, 0.8, 0.1, 0.0],
    }
)
FEATURED_PRODUCT = 0  # the lookalike target is "would take a personal loan in the current regime"
TASTE_DIM = 8


@dataclass
class WorldConfig:
    """Knobs of the simulated world. Defaults run in about a second."""

    n_users: int = 5000
    n_days: int = 30
    seed: int = 0
    shift_days: tuple[int, ...] = (20,)
    interactions_per_user_day: float = 0.25
    edges_per_user_day: float = 0.04
    assignment: str = "randomised"
    confounding: float = 1.0
    seed_fraction: float = 0.3
    offer_shares: tuple[float, ...] = (0.4, 0.2, 0.2, 0.2)

    def __post_init__(self) -> None:
        if self.assignment not in ("randomised", "targeted"):
            raise ValueError(f"assignment must be 'randomised' or 'targeted', got {self.assignment!r}")
        if self.n_users < 50 or self.n_days < 2:
            raise ValueError("the world needs at least 50 users and 2 days")
        if any(not 0 < d < self.n_days for d in self.shift_days):
            raise ValueError(f"shift_days {self.shift_days} must lie strictly inside 0..{self.n_days - 1}")
        if len(self.offer_shares) != len(OFFERS) or not np.isclose(sum(self.offer_shares), 1.0):
            raise ValueError(f"offer_shares needs {len(OFFERS)} shares summing to 1")
        self.shift_days = tuple(sorted(int(d) for d in self.shift_days))
        self.offer_shares = tuple(float(share) for share in self.offer_shares)
        self.n_users, self.n_days, self.seed = int(self.n_users), int(self.n_days), int(self.seed)


@dataclass
class World:
    """Observed tables (what a model may see) and oracle tables (the ground truth).

    ``config`` is None and ``oracle`` empty for a researcher's own data loaded from disk.
    """

    config: WorldConfig | None
    observed: dict[str, pd.DataFrame] = field(default_factory=dict)
    oracle: dict[str, pd.DataFrame] = field(default_factory=dict)

    def __getattr__(self, name: str) -> pd.DataFrame:
        observed = self.__dict__.get("observed", {})
        if name in observed:
            return observed[name]
        raise AttributeError(name)

    @property
    def shift_days(self) -> tuple[int, ...]:
        """Days on which the market regime shifts; unknown (empty) for a researcher's own tables."""
        return self.config.shift_days if self.config is not None else ()

    def save(self, path: str | Path) -> Path:
        """Write observed tables to ``path/``, oracle tables to ``path/oracle/`` as parquet, and the
        simulation's knobs to ``path/oracle/config.json`` so that a reloaded world knows its shift days."""
        root = Path(path)
        (root / "oracle").mkdir(parents=True, exist_ok=True)
        if self.config is not None:
            (root / "oracle" / "config.json").write_text(json.dumps(asdict(self.config), indent=1))
        for name, table in self.observed.items():
            table.to_parquet(root / f"{name}.parquet", index=False)
        for name, table in self.oracle.items():
            table.to_parquet(root / "oracle" / f"{name}.parquet", index=False)
        return root


def regime_of_day(days: np.ndarray, shift_days: tuple[int, ...]) -> np.ndarray:
    """Regime index of each day: 0 before the first shift, 1 after it, and so on."""
    return np.searchsorted(np.asarray(shift_days), np.asarray(days), side="right").astype(np.int8)


def _users(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
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


def _regime_shifts(rng: np.random.Generator, n_regimes: int) -> np.ndarray:
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


def _interactions(rng, cfg, affinity, activity, regime_of) -> pd.DataFrame:
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


def _edges(rng, cfg, segment, activity, regime_of) -> pd.DataFrame:
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


def _offer_effects(users: pd.DataFrame, latent: dict[str, np.ndarray]) -> np.ndarray:
    """True effect of each offer on the logit of applying, shape ``[n_users, n_offers]``.

    Coupons move price-sensitive, low-income users; rate discounts move creditworthy users who borrow
    big tickets; SMS reminders wake up users who rarely open the app and annoy heavy app users.
    """
    price = users["price_sensitivity"].to_numpy()
    score = (users["credit_score"].to_numpy() - 650) / 80
    low_income = -(np.log(users["income"].to_numpy()) - 8.4)
    digital = users["digital_affinity"].to_numpy()
    tau = np.zeros((len(users), len(OFFERS)), dtype=np.float32)
    tau[:, 1] = 2.0 * (price - 0.4) + 0.6 * low_income
    tau[:, 2] = 0.4 + 0.9 * np.tanh(score) + 0.7 * (latent["segment"] == 1)
    tau[:, 3] = 1.4 * (0.45 - digital)
    return tau


def _propensity(cfg: WorldConfig, users: pd.DataFrame, rng) -> np.ndarray:
    """Probability of each offer per user: fixed shares, or targeted at users marketers favour."""
    shares = np.asarray(cfg.offer_shares, dtype=np.float64)
    if cfg.assignment == "randomised":
        return np.tile(shares, (len(users), 1))
    score = (users["credit_score"].to_numpy() - 680) / 60
    active = (users["app_sessions_30d"].to_numpy() - 15) / 8
    price = (users["price_sensitivity"].to_numpy() - 0.5) / 0.2
    k = cfg.confounding
    logits = np.log(shares)[None, :] + k * np.stack(
        [np.zeros(len(users)), 0.7 * active + 0.5 * price, 0.9 * score + 0.3 * active, -0.6 * active], axis=1
    )
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def _funnel(rng, cfg, users, latent, taste_loan, tau, propensity):
    """Campaign funnel with true probabilities per stage under the assigned offer and every offer.

    Offers act on the click and apply stages (the attention and the decision), never on approval.
    """
    n = len(users)
    digital = users["digital_affinity"].to_numpy()
    sessions = users["app_sessions_30d"].to_numpy()
    score = users["credit_score"].to_numpy()
    dti = users["debt_to_income"].to_numpy()
    income = users["income"].to_numpy()
    m, a = latent["motivation"], latent["ability"]

    p_exposure = expit(-0.2 + 1.8 * digital + 0.05 * (sessions - 15))
    click_logit = -1.4 + 1.2 * taste_loan + 1.5 * (m - 0.5)
    apply_logit = 10.0 * (m * a - 0.30) + 0.6 * taste_loan - 0.4
    p_approve = expit(-0.5 + (score - 640) / 45 - 1.5 * (dti - 0.4))
    p_drawdown = expit(0.8 + 2.0 * (m - 0.5) - 0.6 * (latent["segment"] == 2))

    cum = np.cumsum(propensity, axis=1)
    offer = (rng.random(n)[:, None] > cum[:, :-1]).sum(axis=1).astype(np.int8)
    p_click_by_offer = expit(click_logit[:, None] + 0.5 * tau)
    p_apply_by_offer = expit(apply_logit[:, None] + tau)
    downstream = p_approve * p_drawdown
    p_convert_by_offer = p_exposure[:, None] * p_click_by_offer * p_apply_by_offer * downstream[:, None]
    rows = np.arange(n)

    conditional = np.stack([p_exposure, p_click_by_offer[rows, offer], p_apply_by_offer[rows, offer],
                            p_approve, p_drawdown], axis=1)
    draws = rng.random((n, len(STAGES))) < conditional
    outcomes = np.cumprod(draws, axis=1).astype(np.int8)
    cumulative = np.cumprod(conditional, axis=1)

    expected_value = (np.array(PRODUCTS["avg_ticket"])[FEATURED_PRODUCT] * (income / 5000) ** 0.5
                      * (0.6 + 0.8 * a)).astype(np.float32)
    value = rng.lognormal(np.log(expected_value) - 0.125, 0.5).astype(np.float32) * outcomes[:, -1]
    return offer, conditional, cumulative, outcomes, value, expected_value, p_convert_by_offer


def simulate_world(config: WorldConfig | None = None, **overrides) -> World:
    """Generate a world; ``simulate_world(n_users=1000, seed=3)`` is the same as passing a config."""
    cfg = config or WorldConfig(**overrides)
    if config is not None and overrides:
        raise TypeError("pass either a WorldConfig or keyword overrides, not both")
    rng = np.random.default_rng(cfg.seed)
    n = cfg.n_users
    users, latent = _users(rng, n)
    segment = latent["segment"]

    n_regimes = len(cfg.shift_days) + 1
    regime_of = regime_of_day(np.arange(cfg.n_days), cfg.shift_days)
    centroids = rng.normal(0, 0.6, size=(len(SEGMENTS), TASTE_DIM))
    taste = (centroids[segment] + rng.normal(0, 0.5, size=(n, TASTE_DIM))).astype(np.float32)
    product_vec = rng.normal(0, 0.4, size=(len(PRODUCTS), TASTE_DIM)).astype(np.float32)
    shifts = _regime_shifts(rng, n_regimes)
    affinity = np.stack([taste @ product_vec.T + shifts[r][segment] for r in range(n_regimes)]).astype(np.float32)

    activity = (0.3 + 1.4 * users["digital_affinity"].to_numpy()).astype(np.float64)
    interactions = _interactions(rng, cfg, affinity, activity, regime_of)
    edges = _edges(rng, cfg, segment, activity, regime_of)

    taste_loan = affinity[0][:, FEATURED_PRODUCT] - affinity[0][:, FEATURED_PRODUCT].mean()
    tau = _offer_effects(users, latent)
    propensity = _propensity(cfg, users, rng)
    offer, conditional, cumulative, outcomes, value, expected_value, p_by_offer = _funnel(
        rng, cfg, users, latent, taste_loan, tau, propensity)

    # Lookalike target per regime: would take the featured product if shown it today.
    ability = latent["ability"]
    target_logit = np.stack([2.5 * (affinity[r][:, FEATURED_PRODUCT] - 2.2) + 3.0 * (ability - 0.55)
                             for r in range(n_regimes)])
    p_target = expit(target_logit).astype(np.float32)
    is_target = (rng.random(p_target.shape) < p_target).astype(np.int8)
    pre_targets = np.flatnonzero(is_target[0])
    n_seeds = min(len(pre_targets), max(1, int(round(cfg.seed_fraction * len(pre_targets)))))  # none in a tiny world
    seed_users = np.sort(rng.choice(pre_targets, size=n_seeds, replace=False))
    first_shift = cfg.shift_days[0]
    seeds = pd.DataFrame({"user_id": seed_users.astype(np.int64),
                          "day": rng.integers(0, first_shift, size=n_seeds).astype(np.int16)})

    offers = np.array(OFFERS)
    cost = np.array([OFFER_COST[o] for o in OFFERS], dtype=np.float32)
    funnel = pd.DataFrame({"user_id": users["user_id"]})
    for i, stage in enumerate(STAGES):
        funnel[stage] = outcomes[:, i]
    funnel["value"] = value
    treatments = pd.DataFrame({
        "user_id": users["user_id"],
        "offer": pd.Categorical(offers[offer], categories=OFFERS),
        "treated": (offer > 0).astype(np.int8),
        "cost": cost[offer],
        "converted": outcomes[:, -1],
        "value": value,
    })

    oracle_users = pd.DataFrame({
        "user_id": users["user_id"], "segment": pd.Categorical.from_codes(segment, pd.Index(SEGMENTS)),
        "motivation": latent["motivation"], "ability": ability,
    })
    funnel_probs = pd.DataFrame({"user_id": users["user_id"]})
    for i, stage in enumerate(STAGES):
        funnel_probs[f"p_{stage}_given_prev"] = conditional[:, i].astype(np.float32)
    for i, stage in enumerate(STAGES):
        funnel_probs[f"p_{stage}"] = cumulative[:, i].astype(np.float32)
    funnel_probs["expected_value_if_drawdown"] = expected_value
    funnel_probs["expected_value"] = (cumulative[:, -1] * expected_value).astype(np.float32)

    effects = pd.DataFrame({"user_id": users["user_id"]})
    for j, o in enumerate(OFFERS):
        effects[f"p_convert_{o}"] = p_by_offer[:, j].astype(np.float32)
        effects[f"propensity_{o}"] = propensity[:, j].astype(np.float32)
    for j, o in enumerate(OFFERS[1:], start=1):
        effects[f"tau_{o}"] = (p_by_offer[:, j] - p_by_offer[:, 0]).astype(np.float32)
        effects[f"incremental_value_{o}"] = (effects[f"tau_{o}"] * expected_value).astype(np.float32)

    targets = pd.DataFrame({
        "user_id": np.tile(users["user_id"].to_numpy(), n_regimes),
        "regime": np.repeat(np.arange(n_regimes, dtype=np.int8), n),
        "p_target": p_target.ravel(),
        "is_target": is_target.ravel(),
    })
    regimes = pd.DataFrame({"day": np.arange(cfg.n_days, dtype=np.int16), "regime": regime_of})

    observed = {"users": users, "products": PRODUCTS.copy(), "interactions": interactions,
                "edges": edges, "funnel": funnel, "treatments": treatments, "seeds": seeds}
    observed = {name: in_row_order(name, frame) for name, frame in observed.items()}  # as a reload orders them
    oracle = {"users": oracle_users, "funnel_probs": funnel_probs, "effects": effects,
              "targets": targets, "regimes": regimes}
    return World(config=cfg, observed=observed, oracle=oracle)
