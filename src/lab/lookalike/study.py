"""The lookalike study: does a dynamic GNN keep finding the seeds' lookalikes after the market shifts,
what does each of its parts buy, and where does the graph pay?

``run(config)`` fits every model at ``train_end`` for ``n_seeds`` repetitions and scores each later day
(``rolling_evaluation``), on every scored user and on the cold-start and warm slices. The tables, the
headline and the verdict read the days from the regime shift on (``after_shift``), computed here from the
raw per-day rows. Each ablation is compared with the full model on the same repetition and day: the rows
``paired_auc_gain`` (full model minus the ablated one, so positive means the part helps) with its 95%
interval over repetitions are the only summary rows the run stores, per split.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import yaml
from joblib import Parallel, delayed

from lab.core import (SchemaError, StudyConfig, StudyResult, limit_threads, mean_std, mean_std_table, paired_gap,
                      paired_interval, refuse, stopwatch, world_for, world_problems_of)
from lab.core import GAPS_IMPUTED, gap_note
from lab.data import World, world_problems
from lab.explain.graph import explain_run
from lab.lookalike.audiences import discover, expand, identify, segment_profile
from lab.lookalike.evaluate import (ABLATIONS, GRAPH_BASELINES, MIN_USERS, NON_GRAPH_MODELS, LookalikeRun,
                                    data_problems, rolling_evaluation)

SHOWN_METRICS = ("auc", "pr_auc", "recall_at_1x", "recall_at_5x", "precision_at_1x", "lift_at_1pct", "lift_at_5pct",
                 "stability_at_5x")
DESCRIBED_COLUMNS = ("age", "income", "credit_score", "digital_affinity", "risk_appetite")
DEGREE_BUCKETS = ([-1, 0, 2, 5, 10, np.inf], ["0", "1-2", "3-5", "6-10", ">10"])
REFERENCE_BAR, COLD_GAIN_BAR = 0.03, 0.03  # the bars: the verdict says whether each is met
SETTLE_DAYS = 3  # "settled" days: this many days or more after the shift
SPLITS = ("test", "test_cold", "test_warm")
DIALS = ("cold_start_share", "peer_effect", "tie_noise")  # the world's dials a sweep varies
NOT_BASELINES = ("dynamic_gnn", "oracle", "supervised_reference")
COMPONENTS = {  # ablation -> the part of the full model it removes (or, for plus_gru_memory, adds)
    "uniform_sampler": "heuristic sampling of strong, recent ties (vs uniform)",
    "single_aggregator": "several aggregators mixed by centre attention (vs mean only)",
    "concat_update": "the crossing update (vs GraphSAGE's concat)",
    "add_update": "the crossing update (vs a residual add)",
    "no_gae": "the GAE edge-reconstruction objective",
    "no_recency": "recency weighting inside the window",
    "static_graph": "daily snapshots (vs one static graph at train_end)",
    "plus_gru_memory": "no learned GRU memory (the variant adds one)",
}


@dataclass
class Config(StudyConfig):
    """Defaults of the lookalike study (each field is a notebook parameter of the same name)."""

    seed: int = 0
    data_dir: str = ""  # "" = the simulated world (preset "dense_graph"); else a folder of your tables
    n_users: int = 5000
    n_days: int = 30
    shift_day: int = 20
    interactions_per_user_day: float = 2.0
    edges_per_user_day: float = 0.3
    train_end: int = 15
    window: int = 7
    half_life: float = 3.0
    epochs: int = 8
    cold_start_share: float = 0.3  # world dials (simulated data only): share of users who sign up in the window,
    peer_effect: float = 0.8  # rise of the target logit per log(1 + strong ties who would take the product),
    tie_noise: float = 0.2  # share of edges that are noise ties between random users
    ablations: tuple[str, ...] = ("uniform_sampler", "single_aggregator", "concat_update", "add_update", "no_gae",
                                  "no_recency", "static_graph")
    n_seeds: int = 5  # repetitions: seeds seed .. seed + n_seeds - 1 (a fresh world each on simulated data)
    featured_product: int = 0
    segment_query: str = "credit_score >= 700"
    n_threads: int = 1  # threads per process
    n_jobs: int = 2  # processes running the repetitions side by side
    explain: bool = True  # "why these users": LICE on the GNN's layers and graph explanations (first repetition)


def _world(config: Config, seed: int) -> World:
    return world_for(config.data_dir, preset="dense_graph", require=("users", "seeds"), n_users=config.n_users,
                     n_days=config.n_days, seed=seed, shift_days=(config.shift_day,),
                     interactions_per_user_day=config.interactions_per_user_day,
                     edges_per_user_day=config.edges_per_user_day, cold_start_share=config.cold_start_share,
                     peer_effect=config.peer_effect, tie_noise=config.tie_noise)


def check(config: Config) -> list[str]:
    """Every problem with the parameters and, with ``data_dir``, with the tables (``data_problems``)."""
    problems = []
    unknown = [a for a in config.ablations if a not in ABLATIONS]
    if unknown:
        problems.append(f"ablations: unknown {unknown}; choose from {list(ABLATIONS)}")
    if config.n_seeds < 1:
        problems.append(f"n_seeds must be at least 1 (repetitions), got {config.n_seeds}")
    if config.n_jobs < 1:
        problems.append(f"n_jobs must be at least 1 (processes), got {config.n_jobs}")
    if not config.data_dir:
        if config.n_users < MIN_USERS:
            problems.append(f"n_users must be at least {MIN_USERS}, got {config.n_users}")
        if not 1 <= config.train_end < config.n_days:
            problems.append(f"train_end={config.train_end} must lie inside the days 1..{config.n_days - 1}")
        return problems + world_problems_of("dense_graph", cold_start_share=config.cold_start_share,
                                            peer_effect=config.peer_effect, tie_noise=config.tie_noise)
    found = world_problems(config.data_dir, require=("users", "seeds"))
    if found:
        return problems + found
    return problems + data_problems(_world(config, config.seed), config.train_end, config.featured_product)


def run(config: Config) -> StudyResult:
    """Every model, every day from ``train_end``, for each repetition; plus the audience modes on the
    first repetition's last day."""
    refuse(check(config))
    with stopwatch() as clock, limit_threads(config.n_threads):
        first_world = _world(config, config.seed)
        own = first_world if config.data_dir else None  # own tables: every repetition reads the same ones
        runs = Parallel(n_jobs=min(config.n_jobs, config.n_seeds), max_nbytes=None)(
            delayed(_repetition)(config, config.seed + r, first_world if r == 0 else own)
            for r in range(config.n_seeds))
        per_day = pd.concat([r.results for r in runs], ignore_index=True)
        first = runs[0]
        results = pd.concat([per_day, ablation_gains(per_day, first.shift_day)], ignore_index=True)
        metrics = {"shift_day": first.shift_day, "seeds_known_at_train_end": int((~first.eval_mask).sum()),
                   "non_graph_models": [m for m in NON_GRAPH_MODELS if m in set(per_day["model"])]}
        headline = _headline(per_day, first.shift_day)
        artefacts = {"world": first_world, "run": first, **_audience_modes(config, first_world, first)}
        if config.explain:
            explanation = explain_run(first)
            results = pd.concat([results, explanation.rows], ignore_index=True)
            artefacts["explanation"] = explanation
    return StudyResult(config, results, headline, metrics=metrics, artefacts=artefacts,
                       runtime_seconds=clock["seconds"])


