"""The scikit-learn contract, checked on every estimator the package exports.

For each exported ``BaseEstimator`` a ``Case`` says how to build small data for it. Every case is
checked the same way: ``fit`` returns self, ``clone`` round-trips its parameters, predicting before
``fit`` raises ``NotFittedError``, and predicting adds or replaces no attribute. Estimators that take
``(X, y)`` also pass scikit-learn's own ``check_estimator`` (exemptions declared in their tags).
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

import lab

# Every sub-package of lab: a new study's estimators are found without editing this file.
PACKAGES = tuple(f"lab.{info.name}" for info in pkgutil.iter_modules(lab.__path__) if info.ispkg)


@dataclass
class Case:
    """How to exercise one estimator: ``make`` builds it, ``data`` returns ``(fit_args, predict_args)``."""

    make: Callable[[], BaseEstimator]
    data: Callable[[], tuple[tuple, tuple]]
    predict: tuple[str, ...]


# --- core ----------------------------------------------------------------------------------------
def _core_cases() -> dict[str, Case]:
    from lab.core import UserEncoder
    from lab.data import simulate_world

    def users():
        table = simulate_world(n_users=200, n_days=3, shift_days=(1,), seed=0).observed["users"]
        return (table,), (table,)

    return {"UserEncoder": Case(UserEncoder, users, ("transform",))}


# --- lookalike -----------------------------------------------------------------------------------
def _lookalike_cases() -> dict[str, Case]:
    import numpy as np

    from lab.data import simulate_world
    from lab.lookalike import (BaggingPU, DeepWalk, DynamicGNN, GraphSeries, LabelPropagation, NeighbourGBM,
                               RuleTargeting, SeedSimilarity, StaticGraphSAGE, UserCF)

    def graph():
        observed = simulate_world(n_users=150, n_days=6, shift_days=(4,), seed=0, edges_per_user_day=0.3).observed
        series = GraphSeries(observed["users"], observed["interactions"], observed["edges"],
                             product_ids=observed["products"]["product_id"])
        return series, (np.arange(series.n_users) < 15).astype(int)

    def snapshots():
        series, y = graph()
        days = [series.snapshot(d) for d in range(1, 5)]
        return (days, y), (days,)

    def union():
        series, y = graph()
        snapshot = series.union_snapshot(5)
        return (snapshot, y), (snapshot,)

    def features():
        X = np.random.default_rng(0).normal(size=(120, 5))
        y = (X[:, 0] > 0.8).astype(int)
        return (X, y), (X,)

    score = ("decision_function",)
    return {
        "DynamicGNN": Case(lambda: DynamicGNN(epochs=2, hidden_channels=8), snapshots,
                           ("decision_function", "rollout")),
        "RuleTargeting": Case(RuleTargeting, features, score),
        "SeedSimilarity": Case(lambda: SeedSimilarity("max", n_prototypes=4), features, score),
        "UserCF": Case(lambda: UserCF(n_neighbours=10), features, score),
        "BaggingPU": Case(lambda: BaggingPU(n_estimators=5), features, score),
        "DeepWalk": Case(lambda: DeepWalk(epochs=1, walks_per_node=2), union, score),
        "StaticGraphSAGE": Case(lambda: StaticGraphSAGE(epochs=5), union, score),
        "NeighbourGBM": Case(NeighbourGBM, union, score),
        "LabelPropagation": Case(LabelPropagation, union, score),
    }


def _lookalike_sklearn() -> list[BaseEstimator]:
    from lab.lookalike import BaggingPU, RuleTargeting, SeedSimilarity, UserCF

    return [RuleTargeting(), SeedSimilarity(), SeedSimilarity("max", n_prototypes=3), UserCF(n_neighbours=5),
            BaggingPU(n_estimators=3)]


# --- multitask -----------------------------------------------------------------------------------
def _multitask_cases() -> dict[str, Case]:
    from lab.data import simulate_world
    from lab.multitask import (CascadeSelector, DrawdownValueModel, MultiStageSelector, MultiTaskFunnelClassifier,
                               build_funnel_data, train_test_rows)

    def funnel():
        """Fitted on a ``FunnelData`` view of the training users (labels inside), scored on the test users."""
        data = build_funnel_data(simulate_world(n_users=1000, n_days=4, shift_days=(2,), seed=0))
        train, test = train_test_rows(data, seed=0)
        return (data[train],), (data[test],)

    proba = ("predict_proba", "stage_scores")
    return {
        "MultiStageSelector": Case(lambda: MultiStageSelector("gbm"), funnel, proba),
        "CascadeSelector": Case(lambda: CascadeSelector("mlp"), funnel, proba),
        "MultiTaskFunnelClassifier": Case(lambda: MultiTaskFunnelClassifier(use_graph=True, use_sequence=True,
                                                                            n_ensemble=2, max_epochs=3),
                                          funnel, ("predict_proba", "predict", "member_proba")),
        "DrawdownValueModel": Case(lambda: DrawdownValueModel(max_iter=10), funnel, ("predict",)),
    }


# --- explain -------------------------------------------------------------------------------------
def _explain_cases() -> dict[str, Case]:
    import numpy as np
    import torch
    from torch import nn

    from lab.explain import LICE, RuleSetSurrogate, SoftTreeDistiller, TorchMLPClassifier

    x = np.random.default_rng(0).normal(size=(120, 3)).astype(np.float32)
    decision = (x[:, 0] + x[:, 1] > 0).astype(int)

    def network() -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            module = nn.Sequential()
            module.add_module("encoder", nn.Sequential(nn.Linear(3, 4), nn.Tanh()))
            module.add_module("head", nn.Linear(4, 1))
        return module

    return {
        "TorchMLPClassifier": Case(lambda: TorchMLPClassifier(hidden=(4,), epochs=2), lambda: ((x, decision), (x,)),
                                   ("predict", "predict_proba", "decision_function")),
        "RuleSetSurrogate": Case(lambda: RuleSetSurrogate(max_depth=2), lambda: ((x, decision), (x,)), ("predict",)),
        "SoftTreeDistiller": Case(lambda: SoftTreeDistiller(depth=2, epochs=2),
                                  lambda: ((x, decision * 0.8 + 0.1), (x,)), ("predict_proba",)),
        "LICE": Case(lambda: LICE(network(), layers=["encoder"], max_clusters=2, n_init=2), lambda: ((x,), (x,)),
                     ("assign", "predict", "local_importance", "explain")),
    }


def _explain_sklearn() -> list[BaseEstimator]:
    from lab.explain import RuleSetSurrogate, TorchMLPClassifier

    return [TorchMLPClassifier(), RuleSetSurrogate()]


# --- uplift --------------------------------------------------------------------------------------
def _uplift_cases() -> dict[str, Case]:
    """The effect learners take ``(X, t, y)`` and predict ``effect(X)``: not ``check_estimator`` material."""
    import numpy as np

    from lab.uplift import EconMLLearner, RepresentationLearner, UpliftForest

    def treated_outcomes():
        rng = np.random.default_rng(0)
        X = rng.normal(size=(300, 4))
        t = (rng.random(300) < 0.5).astype(int)
        y = X[:, 0] + t * (1.0 + X[:, 1]) + rng.normal(0, 0.5, 300)
        return (X, t, y), (X[:20],)

    return {
        "EconMLLearner": Case(lambda: EconMLLearner(method="t_learner", max_iter=10), treated_outcomes, ("effect",)),
        "UpliftForest": Case(lambda: UpliftForest(n_estimators=3, min_samples_leaf=10), treated_outcomes, ("effect",)),
        "RepresentationLearner": Case(lambda: RepresentationLearner(rep_dim=8, head_dim=8, max_epochs=2, n_ensemble=2),
                                      treated_outcomes, ("effect", "predict_outcomes")),
    }


# --- allocate ------------------------------------------------------------------------------------
def _allocate_cases() -> dict[str, Case]:
    return {}


# --- value ---------------------------------------------------------------------------------------
def _value_cases() -> dict[str, Case]:
    """The scorecard takes applicants with -1 for no performance, the two-part model a table of outcomes,
    RFM its three columns: small data for each."""
    import numpy as np
    import pandas as pd

    from lab.value import RFMBaseline, TwoPartValue, WoEScorecard, ZILNRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 3))

    def applicants():
        frame = pd.DataFrame(X, columns=["a", "b", "c"])
        y = (rng.random(600) < 1 / (1 + np.exp(2 - X[:, 0]))).astype(int)
        return (frame, np.where(X[:, 1] > 0.5, -1, y)), (frame,)

    def values():
        drawn = (rng.random(600) < 0.3).astype(int)
        return (X, np.maximum(X[:, 0] + 1, 0) * drawn), (X,)

    def outcomes():
        drawn = (rng.random(600) < 0.4).astype(int)
        table = pd.DataFrame({"drawn": drawn, "revenue": np.exp(X[:, 0]) * 100 * drawn,
                              "amount": np.exp(X[:, 1]) * 1000 * drawn,
                              "defaulted": (rng.random(600) < 0.2).astype(int) * drawn})
        return (X, table), (X,)

    def rfm():
        frame = pd.DataFrame(np.abs(X), columns=["recency", "frequency", "monetary"])
        return (frame, frame["frequency"].to_numpy() * 3), (frame,)

    return {
        "WoEScorecard": Case(lambda: WoEScorecard(reject_inference="parcelling"), applicants,
                             ("predict_proba", "points")),
        "ZILNRegressor": Case(lambda: ZILNRegressor(max_epochs=2, hidden=(8,)), values, ("predict",)),
        "TwoPartValue": Case(TwoPartValue, outcomes, ("predict", "predict_given_drawdown")),
        "RFMBaseline": Case(RFMBaseline, rfm, ("predict",)),
    }


# --- lifecycle -----------------------------------------------------------------------------------
def _lifecycle_cases() -> dict[str, Case]:
    """The action-value models take logged transitions (state, action, reward, next state, done) or returns;
    the state's first column is the month and its third the amount drawn (``DYNAMIC_FEATURES``)."""
    import numpy as np

    from lab.lifecycle import FittedQ, MonteCarloQ, ObservedDynamics, PessimisticFittedQ, RiskThreshold

    rng = np.random.default_rng(0)
    n = 600
    month = rng.integers(0, 3, n)
    X = np.column_stack([month, rng.uniform(500, 2000, (n, 2)), rng.normal(size=(n, 3))])
    X_next = X.copy()
    X_next[:, 0] = np.minimum(month + 1, 2)
    action, reward = rng.integers(0, 4, n), rng.normal(10, 5, n)
    done = month == 2

    def transitions():
        return (X, action, reward, X_next, done), (X,)

    def returns():
        return (X, action, reward * (3 - month)), (X,)

    def logged_months():
        """The structured learners read real logged months: the state's layout and the month's outcomes."""
        from lab.data import simulate_world
        from lab.lifecycle.policies import OUTCOMES, logged_episodes

        observed = simulate_world(n_users=3000, seed=1).observed
        t = logged_episodes(observed["account_months"], observed["users"]).transitions()
        return (t["X"], t["action"], t["reward"], t["X_next"], t["done"], *(t[name] for name in OUTCOMES)), (t["X"],)

    return {"FittedQ": Case(lambda: FittedQ(max_iter=5), transitions, ("predict",)),
            "MonteCarloQ": Case(lambda: MonteCarloQ(max_iter=5), returns, ("predict",)),
            "PessimisticFittedQ": Case(lambda: PessimisticFittedQ(n_estimators=2, max_iter=5), transitions,
                                       ("predict",)),
            "ObservedDynamics": Case(lambda: ObservedDynamics(max_iter=5, n_bootstrap=2), logged_months,
                                     ("default_hazard",)),
            "RiskThreshold": Case(lambda: RiskThreshold(shares=(0.0, 0.3), n_bootstrap=2, max_iter=5), logged_months,
                                  ("predict", "risk"))}


