"""The LICE explanation study: what did the deep model learn, and why did it pick these users?

Each repetition draws a train/test split, trains the default MLP, fixes the decision ("picked") at the
training scores' top ``target_share`` and fits LICE on every row; the first repetition's model is also
explained by the classic toolkit. ``run`` computes everything; the table helpers and ``verdict`` read
the result alone, so the notebook and ``benchmarks/bench_lice.py`` only show it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from lab.core import (StudyConfig, StudyResult, gap_sentence, limit_threads, mean_std_table, member_seeds, refuse,
                      stopwatch)
from lab.explain.data import load_labelled_table
from lab.explain.lice import LICE, lice_results
from lab.explain.mlp import TorchMLPClassifier
from lab.explain.toolkit import compare_methods, method_table
from lab.results import TIMING_SUFFIX

# Training of the explained MLP (tuned once for the default world; the study explains it, not tunes it).
MLP_TRAINING: dict[str, Any] = {"batch_size": 512, "lr": 5e-3, "weight_decay": 1e-2}
TEST_FRACTION = 0.3
N_ARI_SEEDS = 3        # LICE refits on the first repetition's model for cluster stability
FIDELITY_BAR = 0.95
ARI_BAR = 0.8
MIN_ROWS, MIN_CLASS_ROWS = 100, 20  # smallest table the study takes, and of each class of the target


@dataclass
class Config(StudyConfig):
    """Defaults of the study: every field is a notebook parameter of the same name and default."""

    seed: int = 0
    data_dir: str = ""                      # "" simulates the world; else a folder of the workbench's tables
    data_path: str = ""                     # a CSV/parquet of one row per user with a 0/1 column (wins over data_dir)
    target_col: str = ""                    # the 0/1 column of data_path to predict
    feature_cols: tuple[str, ...] = ()      # feature columns of data_path (empty: all other columns but ids)
    n_users: int = 5000
    target: str = "apply"                   # the world's funnel stage to predict ("apply" or "drawdown")
    target_share: float = 0.2               # the campaign picks the top 20% of scores: that decision is explained
    n_seeds: int = 3                        # repetitions seed, seed+1, ...: model, split and LICE re-drawn
    hidden: tuple[int, ...] = (32, 16, 8)   # widths of the MLP's hidden layers
    epochs: int = 30
    max_clusters: int = 8
    n_threads: int = 1                      # small MLPs train faster on one thread than on contended cores


def check(config: Config) -> list[str]:
    """Every problem with the parameters and, with ``data_path`` or ``data_dir``, with the table: at
    least ``MIN_ROWS`` rows and ``MIN_CLASS_ROWS`` of each class (the stratified split and LICE's
    clusters need both)."""
    problems = []
    if config.n_seeds < 1:
        problems.append(f"n_seeds must be at least 1, got {config.n_seeds}")
    if not 0 < config.target_share < 1:
        problems.append(f"target_share must lie in (0, 1), got {config.target_share}")
    if not (config.data_path or config.data_dir):
        if config.n_users < MIN_ROWS:
            problems.append(f"n_users must be at least {MIN_ROWS}, got {config.n_users}")
        return problems
    try:
        _, y, _ = load_labelled_table(config.data_dir, config.data_path, config.target_col, config.feature_cols,
                                      target=config.target)
    except ValueError as err:  # SchemaError: the table; ValueError: target or feature_cols
        return problems + str(err).splitlines()
    where = Path(config.data_path).name if config.data_path else "users"
    if len(y) < MIN_ROWS:
        problems.append(f"{where}: {len(y)} rows; the explanation study needs at least {MIN_ROWS}")
    if min(y.sum(), len(y) - y.sum()) < MIN_CLASS_ROWS:
        problems.append(f"{where}: target '{y.name}' has {int(y.sum())} positive and {int(len(y) - y.sum())} "
                        f"negative rows; each class needs at least {MIN_CLASS_ROWS}")
    return problems


def run(config: Config) -> StudyResult:
    """Train, explain and score every repetition, then run the toolkit on the first repetition's model."""
    refuse(check(config))
    with stopwatch() as clock, limit_threads(config.n_threads):
        X, y, drivers = load_labelled_table(config.data_dir, config.data_path, config.target_col, config.feature_cols,
                                            n_users=config.n_users, seed=config.seed, target=config.target)
        rows, runs = [], []
        for rep in range(config.n_seeds):
            s = config.seed + rep
            X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=TEST_FRACTION, random_state=s,
                                                                stratify=y)
            with stopwatch() as mlp_clock:
                model = TorchMLPClassifier(hidden=config.hidden, epochs=config.epochs, random_state=s,
                                           **MLP_TRAINING).fit(X_train, y_train)
                threshold = float(np.quantile(model.predict_proba(X_train)[:, 1], 1 - config.target_share))
            with stopwatch() as lice_clock:
                lice = LICE(model, max_clusters=config.max_clusters, threshold=threshold, random_state=s).fit(X)
            rows.append(lice_results(lice, X, X_test, ari_seeds=member_seeds(s, N_ARI_SEEDS) if rep == 0 else (),
                                     drivers=drivers, baseline=X_train.to_numpy(np.float32).mean(axis=0),
                                     random_state=s).assign(seed=s))
            rows.append(pd.DataFrame([
                {"model": "mlp", "metric": "auc", "value": roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])},
                {"model": "mlp", "metric": "fit_seconds", "value": mlp_clock["seconds"]},
                {"model": "lice", "metric": "fit_seconds", "value": lice_clock["seconds"]}]).assign(seed=s))
            runs.append({"model": model, "lice": lice, "threshold": threshold, "X_train": X_train, "X_test": X_test,
                         "y_test": y_test, "lice_seconds": lice_clock["seconds"]})
        first = runs[0]
        toolkit = compare_methods(first["model"], first["X_train"], first["X_test"], first["threshold"],
                                  y_test=first["y_test"], drivers=drivers, random_state=config.seed)
        results = pd.concat([*rows, toolkit["results"].assign(seed=config.seed)], ignore_index=True)
        lice_record = {"method": "lice", "fidelity": min(first["lice"].fidelity_.values()),
                       "fidelity_kind": "agreement, held out (worst layer)",
                       "explain_seconds": first["lice_seconds"], "scope": "global + per user"}
        table = method_table([lice_record, *toolkit["table"]])
    return StudyResult(config, results, headline(results),
                       metrics={"method_table": table.drop(columns="answers").to_dict("records")},
                       artefacts={"X": X, "y": y, "drivers": drivers, "runs": runs, "toolkit": toolkit,
                                  "method_table": table},
                       runtime_seconds=clock["seconds"])


