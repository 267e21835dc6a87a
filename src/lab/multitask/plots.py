"""The study's figures, one function of the ``StudyResult`` each (first seed, test users)."""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from lab.core import StudyResult
from lab.data import STAGES
from lab.multitask.segments import selection_overlap as overlap_counts
from lab.multitask.study import BASELINES, GRAPH_MODEL

ROC_MODELS = ("multi_stage", "cascade", "funnel_aware", GRAPH_MODEL, "oracle")
WEIGHTED = {"uncertainty weighting (weight = exp(-log variance))": GRAPH_MODEL,
            "GradNorm (weights sum to 5)": "multi_objective_graph_gradnorm"}


def roc_per_stage(result: StudyResult) -> Figure:
    """ROC curve of each stage for the baselines, the funnel-aware and graph models and the oracle."""
    fit = result.artefacts["fits"][0]
    models = [m for m in ROC_MODELS if m in fit.proba]
    figure, axes = plt.subplots(1, len(STAGES), figsize=(4 * len(STAGES), 3.8), sharey=True)
    for s, (ax, stage) in enumerate(zip(axes, STAGES)):
        y = fit.labels[:, s]
        if 0 < y.sum() < len(y):
            for name in models:
                fpr, tpr, _ = roc_curve(y, fit.proba[name][:, s])
                ax.plot(fpr, tpr, label=name, lw=1.2, ls="--" if name == "oracle" else "-")
        ax.plot([0, 1], [0, 1], color="grey", lw=0.5)
        ax.set(title=stage, xlabel="false positive rate")
    axes[0].set_ylabel("true positive rate")
    axes[-1].legend(fontsize=7, loc="lower right")
    return figure


def selection_overlap(result: StudyResult) -> Figure:
    """Upset view of the top-K audiences: users picked by exactly each combination of approaches."""
    fit = result.artefacts["fits"][0]
    approaches = {m: fit.selected[m] for m in (*BASELINES, GRAPH_MODEL)}
    overlap = overlap_counts(approaches)
    labels = [" & ".join(n for n in approaches if row[n]) for _, row in overlap.iterrows()]
    figure, ax = plt.subplots(figsize=(8, 3.5))
    ax.barh(labels[::-1], overlap["users"][::-1])
    ax.set(xlabel="users selected by exactly these approaches", title=f"Top-{fit.k} selections (upset view)")
    return figure


def task_weights(result: StudyResult) -> Figure:
    """Task weights per epoch of the graph model's first network and of the GradNorm ablation."""
    fit = result.artefacts["fits"][0]
    weighted = {title: name for title, name in WEIGHTED.items() if name in fit.models}
    figure, axes = plt.subplots(1, len(weighted), figsize=(6 * len(weighted), 3.5), squeeze=False)
    for ax, (title, name) in zip(axes[0], weighted.items()):
        history = fit.models[name].task_weights_history_
        for s, stage in enumerate(STAGES):
            ax.plot(history[:, s], label=stage)
        ax.axhline(1.0, color="grey", ls=":", lw=1, label="fixed (all 1)")
        ax.set(xlabel="epoch", ylabel="task weight", yscale="log", title=title)
    axes[0][0].legend(fontsize=8)
    return figure