def _repetition(config: Config, seed: int, world: World | None) -> LookalikeRun:
    """One repetition (a fresh world of ``seed`` unless ``world`` is given), on ``n_threads`` threads."""
    with limit_threads(config.n_threads):
        return rolling_evaluation(world if world is not None else _world(config, seed), seed=seed,
                                  train_end=config.train_end, window=config.window, half_life=config.half_life,
                                  gnn_params={"epochs": config.epochs}, ablations=config.ablations,
                                  featured_product=config.featured_product, progress=False)


def _after_shift(results: pd.DataFrame, shift_day: int | None, split: str = "test",
                 settled: bool = False) -> pd.DataFrame:
    rows = results[(results["split"] == split) & results["day"].notna()]
    if shift_day is not None:
        rows = rows[rows["day"] >= shift_day + (SETTLE_DAYS if settled else 0)]
    return rows.groupby(["model", "metric", "seed"], sort=False)["value"].mean().reset_index()


def after_shift(result: StudyResult, split: str = "test", settled: bool = False) -> pd.DataFrame:
    """Per model, metric and repetition (``seed``): the mean over the scored days of ``split`` from the regime
    shift on (from ``SETTLE_DAYS`` after it when ``settled``; every scored day when the data has no shift)."""
    return _after_shift(result.results, result.metrics["shift_day"], split, settled)


