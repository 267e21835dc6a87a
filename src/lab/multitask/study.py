"""The multi-task funnel study: to pick a lending campaign's audience, one model per stage (thresholds
intersected or scores fused) or one multi-task graph model trained end to end?

Every model is fitted per seed on a fresh world (or the researcher's tables with a fresh user split) and
scored on the test users; the verdict compares the multi-objective graph model with the better of the
two per-stage baselines, paired per seed. Notebook 20 and ``benchmarks/bench_multitask.py`` call ``run``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator

from lab.core import (StudyConfig, StudyResult, gap_sentence, mean_std_table, paired_gap, refuse, stopwatch,
                      world_for)
from lab.data import OFFERS, STAGES, World, load_world, world_problems
from lab.multitask.baselines import CascadeSelector, MultiStageSelector
from lab.multitask.evaluate import evaluate_model, oracle_probabilities, top_k
from lab.multitask.features import FunnelData, build_funnel_data, train_test_rows
from lab.multitask.models import MultiTaskFunnelClassifier
from lab.multitask.segments import TIER_NAMES, DrawdownValueModel, assign_tiers, stp_table, tier_table

GRAPH_MODEL = "multi_objective_graph"
BASELINES = ("multi_stage", "cascade")
# The models of the comparison proper; ``include_ablations`` adds the MLP baselines and the graph
# model's one-network, fixed-weight and GradNorm variants.
CONTRACT_MODELS = ("multi_stage", "cascade", "shared_bottom", "mmoe", "ple", "funnel_aware", GRAPH_MODEL)
# Smallest own tables the study takes: users overall, and users who reach each funnel stage.
MIN_USERS, MIN_STAGE_USERS = 200, 10
TABLE_METRICS = (*(f"auc_{s}" for s in STAGES), "logloss_drawdown", "ece_drawdown", "funnel_violations",
                 "drawdowns_captured_at_k", "realised_drawdowns_at_k", "fit_seconds")


@dataclass
class Config(StudyConfig):
    """Defaults of the study: every field is a notebook parameter of the same name and default."""

    seed: int = 0
    data_dir: str = ""             # "" = a simulated world per seed; else a folder with users and funnel tables
    n_users: int = 10000
    n_days: int = 30
    shift_day: int = 20            # the simulated world's regime shift
    n_seeds: int = 3               # seeds seed, seed + 1, ...: a fresh world (or split) each
    test_size: float = 0.3         # share of users held out for scoring
    k_share: float = 0.1           # the audience: this share of the test users
    max_epochs: int = 300
    include_ablations: bool = True
    n_ensemble: int = 3            # networks averaged in the multi-objective graph model
    n_jobs: int = 2                # processes fitting (seed, model) pairs, one thread each


@dataclass
class SeedFit:
    """One seed's user split and every model's fit on it: what the figures of that seed read."""

    seed: int
    world: World
    data: FunnelData
    train: np.ndarray
    test: np.ndarray
    k: int
    proba: dict[str, np.ndarray] = field(default_factory=dict)
    selected: dict[str, np.ndarray] = field(default_factory=dict)
    models: dict[str, BaseEstimator] = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        """The test users' funnel labels, [len(test), 5]."""
        return self.data.labels_all[self.test]


@dataclass(frozen=True)
class Gap:
    """``GRAPH_MODEL`` minus the better baseline (by mean) on ``metric``, one value per seed."""

    metric: str
    baseline: str
    per_seed: pd.Series

    @property
    def mean(self) -> float:
        return float(self.per_seed.mean())

    @property
    def spread(self) -> float:
        """Standard deviation of the paired gaps over seeds (0 for one seed)."""
        return float(self.per_seed.std()) if len(self.per_seed) > 1 else 0.0

    @property
    def wins(self) -> int:
        return int((self.per_seed > 0).sum())

    @property
    def met(self) -> bool:
        return self.mean >= 0

    @property
    def within_spread(self) -> bool:
        """Short of the baseline by less than the paired spread."""
        return self.mean + self.spread >= 0

    def words(self) -> str:
        if self.met:
            return "matches or beats it"
        return "falls short, within the seed spread" if self.within_spread else "falls short"


