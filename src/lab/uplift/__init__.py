"""Uplift and causal inference: who does a marketing action change, and by how much on average.

``learners`` (CATE learners, one API), ``average`` (ATE/ATT estimators with confidence intervals and
diagnostics), ``evaluate`` (Qini/uplift curves, PEHE), ``data`` (world arms, user tables), ``ihdp``
(the IHDP benchmark), ``study`` (the notebook's ``Config``, ``run`` and ``verdict``), ``plots`` (its
figures). ``fit_offer_effects`` is the entry point other studies use.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from lab.data import OFFERS
from lab.uplift.data import CausalData, load_causal_table, offer_arm, user_encoder, world_frames
from lab.uplift.learners import (EFFECT_LEARNERS, EconMLLearner, RepresentationLearner, UpliftForest,
                                 make_effect_learner)


def fit_offer_effects(world_or_frames, learner: str = "x_learner", offers: tuple[str, ...] | None = None,
                      random_state: int = 0, **learner_params) -> pd.DataFrame:
    """Estimated effect of each offer on conversion probability for every user.

    ``world_or_frames``: a ``World``, a dict with ``users`` and ``treatments`` tables, or a
    ``(users, treatments)`` pair. For each offer a ``learner`` (a name from ``EFFECT_LEARNERS``) is
    fitted on the users given that offer or none, and predicts for *all* users.
    Returns one row per user: ``user_id`` and ``tau_<offer>`` for each offer.
    """
    users = world_frames(world_or_frames)[0]
    encoder = user_encoder().fit(users)
    X_all = encoder.transform(users)
    out = pd.DataFrame({"user_id": users["user_id"].to_numpy()})
    for offer in tqdm(offers or OFFERS[1:], desc=f"{learner} per offer", leave=False):
        arm = offer_arm(world_or_frames, offer, encoder)
        model = make_effect_learner(learner, random_state=random_state, **learner_params)
        model.fit(arm.X, arm.t, arm.y)
        out[f"tau_{offer}"] = model.effect(X_all).astype(np.float32)
    return out


__all__ = ["EFFECT_LEARNERS", "CausalData", "EconMLLearner", "RepresentationLearner", "UpliftForest",
           "fit_offer_effects", "load_causal_table", "make_effect_learner", "offer_arm", "user_encoder"]
