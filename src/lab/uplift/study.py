"""The uplift study's steps, shared by the notebook, the tests and the benchmark.

``average_effects`` runs every average-effect estimator with its diagnostics; ``fit_and_score`` fits
CATE learners on a training split and scores them in and out of sample; ``effect_drivers`` explains
the best learner's effects with SHAP on a tree surrogate. Every function returns tidy rows
(``model, metric, value``) ready for ``lab.results.write_results``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from tqdm.auto import tqdm

from lab.uplift import average
from lab.uplift.data import CausalData
from lab.uplift.evaluate import ate_error, pehe, ranking_metrics
from lab.uplift.learners import METHODS, make_learner, single_thread

# Learner settings per data set: the world has ~10k-100k rows and a rare binary outcome, IHDP 672 rows
# and a continuous outcome. Chosen by a small manual search; see the study's note for the figures.
NET_WORLD = {"rep_dim": 64, "head_dim": 32, "rep_layers": 2, "head_layers": 2, "batch_size": 256,
             "max_epochs": 40, "patience": 6, "lr": 1e-3}
WORLD_PARAMS = {"causal_forest": {"n_estimators": 100}, "uplift_forest": {"n_estimators": 60},
                "tarnet": NET_WORLD, "cfr": {**NET_WORLD, "ipm": "mmd", "alpha": 1.0},
                "dragonnet": {**NET_WORLD, "alpha": 1.0, "beta": 1.0}}
NET_IHDP = {"rep_dim": 200, "head_dim": 100, "rep_layers": 3, "head_layers": 2, "batch_size": 100,
            "max_epochs": 600, "patience": 60, "lr": 1e-3, "weight_decay": 1e-4, "n_ensemble": 3,
            "link": "auto"}
IHDP_PARAMS = {"uplift_forest": {"min_samples_leaf": 10, "n_estimators": 100},
               "tarnet": NET_IHDP, "cfr": {**NET_IHDP, "ipm": "wasserstein", "alpha": 1.0},
               "dragonnet": {**NET_IHDP, "alpha": 1.0, "beta": 1.0}}


SMALL_DATA = 5000


def learner_params(n_rows: int) -> dict:
    """Learner settings for a data set of ``n_rows``: the IHDP settings for small data, else the world's."""
    return IHDP_PARAMS if n_rows < SMALL_DATA else WORLD_PARAMS


@dataclass
class AverageReport:
    """Average effects plus the diagnostics behind them (propensity, balance, overlap)."""

    effects: list[average.AverageEffect]
    propensity: np.ndarray
    balance: pd.DataFrame
    overlap: dict[str, float]
    extra: list[average.AverageEffect] = field(default_factory=list)

    def rows(self, tau: np.ndarray | None = None, t: np.ndarray | None = None) -> list[dict]:
        """Tidy rows: ``ate``/``att`` with ``ci_low``/``ci_high`` per method, and ``ate_error`` with truth."""
        rows = []
        for eff in self.effects + self.extra:
            rows += eff.rows()
            if tau is not None:
                target = tau if eff.estimand == "ate" else tau[np.asarray(t) == 1]
                rows.append({"model": eff.method, "metric": f"{eff.estimand}_error", "value": ate_error(eff.estimate, target)})
        return rows


def average_effects(data: CausalData, randomised: bool = False, n_boot: int = 200,
                    random_state: int = 0) -> AverageReport:
    """Difference in means, PSM, IPW and AIPW (plus 2SLS / DID when the data carry an instrument / pre-post).

    The propensity is the data's own column when given, else cross-fitted logistic regression.
    In a randomised study the estimated propensity only serves the diagnostics.
    """
    e = data.propensity
    if e is None:
        e = average.estimate_propensity(data.X, data.t, random_state=random_state)
    if not randomised:
        average.check_overlap(data.t, e)
    psm, matched_t, matched_c = average.psm(data.t, data.y, e, n_boot=n_boot, random_state=random_state)
    effects = [average.difference_in_means(data.t, data.y), psm, average.ipw(data.t, data.y, e),
               average.aipw(data.X, data.t, data.y, e, n_folds=3, random_state=random_state)]
    extra = []
    if data.instrument is not None:
        extra.append(average.two_stage_least_squares(data.y, data.t, data.instrument, data.X))
    if data.post is not None:
        extra.append(average.difference_in_differences(data.y, data.t, data.post, data.X))
    return AverageReport(effects, e, average.balance_table(data.X, data.t, e, (matched_t, matched_c)),
                         average.overlap_summary(data.t, e), extra)