def study_models(seed: int, max_epochs: int = 300, n_ensemble: int = 3,
                 include_ablations: bool = True) -> dict[str, BaseEstimator]:
    """The study's comparison, by results-contract name.

    The multi-objective graph model is a deep ensemble of ``n_ensemble`` networks. Ablations:
    ``*_mlp`` (the per-stage baselines with an MLP), ``multi_objective_graph_single`` (one network),
    ``*_fixed_weights`` and ``*_gradnorm`` (one network with fixed equal task weights, or GradNorm,
    instead of uncertainty weighting: compare them with ``multi_objective_graph_single``).
    """
    def net(architecture: str, **kw: Any) -> MultiTaskFunnelClassifier:
        return MultiTaskFunnelClassifier(architecture, random_state=seed, max_epochs=max_epochs, **kw)

    def graph_net(**kw: Any) -> MultiTaskFunnelClassifier:
        return net("funnel_aware", use_graph=True, use_sequence=True, **{"n_ensemble": n_ensemble, **kw})

    models: dict[str, BaseEstimator] = {
        "multi_stage": MultiStageSelector("gbm", random_state=seed),
        "cascade": CascadeSelector("gbm", random_state=seed),
        "multi_stage_mlp": MultiStageSelector("mlp", random_state=seed),
        "cascade_mlp": CascadeSelector("mlp", random_state=seed),
        "shared_bottom": net("shared_bottom"),
        "mmoe": net("mmoe"),
        "ple": net("ple"),
        "funnel_aware": net("funnel_aware"),
        GRAPH_MODEL: graph_net(),
        "multi_objective_graph_single": graph_net(n_ensemble=1),
        "multi_objective_graph_fixed_weights": graph_net(n_ensemble=1, task_weighting="fixed"),
        "multi_objective_graph_gradnorm": graph_net(n_ensemble=1, task_weighting="gradnorm"),
    }
    return models if include_ablations else {name: m for name, m in models.items() if name in CONTRACT_MODELS}


def check(config: Config) -> list[str]:
    """Every problem with the parameters and, with ``data_dir``, with the tables (see ``MIN_USERS``)."""
    problems = []
    if config.n_seeds < 1:
        problems.append(f"n_seeds must be at least 1, got {config.n_seeds}")
    for name in ("test_size", "k_share"):
        if not 0 < getattr(config, name) < 1:
            problems.append(f"{name} must lie in (0, 1), got {getattr(config, name)}")
    if not config.data_dir and not 0 < config.shift_day < config.n_days:
        problems.append(f"shift_day must lie in 1 .. n_days - 1 = {config.n_days - 1}, got {config.shift_day}")
    if config.n_ensemble < 1:
        problems.append(f"n_ensemble must be at least 1, got {config.n_ensemble}")
    if not config.data_dir:
        if config.n_users < MIN_USERS:
            problems.append(f"n_users must be at least {MIN_USERS}, got {config.n_users}")
        return problems
    found = world_problems(config.data_dir, require=("users", "funnel"))
    if found:
        return problems + found
    observed = load_world(config.data_dir, require=("users", "funnel")).observed
    if len(observed["users"]) < MIN_USERS:
        problems.append(f"users: {len(observed['users'])} rows; the multi-task study needs at least {MIN_USERS} "
                        "users (a test share to score and an audience of k_share of it)")
    reached = observed["funnel"][list(STAGES)].sum()
    thin = [f"'{stage}' {int(reached[stage])}" for stage in STAGES if reached[stage] < MIN_STAGE_USERS]
    if thin:
        problems.append(f"funnel: too few users reach {', '.join(thin)}; every stage needs at least "
                        f"{MIN_STAGE_USERS} users (each is a task the models learn and are scored on)")
    return problems


