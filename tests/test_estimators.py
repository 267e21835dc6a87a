"""The scikit-learn contract, checked on every estimator the package exports.

For each exported ``BaseEstimator`` a ``Case`` says how to build small data for it. Every case is
checked the same way: ``fit`` returns self, ``clone`` round-trips its parameters, predicting before
``fit`` raises ``NotFittedError``, and predicting adds or replaces no attribute. Estimators that take
``(X, y)`` also pass scikit-learn's own ``check_estimator`` (exemptions declared in their tags).
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

PACKAGES = ("lab.core", "lab.lookalike", "lab.multitask", "lab.explain", "lab.uplift", "lab.allocate")


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
    return {}


# --- multitask -----------------------------------------------------------------------------------
def _multitask_cases() -> dict[str, Case]:
    return {}


# --- explain -------------------------------------------------------------------------------------
def _explain_cases() -> dict[str, Case]:
    return {}


# --- uplift --------------------------------------------------------------------------------------
def _uplift_cases() -> dict[str, Case]:
    return {}


# --- allocate ------------------------------------------------------------------------------------
def _allocate_cases() -> dict[str, Case]:
    return {}


def _sklearn_estimators() -> list[BaseEstimator]:
    """Exported estimators that take ``(X, y)``: each passes ``check_estimator``."""
    return []


CASES = {**_core_cases(), **_lookalike_cases(), **_multitask_cases(), **_explain_cases(), **_uplift_cases(),
         **_allocate_cases()}


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
