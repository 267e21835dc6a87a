"""The lookalike study's figures, one function of the ``StudyResult`` each."""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from lab.core import StudyResult
from lab.lookalike.evaluate import cumulative_gains as gains_curve
from lab.lookalike.study import attention_by_day, attention_by_degree, daily_table, shown_models


def auc_by_day(result: StudyResult) -> Figure:
    """AUC of the shown models on each scored day (mean over repetitions), the shift marked."""
    by_day = daily_table(result, "auc")
    fig, ax = plt.subplots(figsize=(8, 4))
    for model in shown_models(result):
        ax.plot(by_day.index, by_day[model], marker="o", ms=3, label=model)
    if "supervised_reference" in by_day:
        ax.plot(by_day.index, by_day["supervised_reference"], color="black", ls=":", lw=1.5,
                label="supervised_reference (true labels)")
    shift_day = result.metrics["shift_day"]
    if shift_day is not None:
        ax.axvline(shift_day, color="grey", ls="--", lw=1)
        ax.text(shift_day - 0.1, ax.get_ylim()[1] - 0.005, "regime shift", color="grey", ha="right", va="top")
    ax.set_xlabel("day scored")
    ax.set_ylabel("AUC (mean over repetitions)")
    ax.legend(fontsize=8)
    return fig


def cumulative_gains(result: StudyResult) -> Figure:
    """Share of true targets reached against share of users targeted, last day, first repetition."""
    run = result.artefacts["run"]
    truth = run.truth[-1, run.eval_mask]
    fig, ax = plt.subplots(figsize=(5, 5))
    for model in shown_models(result):
        ax.plot(*gains_curve(truth, run.scores[model][-1, run.eval_mask]), label=model)
    ax.plot([0, 1], [0, 1], color="grey", ls=":", label="random")
    ax.set_xlabel("share of users targeted")
    ax.set_ylabel("share of true targets reached")
    ax.legend(fontsize=8)
    return fig


def aggregator_attention(result: StudyResult) -> Figure:
    """First-layer aggregator attention: mean per snapshot day (left), by number of neighbours (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    attention_by_day(result).plot(ax=axes[0], title="mean attention by snapshot day")
    attention_by_degree(result).plot.bar(ax=axes[1], title="attention by number of neighbours (last day)")
    axes[0].set_xlabel("day")
    axes[1].set_xlabel("neighbours")
    return fig