def _seed_worlds(config: Config) -> list[tuple[int, World, FunnelData]]:
    """(seed, world, model inputs) per seed: a fresh simulated world each, or the researcher's tables
    (read and encoded once) for every seed."""
    seeds = range(config.seed, config.seed + config.n_seeds)
    if config.data_dir:
        world = world_for(config.data_dir, require=("users", "funnel"))
        data = build_funnel_data(world)
        return [(s, world, data) for s in seeds]
    worlds = [world_for(n_users=config.n_users, n_days=config.n_days, shift_days=(config.shift_day,), seed=s)
              for s in seeds]
    return [(s, world, build_funnel_data(world)) for s, world in zip(seeds, worlds)]


def _fit_and_score(name: str, model: BaseEstimator, data: FunnelData, train: np.ndarray, test: np.ndarray, k: int,
                   true_p: np.ndarray | None, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, BaseEstimator]:
    """One (seed, model) task, run in a worker: fit on the training users, score and select on the test users."""
    with stopwatch() as clock:
        model.fit(data[train])
    proba, selected = model.predict_proba(data[test]), model.select(data[test], k)
    frame = evaluate_model(name, proba, selected, data.labels_all[test], true_p, seed=seed)
    timing = pd.DataFrame({"model": [name], "metric": ["fit_seconds"], "value": [clock["seconds"]], "seed": seed})
    return pd.concat([frame, timing], ignore_index=True), proba, selected, model


def _cost(name: str, model: BaseEstimator) -> int:
    """Rough fit cost, to start the slowest fits first: ensembles, then graph models, then MLPs."""
    params = model.get_params()
    return 2 * params.get("n_ensemble", 0) + params.get("use_graph", False) + ("mlp" in name)


def compare(config: Config) -> tuple[pd.DataFrame, list[SeedFit]]:
    """Fit every model per seed and score it on that seed's test users (with the oracle where the world
    has one). The (seed, model) fits run in ``n_jobs`` processes, slowest first: every model fits on one
    thread, so two cores fit two models. Returns the tidy results and the per-seed fits."""
    fits, frames, tasks = [], [], []
    for seed, world, data in _seed_worlds(config):
        train, test = train_test_rows(data, test_size=config.test_size, seed=seed)
        fit = SeedFit(seed, world, data, train, test, k=max(1, int(round(config.k_share * len(test)))))
        truth = oracle_probabilities(world, data.user_ids[test])
        true_p = truth[:, -1] if truth is not None else None
        if truth is not None:
            fit.proba["oracle"], fit.selected["oracle"] = truth, top_k(truth[:, -1], fit.k)
            frames.append(evaluate_model("oracle", truth, fit.selected["oracle"], fit.labels, true_p, seed=seed))
        fits.append(fit)
        models = study_models(seed, config.max_epochs, config.n_ensemble, config.include_ablations)
        tasks += [(fit, name, model, true_p) for name, model in models.items()]
    tasks.sort(key=lambda task: -_cost(task[1], task[2]))
    # Workers get copies of the arrays, not read-only memory maps (which torch wraps only with a warning).
    runs = Parallel(n_jobs=config.n_jobs, max_nbytes=None, return_as="generator")(
        delayed(_fit_and_score)(name, model, fit.data, fit.train, fit.test, fit.k, true_p, fit.seed)
        for fit, name, model, true_p in tasks)
    for (fit, name, _, _), (frame, proba, selected, model) in zip(tasks, runs):
        fit.proba[name], fit.selected[name], fit.models[name] = proba, selected, model
        frames.append(frame)
    return pd.concat(frames, ignore_index=True), fits


