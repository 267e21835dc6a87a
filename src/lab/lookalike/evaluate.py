"""Rolling chronological evaluation of lookalike scorers against the world's true target.

Every model is fitted once at ``train_end`` on what was observable before it (the seeds tagged so
far, the graph so far). Each later day ``d`` is then scored with information strictly before ``d``:
static models keep the audience they produced at ``train_end``, dynamic ones roll their state over
the new daily snapshots. The truth for day ``d`` is the target of the regime in force on ``d``
(``oracle["targets"]``); with a researcher's own data (no oracle) it is the seeds tagged from
``train_end`` on. Known seeds are excluded from scoring.

Every metric is also read on two slices of the scored users, per day: ``test_cold`` (at most
``COLD_START_INTERACTIONS`` own interactions before the day: new sign-ups and the quiet tail) and
``test_warm`` (the rest), since the graph should pay most where a user's own history is thin.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from tqdm.auto import tqdm

from lab.core import SchemaError, stopwatch
from lab.data import World
from lab.lookalike.baselines import (BaggingPU, DeepWalk, LabelPropagation, NeighbourGBM, RuleTargeting,
                                     SeedSimilarity, StaticGraphSAGE, UserCF, gradient_boosting, logistic_regression)
from lab.lookalike.model import DynamicGNN, Rollout
from lab.lookalike.sampling import GraphSeries, Snapshot

MULTIPLES = (1, 5, 10)
PERCENTS = (1, 5, 10)
ABLATIONS: dict[str, dict[str, Any]] = {
    "uniform_sampler": {"sampler": "uniform"},
    "single_aggregator": {"aggrs": ("mean",)},
    "concat_update": {"update": "concat"},
    "add_update": {"update": "add"},
    "no_gae": {"gae_weight": 0.0},
    "no_recency": {},  # snapshots weigh every day of the window alike (half_life = inf)
    "plus_gru_memory": {"memory": True},  # a learned GRU state on top of the decayed one
    "static_graph": {},  # fitted and scored on the one graph known at train_end
}
MIN_USERS, MIN_KNOWN_SEEDS = 50, 3  # smallest table the study takes, fewest seeds to learn from
STATIC_BASELINES = ("rule", "centroid_cosine", "max_similarity", "user_cf", "logistic_regression",
                    "gradient_boosting", "bagging_pu", "deepwalk", "graphsage_static")
# Models that read no neighbour: each user's own features only (their own degree is one of them).
NON_GRAPH_MODELS = ("rule", "centroid_cosine", "max_similarity", "user_cf", "logistic_regression",
                    "gradient_boosting", "bagging_pu", "logistic_regression_refreshed", "gradient_boosting_refreshed")
# What a practitioner tries before a GNN, re-scored on each day's graph: the strongest non-GNN graph models.
GRAPH_BASELINES = ("neighbour_gbm", "label_propagation")
COLD_START_INTERACTIONS = 2


def ranking_areas(y_sorted: np.ndarray, score_sorted: np.ndarray) -> tuple[float, float]:
    """ROC AUC and average precision of labels and scores sorted by descending score, as scikit-learn defines
    them (tied scores form one threshold), from that one sort: the study scores every model on every day and
    slice, and ``roc_auc_score`` plus ``average_precision_score`` sort twice more each time."""
    ends = np.r_[np.flatnonzero(np.diff(score_sorted)), len(score_sorted) - 1]
    tps = np.cumsum(y_sorted)[ends].astype(np.float64)
    fps = ends + 1 - tps
    if tps[-1] == 0 or fps[-1] == 0:
        raise ValueError("the AUC needs both classes among the scored users")
    tpr, fpr = np.r_[0.0, tps / tps[-1]], np.r_[0.0, fps / fps[-1]]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    average_precision = float(np.sum(np.diff(tpr) * tps / (ends + 1)))
    return auc, average_precision


def audience_metrics(y_true: np.ndarray, score: np.ndarray, n_seeds: int) -> dict[str, float]:
    """AUC, PR-AUC, recall/precision at K = 1x/5x/10x the seed count, lift in the top 1/5/10%."""
    y_true = np.asarray(y_true).astype(bool)
    score = np.asarray(score)
    order = np.argsort(-score, kind="stable")
    hits = np.cumsum(y_true[order])
    n, positives = len(y_true), max(int(y_true.sum()), 1)
    auc, average_precision = ranking_areas(y_true[order], score[order])
    out = {"auc": auc, "pr_auc": average_precision}
    for m in MULTIPLES:
        k = min(max(m * n_seeds, 1), n)
        out[f"recall_at_{m}x"] = hits[k - 1] / positives
        out[f"precision_at_{m}x"] = hits[k - 1] / k
    for p in PERCENTS:
        k = max(int(round(n * p / 100)), 1)
        out[f"lift_at_{p}pct"] = (hits[k - 1] / k) / (positives / n)
    return out


def audience_stability(scores: np.ndarray, k: int) -> np.ndarray:
    """Jaccard overlap of each day's top-``k`` audience with the previous day's; ``scores`` [D, N] -> [D]
    (NaN on the first day)."""
    k = min(k, scores.shape[1])
    tops = [set(np.argpartition(-row, k - 1)[:k].tolist()) for row in scores]
    return np.array([np.nan] + [len(a & b) / len(a | b) for a, b in zip(tops[:-1], tops[1:])])


def cumulative_gains(y_true: np.ndarray, score: np.ndarray, points: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """Share of users targeted (x) vs share of all targets reached (y), best-scored first."""
    hits = np.cumsum(np.asarray(y_true)[np.argsort(-np.asarray(score), kind="stable")])
    x = np.linspace(0, 1, points)
    idx = np.clip((x * len(hits)).astype(int) - 1, 0, len(hits) - 1)
    return x, np.where(x > 0, hits[idx] / max(hits[-1], 1), 0.0)


def own_history(series: GraphSeries, days: np.ndarray) -> np.ndarray:
    """Each user's number of own interactions strictly before each of ``days``: [D, N]."""
    ends = np.searchsorted(series.i_day, days)
    return np.stack([np.bincount(series.i_user[:end], minlength=series.n_users) for end in ends])


