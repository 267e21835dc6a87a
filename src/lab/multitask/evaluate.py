"""Scoring funnel models: per-stage AUC / log-loss / ECE, funnel-order violations, drawdowns captured at K.

``drawdowns_captured_at_k`` is the expected number of drawdowns among the K selected users, summed from
the oracle's true P(drawdown) when the world has an oracle, else the realised drawdowns.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

from lab.data import STAGES


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """ECE over equal-count bins of the predicted probability (rare stages leave equal-width bins empty)."""
    order = np.argsort(p, kind="stable")
    bins = np.array_split(order, n_bins)
    return float(sum(len(b) * abs(y[b].mean() - p[b].mean()) for b in bins if len(b)) / len(p))


def funnel_violation_rate(proba: np.ndarray, tolerance: float = 1e-9) -> float:
    """Share of users for whom some later stage's probability exceeds an earlier stage's."""
    return float((np.diff(proba, axis=1) > tolerance).any(axis=1).mean())


def stage_metrics(labels: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """``auc_<stage>``, ``logloss_<stage>``, ``ece_<stage>`` for each stage with both classes present."""
    out = {}
    p = np.clip(proba, 1e-6, 1 - 1e-6)
    for s, stage in enumerate(STAGES):
        y = labels[:, s]
        if 0 < y.sum() < len(y):
            out[f"auc_{stage}"] = float(roc_auc_score(y, p[:, s]))
            out[f"logloss_{stage}"] = float(log_loss(y, p[:, s], labels=[0, 1]))
            out[f"ece_{stage}"] = expected_calibration_error(y, p[:, s])
    return out


def selection_metrics(selected: np.ndarray, labels: np.ndarray, true_p_drawdown: np.ndarray | None) -> dict[str, float]:
    """Drawdowns captured by the selected positions (oracle expectation if known) and realised ones."""
    realised = float(labels[selected, -1].sum())
    captured = float(true_p_drawdown[selected].sum()) if true_p_drawdown is not None else realised
    return {"drawdowns_captured_at_k": captured, "realised_drawdowns_at_k": realised}


def evaluate_model(name: str, proba: np.ndarray, selected: np.ndarray, labels: np.ndarray,
                   true_p_drawdown: np.ndarray | None = None, **columns) -> pd.DataFrame:
    """Tidy rows (model, metric, value, **columns) for one fitted model on one test set."""
    metrics = stage_metrics(labels, proba)
    metrics["funnel_violations"] = funnel_violation_rate(proba)
    metrics.update(selection_metrics(selected, labels, true_p_drawdown))
    return pd.DataFrame({"model": name, "metric": list(metrics), "value": list(metrics.values()), **columns})


def oracle_probabilities(world, user_ids: np.ndarray) -> np.ndarray | None:
    """True cumulative funnel probabilities [n, 5] for ``user_ids``, or None without an oracle."""
    probs = world.oracle.get("funnel_probs")
    if probs is None:
        return None
    table = probs.set_index("user_id").loc[user_ids]
    return table[[f"p_{s}" for s in STAGES]].to_numpy(dtype=np.float64)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest scores (stable, so ties keep their order)."""
    return np.argsort(-scores, kind="stable")[:k]


def default_models(seed: int = 0, max_epochs: int = 300, n_ensemble: int = 3) -> dict:
    """The study's comparison, by results-contract name.

    The multi-objective graph model is a deep ensemble of ``n_ensemble`` networks. Ablations:
    ``*_mlp`` (the per-stage baselines with an MLP), ``multi_objective_graph_single`` (one network),
    ``*_fixed_weights`` and ``*_gradnorm`` (one network with fixed equal task weights, or GradNorm,
    instead of uncertainty weighting: compare them with ``multi_objective_graph_single``).
    """
    from lab.multitask.baselines import CascadeSelector, MultiStageSelector
    from lab.multitask.models import MultiTaskFunnelClassifier

    def net(architecture, **kw):
        return MultiTaskFunnelClassifier(architecture, random_state=seed, max_epochs=max_epochs, **kw)

    def graph_net(**kw):
        return net("funnel_aware", use_graph=True, use_sequence=True, **{"n_ensemble": n_ensemble, **kw})

    return {
        "multi_stage": MultiStageSelector("gbm", random_state=seed),
        "cascade": CascadeSelector("gbm", random_state=seed),
        "multi_stage_mlp": MultiStageSelector("mlp", random_state=seed),
        "cascade_mlp": CascadeSelector("mlp", random_state=seed),
        "shared_bottom": net("shared_bottom"),
        "mmoe": net("mmoe"),
        "ple": net("ple"),
        "funnel_aware": net("funnel_aware"),
        "multi_objective_graph": graph_net(),
        "multi_objective_graph_single": graph_net(n_ensemble=1),
        "multi_objective_graph_fixed_weights": graph_net(n_ensemble=1, task_weighting="fixed"),
        "multi_objective_graph_gradnorm": graph_net(n_ensemble=1, task_weighting="gradnorm"),
    }