def segments(fit: SeedFit, model: str = GRAPH_MODEL) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Value tiers and the segment -> target -> positioning table of ``model``'s scores on ``fit``'s test
    users. Tiers cut by expected drawdown value: P(drawdown) x the predicted value of a drawdown."""
    value_model = DrawdownValueModel(random_state=fit.seed).fit(fit.data[fit.train])
    proba = fit.proba[model]
    expected_value = proba[:, -1] * value_model.predict(fit.data[fit.test])
    tiers = assign_tiers(expected_value)
    users = fit.world.observed["users"].set_index("user_id").loc[fit.data.user_ids[fit.test]].reset_index(drop=True)
    table = tier_table(tiers, proba, fit.labels, expected_value)
    if "credit" in fit.world.oracle:  # the world's expected profit of each user under the offer they were given
        ids = fit.data.user_ids[fit.test]
        credit = fit.world.oracle["credit"].set_index("user_id").loc[ids]
        offers = fit.world.observed["treatments"].set_index("user_id").loc[ids, "offer"].astype(str).to_numpy()
        by_offer = credit[[f"expected_profit_{o}" for o in OFFERS]].to_numpy()
        profit = by_offer[np.arange(len(ids)), [OFFERS.index(o) for o in offers]]
        table["true_expected_profit_per_user"] = [profit[tiers == TIER_NAMES.index(t)].mean() for t in table["tier"]]
    return table, stp_table(tiers, proba, fit.selected[model], users)


def tier_rows(tiers: pd.DataFrame, seed: int, model: str = GRAPH_MODEL) -> pd.DataFrame:
    """Results rows of the tiers' true expected profit per user (``segment`` = the tier), where the world knows it."""
    if "true_expected_profit_per_user" not in tiers:
        return pd.DataFrame()
    return pd.DataFrame({"model": model, "metric": "true_expected_profit_per_user",
                         "value": tiers["true_expected_profit_per_user"].to_numpy(), "seed": seed,
                         "segment": tiers["tier"].to_numpy()})


def bar_gap(results: pd.DataFrame, metric: str) -> Gap:
    """The issue's bar on ``metric``: ``GRAPH_MODEL`` minus the better of ``BASELINES``, paired per seed."""
    per_seed, best = paired_gap(results, metric, GRAPH_MODEL, BASELINES)
    return Gap(metric, best, per_seed)


def run(config: Config) -> StudyResult:
    """Every model on every seed, the segments of the graph model on the first seed, and the headline."""
    refuse(check(config))
    with stopwatch() as clock:
        results, fits = compare(config)
        tiers, stp = segments(fits[0])
        mean, _ = _means(results)
        extra = tier_rows(tiers, fits[0].seed)
        results = pd.concat([results, extra], ignore_index=True) if len(extra) else results
        auc, captured = bar_gap(results, "auc_drawdown"), bar_gap(results, "drawdowns_captured_at_k")
        headline = {
            "auc_drawdown_multi_objective_graph": mean[(GRAPH_MODEL, "auc_drawdown")],
            "auc_drawdown_best_baseline": mean[(auc.baseline, "auc_drawdown")],
            "captured_at_k_multi_objective_graph": mean[(GRAPH_MODEL, "drawdowns_captured_at_k")],
            "captured_at_k_best_baseline": mean[(captured.baseline, "drawdowns_captured_at_k")],
            "funnel_violations_funnel_aware": mean[("funnel_aware", "funnel_violations")],
        }
        if ("oracle", "drawdowns_captured_at_k") in mean:
            headline["captured_at_k_oracle"] = mean[("oracle", "drawdowns_captured_at_k")]
    return StudyResult(config, results, {k: float(v) for k, v in headline.items()},
                       metrics={"k": fits[0].k, "tiers": tiers.to_dict("records"), "stp": stp.to_dict("records")},
                       artefacts={"fits": fits, "tiers": tiers, "stp": stp}, runtime_seconds=clock["seconds"])


def _means(results: pd.DataFrame) -> tuple[dict[Any, float], dict[Any, float]]:
    """Mean and standard deviation (0 for one seed) over seeds of each (model, metric)."""
    grouped = results.groupby(["model", "metric"])["value"]
    return grouped.mean().to_dict(), grouped.std().fillna(0.0).to_dict()