def slice_masks(history: np.ndarray, eval_mask: np.ndarray) -> dict[str, np.ndarray]:
    """The scored users of each day [D, N] per split: ``test`` (all), ``test_cold`` and ``test_warm``."""
    cold = history <= COLD_START_INTERACTIONS
    scored = np.broadcast_to(eval_mask, history.shape)
    return {"test": scored, "test_cold": scored & cold, "test_warm": scored & ~cold}


@dataclass
class LookalikeRun:
    """Everything one seed's run produced: tidy ``results``, the per-day ``scores`` [D, N] of each model
    for the scored ``days``, the truth [D, N], the scored users per split (``slices``, each [D, N]), the
    dynamic model, its ``rollout`` over every snapshot
    (final states and attention, for inspection) and the daily ``snapshots`` (days 1 .. n_days - 1)."""

    days: np.ndarray
    shift_day: int | None
    results: pd.DataFrame
    scores: dict[str, np.ndarray]
    truth: np.ndarray
    eval_mask: np.ndarray
    slices: dict[str, np.ndarray]
    model: DynamicGNN
    rollout: Rollout
    series: GraphSeries
    snapshots: list[Snapshot]


def seeds_before(seeds: pd.DataFrame, day: int) -> np.ndarray:
    """User ids of the seeds tagged before ``day`` (every seed when the table has no ``day`` column)."""
    if "day" not in seeds:
        return seeds["user_id"].to_numpy()
    return seeds.loc[seeds["day"] < day, "user_id"].to_numpy()


