"""Figures of the risk and value study, one function of the result each."""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from lab.core import StudyResult


def calibration(result: StudyResult) -> Figure:
    """Mean predicted PD against the mean true (or observed) default per decile of each model's PD, one
    panel per population."""
    curves = result.artefacts["calibration"]
    splits = list(dict.fromkeys(curves["split"]))
    fig, axes = plt.subplots(1, len(splits), figsize=(5.5 * len(splits), 4.5), squeeze=False)
    for ax, split in zip(axes[0], splits):
        for model, curve in curves[curves["split"] == split].groupby("model", sort=False):
            ax.plot(curve["predicted"], curve["observed"], marker="o", ms=3, label=model)
        top = float(curves[["predicted", "observed"]].max().max())
        ax.plot([0, top], [0, top], color="grey", lw=0.8, ls="--")
        ax.set(title=split.replace("_", " "), xlabel="mean predicted PD", ylabel="mean true default")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def value_deciles(result: StudyResult) -> Figure:
    """Mean predicted and mean true 12-month value per decile of each lifetime-value model's prediction."""
    deciles = result.artefacts["deciles"]
    models = list(dict.fromkeys(deciles["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(4.5 * len(models), 4), sharey=True, squeeze=False)
    for ax, model in zip(axes[0], models):
        rows = deciles[deciles["model"] == model]
        ax.bar(rows["decile"] - 0.2, rows["predicted"], width=0.4, label="predicted")
        ax.bar(rows["decile"] + 0.2, rows["true"], width=0.4, label="true")
        ax.set(title=model, xlabel="decile of the prediction", ylabel="mean 12-month value")
    axes[0][0].legend()
    fig.tight_layout()
    return fig


def allocation(result: StudyResult) -> Figure:
    """True incremental profit and true extra defaults of each objective's campaign."""
    rows = result.results[result.results["model"].str.startswith("allocation_")]
    wide = rows.pivot_table(index="model", columns="metric", values="value")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    names = [m.removeprefix("allocation_") for m in wide.index]
    axes[0].bar(names, wide["true_incremental_profit"], color="tab:green")
    axes[0].set(title="true incremental profit", ylabel="profit")
    axes[1].bar(names, wide["true_defaults"], color="tab:red")
    axes[1].set(title="true extra defaults", ylabel="expected defaulted loans")
    fig.tight_layout()
    return fig