def data_summary(result: StudyResult) -> str:
    """What the study ran on, as Markdown: the data, the features, the funnel rates, the split."""
    config, fit = result.config, result.artefacts["fits"][0]
    assert isinstance(config, Config)
    data = fit.data
    rates = pd.Series(data.labels_all.mean(axis=0), index=STAGES)
    if config.data_dir:
        source = f"the tables in `{config.data_dir}`"
        seeds = "Each seed draws a fresh"
    else:
        source = f"a simulated world of {data.n_users:,} users over {config.n_days} days"
        seeds = "Each seed draws a fresh world (simulation; the first is described here) and a fresh"
    return (f"We use {source}: {data.tabular_all.shape[1]} tabular features per user (profile plus per-product "
            f"interaction counts), a graph of {data.edge_index.shape[1] // 2:,} user-user and user-product links, "
            f"and each user's last {data.sequence_items.shape[1]} interactions. Funnel rates: "
            + ", ".join(f"{s} {r:.1%}" for s, r in rates.items())
            + f". {seeds} {1 - config.test_size:.0%}/{config.test_size:.0%} user split; the audience size K is "
            f"{config.k_share:.0%} of the test users." + gap_sentence(fit.world.observed["users"]))


def comparison_table(result: StudyResult) -> pd.DataFrame:
    """Model x metric, 'mean ± std' over seeds, on the test users."""
    rows = result.results[result.results["metric"].isin(TABLE_METRICS)]
    table = mean_std_table(rows)
    return table[[c for c in TABLE_METRICS if c in table.columns]]


def verdict(result: StudyResult) -> str:
    """The plain-words answer as Markdown: the graph model against the better baseline, paired per seed."""
    mean, std = _means(result.results)
    config = result.config
    assert isinstance(config, Config)

    def value(model: str, metric: str) -> float:
        return mean.get((model, metric), float("nan"))

    def spread(model: str, metric: str) -> float:
        return std.get((model, metric), float("nan"))

    auc, cap = bar_gap(result.results, "auc_drawdown"), bar_gap(result.results, "drawdowns_captured_at_k")
    mog, k = GRAPH_MODEL, int(result.metrics["k"])
    text = (
        f"**Verdict.** Final-stage AUC: multi-objective graph model {value(mog, 'auc_drawdown'):.3f} "
        f"± {spread(mog, 'auc_drawdown'):.3f}, best baseline ({auc.baseline}) "
        f"{value(auc.baseline, 'auc_drawdown'):.3f} ± {spread(auc.baseline, 'auc_drawdown'):.3f}; paired gap "
        f"{auc.mean:+.3f} ± {auc.spread:.3f}, ahead on {auc.wins} of {len(auc.per_seed)} seed(s) → {auc.words()}. "
        f"Expected drawdowns captured by the top {k:,}: {value(mog, 'drawdowns_captured_at_k'):.1f} "
        f"± {spread(mog, 'drawdowns_captured_at_k'):.1f} vs {value(cap.baseline, 'drawdowns_captured_at_k'):.1f} "
        f"for {cap.baseline} and {value('oracle', 'drawdowns_captured_at_k'):.1f} for the oracle; paired gap "
        f"{cap.mean:+.1f} ± {cap.spread:.1f}, ahead on {cap.wins} of {len(cap.per_seed)} → {cap.words()}. "
        f"Funnel-order violations: funnel-aware {value('funnel_aware', 'funnel_violations'):.1%}, "
        f"multi-objective graph {value(mog, 'funnel_violations'):.1%}, multi-stage "
        f"{value('multi_stage', 'funnel_violations'):.1%}, MMoE {value('mmoe', 'funnel_violations'):.1%} of users.")
    single = "multi_objective_graph_single"
    if (single, "auc_drawdown") in mean:
        text += (f" One network alone reaches drawdown AUC {value(single, 'auc_drawdown'):.3f} and captures "
                 f"{value(single, 'drawdowns_captured_at_k'):.1f}: the ensemble of {config.n_ensemble} adds "
                 f"{value(mog, 'auc_drawdown') - value(single, 'auc_drawdown'):+.3f} AUC.")
    return text + (" Between models a seed moves drawdown AUC by about 0.01, so a few seeds cannot separate a tie "
                   "from a small loss; `benchmarks/bench_multitask.py` measures the bar over ten.")


