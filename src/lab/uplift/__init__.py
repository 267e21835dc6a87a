"""Uplift and causal inference: who does a marketing action change, and by how much on average.

``learners`` (CATE learners, one API), ``average`` (ATE/ATT estimators with confidence intervals and
diagnostics), ``evaluate`` (Qini/uplift curves, PEHE), ``data`` (world arms, user tables), ``ihdp``
(the IHDP benchmark). ``fit_offer_effects`` is the entry point other studies use.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from lab.data import OFFERS
from lab.uplift.data import CausalData, load_table, offer_arm, user_features, world_frames
from lab.uplift.learners import METHODS, EconMLLearner, RepresentationLearner, UpliftForest, make_learner


def fit_offer_effects(world_or_frames, learner: str = "x_learner", offers: tuple[str, ...] | None = None,
                      random_state: int = 0, **learner_params) -> pd.DataFrame:
    """Estimated effect of each offer on conversion probability for every user.

    ``world_or_frames``: a ``World``, a dict with ``users`` and ``treatments`` tables, or a
    ``(users, treatments)`` pair. For each offer a ``learner`` (a method name from ``METHODS``) is
    fitted on the users given that offer or none, and predicts for *all* users.
    Returns one row per user: ``user_id`` and ``tau_<offer>`` for each offer.
    """
    users = world_frames(world_or_frames)[0]
    X_all = user_features(users)
    out = pd.DataFrame({"user_id": users["user_id"].to_numpy()})
    for offer in tqdm(offers or OFFERS[1:], desc=f"{learner} per offer", leave=False):
        arm = offer_arm(world_or_frames, offer)
        model = make_learner(learner, random_state=random_state, **learner_params)
        model.fit(arm.X, arm.t, arm.y)
        out[f"tau_{offer}"] = model.effect(X_all.reindex(columns=arm.X.columns, fill_value=0.0)).astype(np.float32)
    return out


__all__ = ["METHODS", "CausalData", "EconMLLearner", "RepresentationLearner", "UpliftForest", "fit_offer_effects",
           "load_table", "make_learner", "offer_arm", "user_features"]