# -- what the study found, read from the result ----------------------------------------------------------
def _lice(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    return rows[(rows["model"] == "lice") & (rows["metric"] == metric)]


def _figures(rows: pd.DataFrame) -> dict:
    """The numbers the headline and the verdict quote, from the results rows."""
    fidelity = _lice(rows, "fidelity").groupby("layer")["value"].mean()
    ari = _lice(rows, "ari")["value"]
    drop = rows[rows["metric"] == "deletion_drop"].groupby("model")["value"].mean()
    return {"fidelity_min": fidelity.min(), "fidelity_max": fidelity.max(),
            "worst_layer": fidelity.idxmin(), "best_layer": fidelity.idxmax(),
            "layers_over_bar": int((fidelity >= FIDELITY_BAR).sum()), "n_layers": len(fidelity),
            "k_max": int(_lice(rows, "n_clusters")["value"].max()),
            "ari_min": ari.min(), "ari_max": ari.max(),
            "ari_fixed_k_min": _lice(rows, "ari_fixed_k")["value"].min(),
            "ari_fixed_k_max": _lice(rows, "ari_fixed_k")["value"].max(),
            "path": _lice(rows, "path_agreement").query("layer == 'all'")["value"].mean(),
            "drop_lice": drop["lice"], "drop_random": drop["random_features"], "drop_shap": drop.get("shap", np.nan),
            "global_tree": rows.query("model == 'global_surrogate_tree' and metric == 'fidelity'")["value"].mean()}


def headline(results: pd.DataFrame) -> dict[str, float]:
    """The reports index's figures: LICE's worst-layer fidelity, most clusters, least stable layer,
    whole-path agreement under noise and the deletion drop against random features."""
    f = _figures(results)
    return {"lice_fidelity_min": float(f["fidelity_min"]), "lice_max_clusters": f["k_max"],
            "lice_ari_min": float(f["ari_min"]), "path_agreement": float(f["path"]),
            "deletion_drop_vs_random": float(f["drop_lice"] / f["drop_random"])}


def data_summary(result: StudyResult) -> str:
    """The data and the explained decision in one Markdown paragraph."""
    config = cast(Config, result.config)
    X, y, drivers = result.artefacts["X"], result.artefacts["y"], result.artefacts["drivers"]
    source = (f"`{config.data_path}`" if config.data_path else f"the tables in `{config.data_dir}`" if config.data_dir
              else f"simulated world, {config.n_users:,} users")
    return (f"**Data.** {source}: {len(X):,} rows, {X.shape[1]} features, target `{y.name}` positive for "
            f"{y.mean():.1%}. The model is an MLP with hidden layers {tuple(config.hidden)}; its decision is "
            f"*picked* = score in the top {config.target_share:.0%}."
            + (f" True drivers (from the generator): {', '.join(drivers)}." if drivers else "") + gap_sentence(X))


def layer_table(result: StudyResult) -> pd.DataFrame:
    """Per layer: held-out fidelity, K and cluster stability, mean ± std over repetitions."""
    rows = result.results
    per_layer = rows[(rows["model"] == "lice") & rows["metric"].isin(["fidelity", "n_clusters", "ari", "ari_fixed_k"])]
    return mean_std_table(per_layer, index="layer", columns="metric")


def path_table(result: StudyResult, n_paths: int = 8) -> pd.DataFrame:
    """The first repetition's most frequent decision paths through the layers' clusters."""
    lice = result.artefacts["runs"][0]["lice"]
    paths = lice.paths_.head(n_paths).copy()
    paths["path"] = paths[lice.layers_].astype(str).agg(" → ".join, axis=1)
    return paths[["path", "n", "n_positive", "share_positive"]].rename(columns={"n": "users", "n_positive": "picked"})


def cluster_rules(result: StudyResult) -> pd.DataFrame:
    """Per cluster: who it holds (routing tree), whom the model picks there (surrogate) and how faithfully."""
    table = result.artefacts["runs"][0]["lice"].cluster_table_
    return table[["layer", "cluster", "size", "share_positive", "fidelity", "who", "rule"]].round(
        {"share_positive": 2, "fidelity": 3})


def one_user(result: StudyResult) -> pd.DataFrame:
    """LICE's explanation of the first picked test user, layer by layer."""
    first = result.artefacts["runs"][0]
    X_test = first["X_test"]
    picked = X_test[first["model"].predict_proba(X_test)[:, 1] >= first["threshold"]]
    return first["lice"].explain(picked.iloc[:1])[["layer", "cluster", "who", "why", "top_features"]]


def method_comparison(result: StudyResult) -> pd.DataFrame:
    """Every method: the question it answers, its fidelity where one is defined, and its cost."""
    return result.artefacts["method_table"].round(3)


def rule_table(result: StudyResult) -> pd.DataFrame:
    """The simplified rule set (fires = picked) with precision and coverage."""
    return result.artefacts["toolkit"]["rules"].round(3)


def counterfactual_table(result: StudyResult, n_users: int = 5) -> pd.DataFrame:
    """The change that flips the decision of the first ``n_users`` explained test users (features that move)."""
    changes = result.artefacts["toolkit"]["counterfactuals"].drop(columns=["valid", "n_changed"]).iloc[:n_users]
    return changes.loc[:, (changes.abs() > 1e-3).any()].round(2)


def driver_table(result: StudyResult) -> pd.DataFrame:
    """Top features per method; on the simulated world a ✓ marks a true driver of the outcome."""
    drivers = result.artefacts["drivers"]
    rankings = {"lice": result.artefacts["runs"][0]["lice"].global_importance(),
                **result.artefacts["toolkit"]["rankings"]}
    k = max(len(drivers), 7)
    return pd.DataFrame({method: [f"{f}{' ✓' if f in drivers else ''}" for f in ranking.index[:k]]
                         for method, ranking in rankings.items()})


def summary_table(result: StudyResult) -> pd.DataFrame:
    """Every model's metrics (timings left out), mean ± std over repetitions and layers."""
    rows = result.results
    return mean_std_table(rows[~rows["metric"].str.endswith(TIMING_SUFFIX)].drop(columns=["layer"]))


def verdict(result: StudyResult) -> str:
    """The plain-words answer: LICE's fidelity and stability against the bars, and whether its features matter."""
    f = _figures(result.results)
    drivers = result.artefacts["drivers"]
    dp = result.results.query("metric == 'driver_precision'").groupby("model")["value"].mean()
    return (
        f"**Verdict.** LICE's per-layer surrogates agree with the model on {f['fidelity_min']:.1%} (worst layer, "
        f"`{f['worst_layer']}`) to {f['fidelity_max']:.1%} (best, `{f['best_layer']}`) of held-out users with at most "
        f"{f['k_max']} clusters per layer — the {FIDELITY_BAR} bar is met on {f['layers_over_bar']} of "
        f"{f['n_layers']} layers — against {f['global_tree']:.1%} for one global surrogate tree. Clusters are "
        f"{'stable' if f['ari_min'] >= ARI_BAR else 'not stable on every layer'} across {N_ARI_SEEDS} seeds "
        f"(ARI {f['ari_min']:.2f}–{f['ari_max']:.2f}, bar {ARI_BAR}, K re-chosen per seed; "
        f"{f['ari_fixed_k_min']:.2f}–{f['ari_fixed_k_max']:.2f} with K held fixed); {f['path']:.1%} of users keep "
        f"their whole path under 5% input noise. Removing each user's top-3 LICE features moves the score by "
        f"{f['drop_lice']:.3f} on average versus {f['drop_random']:.3f} for random features "
        f"({f['drop_lice'] / f['drop_random']:.1f}×; SHAP {f['drop_shap']:.3f})."
        + (f" Of LICE's top {len(drivers)} features, {dp['lice']:.0%} are true drivers (SHAP "
           f"{dp.get('shap', np.nan):.0%}, permutation {dp.get('permutation_importance', np.nan):.0%})."
           if drivers else "")
        + f" Run time {result.runtime_seconds:.0f} s.")