def baselines_of(models: Sequence[str]) -> list[str]:
    """The competitors of the dynamic GNN among ``models``: neither it, its ablations, the oracle nor the
    supervised reference."""
    return [m for m in models if m not in NOT_BASELINES and not m.startswith("dynamic_gnn_ablation_")]


def ablation_gains(per_day: pd.DataFrame, shift_day: int | None) -> pd.DataFrame:
    """Per ablation and split: the full model's AUC minus the ablated model's, paired on repetition and day
    after the shift, averaged per repetition; rows ``paired_auc_gain`` and its 95% interval over repetitions
    (positive: the removed part helps)."""
    rows = []
    for split in SPLITS:
        after = _after_shift(per_day, shift_day, split)
        auc = after[after["metric"] == "auc"].pivot(index="seed", columns="model", values="value")
        for model in [m for m in auc.columns if m.startswith("dynamic_gnn_ablation_")]:
            gains = (auc["dynamic_gnn"] - auc[model]).dropna()
            mean, low, high = paired_interval(gains)
            rows += [{"model": model, "metric": metric, "value": value, "split": split}
                     for metric, value in (("paired_auc_gain", mean), ("paired_auc_gain_ci_low", low),
                                           ("paired_auc_gain_ci_high", high)) if np.isfinite(value)]
    return pd.DataFrame(rows, columns=["model", "metric", "value", "split"])


def gap_to_best(after: pd.DataFrame, rivals: Sequence[str]) -> tuple[float, float, float, str]:
    """The dynamic GNN's paired AUC gap to the best of ``rivals``: mean, 95% interval, the rival's name
    (NaN and "" when there is no rival or no dynamic GNN in ``after``)."""
    try:
        gaps, best = paired_gap(after, "auc", "dynamic_gnn", rivals)
    except ValueError:
        return float("nan"), float("nan"), float("nan"), ""
    return (*paired_interval(gaps), best)


def _headline(per_day: pd.DataFrame, shift_day: int | None) -> dict[str, Any]:
    after = _after_shift(per_day, shift_day)
    auc = after[after["metric"] == "auc"].groupby("model")["value"].mean()
    gain, _, _, best = gap_to_best(after, baselines_of(list(auc.index)))
    headline: dict[str, Any] = {"dynamic_gnn_auc_after_shift": auc["dynamic_gnn"], "best_baseline_model": best,
                                "best_baseline_auc_after_shift": auc[best], "gain_over_best_baseline": gain}
    cold = _after_shift(per_day, shift_day, "test_cold")
    # the dynamic GNN minus the best model without a graph, on cold starts and on every scored user
    headline["graph_gain_cold"] = gap_to_best(cold, NON_GRAPH_MODELS)[0]
    headline["graph_gain"] = gap_to_best(after, NON_GRAPH_MODELS)[0]
    if "supervised_reference" in auc:
        settled = _after_shift(per_day, shift_day, settled=True)
        settled_auc = settled[settled["metric"] == "auc"].groupby("model")["value"].mean()
        headline["oracle_auc_after_shift"] = auc["oracle"]
        headline["reference_gap_settled"] = settled_auc["supervised_reference"] - settled_auc["dynamic_gnn"]
    return {k: v if isinstance(v, str) else float(v) for k, v in headline.items()}


def _audience_modes(config: Config, world: World, run: LookalikeRun) -> dict[str, Any]:
    """Identify (the named segment's profile), expand (the top 5x seeds on the last day) and discover
    (clusters of the dynamic model's final user states) on the first repetition."""
    users = world.observed["users"]
    scores_today = run.scores["dynamic_gnn"][-1]
    known = ~run.eval_mask
    audience = expand(scores_today, 5 * int(known.sum()), exclude=known)
    try:
        segment = identify(users, config.segment_query)
        profile, segment_error = segment_profile(segment, scores_today, audience, run.truth[-1]), ""
    except SchemaError as err:
        profile, segment_error = None, str(err)
    describe = tuple(c for c in DESCRIBED_COLUMNS if c in users)
    _, clusters = discover(run.rollout.embedding, users, audience, n_clusters=6, random_state=config.seed,
                           describe=describe)
    return {"audience": audience, "segment_profile": profile, "segment_error": segment_error, "clusters": clusters}