def paired_gap(results: pd.DataFrame, metric: str, model: str = "multi_objective_graph",
               baselines: tuple[str, ...] = ("multi_stage", "cascade")) -> tuple[pd.Series, str]:
    """``model`` minus the better of ``baselines`` (by mean over seeds) on ``metric``, per seed (seeds
    missing either are dropped); returns the gaps and that baseline's name."""
    per_seed = results[results["metric"] == metric].pivot_table(index="seed", columns="model", values="value")
    best = per_seed[list(baselines)].mean().idxmax()
    return (per_seed[model] - per_seed[best]).dropna(), best


CONTRACT_MODELS = ("multi_stage", "cascade", "shared_bottom", "mmoe", "ple", "funnel_aware", "multi_objective_graph")


def _fit_and_score(name, model, data, train, test, k, true_p, seed):
    start = time.perf_counter()
    model.fit(data[train])
    seconds = time.perf_counter() - start
    proba, selected = model.predict_proba(data[test]), model.select(data[test], k)
    frame = evaluate_model(name, proba, selected, data.labels_all[test], true_p, seed=seed)
    timing = pd.DataFrame({"model": [name], "metric": ["fit_seconds"], "value": [seconds], "seed": seed})
    return pd.concat([frame, timing], ignore_index=True), proba, selected, model


def compare_over_seeds(data_dir: str, world_params: dict, seeds: list[int], k_share: float = 0.1,
                       test_size: float = 0.3, max_epochs: int = 300, include_ablations: bool = True,
                       n_ensemble: int = 3, n_jobs: int = 2, progress: bool = False) -> tuple[pd.DataFrame, list[dict]]:
    """Fit every model on a fresh world (or the user's tables with a fresh split) per seed; score on test users.

    Returns tidy results (with the oracle where the world has one) and, per seed, a state dict with the
    test positions, probabilities, selections and fitted models, for figures. The (seed, model) fits run
    in ``n_jobs`` processes, slowest first: every model fits on one thread, so two cores fit two models.
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    from lab.data import get_world
    from lab.multitask.features import build_funnel_data, train_test_rows

    states, frames, tasks = [], [], []
    for s in seeds:
        world = get_world(data_dir, **world_params, seed=s) if not data_dir else get_world(data_dir)
        data = build_funnel_data(world)
        train, test = train_test_rows(data, test_size=test_size, seed=s)
        truth = oracle_probabilities(world, data.user_ids[test])
        k = max(1, int(round(k_share * len(test))))
        true_p = truth[:, -1] if truth is not None else None
        models = default_models(seed=s, max_epochs=max_epochs, n_ensemble=n_ensemble)
        if not include_ablations:
            models = {name: m for name, m in models.items() if name in CONTRACT_MODELS}
        state = {"seed": s, "train": train, "test": test, "labels": data.labels_all[test], "k": k, "proba": {},
                 "selected": {}, "models": {}}
        if truth is not None:
            state["proba"]["oracle"], state["selected"]["oracle"] = truth, top_k(truth[:, -1], k)
            frames.append(evaluate_model("oracle", truth, state["selected"]["oracle"], state["labels"], true_p, seed=s))
        states.append(state)
        tasks += [(len(states) - 1, name, model, data, train, test, k, true_p, s) for name, model in models.items()]
    tasks.sort(key=lambda t: -(2 * t[2].get_params().get("n_ensemble", 0) + t[2].get_params().get("use_graph", False)
                               + ("mlp" in t[1])))
    runs = Parallel(n_jobs=n_jobs, return_as="generator")(delayed(_fit_and_score)(*t[1:]) for t in tasks)
    for task, (frame, proba, selected, model) in zip(tasks, tqdm(runs, total=len(tasks), disable=not progress)):
        state = states[task[0]]
        state["proba"][task[1]], state["selected"][task[1]], state["models"][task[1]] = proba, selected, model
        frames.append(frame)
    return pd.concat(frames, ignore_index=True), states