def data_problems(world: World, train_end: int, featured_product: int = 0) -> list[str]:
    """Every reason ``world`` cannot feed the study (one line each): users and seeds, a graph (edges and/or
    interactions by day), ``train_end`` inside the observed days, at least ``MIN_USERS`` users,
    ``MIN_KNOWN_SEEDS`` seeds tagged before ``train_end`` and, without an oracle, seeds tagged from
    ``train_end`` on to score against."""
    observed = world.observed
    problems = [f"{table}: table is missing; the lookalike study needs users, seeds and edges and/or "
                "interactions with a day column" for table in ("users", "seeds") if table not in observed]
    graph = [observed[t] for t in ("interactions", "edges") if t in observed]
    if not graph:
        problems.append("edges: table is missing (and no interactions); the lookalike study needs a graph")
    if problems:
        return problems
    users, seeds = observed["users"], observed["seeds"]
    if len(users) < MIN_USERS:
        problems.append(f"users: {len(users)} rows; the lookalike study needs at least {MIN_USERS} users")
    products = (observed["products"]["product_id"] if "products" in observed
                else observed["interactions"]["product_id"] if "interactions" in observed else pd.Series([0]))
    if featured_product not in set(products):
        problems.append(f"featured_product={featured_product} is not a product id of the data "
                        f"({sorted(set(products))[:10]})")
    n_days = int(max(frame["day"].max() for frame in graph)) + 1
    if not 1 <= train_end < n_days:
        problems.append(f"train_end={train_end} must lie inside the observed days 1..{n_days - 1}")
    known = len(seeds_before(seeds, train_end))
    if known < MIN_KNOWN_SEEDS:
        problems.append(f"seeds: {known} seed(s) tagged before train_end={train_end}; the models need at least "
                        f"{MIN_KNOWN_SEEDS} to learn from")
    if "targets" not in world.oracle and ("day" not in seeds or not (seeds["day"] >= train_end).any()):
        problems.append("seeds: no seed is tagged on or after train_end, so there is nothing to evaluate "
                        "against; lower train_end or add later seeds (with a day column)")
    return problems