def data_summary(result: StudyResult) -> pd.DataFrame:
    """Size of the first repetition's data: users, days, interactions, edges, seeds, the shift."""
    observed = result.artefacts["world"].observed
    graph_days = pd.concat([observed[t]["day"] for t in ("interactions", "edges") if t in observed])
    shift_day = result.metrics["shift_day"]
    return pd.Series({
        "users": len(observed["users"]),
        "days": int(graph_days.max()) + 1 if len(graph_days) else 0,
        "user-product interactions": len(observed.get("interactions", [])),
        "user-user edges": len(observed.get("edges", [])),
        "seeds known at train_end": result.metrics["seeds_known_at_train_end"],
        "regime shift on day": shift_day if shift_day is not None else "n/a (own data)",
        f"user features: {GAPS_IMPUTED}": gap_note(observed["users"]) or "none",
    }, name="value").to_frame()


def comparison_table(result: StudyResult, split: str = "test") -> pd.DataFrame:
    """Models x metrics after the shift on ``split``, 'mean ± std' over repetitions, best AUC first."""
    after = after_shift(result, split)
    after = after[after["metric"].isin(SHOWN_METRICS)]
    order = after[after["metric"] == "auc"].groupby("model")["value"].mean().sort_values(ascending=False).index
    table = mean_std_table(after)
    return table[[m for m in SHOWN_METRICS if m in table]].loc[order]


def daily_table(result: StudyResult, metric: str = "auc") -> pd.DataFrame:
    """Days (rows) x models (columns): ``metric`` on each scored day, mean over repetitions."""
    rows = result.results[(result.results["split"] == "test") & (result.results["metric"] == metric)]
    return rows.astype({"day": int}).groupby(["day", "model"])["value"].mean().unstack("model")


def slice_auc(result: StudyResult) -> pd.DataFrame:
    """AUC after the shift per model, repetition (``seed``) and split (``SPLITS``), one row each."""
    auc = pd.concat([after_shift(result, split).assign(split=split) for split in SPLITS])
    return auc[auc["metric"] == "auc"]


def slice_table(result: StudyResult) -> pd.DataFrame:
    """AUC after the shift per model (rows) and split (columns: all scored users, cold starts, warm users),
    'mean ± std' over repetitions; best overall first."""
    auc = slice_auc(result)
    order = auc[auc["split"] == "test"].groupby("model")["value"].mean().sort_values(ascending=False).index
    table = mean_std_table(auc, index="model", columns="split")
    return table[[s for s in SPLITS if s in table]].reindex(order)


def slice_shares(result: StudyResult) -> pd.Series:
    """Mean share of the scored users in each slice over the scored days (first repetition)."""
    slices = result.artefacts["run"].slices
    everyone = slices["test"].sum()
    return pd.Series({split: slices[split].sum() / everyone for split in SPLITS}, name="share of scored users")


def paired_gains(result: StudyResult) -> pd.DataFrame:
    """The stored ``paired_auc_gain`` rows as one row per ablation and split: ``ablation`` (its name without
    the ``dynamic_gnn_ablation_`` prefix), ``split``, ``gain``, ``ci_low``, ``ci_high`` (NaN without an interval)."""
    rows = result.results[result.results["metric"].str.startswith("paired_auc_gain")]
    wide = rows.pivot_table(index=["model", "split"], columns="metric", values="value", aggfunc="first")
    wide = wide.reindex(columns=["paired_auc_gain", "paired_auc_gain_ci_low", "paired_auc_gain_ci_high"])
    wide.columns = ["gain", "ci_low", "ci_high"]
    wide = wide.reset_index()
    wide.insert(0, "ablation", wide.pop("model").str.removeprefix("dynamic_gnn_ablation_"))
    return wide