def fit_and_score(methods: tuple[str, ...], train: CausalData, test: CausalData, params: dict | None = None,
                  test_weights: np.ndarray | None = None, random_state: int = 0,
                  ranking: bool = True) -> tuple[list[dict], dict[str, np.ndarray], dict]:
    """Fit each learner on ``train``; return tidy rows, out-of-sample effects per method, and fitted models.

    Rows: ``ate`` (mean estimated effect over train and test) with ``ci_low``/``ci_high`` (``plug_in_ate``),
    ``fit_seconds``; with truth ``pehe``
    (``split`` in/out) and ``ate_error``; with ``ranking`` the Qini / AUUC / uplift@k of the test set
    (``test_weights``: inverse-propensity weights for observational test data). ``oracle`` in
    ``methods`` scores the true effects.
    """
    params = params or {}
    rows, effects, models = [], {}, {}
    truth = train.tau is not None and test.tau is not None
    for method in tqdm(methods, desc="learners", leave=False):
        start = time.perf_counter()
        if method == "oracle":
            if not truth:
                continue
            tau_in, tau_out = train.tau, test.tau
        else:
            model = make_learner(method, random_state=random_state, **params.get(method, {}))
            model.fit(train.X, train.t, train.y)
            tau_in, tau_out = model.effect(train.X), model.effect(test.X)
            models[method] = model
        seconds = time.perf_counter() - start
        effects[method] = tau_out
        both = np.r_[tau_in, tau_out]
        rows += plug_in_ate(method, both).rows() + [{"model": method, "metric": "fit_seconds", "value": seconds}]
        if truth:
            rows += [{"model": method, "metric": "pehe", "split": "in", "value": pehe(tau_in, train.tau)},
                     {"model": method, "metric": "pehe", "split": "out", "value": pehe(tau_out, test.tau)},
                     {"model": method, "metric": "ate_error", "value": ate_error(both.mean(), np.r_[train.tau, test.tau])}]
        if ranking:
            rows += [{**r, "split": "out"} for r in ranking_metrics(method, tau_out, test.t, test.y, test.tau, test_weights)]
    return rows, effects, models


def plug_in_ate(method: str, tau: np.ndarray, level: float = 0.95) -> average.AverageEffect:
    """A learner's average effect: the mean of its per-unit effects, with a normal interval over units.

    The interval covers the sampling of units only (SE = sd(tau) / sqrt(n)), not the learner's own
    estimation error, so it is narrower than a full interval; AIPW's interval is the one to quote for
    the average effect, the learners are for who to target.
    """
    tau = np.asarray(tau, dtype=np.float64)
    return average.normal_ci(method, "ate", tau.mean(), tau.std(ddof=1) / np.sqrt(len(tau)), len(tau), level)


def effect_drivers(model, X: pd.DataFrame, n_rows: int = 1000, random_state: int = 0) -> tuple[pd.Series, object, float]:
    """Which features drive the estimated effect: mean |SHAP| of a random-forest surrogate of ``model.effect``.

    The surrogate (depth-6 forest fitted to the learner's effects on ``n_rows`` rows) lets SHAP's exact
    tree explainer work for every learner; its R^2 on those rows is returned so the reader can judge it.
    """
    import shap

    rows = np.random.default_rng(random_state).choice(len(X), size=min(n_rows, len(X)), replace=False)
    Xs = X.iloc[rows]
    tau = model.effect(Xs)
    with single_thread():
        surrogate = RandomForestRegressor(n_estimators=40, max_depth=6, min_samples_leaf=5,
                                          random_state=random_state).fit(Xs, tau)
        values = shap.TreeExplainer(surrogate).shap_values(Xs)
    importance = pd.Series(np.abs(values).mean(axis=0), index=X.columns).sort_values(ascending=False)
    explanation = shap.Explanation(values, data=Xs.to_numpy(), feature_names=list(X.columns))
    return importance, explanation, float(surrogate.score(Xs, tau))


__all__ = ["IHDP_PARAMS", "METHODS", "WORLD_PARAMS", "AverageReport", "average_effects",
           "effect_drivers", "fit_and_score", "learner_params", "plug_in_ate"]
