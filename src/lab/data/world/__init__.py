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

import numpy as np
import pandas as pd
from scipy.special import expit

from lab.data.schema import in_row_order
from lab.data.world.activity import (activity_levels, draw_edges, draw_interactions, peer_exposure, regime_shifts,
                                     tie_table)
from lab.data.world.campaign import (conversion_by_offer, draw_funnel, offer_effects, offer_propensity,
                                     stage_probabilities)
from lab.data.world.credit import LGD, default_logit, loan_revenue, probability_of_default, scorecard_points
from lab.data.world.experiments import draw_encouragement, experiment_truth, prior_drawdowns
from lab.data.world.lifecycle import ACTIONS, LifecycleEnv, customers_of, lifetime_value, rollout
from lab.data.world.config import (CHANNELS, FEATURED_PRODUCT, OFFER_COST, OFFERS, PRODUCTS, SEGMENTS, STAGES,
                                   TASTE_DIM, World, WorldConfig, regime_of_day)
from lab.data.world.population import draw_users

__all__ = ["ACTIONS", "CHANNELS", "OFFERS", "OFFER_COST", "PRODUCTS", "SEGMENTS", "STAGES", "LifecycleEnv", "World",
           "WorldConfig", "regime_of_day", "simulate_world"]


def _credit_and_lifecycle(cfg: WorldConfig, users: pd.DataFrame, latent: dict[str, np.ndarray], points: np.ndarray,
                          offer: np.ndarray, outcomes: np.ndarray, value: np.ndarray, expected_value: np.ndarray,
                          p_by_offer: np.ndarray) -> tuple[pd.DataFrame, ...]:
    """The oracle ``credit`` and ``lifecycle`` tables and the observed ``loans`` and ``account_months``.

    Drawn from their own random streams (``[seed, 1]`` and ``[seed, 2]``) so the campaign's draws do not
    depend on them; a drawn loan's default flag is whether it defaulted within the lifecycle's months.
    """
    credit_rng, lifecycle_rng = (np.random.default_rng([cfg.seed, stream]) for stream in (1, 2))
    n = len(users)
    latent_risk = credit_rng.normal(size=n)
    p_default = probability_of_default(default_logit(users, latent_risk, cfg.price_risk), cfg.default_rate)
    expected_loss = (p_default * LGD * expected_value).astype(np.float32)
    credit = pd.DataFrame({"user_id": users["user_id"], "scorecard": points, "p_default": p_default,
                           "latent_risk": latent_risk.astype(np.float32), "lgd": np.float32(LGD),
                           "exposure_if_drawn": expected_value, "expected_loss": expected_loss})
    for j, name in enumerate(OFFERS):
        revenue = loan_revenue(expected_value, np.full(n, j), OFFERS.index("rate_discount"))
        credit[f"expected_profit_{name}"] = (p_by_offer[:, j] * (revenue - expected_loss)
                                             - OFFER_COST[name]).astype(np.float32)

    drawn = np.flatnonzero(outcomes[:, -1] == 1)
    customers = customers_of(users["user_id"].to_numpy()[drawn], value[drawn], p_default[drawn], cfg.churn_hazard,
                             latent["motivation"][drawn], users["price_sensitivity"].to_numpy()[drawn],
                             users["digital_affinity"].to_numpy()[drawn])
    account_months = rollout(customers, cfg.n_months, lifecycle_rng)
    clv, clv_se = lifetime_value(customers, cfg.n_months, cfg.clv_rollouts, lifecycle_rng)
    lifecycle = customers.to_frame().assign(clv=clv.astype(np.float32), clv_se=clv_se.astype(np.float32))

    applied = np.flatnonzero(outcomes[:, 2] == 1)
    history = account_months.groupby("user_id").agg(defaulted=("defaulted", "max"), months_on_book=("month", "size"))
    loans = pd.DataFrame({"user_id": users["user_id"].to_numpy()[applied], "scorecard": points[applied],
                          "approved": outcomes[applied, 3], "drawn": outcomes[applied, 4],
                          "amount": value[applied]})
    loans = loans.join(history.astype(np.float32), on="user_id")  # NaN where no loan was drawn
    return credit, loans, account_months, lifecycle