def ablation_table(result: StudyResult) -> pd.DataFrame:
    """Per ablation: what it removes, and per split the paired AUC gain of the full model over it with its
    95% interval and a reading (helps / hurts / cannot be told apart)."""
    gains = paired_gains(result)
    if gains.empty:
        return pd.DataFrame()
    table = pd.DataFrame({
        "ablation": gains["ablation"], "split": gains["split"],
        "the full model has": gains["ablation"].map(lambda name: COMPONENTS.get(name, name)),
        "gain": gains["gain"].map("{:+.3f}".format),
        "95% interval": [f"{low:+.3f} to {high:+.3f}" if np.isfinite(low) else "n/a"
                         for low, high in zip(gains["ci_low"], gains["ci_high"])],
        "reading": [_reading(low, high) for low, high in zip(gains["ci_low"], gains["ci_high"])]})
    return table.set_index(["ablation", "split"]).sort_index()


def _reading(low: float, high: float) -> str:
    if not np.isfinite(low):
        return "too few repetitions"
    return "helps" if low > 0 else "hurts" if high < 0 else "cannot be told apart"


def attention_by_slice(result: StudyResult) -> pd.DataFrame:
    """Mean first-layer aggregator attention on the scored days, cold-start vs warm users (first repetition)."""
    run = result.artefacts["run"]
    attention = run.rollout.attention[run.days - 1].astype(np.float32)  # [D, N, K] on the scored days
    return pd.DataFrame({split: attention[run.slices[split]].mean(axis=0) for split in ("test_cold", "test_warm")},
                        index=list(run.model.aggrs)).T


def shown_models(result: StudyResult) -> list[str]:
    """The models the figures draw: oracle, the dynamic GNN, the best baseline after the shift, the best
    graph baseline, the refreshed logistic regression and the static-graph ablation (those that were run)."""
    models = set(result.results["model"])
    after = after_shift(result)
    auc = after[after["metric"] == "auc"].groupby("model")["value"].mean()
    graph = [m for m in GRAPH_BASELINES if m in auc.index]
    best_graph = [str(auc[graph].idxmax())] if graph else []
    shown = ["oracle", "dynamic_gnn", result.headline["best_baseline_model"], *best_graph,
             "logistic_regression_refreshed", "dynamic_gnn_ablation_static_graph"]
    return [m for m in dict.fromkeys(shown) if m in models]


def stability_table(result: StudyResult) -> pd.DataFrame:
    """Day-over-day Jaccard overlap of the top-5x audience: the shown models (rows) x days."""
    return daily_table(result, "stability_at_5x")[shown_models(result)].round(3).T


def attention_by_day(result: StudyResult) -> pd.DataFrame:
    """Mean first-layer aggregator attention per snapshot day (first repetition): days x aggregators."""
    run = result.artefacts["run"]
    attention = run.rollout.attention.astype(np.float32)
    return pd.DataFrame(attention.mean(axis=1), columns=list(run.model.aggrs),
                        index=pd.Index([s.day for s in run.snapshots], name="day"))


def attention_by_degree(result: StudyResult) -> pd.DataFrame:
    """Mean aggregator attention on the last day by the user's number of neighbours that day."""
    run = result.artefacts["run"]
    attention = run.rollout.attention[-1].astype(np.float32)
    degree = np.bincount(run.snapshots[-1].edge_index[1].numpy(), minlength=attention.shape[0])
    buckets = pd.Series(pd.cut(degree, DEGREE_BUCKETS[0], labels=DEGREE_BUCKETS[1]), name="neighbours")
    table = pd.DataFrame(attention, columns=list(run.model.aggrs)).groupby(buckets, observed=True).mean()
    return table


def audience_summary(result: StudyResult) -> str:
    """What the identify, expand and discover tables show, as Markdown."""
    query = cast(Config, result.config).segment_query
    if result.artefacts["segment_profile"] is None:
        identify_text = f"**Identify** skipped: {result.artefacts['segment_error']}"
    else:
        identify_text = (f"**Identify**: how the named segment `{query}` scores with the dynamic model on the last "
                         "day (target rate: that day's truth, i.e. the regime's true target set, or later seeds on "
                         "own data).")
    return (f"{identify_text}\n\n**Expand**: the audience is the {int(result.artefacts['audience'].sum()):,} "
            "best-scored non-seed users on the last day. **Discover**: clusters of the dynamic model's user states "
            "(below the segment profile), with their share in that audience.")