def design_table(result: StudyResult) -> pd.DataFrame:
    """Each strength or weakness the design names, with the figure that backs it (means over seeds)."""
    mean, _ = _means(result.results)
    config = result.config
    assert isinstance(config, Config)

    def fig(model: str, metric: str, fmt: str = "{:.3f}") -> str:
        return fmt.format(mean[(model, metric)]) if (model, metric) in mean else "n/a"

    return pd.DataFrame([
        {"approach": "multi-stage (threshold & intersect)",
         "strength": f"each stage tuned alone; exposure AUC {fig('multi_stage', 'auc_exposure')}",
         "weakness": f"scores out of funnel order for {fig('multi_stage', 'funnel_violations', '{:.0%}')} of "
                     f"users; captures {fig('multi_stage', 'drawdowns_captured_at_k', '{:.1f}')} drawdowns at K",
         "models to maintain": len(STAGES), "fit seconds": fig("multi_stage", "fit_seconds", "{:.1f}")},
        {"approach": "cascade (fuse scores)",
         "strength": f"ordered by construction ({fig('cascade', 'funnel_violations', '{:.0%}')} violations); "
                     f"captures {fig('cascade', 'drawdowns_captured_at_k', '{:.1f}')}",
         "weakness": f"later stages learn from few users; drawdown log-loss "
                     f"{fig('cascade', 'logloss_drawdown', '{:.4f}')}",
         "models to maintain": len(STAGES), "fit seconds": fig("cascade", "fit_seconds", "{:.1f}")},
        {"approach": "multi-objective graph model",
         "strength": f"one model, graph + sequence; drawdown AUC {fig(GRAPH_MODEL, 'auc_drawdown')}, "
                     f"captures {fig(GRAPH_MODEL, 'drawdowns_captured_at_k', '{:.1f}')}",
         "weakness": f"slower to train and tune (an ensemble of {config.n_ensemble}); ECE drawdown "
                     f"{fig(GRAPH_MODEL, 'ece_drawdown', '{:.4f}')}",
         "models to maintain": f"1 ({config.n_ensemble} networks)",
         "fit seconds": fig(GRAPH_MODEL, "fit_seconds", "{:.1f}")},
    ])


def audience_overlap(result: StudyResult) -> str:
    """Jaccard overlap of the first seed's top-K audiences of the baselines and the graph model, as Markdown."""
    selected = result.artefacts["fits"][0].selected
    names = [*BASELINES, GRAPH_MODEL]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    return "Jaccard overlap of the audiences: " + ", ".join(
        f"{a} vs {b} {len(np.intersect1d(selected[a], selected[b])) / len(np.union1d(selected[a], selected[b])):.2f}"
        for a, b in pairs) + "."


def weighting_summary(result: StudyResult) -> str:
    """Learned task weights (uncertainty, GradNorm) against fixed equal weights, one network each, as Markdown;
    empty without the ablations."""
    mean, _ = _means(result.results)
    fixed = "multi_objective_graph_fixed_weights"
    models = result.artefacts["fits"][0].models
    lines = []
    for name in ("multi_objective_graph_single", "multi_objective_graph_gradnorm"):
        if name in models and fixed in models:
            gain = {metric: mean[(name, metric)] - mean[(fixed, metric)]
                    for metric in ("auc_drawdown", "drawdowns_captured_at_k")}
            final = models[name].task_weights_history_[-1]
            lines.append(f"`{name}` vs fixed equal weights (one network each): drawdown AUC "
                         f"{gain['auc_drawdown']:+.3f}, drawdowns captured at K {gain['drawdowns_captured_at_k']:+.1f} "
                         "(mean over seeds). Final weights: "
                         + ", ".join(f"{s} {w:.2f}" for s, w in zip(STAGES, final)) + ".")
    return "\n\n".join(lines)
