"""The uplift study: does an offer change conversion, by how much on average, and for whom?

``run(Config)`` does everything the notebook and the benchmark report: for every replicate (a world
seed, an IHDP realization, or the researcher's one table) ``average_effects`` estimates the average
effect with its diagnostics and ``fit_and_score`` fits the individual-effect learners on a training
split and scores them in sample (``split=train``) and out of sample (``split=test``); then the best
learner is picked and ``effect_drivers`` explains its effects with SHAP on a tree surrogate.
``verdict`` and the tables read the result; the figures are in ``lab.uplift.plots``.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import RandomForestRegressor
from tqdm.auto import tqdm

from lab.core import (StudyConfig, StudyResult, gap_sentence, limit_threads, mean_std_table, refuse, stopwatch,
                      world_for, world_problems_of)
from lab.uplift import average, designs
from lab.uplift.data import CausalData, load_causal_table, offer_arm
from lab.uplift.evaluate import ate_error, pehe, uplift_ranking_metrics
from lab.uplift.ihdp import PUBLISHED, REALIZATIONS, TEST_FRACTION, load_ihdp
from lab.uplift.learners import EFFECT_LEARNERS, make_effect_learner

# Learner settings by data scale, chosen by a small manual search: "large" for ~10k-100k rows and a rare
# binary outcome (the world), "small" for hundreds of rows and a continuous outcome (IHDP's 747).
_NETWORK_LARGE = {"rep_dim": 64, "head_dim": 32, "rep_layers": 2, "head_layers": 2, "batch_size": 256,
                  "max_epochs": 40, "patience": 6, "lr": 1e-3}
_NETWORK_SMALL = {"rep_dim": 200, "head_dim": 100, "rep_layers": 3, "head_layers": 2, "batch_size": 100,
                  "max_epochs": 600, "patience": 60, "lr": 1e-3, "weight_decay": 1e-4, "n_ensemble": 3,
                  "link": "auto"}
LEARNER_PRESETS: dict[str, dict[str, dict]] = {
    "large": {"causal_forest": {"n_estimators": 100}, "uplift_forest": {"n_estimators": 60},
              "tarnet": _NETWORK_LARGE, "cfr": {**_NETWORK_LARGE, "ipm": "mmd", "alpha": 1.0},
              "dragonnet": {**_NETWORK_LARGE, "alpha": 1.0, "beta": 1.0}},
    "small": {"uplift_forest": {"min_samples_leaf": 10, "n_estimators": 100},
              "tarnet": _NETWORK_SMALL, "cfr": {**_NETWORK_SMALL, "ipm": "wasserstein", "alpha": 1.0},
              "dragonnet": {**_NETWORK_SMALL, "alpha": 1.0, "beta": 1.0}},
}
DATASETS = ("world", "ihdp")
TRIM_RULES = ("crump", "none")
MIN_ARM_ROWS = 30  # smallest arm (treated or control) of a table the study takes
LEARNER_COLUMNS = ("pehe_train", "pehe_test", "ate", "ate_error", "qini", "qini_truth", "auuc", "uplift_at_10pct",
                   "uplift_at_30pct", "fit_seconds")


@dataclass
class Config(StudyConfig):
    """The study's parameters and defaults (the notebook's parameters cell).

    Data: ``dataset`` ``"world"`` (``n_users`` simulated users, ``offer`` against no offer, ``assignment``
    randomised or targeted with ``confounding``, ``n_seeds`` seeds from ``seed``) or ``"ihdp"`` (realizations
    1 to ``n_realizations``, each on its fixed 90/10 split); ``data_path`` (a CSV/parquet file) overrides
    both with the researcher's table, read with ``treatment_col``, ``outcome_col``, ``feature_cols`` (empty
    = every other column) and the optional design columns; ``randomised`` declares its assignment random.
    ``test_fraction``: held-out share of the world and of a table. ``methods``: learners of
    ``EFFECT_LEARNERS`` (empty = all). ``learner_preset``: their settings, ``"large"`` for ~10k rows and more
    (the world) or ``"small"`` for hundreds (IHDP: ``dataset="ihdp"`` wants ``learner_preset="small"``).
    Learners are seeded by the replicate's seed on the world and a table, by ``seed`` on IHDP.
    ``trim``: overlap trimming before PSM, IPW and AIPW, ``"crump"`` (the default: drop units whose
    propensity lies outside the optimal region of Crump et al. 2009, usually [0.1, 0.9]) or ``"none"``
    (propensities only clipped to [0.01, 0.99]). Trimming changes the estimand to the effect on the units
    kept, which the results say (``share_trimmed``) and the truth is scored on; it is the default because
    without it a few units with propensities near 0 or 1 carry most of the weight and the interval is
    wide or wrong, and a randomised design (a constant propensity) trims nothing.
    """

    seed: int = 0
    n_seeds: int = 1
    dataset: str = "world"
    data_path: str = ""
    treatment_col: str = ""
    outcome_col: str = ""
    feature_cols: tuple[str, ...] = ()
    propensity_col: str = ""
    instrument_col: str = ""
    time_col: str = ""
    randomised: bool = False
    n_users: int = 20000
    offer: str = "rate_discount"
    assignment: str = "targeted"
    confounding: float = 1.0
    test_fraction: float = 0.3
    n_realizations: int = 9
    methods: tuple[str, ...] = ()
    learner_preset: str = "large"
    trim: str = "crump"

    @property
    def source(self) -> str:
        """Where the data come from: ``"table"`` (``data_path`` set), else ``dataset``."""
        return "table" if self.data_path else self.dataset

    @property
    def observational(self) -> bool:
        """Whether assignment may be confounded (so propensities adjust the estimates and test curves)."""
        return not (self.randomised or (self.source == "world" and self.assignment == "randomised"))

    @property
    def learners(self) -> tuple[str, ...]:
        """The learners fitted, plus ``oracle`` (the true effects) where the truth is known."""
        return (self.methods or EFFECT_LEARNERS) + (("oracle",) if self.source != "table" else ())


def check(config: Config) -> list[str]:
    """Every problem with the parameters and, with ``data_path``, with the table: at least ``MIN_ARM_ROWS``
    rows in each arm, so that both the training and the test share hold treated and control rows."""
    problems = []
    if config.dataset not in DATASETS:
        problems.append(f"dataset must be one of {DATASETS} (or set data_path), got {config.dataset!r}")
    if config.source == "table" and not (config.treatment_col and config.outcome_col):
        problems.append("data_path needs treatment_col and outcome_col")
    unknown = sorted(set(config.methods) - set(EFFECT_LEARNERS))
    if unknown:
        problems.append(f"methods: unknown learner(s) {unknown}; choose from {EFFECT_LEARNERS}")
    if config.learner_preset not in LEARNER_PRESETS:
        problems.append(f"learner_preset must be one of {sorted(LEARNER_PRESETS)}, got {config.learner_preset!r}")
    if not 1 <= config.n_realizations <= len(REALIZATIONS):
        problems.append(f"n_realizations must lie in 1..{len(REALIZATIONS)}, got {config.n_realizations}")
    if config.n_seeds < 1:
        problems.append(f"n_seeds must be at least 1, got {config.n_seeds}")
    if not 0 < config.test_fraction < 1:
        problems.append(f"test_fraction must lie in (0, 1), got {config.test_fraction}")
    if config.trim not in TRIM_RULES:
        problems.append(f"trim must be one of {TRIM_RULES}, got {config.trim!r}")
    if config.source == "world":
        problems += world_problems_of("campaign", n_users=config.n_users, assignment=config.assignment,
                                      confounding=config.confounding)
    if config.source != "table" or problems:
        return problems
    try:
        data = load_causal_table(config.data_path, config.treatment_col, config.outcome_col, config.feature_cols,
                                 config.propensity_col, config.instrument_col, config.time_col)
    except ValueError as err:  # SchemaError: one line per problem of the table
        return str(err).splitlines()
    arms = {"treated": int(data.t.sum()), "control": int(len(data.t) - data.t.sum())}
    if min(arms.values()) < MIN_ARM_ROWS:
        problems.append(f"{data.name}: {arms['treated']} treated and {arms['control']} control rows; each arm "
                        f"needs at least {MIN_ARM_ROWS}")
    return problems


def replicates(config: Config) -> Iterator[tuple[int, CausalData, np.ndarray, np.ndarray]]:
    """``(seed, data, train rows, test rows)`` for every world seed / IHDP realization / the one table."""
    if config.source == "world":
        for seed in range(config.seed, config.seed + config.n_seeds):
            world = world_for(preset="campaign", n_users=config.n_users, assignment=config.assignment,
                              confounding=config.confounding, seed=seed)
            data = offer_arm(world, config.offer)
            yield seed, data, *data.split_rows(config.test_fraction, seed)
    elif config.source == "ihdp":
        for realization in REALIZATIONS[:config.n_realizations]:
            data = load_ihdp(realization)
            yield realization, data, *data.split_rows(TEST_FRACTION, realization)
    else:
        data = load_causal_table(config.data_path, config.treatment_col, config.outcome_col, config.feature_cols,
                                 config.propensity_col, config.instrument_col, config.time_col)
        yield config.seed, data, *data.split_rows(config.test_fraction, config.seed)


@dataclass
class AverageReport:
    """Average effects plus the diagnostics behind them (propensity, balance, overlap, sensitivity).

    ``propensity`` is the data's column when given, else the cross-fitted estimate (the diagnostics and the
    test split's weights read it); ``design_propensity`` is the one the estimates used: the same on
    observational data, the data's column or the treated share in a randomised design. ``overlap`` holds
    ``overlap_summary`` plus the trimming (``share_trimmed``, ``trim_low``, ``trim_high``); ``e_values`` maps
    ``(method, estimand)`` to the E-values of the estimate and of its interval (observational data only).
    """

    effects: list[average.AverageEffect]
    propensity: np.ndarray
    design_propensity: np.ndarray
    balance: pd.DataFrame
    overlap: dict[str, float]
    extra: list[average.AverageEffect] = field(default_factory=list)
    e_values: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    def rows(self, tau: np.ndarray | None = None, t: np.ndarray | None = None) -> list[dict]:
        """Tidy rows: per method ``ate``/``att`` with ``<estimand>_ci_low``/``_ci_high``, ``share_trimmed`` for
        the trimmed ones, ``<estimand>_e_value``/``_e_value_ci`` on observational data, and with the truth
        ``<estimand>_error`` against the true effect of the same (trimmed) units."""
        rows = []
        for eff in self.effects + self.extra:
            rows += eff.rows()
            if eff.population is not None and eff.estimand == "ate":
                rows.append({"model": eff.method, "metric": "share_trimmed", "value": self.overlap["share_trimmed"]})
            if (eff.method, eff.estimand) in self.e_values:
                point, limit = self.e_values[eff.method, eff.estimand]
                rows += [{"model": eff.method, "metric": f"{eff.estimand}_e_value", "value": point},
                         {"model": eff.method, "metric": f"{eff.estimand}_e_value_ci", "value": limit}]
            if tau is not None and t is not None:
                units = np.ones(len(tau), bool) if eff.population is None else eff.population
                target = tau[units] if eff.estimand == "ate" else tau[units & (np.asarray(t) == 1)]
                rows.append({"model": eff.method, "metric": f"{eff.estimand}_error",
                             "value": ate_error(eff.estimate, target)})
        return [{**row, "split": "all"} for row in rows]


def average_effects(data: CausalData, randomised: bool = False, trim: str = "crump", n_boot: int = 200,
                    random_state: int = 0) -> AverageReport:
    """Difference in means, then PSM, IPW and AIPW (ATE and ATT each), plus 2SLS / DID when the data carry an
    instrument / pre-post.

    The propensity is the data's column when given, else a cross-fitted regularised logistic regression. In a
    randomised study the estimates use the design propensity (the column, else the treated share), so IPW
    equals the difference in means and AIPW only adjusts for covariates; the estimated propensity serves the
    diagnostics. In an observational one a lack of overlap raises ``lab.core.IdentificationError``, and
    each estimate gets its E-values. ``trim="crump"`` drops the units outside ``average.crump_bounds``
    before PSM, IPW and AIPW (their ``population``); ``"none"`` keeps every unit.
    """
    e = data.propensity
    if e is None:
        e = average.estimate_propensity(data.X, data.t, random_state=random_state)
    design = e if not randomised else (data.propensity if data.propensity is not None
                                      else np.full(len(data), data.t.mean()))
    if not randomised:
        average.check_overlap(data.t, e)
    low, high = average.crump_bounds(design) if trim == "crump" else (0.0, 1.0)
    kept = (design >= low) & (design <= high)
    sample = data.subset(np.flatnonzero(kept))
    adjusted, matching_weights = average.psm(sample.t, sample.y, design[kept], n_boot=n_boot,
                                             random_state=random_state)
    adjusted += average.ipw(sample.t, sample.y, design[kept])
    adjusted += average.aipw(sample.X, sample.t, sample.y, design[kept], n_folds=3, random_state=random_state)
    for eff in adjusted:
        eff.population = kept
    extra = []
    if data.instrument is not None:
        extra.append(average.two_stage_least_squares(data.y, data.t, data.instrument, data.X))
    if data.post is not None:
        extra.append(average.difference_in_differences(data.y, data.t, data.post, data.X))
    binary = bool(np.isin(data.y, (0.0, 1.0)).all())
    e_values = {} if randomised else {(eff.method, eff.estimand): average.e_values(eff, float(data.y.std()), binary)
                                      for eff in adjusted}
    overlap = {**average.overlap_summary(data.t, e), "share_trimmed": float(1 - kept.mean()), "trim_low": low,
               "trim_high": high}
    return AverageReport([average.difference_in_means(data.t, data.y), *adjusted], e, design,
                         average.balance_table(data.X, data.t, design, matching_weights, kept), overlap, extra,
                         e_values)


def fit_and_score(methods: tuple[str, ...], train: CausalData, test: CausalData, params: dict | None = None,
                  test_weights: np.ndarray | None = None, random_state: int = 0,
                  ranking: bool = True) -> tuple[list[dict], dict[str, np.ndarray], dict[str, BaseEstimator]]:
    """Fit each learner on ``train``; return tidy rows, out-of-sample effects per method, and fitted models.

    Rows (``split=all`` unless said): ``ate`` (mean estimated effect over train and test) with
    ``ate_ci_low``/``ate_ci_high`` (``plug_in_ate``), ``fit_seconds``; with truth ``pehe`` (``split`` train/test)
    and ``ate_error``; with ``ranking`` the Qini / AUUC / uplift@k of the test set (``split=test``;
    ``test_weights``: inverse-propensity weights for observational test data). ``oracle`` in ``methods``
    scores the true effects (it is not fitted, so it has no ``fit_seconds``).
    """
    params = params or {}
    rows: list[dict] = []
    effects: dict[str, np.ndarray] = {}
    models: dict[str, BaseEstimator] = {}
    for method in tqdm(methods, desc="learners", leave=False):
        if method == "oracle":
            if train.tau is None or test.tau is None:
                continue
            tau_train, tau_test = train.tau, test.tau
        else:
            model = make_effect_learner(method, random_state=random_state, **params.get(method, {}))
            started = time.perf_counter()
            model.fit(train.X, train.t, train.y)
            rows.append({"model": method, "metric": "fit_seconds", "value": time.perf_counter() - started})
            tau_train, tau_test = model.effect(train.X), model.effect(test.X)
            models[method] = model
        effects[method] = tau_test
        both = np.r_[tau_train, tau_test]
        rows += plug_in_ate(method, both).rows()
        if train.tau is not None and test.tau is not None:
            rows += [{"model": method, "metric": "pehe", "split": "train", "value": pehe(tau_train, train.tau)},
                     {"model": method, "metric": "pehe", "split": "test", "value": pehe(tau_test, test.tau)},
                     {"model": method, "metric": "ate_error",
                      "value": ate_error(both.mean(), np.r_[train.tau, test.tau])}]
        if ranking:
            rows += [{**r, "split": "test"}
                     for r in uplift_ranking_metrics(method, tau_test, test.t, test.y, test.tau, test_weights)]
    return [{"split": "all", **row} for row in rows], effects, models


def plug_in_ate(method: str, tau: np.ndarray, level: float = 0.95) -> average.AverageEffect:
    """A learner's average effect: the mean of its per-unit effects, with a normal interval over units.

    The interval covers the sampling of units only (SE = sd(tau) / sqrt(n)), not the learner's own
    estimation error, so it is narrower than a full interval; AIPW's interval is the one to quote for
    the average effect, the learners are for who to target.
    """
    tau = np.asarray(tau, dtype=np.float64)
    return average.normal_ci(method, "ate", tau.mean(), tau.std(ddof=1) / np.sqrt(len(tau)), len(tau), level)


def effect_drivers(model, X: pd.DataFrame, n_rows: int = 1000,
                   random_state: int = 0) -> tuple[pd.Series, object, float]:
    """Which features drive the estimated effect: mean |SHAP| of a random-forest surrogate of ``model.effect``.

    The surrogate (depth-6 forest fitted to the learner's effects on ``n_rows`` rows) lets SHAP's exact
    tree explainer work for every learner; its R^2 on those rows is returned so the reader can judge it.
    """
    import shap

    rows = np.random.default_rng(random_state).choice(len(X), size=min(n_rows, len(X)), replace=False)
    Xs = X.iloc[rows]
    tau = model.effect(Xs)
    with limit_threads(1):
        surrogate = RandomForestRegressor(n_estimators=40, max_depth=6, min_samples_leaf=5,
                                          random_state=random_state).fit(Xs, tau)
        values = shap.TreeExplainer(surrogate).shap_values(Xs)
    importance = pd.Series(np.abs(values).mean(axis=0), index=X.columns).sort_values(ascending=False)
    explanation = shap.Explanation(values, data=Xs.to_numpy(), feature_names=list(X.columns))
    return importance, explanation, float(surrogate.score(Xs, tau))


def _learner_results(results: pd.DataFrame, learners: tuple[str, ...]) -> pd.DataFrame:
    """The learners' rows with ``pehe`` named by its split (``pehe_train``, ``pehe_test``)."""
    rows = results[results["model"].isin(learners)].copy()
    scored = rows["metric"] == "pehe"
    rows.loc[scored, "metric"] = "pehe_" + rows.loc[scored, "split"]
    return rows


def run(config: Config) -> StudyResult:
    """Average effects, learners fitted and scored on every replicate, the best learner and its drivers."""
    refuse(check(config))
    learners, preset = config.learners, LEARNER_PRESETS[config.learner_preset]
    ranked = config.source != "ihdp"  # IHDP's outcome is continuous: scored by PEHE, not by ranking curves
    with stopwatch() as clock:
        rows: list[dict] = []
        design_estimands: dict[str, str] = {}
        for seed, data, train_rows, test_rows in replicates(config):
            report = average_effects(data, randomised=not config.observational, trim=config.trim,
                                     random_state=seed)
            train, test = data.subset(train_rows), data.subset(test_rows)
            weights = average.ipw_weights(test.t, report.propensity[test_rows]) if config.observational else None
            learner_seed = config.seed if config.source == "ihdp" else seed
            learner_rows, effects, models = fit_and_score(learners, train, test, preset, weights,
                                                          random_state=learner_seed, ranking=ranked)
            rows += [{**row, "seed": seed} for row in report.rows(data.tau, data.t) + learner_rows]
            if config.source == "world":  # the same users' natural experiments, over the days they need
                natural = world_for(preset="natural_experiments", n_users=config.n_users, seed=seed)
                rows += [{**row, "seed": seed, "split": "all"} for row in designs.quasi_experiment_rows(natural)]
                design_estimands = {str(r.design): str(r.estimand) for r in natural.oracle["experiments"].itertuples()}
        results = pd.DataFrame(rows)[["model", "metric", "value", "seed", "split"]]
        learner_results = _learner_results(results, learners)
        means = learner_results.groupby(["model", "metric"])["value"].mean().unstack()
        truth = data.tau is not None
        fitted = [m for m in learners if m in models]
        best = str(means.loc[fitted, "pehe_test"].idxmin() if truth else means.loc[fitted, "qini"].idxmax())
        importance, explanation, fidelity = effect_drivers(models[best], data.X, random_state=config.seed)
        share_positive = float(np.mean(models[best].effect(data.X) > 0))
        average_rows = results[results["metric"] == "ate"].groupby("model")["value"].mean()
        headline: dict[str, object] = {"aipw_ate": float(average_rows["aipw"]), "best_learner": best}
        if truth:
            errors = results[results["metric"] == "ate_error"].groupby("model")["value"].mean()
            headline.update(best_pehe_test=float(means["pehe_test"][best]),
                            aipw_vs_naive_error=float(errors["aipw"] / errors["diff_in_means"]))
        if ranked:
            headline.update(best_qini=float(means.loc[fitted, "qini"].max()))
    artefacts = {"data": data, "report": report, "train": train, "test": test, "weights": weights,
                 "effects": effects, "models": models, "learner_results": learner_results, "means": means,
                 "fitted": fitted, "best": best, "truth": truth, "ranked": ranked,
                 "naive_ate": float(average_rows["diff_in_means"]),
                 "importance": importance, "explanation": explanation, "surrogate_r2": fidelity,
                 "share_positive": share_positive, "design_estimands": design_estimands}
    metrics = {"source": config.source, "effect_drivers": importance.head(10).to_dict(), "surrogate_r2": fidelity}
    return StudyResult(config, results, headline, metrics, artefacts, runtime_seconds=clock["seconds"])


def data_summary(result: StudyResult) -> str:
    """The data and design in Markdown: source, size, treated share, assignment, whether truth is known."""
    config, art = result.config, result.artefacts
    assert isinstance(config, Config)
    data, train, test = art["data"], art["train"], art["test"]
    describe = {"world": f"the simulated world, offer **{config.offer}** against no offer, {config.assignment} "
                         f"assignment (confounding {config.confounding}), {config.n_seeds} seed(s) from {config.seed}",
                "ihdp": f"IHDP (Hill 2011), realizations 1-{config.n_realizations}, fixed 90/10 train/test split each",
                "table": f"the table `{config.data_path}`"}[config.source]
    return (f"**Data:** {describe}. Last replicate: {len(data):,} units, {data.t.mean():.1%} treated, mean outcome "
            f"{data.y.mean():.4f} ({data.X.shape[1]} features; {len(train):,} train / {len(test):,} test). "
            f"Assignment is treated as **{'observational' if config.observational else 'randomised'}**; the true "
            f"effect is **{'known' if art['truth'] else 'unknown'}**." + gap_sentence(data.X))


def balance_summary(result: StudyResult) -> str:
    """The largest standardised mean difference before and after adjustment, the overlap and the trimming,
    and which propensity the estimates used, in Markdown."""
    config, report = result.config, result.artefacts["report"]
    assert isinstance(config, Config)
    worst, overlap = report.balance.abs().max(), report.overlap
    text = (f"Largest |SMD|: {worst['before']:.2f} before, {worst['ipw']:.2f} after IPW, {worst['matched']:.2f} "
            f"after matching. {overlap['share_outside']:.1%} of units have a propensity outside [0.05, 0.95].")
    if config.observational:
        text += " The estimates use the propensity shown."
    else:
        design = "the data's propensity column" if config.propensity_col else "the treated share"
        text += (f" The assignment is randomised, so the estimates use the design propensity ({design}); the "
                 f"cross-fitted propensity shown, which a random assignment should leave near the treated share, "
                 f"ranges from {report.propensity.min():.3f} to {report.propensity.max():.3f} and only serves "
                 f"this diagnosis.")
    if config.trim == "none":
        return text + " No overlap trimming (`trim=\"none\"`): propensities are clipped to [0.01, 0.99]."
    if overlap["share_trimmed"] == 0:
        return text + " Crump trimming dropped no unit: every propensity lies in the overlap region."
    return text + (f" Crump trimming kept units with a propensity in [{overlap['trim_low']:.3f}, "
                   f"{overlap['trim_high']:.3f}] and dropped **{overlap['share_trimmed']:.1%}** of them: PSM, IPW "
                   f"and AIPW estimate the effect on the units kept (the overlap population), not on all units.")


def average_table(result: StudyResult) -> pd.DataFrame:
    """Average-effect estimators x (estimate, interval, error): mean ± std over replicates."""
    report = result.artefacts["report"]
    methods = [e.method for e in report.effects + report.extra]
    return mean_std_table(result.results[result.results["model"].isin(methods)], digits=4)


def comparison_table(result: StudyResult) -> pd.DataFrame:
    """Learners (and the oracle) x sqrt(PEHE) train/test, ATE, ranking metrics, fit time: mean ± std."""
    table = mean_std_table(result.artefacts["learner_results"], digits=4)
    assert isinstance(result.config, Config)
    return table.loc[[m for m in result.config.learners if m in table.index],
                     [c for c in LEARNER_COLUMNS if c in table.columns]]


def quasi_experiment_table(result: StudyResult) -> pd.DataFrame:
    """The world's natural experiments (RDD, DID, synthetic control, IV): estimate, 95% interval and true
    effect (mean over replicates), and the share of replicates whose interval covers the truth. Empty
    off the world."""
    rows = result.results[result.results["model"].isin(list(designs.DESIGNS))]
    if rows.empty:
        return pd.DataFrame()
    wide = rows.pivot_table(index=["model", "seed"], columns="metric", values="value")
    wide["covered"] = (wide["ci_low"] <= wide["true_effect"]) & (wide["true_effect"] <= wide["ci_high"])
    table = wide.groupby(level="model").mean().reindex(list(designs.DESIGNS))
    estimands = result.artefacts["design_estimands"]
    table["estimand"] = [estimands.get(m, "") for m in table.index]
    return table[["estimand", "estimate", "ci_low", "ci_high", "true_effect", "covered"]].round(4)


def reference_tables(result: StudyResult) -> dict[str, pd.DataFrame]:
    """Published figures to read the table against, by caption (IHDP's, from Shalit et al. 2017)."""
    assert isinstance(result.config, Config)
    if result.config.source != "ihdp":
        return {}
    return {"Published sqrt(PEHE) on IHDP (Shalit et al. 2017, 1000 realizations):": PUBLISHED}


def verdict(result: StudyResult) -> str:
    """The answer in Markdown: the average effect against the naive one, the best learner, whom to target."""
    config, art, headline = result.config, result.artefacts, result.headline
    assert isinstance(config, Config)
    means, fitted, best = art["means"], art["fitted"], art["best"]
    aipw_ate, naive = headline["aipw_ate"], art["naive_ate"]
    reference = ("a naive (confounded) difference in means" if config.observational
                 else "the randomised difference in means")
    lines = [f"- **Average effect:** AIPW estimates {aipw_ate:+.4f} per unit against {reference} of {naive:+.4f}."]
    aipw = result.results[result.results["model"] == "aipw"].groupby("metric")["value"].mean()
    lines.append(f"- **Effect on the treated (ATT):** AIPW {aipw['att']:+.4f} (95% CI {aipw['att_ci_low']:+.4f} to "
                 f"{aipw['att_ci_high']:+.4f}) against an ATE of {aipw_ate:+.4f} (CI {aipw['ate_ci_low']:+.4f} to "
                 f"{aipw['ate_ci_high']:+.4f}).")
    if aipw["share_trimmed"] > 0:
        lines.append(f"- **Overlap:** Crump trimming dropped {aipw['share_trimmed']:.1%} of units with extreme "
                     f"propensities; PSM, IPW and AIPW are effects on the units kept, not on everyone.")
    if "ate_e_value" in aipw:
        interval = ("its interval already includes zero" if aipw["ate_e_value_ci"] <= 1 else
                    f"one of {aipw['ate_e_value_ci']:.2f} would move its interval to include zero")
        lines.append(f"- **Sensitivity (E-value):** to explain AIPW's ATE away, an unobserved confounder would need a "
                     f"risk ratio of {aipw['ate_e_value']:.2f} with both the treatment and the outcome (beyond the "
                     f"measured covariates); {interval}.")
    if art["truth"]:
        errors = result.results[result.results["metric"] == "ate_error"].groupby("model")["value"].mean()
        lines.append(f"- Against the truth, AIPW's ATE error is {errors['aipw']:.4f} vs {errors['diff_in_means']:.4f} "
                     f"for the difference in means ({headline['aipw_vs_naive_error']:.2f} of it).")
        pehe_test = means.loc[fitted, "pehe_test"]
        lines.append(f"- **Best individual-effect learner:** `{best}`, out-of-sample sqrt(PEHE) {pehe_test[best]:.4f} "
                     f"(worst: `{pehe_test.idxmax()}`, {pehe_test.max():.4f}).")
    if art["ranked"]:
        q_best, q_leader = headline["best_qini"], means.loc[fitted, "qini"].idxmax()
        oracle = (f", {q_best / means.loc['oracle', 'qini']:.2f} of the oracle's {means.loc['oracle', 'qini']:.3f}"
                  if art["truth"] else "")
        lines.append(f"- **Ranking:** `{q_leader}` has the highest Qini coefficient, {q_best:.3f}{oracle}.")
        top10 = means.loc[best, "uplift_at_10pct"]
        drivers = ", ".join(f"`{c}`" for c in art["importance"].head(3).index)
        if top10 > aipw_ate and q_best > 0:
            lines.append(f"- **Who to target:** the top 10% ranked by `{best}` show an uplift of {top10:+.4f} per "
                         f"unit against {aipw_ate:+.4f} on average, and the model gives {art['share_positive']:.0%} "
                         f"of units a positive effect. The effect is driven mostly by {drivers}: target the highest "
                         f"estimated effects first and skip negative ones.")
        else:
            lines.append(f"- **Who to target:** the ranking by `{best}` does not beat random targeting on the test "
                         f"split (top 10% uplift {top10:+.4f} vs {aipw_ate:+.4f} on average): use the average effect "
                         f"to decide on the campaign as a whole, and collect more data (or randomise) before "
                         f"targeting individuals.")
    quasi = quasi_experiment_table(result)
    if len(quasi):
        found = "; ".join(f"{m} {r.estimate:+.4f} [{r.ci_low:+.4f}, {r.ci_high:+.4f}] against {r.true_effect:+.4f}"
                          for m, r in quasi.iterrows())
        lines.append(f"- **Quasi-experiments** (where the lender cannot randomise: the approval cut-off, the "
                     f"regional pricing change, the randomised reminder as an instrument): {found}. "
                     f"{int((quasi['covered'] == 1).sum())} of {len(quasi)} intervals cover the true effect in "
                     f"every replicate.")
    lines.append(f"\nRun time {result.runtime_seconds:.0f} s.")
    return "\n".join(lines)


__all__ = ["DATASETS", "LEARNER_PRESETS", "AverageReport", "Config", "average_effects", "average_table",
           "balance_summary", "check", "comparison_table", "data_summary", "effect_drivers", "fit_and_score",
           "plug_in_ate", "quasi_experiment_table", "reference_tables", "replicates", "run", "verdict"]