def segment_table(result: StudyResult) -> pd.DataFrame:
    """The named segment's profile (empty when the query could not be evaluated)."""
    profile = result.artefacts["segment_profile"]
    return pd.DataFrame(columns=["value"]) if profile is None else profile.round(3).to_frame()


def clusters_table(result: StudyResult) -> pd.DataFrame:
    """The discovered clusters: size, share in the expanded audience, mean user traits."""
    return result.artefacts["clusters"].round(2)


def explanation_table(result: StudyResult) -> pd.DataFrame:
    """LICE on each GNN layer: held-out surrogate fidelity and clusters (worst over LICE's seeds), ARI across
    them and path agreement under 5% feature noise (empty when the run did not explain)."""
    rows = result.results
    lice = rows[rows["model"] == "lice_gnn"]
    if lice.empty:
        return pd.DataFrame()
    by_layer = lice[lice["layer"] != "all"].groupby(["layer", "metric"])["value"]
    table = pd.DataFrame({"fidelity (worst seed)": by_layer.min().xs("fidelity", level="metric"),
                          "clusters (most)": by_layer.max().xs("n_clusters", level="metric").astype(int),
                          "ARI across seeds": by_layer.mean().xs("ari", level="metric"),
                          "path agreement": by_layer.mean().xs("path_agreement", level="metric")})
    return table.round(3)


def explanation_summary(result: StudyResult) -> str:
    """What the explanation section found, as Markdown."""
    rows = result.results
    lice = rows[rows["model"] == "lice_gnn"]
    graph = rows[(rows["model"] == "graph_explanation") & (rows["metric"] == "neighbour_feature_top3_share")]
    share = graph.set_index("split")["value"]
    rate = float(lice.loc[lice["metric"] == "decision_rate", "value"].iloc[0])
    fidelity = lice.loc[lice["metric"] == "fidelity", "value"].min()
    return (f"Shallow trees on what a person can read (own features, neighbour aggregates, strong ties, recency) "
            f"reproduce the GNN's pick of the top-5x audience at every layer with held-out fidelity of at least "
            f"**{fidelity:.3f}** (always saying 'not picked' would score {1 - rate:.3f}). The graph-aware explanation "
            f"(GNNExplainer masks over the user's and their neighbours' features) ranks a neighbour's feature among "
            f"the top 3 for **{share.get('test_cold', float('nan')):.0%}** of the cold starts and "
            f"{share.get('test_warm', float('nan')):.0%} of the warm users it picks.{_deletion_sentence(rows)}")


def _deletion_sentence(rows: pd.DataFrame) -> str:
    """The deletion check in one sentence."""
    graph = rows[rows["model"] == "graph_explanation"].set_index(["metric", "split"])["value"]
    top = graph.xs("deletion_top_change", level="metric")
    drawn = graph.xs("deletion_random_change", level="metric")
    return (f" Deletion check: setting each user's three most attributed entries to their mean moves the score "
            f"by {top.get('test_cold', float('nan')):.2f} on cold starts and {top.get('test_warm', float('nan')):.2f} "
            f"on warm users, against {drawn.get('test_cold', float('nan')):.2f} and "
            f"{drawn.get('test_warm', float('nan')):.2f} for three entries drawn at random, so the explanation "
            f"{'points at what the model reads' if (top > drawn).all() else 'does not point better than chance'}.")