def simulate_world(config: WorldConfig | None = None, **overrides) -> World:
    """Generate a world; ``simulate_world(n_users=1000, seed=3)`` is the same as passing a config."""
    cfg = config or WorldConfig(**overrides)
    if config is not None and overrides:
        raise TypeError("pass either a WorldConfig or keyword overrides, not both")
    rng = np.random.default_rng(cfg.seed)
    n = cfg.n_users
    users, latent = draw_users(rng, n)
    segment = latent["segment"]

    n_regimes = len(cfg.shift_days) + 1
    regime_of = regime_of_day(np.arange(cfg.n_days), cfg.shift_days)
    centroids = rng.normal(0, 0.6, size=(len(SEGMENTS), TASTE_DIM))
    taste = (centroids[segment] + rng.normal(0, 0.5, size=(n, TASTE_DIM))).astype(np.float32)
    product_vec = rng.normal(0, 0.4, size=(len(PRODUCTS), TASTE_DIM)).astype(np.float32)
    shifts = regime_shifts(rng, n_regimes)
    affinity = np.stack([taste @ product_vec.T + shifts[r][segment] for r in range(n_regimes)]).astype(np.float32)

    social_rng = np.random.default_rng([cfg.seed, 3])
    activity, signup = activity_levels(social_rng, cfg, users["digital_affinity"].to_numpy())
    sociability = social_rng.lognormal(-0.5, 1.0, n)
    users.insert(1, "signup_day", signup)
    priced = np.isin(users["region"].to_numpy(), cfg.pricing_regions)
    interactions, pricing_truth = draw_interactions(rng, cfg, affinity, activity, signup, regime_of, priced)
    edges = draw_edges(rng, cfg, segment, activity, sociability, signup, regime_of)
    ties = tie_table(edges)
    edges = edges.drop(columns="noise")  # which ties are noise is the oracle's to know

    taste_loan = affinity[0][:, FEATURED_PRODUCT] - affinity[0][:, FEATURED_PRODUCT].mean()
    tau = offer_effects(users, latent)
    propensity = offer_propensity(cfg, users, rng)
    points = scorecard_points(users)
    approved = points >= cfg.approval_cutoff
    # Peer effects: the strong-tie neighbours who convert in a first wave of the campaign raise a user's
    # will to apply in the wave that is observed (the member-get-member channel).
    experiment_rng = np.random.default_rng([cfg.seed, 4])
    reminded, engaged, p_engaged = draw_encouragement(experiment_rng, users["digital_affinity"].to_numpy())
    encouraged = cfg.encouragement_effect * engaged
    first_wave = draw_funnel(social_rng, cfg, users, latent, taste_loan, tau, propensity, approved,
                             encouraged)[3][:, -1]
    exposure = peer_exposure(ties, first_wave.astype(np.float64))
    peers = cfg.peer_effect * np.log1p(exposure)
    offer, conditional, cumulative, outcomes, value, expected_value, p_by_offer = draw_funnel(
        rng, cfg, users, latent, taste_loan, tau, propensity, approved, peers + encouraged)
    rows = np.arange(n)
    p_convert_by_engagement = np.stack([  # under each user's own offer, engaged or not (the IV's truth)
        conversion_by_offer(stage_probabilities(users, latent, taste_loan, tau, approved,
                                                peers + cfg.encouragement_effect * d))[rows, offer]
        for d in (0, 1)], axis=1)
    truth = experiment_truth(points, cfg.approval_cutoff, cumulative[:, 2], conditional[:, 4], p_engaged,
                             p_convert_by_engagement, pricing_truth)
    joined_before = signup == 0  # users who sign up in the window have no history with us before it
    users["prior_drawdowns"] = prior_drawdowns(experiment_rng, cumulative[:, -1]) * joined_before
    users["tenure_months"] = (users["tenure_months"] * joined_before).astype(np.int16)
    reminders = pd.DataFrame({"user_id": users["user_id"], "reminded": reminded, "engaged": engaged})

    # Lookalike target per regime: would take the featured product if shown it today. Peer influence:
    # each strong-tie neighbour who would take it on their own (a first draw) raises a user's odds by
    # ``peer_effect`` per log(1 + such neighbours), so neighbours tell what a cold start's history cannot.
    ability = latent["ability"]
    own_logit = np.stack([2.5 * (affinity[r][:, FEATURED_PRODUCT] - 2.2) + 3.0 * (ability - 0.55)
                          for r in range(n_regimes)])
    peer_rng = np.random.default_rng([cfg.seed, 5])
    would_take_alone = peer_rng.random(own_logit.shape) < expit(own_logit)
    target_peers = np.stack([peer_exposure(ties, would_take_alone[r].astype(np.float64)) for r in range(n_regimes)])
    target_logit = own_logit + cfg.peer_effect * np.log1p(target_peers)
    p_target = expit(target_logit).astype(np.float32)
    is_target = (rng.random(p_target.shape) < p_target).astype(np.int8)
    first_shift = cfg.shift_days[0]
    pre_targets = np.flatnonzero(is_target[0] & (signup < first_shift))  # tagged in regime 0, once signed up
    n_seeds = min(len(pre_targets), max(1, int(round(cfg.seed_fraction * len(pre_targets)))))  # none in a tiny world
    seed_users = np.sort(rng.choice(pre_targets, size=n_seeds, replace=False))
    seeds = pd.DataFrame({"user_id": seed_users.astype(np.int64),
                          "day": rng.integers(signup[seed_users], first_shift).astype(np.int16)})

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
        "motivation": latent["motivation"], "ability": ability, "activity": activity.astype(np.float32),
        "sociability": sociability.astype(np.float32),
    })
    funnel_probs = pd.DataFrame({"user_id": users["user_id"]})
    for i, stage in enumerate(STAGES):
        funnel_probs[f"p_{stage}_given_prev"] = conditional[:, i].astype(np.float32)
    for i, stage in enumerate(STAGES):
        funnel_probs[f"p_{stage}"] = cumulative[:, i].astype(np.float32)
    funnel_probs["peer_exposure"] = exposure.astype(np.float32)
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
        "target_peers": target_peers.ravel().astype(np.float32),
    })
    regimes = pd.DataFrame({"day": np.arange(cfg.n_days, dtype=np.int16), "regime": regime_of})

    credit, loans, account_months, lifecycle = _credit_and_lifecycle(cfg, users, latent, points, offer, outcomes,
                                                                     value, expected_value, p_by_offer)

    observed = {"users": users, "products": PRODUCTS.copy(), "interactions": interactions,
                "edges": edges, "funnel": funnel, "treatments": treatments, "seeds": seeds, "loans": loans,
                "account_months": account_months, "reminders": reminders}
    observed = {name: in_row_order(name, frame) for name, frame in observed.items()}  # as a reload orders them
    oracle = {"users": oracle_users, "funnel_probs": funnel_probs, "effects": effects,
              "targets": targets, "regimes": regimes, "credit": credit, "lifecycle": lifecycle, "ties": ties,
              "experiments": truth}
    return World(config=cfg, observed=observed, oracle=oracle)