def _truth(world: World, series: GraphSeries, days: np.ndarray, train_end: int,
           known: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``is_target`` [D, N] and the oracle's ``p_target`` [D, N] (None without an oracle)."""
    if "targets" in world.oracle:
        regimes = world.oracle["regimes"].set_index("day")["regime"]
        targets = world.oracle["targets"]
        by_regime = {r: t.set_index("user_id").loc[series.user_ids] for r, t in targets.groupby("regime")}
        frames = [by_regime[regimes.loc[d]] for d in days]
        return (np.stack([f["is_target"].to_numpy() for f in frames]),
                np.stack([f["p_target"].to_numpy() for f in frames]))
    seeds = world.observed["seeds"]
    tagged_later = seeds.loc[seeds["day"] >= train_end, "user_id"].to_numpy() if "day" in seeds else np.array([])
    later = np.isin(series.user_ids, tagged_later) & ~known
    return np.tile(later, (len(days), 1)), None


def supervised_reference(features: list[np.ndarray], truth: np.ndarray, mask: np.ndarray, seed: int = 0) -> np.ndarray:
    """Scores [D, N] of a logistic regression given each day's *true* targets, 5-fold cross-fitted over
    the ``mask`` users on that day's features ``features[d]`` [N, F] (0 elsewhere; NaN on a day with
    fewer than 5 targets or non-targets among them).

    No deployed model has these labels (after a shift, nobody has tagged the new regime's targets yet),
    so this is a reference for how far the observed features go, not a competitor. It is not a bound:
    the oracle also knows the latent traits that the features only hint at.
    """
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    out = np.zeros(truth.shape, dtype=np.float64)
    for i, x in enumerate(features):
        y = truth[i, mask]
        if not 5 <= y.sum() <= len(y) - 5:
            out[i] = np.nan
        else:
            out[i, mask] = cross_val_predict(LogisticRegression(max_iter=3000, random_state=seed), x[mask], y, cv=folds,
                                             method="decision_function")
    return out


def _static_baselines(seed: int, behaviour: list[int], featured_column: int) -> dict[str, Callable]:
    return {
        "rule": lambda: RuleTargeting(featured_column),
        "centroid_cosine": lambda: SeedSimilarity("centroid"),
        "max_similarity": lambda: SeedSimilarity("max", n_prototypes=64),
        "user_cf": lambda: UserCF(columns=behaviour),
        "logistic_regression": lambda: logistic_regression(seed),
        "gradient_boosting": lambda: gradient_boosting(seed),
        "bagging_pu": lambda: BaggingPU(random_state=seed),
    }


def rolling_evaluation(world: World, seed: int = 0, train_end: int = 15, window: int = 7,
                       half_life: float = 3.0, train_days: int = 8, featured_product: int = 0,
                       gnn_params: dict | None = None, ablations: Sequence[str] = tuple(ABLATIONS),
                       reference: bool = True, progress: bool = True) -> LookalikeRun:
    """Fit every model at ``train_end`` and score each later day; returns the tidy results and scores.

    ``results`` has one row per model, metric, scored ``day`` and split (``test``: every day from
    ``train_end`` on is after training; ``test_cold`` / ``test_warm``: its slices) plus the dynamic GNN's
    ``fit_seconds`` (``split="train"``). The GNNs train on the ``train_days`` daily snapshots up to
    ``train_end``; the ``*_refreshed`` models and the graph baselines are fitted on the snapshot of
    ``train_end`` and re-scored on each day's snapshot, as the dynamic GNN is. With an oracle and ``reference``,
    ``supervised_reference`` (see :func:`supervised_reference`) is scored on each day's snapshot features.
    """
    problems = data_problems(world, train_end, featured_product)
    if problems:
        raise SchemaError(*problems)
    unknown = [a for a in ablations if a not in ABLATIONS]
    if unknown:
        raise ValueError(f"unknown ablation(s) {unknown}; choose from {list(ABLATIONS)}")
    observed = world.observed
    product_ids = observed["products"]["product_id"] if "products" in observed else None
    series = GraphSeries(observed["users"], observed.get("interactions"), observed.get("edges"), product_ids)
    known = np.isin(series.user_ids, seeds_before(observed["seeds"], train_end))
    y = known.astype(int)
    days = np.arange(train_end, series.n_days)
    shift_day = int(world.shift_days[0]) if world.shift_days else None
    truth, oracle = _truth(world, series, days, train_end, known)
    eval_mask = ~known
    n_seeds = int(known.sum())

    snapshots = [series.snapshot(d, window, half_life) for d in tqdm(range(1, series.n_days), desc="snapshots",
                                                                       disable=not progress)]
    train_snaps = [s for s in snapshots if train_end - train_days < s.day <= train_end]
    fit_snap = snapshots[train_end - 1]
    static_snap = series.union_snapshot(train_end)
    X_static = static_snap.x.numpy()
    scores: dict[str, np.ndarray] = {}
    if oracle is not None:
        scores["oracle"] = oracle

    def roll(model: DynamicGNN) -> np.ndarray:
        return model.decision_function(snapshots)[days - 1]

    params = {"random_state": seed, **(gnn_params or {})}
    with stopwatch() as fit_clock:
        model = DynamicGNN(**params).fit(train_snaps, y)
    rollout = model.rollout(snapshots)
    scores["dynamic_gnn"] = rollout.scores[days - 1]
    for name in tqdm(ablations, desc="ablations", disable=not progress):
        if name == "no_recency":
            flat = [series.snapshot(d, window, float("inf")) for d in range(1, series.n_days)]
            flat_model = DynamicGNN(**params).fit(flat[max(train_end - train_days, 0):train_end], y)
            scores["dynamic_gnn_ablation_no_recency"] = flat_model.decision_function(flat)[days - 1]
        elif name == "static_graph":
            static_model = DynamicGNN(**{**params, **ABLATIONS[name]}).fit([static_snap], y)
            scores["dynamic_gnn_ablation_static_graph"] = np.tile(static_model.decision_function([static_snap]),
                                                                  (len(days), 1))
        else:
            ablated = DynamicGNN(**{**params, **ABLATIONS[name]}).fit(train_snaps, y)
            scores[f"dynamic_gnn_ablation_{name}"] = roll(ablated)

    featured_column = len(series.static_names) + int(series.product_ids.get_indexer(pd.Index([featured_product]))[0])
    behaviour = list(range(len(series.static_names), X_static.shape[1]))
    for name, make in tqdm(_static_baselines(seed, behaviour, featured_column).items(),
                           desc="baselines", disable=not progress):
        estimator = make().fit(X_static, y)
        scores[name] = np.tile(estimator.decision_function(X_static), (len(days), 1))
        if name in ("logistic_regression", "gradient_boosting"):
            refreshed = make().fit(fit_snap.x.numpy(), y)
            scores[f"{name}_refreshed"] = np.stack([refreshed.decision_function(snapshots[d - 1].x.numpy())
                                                    for d in days])
    for name, graph_model in (("neighbour_gbm", NeighbourGBM(random_state=seed)),
                              ("label_propagation", LabelPropagation())):
        graph_model.fit(fit_snap, y)
        scores[name] = np.stack([graph_model.decision_function(snapshots[d - 1]) for d in days])
    scores["deepwalk"] = np.tile(DeepWalk(random_state=seed).fit(static_snap, y).decision_function(), (len(days), 1))
    scores["graphsage_static"] = np.tile(
        StaticGraphSAGE(random_state=seed).fit(static_snap, y).decision_function(static_snap), (len(days), 1))

    if oracle is not None and reference:
        scores["supervised_reference"] = supervised_reference([snapshots[d - 1].x.numpy() for d in days], truth,
                                                              eval_mask, seed)

    slices = slice_masks(own_history(series, days), eval_mask)
    rows: list[dict] = [{"model": "dynamic_gnn", "metric": "fit_seconds", "value": fit_clock["seconds"],
                         "split": "train", "seed": seed}]
    for name, model_scores in scores.items():
        rows += _metric_rows(name, model_scores, truth, slices, days, n_seeds, seed)
    results = pd.DataFrame(rows).astype({"day": "Int64"})
    return LookalikeRun(days=days, shift_day=shift_day, results=results, scores=scores, truth=truth,
                        eval_mask=eval_mask, slices=slices, model=model, rollout=rollout, series=series,
                        snapshots=snapshots)


def _metric_rows(name: str, scores: np.ndarray, truth: np.ndarray, slices: dict[str, np.ndarray], days: np.ndarray,
                 n_seeds: int, seed: int) -> list[dict]:
    """Tidy rows of one model's ``audience_metrics`` per day and split; a slice's audience sizes (K = 1x, 5x,
    10x the seeds) shrink with its share of the day's scored users, and a slice without both classes that
    day is skipped. The day-over-day audience stability is read on the whole scored population only."""
    scored = np.isfinite(scores).all(axis=1)
    everyone = slices["test"][0]
    stability = (audience_stability(scores[:, everyone], 5 * n_seeds) if scored.all()
                 else np.full(len(days), np.nan))
    rows = []
    for split, masks in slices.items():
        for i, day in enumerate(days):
            mask, y = masks[i], truth[i, masks[i]]
            if not scored[i] or not 0 < y.sum() < len(y):
                continue
            k = max(1, round(n_seeds * mask.sum() / everyone.sum()))
            metrics = audience_metrics(y, scores[i, mask], k)
            if split == "test":
                metrics["stability_at_5x"] = stability[i]
            rows += [{"model": name, "metric": m, "value": v, "split": split, "day": int(day), "seed": seed}
                     for m, v in metrics.items() if not np.isnan(v)]
    return rows
