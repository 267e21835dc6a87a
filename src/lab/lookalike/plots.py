"""The lookalike study's figures, one function of the ``StudyResult`` each."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lab.core import StudyResult
from lab.lookalike.evaluate import cumulative_gains as gains_curve
from lab.lookalike.study import (SPLITS, attention_by_day, attention_by_degree, attention_by_slice, daily_table,
                                 paired_gains, shown_models, slice_auc)

SPLIT_LABELS = {"test": "all scored users", "test_cold": "cold starts", "test_warm": "warm users"}


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
    """First-layer aggregator attention: mean per snapshot day, by number of neighbours on the last day, and
    for cold-start vs warm users on the scored days."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    attention_by_day(result).plot(ax=axes[0], title="mean attention by snapshot day")
    attention_by_degree(result).plot.bar(ax=axes[1], title="attention by number of neighbours (last day)")
    attention_by_slice(result).rename(index=SPLIT_LABELS).plot.bar(ax=axes[2], title="attention by slice",
                                                                    rot=0)
    axes[0].set_xlabel("day")
    axes[1].set_xlabel("neighbours")
    return fig


def auc_by_slice(result: StudyResult) -> Figure:
    """AUC after the shift of the shown models on every scored user, cold starts and warm users (mean and
    std over repetitions): where the graph helps."""
    auc = slice_auc(result)
    models = [m for m in shown_models(result) if m != "oracle"]
    stats = auc[auc["model"].isin(models)].groupby(["split", "model"])["value"].agg(["mean", "std"])
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(models)
    for j, model in enumerate(models):
        rows = stats.xs(model, level="model").reindex(list(SPLITS))
        ax.bar(np.arange(len(SPLITS)) + j * width, rows["mean"], width, yerr=rows["std"].fillna(0.0), capsize=2,
               label=model)
    ax.set_xticks(np.arange(len(SPLITS)) + 0.4 - width / 2, [SPLIT_LABELS[s] for s in SPLITS])
    ax.set_ylim(0.45, 1.0)
    ax.set_ylabel("AUC after the shift")
    ax.legend(fontsize=8, ncol=2)
    return fig


def ablation_gains(result: StudyResult) -> Figure:
    """The full model's paired AUC gain over each ablation with its 95% interval, per slice: right of zero
    the removed part helps, left of it the part hurts."""
    gains = paired_gains(result)
    names = sorted(gains["ablation"].unique())
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 1.5))
    for j, split in enumerate(SPLITS):
        rows = gains[gains["split"] == split].set_index("ablation").reindex(names)
        xerr = np.vstack([rows["gain"] - rows["ci_low"], rows["ci_high"] - rows["gain"]])
        ax.errorbar(rows["gain"], np.arange(len(names)) + (j - 1) * 0.25, xerr=np.nan_to_num(xerr), fmt="o",
                    capsize=3, color=f"C{j}", label=SPLIT_LABELS[split])
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("full model's AUC minus the ablation's (paired, 95% interval)")
    ax.legend(fontsize=8)
    return fig


def graph_payoff(payoff: pd.DataFrame) -> Figure:
    """The headline picture of a sweep (``study.graph_payoff``): the dynamic GNN's AUC minus the best model
    without a graph, per cell, with 95% intervals; one panel per split, the cold-start share on the x axis,
    one line per peer effect and tie noise."""
    splits = [s for s in ("test_cold", "test") if s in set(payoff["split"])]
    fig, axes = plt.subplots(1, len(splits), figsize=(6 * len(splits), 4), sharey=True, squeeze=False)
    for ax, split in zip(axes[0], splits):
        rows = payoff[payoff["split"] == split]
        for j, ((peer, noise), line) in enumerate(rows.groupby(["peer_effect", "tie_noise"])):
            line = line.sort_values("cold_start_share")
            offset = (j - 2) * 0.006
            ax.errorbar(line["cold_start_share"] + offset, line["gain"],
                        yerr=[line["gain"] - line["ci_low"], line["ci_high"] - line["gain"]], marker="o", capsize=3,
                        label=f"peer effect {peer:g}, tie noise {noise:g}")
        ax.axhline(0, color="grey", lw=1)
        ax.set(title=SPLIT_LABELS[split], xlabel="share of users who sign up in the window (cold starts)")
    axes[0][0].set_ylabel("dynamic GNN AUC minus best non-graph model")
    axes[0][-1].legend(fontsize=8)
    return fig