def _sklearn_estimators() -> list[BaseEstimator]:
    """Exported estimators that take ``(X, y)``: each passes ``check_estimator``."""
    from lab.core import UserEncoder

    return [UserEncoder(), *_lookalike_sklearn(), *_explain_sklearn()]


CASES = {**_core_cases(), **_lookalike_cases(), **_multitask_cases(), **_explain_cases(), **_uplift_cases(),
         **_allocate_cases(), **_value_cases(), **_lifecycle_cases()}


def exported_estimators() -> dict[str, type]:
    found = {}
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isclass(obj) and issubclass(obj, BaseEstimator):
                found[name] = obj
    return found


def test_every_exported_estimator_has_a_case():
    missing = sorted(set(exported_estimators()) - set(CASES))
    assert not missing, f"add a Case for {missing}"


def test_estimators_are_estimators():
    """Learners exported by the studies are BaseEstimators (so clone, get_params and tags work)."""
    for name, case in CASES.items():
        assert isinstance(case.make(), BaseEstimator), name


@pytest.mark.parametrize("name", sorted(CASES))
def test_estimator_contract(name):
    case = CASES[name]
    fit_args, predict_args = case.data()
    fresh = case.make()
    for method in case.predict:
        with pytest.raises(NotFittedError):
            getattr(clone(fresh), method)(*predict_args)
    estimator = case.make()
    assert estimator.fit(*fit_args) is estimator, f"{name}.fit must return self"
    twin = clone(estimator)
    assert twin.get_params().keys() == estimator.get_params().keys()
    assert repr(twin.get_params()) == repr(estimator.get_params())
    fitted = {k: id(v) for k, v in vars(estimator).items()}
    for method in case.predict:
        getattr(estimator, method)(*predict_args)
    assert {k: id(v) for k, v in vars(estimator).items()} == fitted, f"{name}.{case.predict} changed its state"


@parametrize_with_checks(_sklearn_estimators())
def test_sklearn_check_estimator(estimator, check):
    check(estimator)