def verdict(result: StudyResult) -> str:
    """The answer in plain words, as Markdown, read from ``result`` alone."""
    headline, shift_day = result.headline, result.metrics["shift_day"]
    after = after_shift(result)
    auc = after[after["metric"] == "auc"]
    n_repetitions = auc["seed"].nunique()
    dyn = headline["dynamic_gnn_auc_after_shift"]
    _, std = mean_std(auc.loc[auc["model"] == "dynamic_gnn", "value"])
    gain, low, high, best = gap_to_best(after, baselines_of(list(auc["model"].unique())))
    lines = [f"After the regime shift the dynamic GNN reaches AUC **{dyn:.3f}** (± {std:.3f} over {n_repetitions} "
             f"repetitions). The best baseline, `{best}`, reaches {headline['best_baseline_auc_after_shift']:.3f}: "
             f"the dynamic GNN is **{gain:+.3f}** against it ({_interval(low, high)}), "
             f"{_told(low, high, 'ahead of', 'behind')} it."]
    cold = after_shift(result, "test_cold")
    cold_gain, cold_low, cold_high, cold_best = gap_to_best(cold, NON_GRAPH_MODELS)
    if cold_best:
        neighbour_gain, n_low, n_high, _ = gap_to_best(cold, ["neighbour_gbm"])
        met = cold_gain >= COLD_GAIN_BAR and neighbour_gain >= 0
        lines.append(f"**Where the graph pays.** On cold starts (two or fewer own interactions before the day) the "
                     f"dynamic GNN is **{cold_gain:+.3f}** against the best model without a graph, `{cold_best}` "
                     f"({_interval(cold_low, cold_high)}), and {neighbour_gain:+.3f} against a gradient boosting "
                     f"on own features plus neighbour aggregates ({_interval(n_low, n_high)}); the bar (+"
                     f"{COLD_GAIN_BAR} over the best non-graph model and level with the neighbour-aggregate GBM) is "
                     f"**{'met' if met else 'not met'}**.")
    if "reference_gap_settled" in headline:
        gap = headline["reference_gap_settled"]
        lines.append(f"On settled days ({SETTLE_DAYS} or more after the shift on day {shift_day}) a logistic "
                     "regression given each day's true labels on the same features (the observable ceiling, "
                     f"`supervised_reference`) is {abs(gap):.3f} {'above' if gap > 0 else 'below'} the dynamic GNN "
                     f"({'within' if gap <= REFERENCE_BAR else 'outside'} the {REFERENCE_BAR} bar); the GNN has "
                     "only the seeds tagged before the shift.")
    table = ablation_table(result)
    if not table.empty:
        overall = table.xs("test", level="split")
        groups = {r: [n for n in overall.index if overall.loc[n, "reading"] == r]
                  for r in ("helps", "hurts", "cannot be told apart")}
        said = [f"{reading}: " + ", ".join(f"`{n}` ({overall.loc[n, 'gain']})" for n in names)
                for reading, names in groups.items() if names]
        lines.append("**What each part buys** (the full model's paired AUC gain over the variant without it, all "
                     "scored users after the shift): " + "; ".join(said) + ".")
    if (result.results["model"] == "lice_gnn").any():
        lines.append("**Why these users.** " + explanation_summary(result))
    lines.append(f"The study ran in {result.runtime_seconds:.0f} s.")
    return "\n\n".join(lines)


def _interval(low: float, high: float) -> str:
    return f"95% interval {low:+.3f} to {high:+.3f}" if np.isfinite(low) else "too few repetitions for an interval"


def _told(low: float, high: float, above: str, below: str) -> str:
    return above if low > 0 else below if high < 0 else f"not told apart from (neither {above} nor {below})"


def graph_payoff(folders: Sequence[Path], dials: Sequence[str] = DIALS) -> pd.DataFrame:
    """The study's headline picture as a table, from the run folders of a sweep (``lookalike_sweep.yaml``):
    per cell of the world's ``dials`` and per split, the dynamic GNN's AUC after the shift minus the best
    model of the cell that uses no graph (``non_graph_models`` of each run's metrics.json), mean and 95%
    interval paired over every repetition of the cell's runs."""
    frames = []
    for folder in folders:
        params = yaml.safe_load((Path(folder) / "params.yaml").read_text())["parameters"]
        metrics = json.loads((Path(folder) / "metrics.json").read_text())
        per_day = pd.read_csv(Path(folder) / "results.csv")
        for split in ("test", "test_cold"):
            after = _after_shift(per_day, metrics["shift_day"], split)
            after = after[(after["metric"] == "auc")
                          & after["model"].isin([*metrics["non_graph_models"], "dynamic_gnn"])]
            frames.append(after.assign(split=split, seed=after["seed"].astype(str) + "/" + str(folder),
                                       **{dial: params[dial] for dial in dials}))
    rows = []
    for cell, auc in pd.concat(frames).groupby([*dials, "split"]):
        gain, low, high, best = gap_to_best(auc, [m for m in auc["model"].unique() if m != "dynamic_gnn"])
        rows.append({**dict(zip([*dials, "split"], cell)), "gain": gain, "ci_low": low, "ci_high": high,
                     "best_non_graph_model": best, "repetitions": auc["seed"].nunique()})
    return pd.DataFrame(rows)
