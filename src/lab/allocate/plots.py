"""Figures of the allocation study, one function per figure: ``plots.<name>(result) -> Figure``."""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from lab.allocate.study import offer_mix, sweep_curves
from lab.core import StudyResult


def value_vs_budget(result: StudyResult) -> Figure:
    """Value, marginal ROI and the budget multiplier lambda of each curve of the budget sweep."""
    curves = sweep_curves(result)
    value = "true_incremental_value" if "true_incremental_value" in curves else "objective"
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for k, (curve, part) in enumerate(curves.groupby("curve")):  # one colour per curve in every panel
        style = {"marker": "o", "label": curve, "color": f"C{k}"}
        axes[0].plot(part["budget"], part[value], **style)
        axes[1].plot(part["budget"], part["marginal_roi"], **style)
        if "lambda" in part and part["lambda"].notna().any():
            axes[2].plot(part["budget"], part["lambda"], **style)
    label = "true incremental value" if value == "true_incremental_value" else "planned value"
    axes[0].set(xscale="log", xlabel="budget", ylabel=label, title="Value vs budget")
    axes[1].set(xscale="log", xlabel="budget", ylabel="extra value per extra unit of budget", title="Marginal ROI")
    axes[1].axhline(1.0, color="grey", lw=0.8, ls="--")
    axes[2].set(xscale="log", yscale="symlog", xlabel="budget", ylabel="lambda (planned value per unit budget)",
                title="Budget multiplier lambda")
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    return fig


def offer_mix_per_segment(result: StudyResult) -> Figure | None:
    """Share of each segment's users given each offer, by the allocations worth comparing; ``None`` when
    the segments are unknown (a researcher's value table without a ``segment`` column)."""
    world, table = result.artefacts["world"], result.artefacts["planning_table"]
    if world is not None:
        segments, shown = world.oracle["users"]["segment"].astype(str).to_numpy(), ["uplift_allocation", "oracle"]
    elif "segment" in table:
        segments, shown = table["segment"].to_numpy(), ["dual"]
    else:
        return None
    fig, axes = plt.subplots(1, len(shown), figsize=(6 * len(shown), 4), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], shown):
        mix = offer_mix(result.artefacts["allocations"][name], segments)
        colors = [*plt.colormaps["tab10"](range(len(mix.columns) - 1)), "lightgrey"]
        mix.plot.barh(stacked=True, ax=ax, title=name, legend=False, color=colors)
        ax.set(xlabel="share of segment's users", ylabel="")
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1, 0.5))
    fig.tight_layout()
    return fig
