"""Figures of the world tour, one function per figure: ``plots.<name>(result) -> Figure``.

A figure whose table the data lacks (your own tables need not hold every table) is ``None``; the
oracle's additions (segments, the shift days, the propensities) appear only where the truth is known.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lab.core import StudyResult
from lab.data import STAGES
from lab.overview.study import IMBALANCE_SMD


def _mark_shifts(ax: Axes, result: StudyResult) -> None:
    for day in result.artefacts["world"].shift_days:
        ax.axvline(day, color="k", linestyle="--", linewidth=1)


def funnel_by_segment(result: StudyResult) -> Figure | None:
    """Share of users reaching each stage, overall and per latent segment (log scale)."""
    if "funnel_rates" not in result.artefacts:
        return None
    fig, ax = plt.subplots(figsize=(9, 4))
    result.artefacts["funnel_rates"][list(STAGES)].T.plot(ax=ax, marker="o", logy=True)
    ax.set_ylabel("share of users reaching the stage (log)")
    ax.set_title("Funnel by segment")
    return fig


def drift_by_day(result: StudyResult) -> Figure | None:
    """Share of each product in each day's interactions, the regime shifts dashed."""
    if "product_shares" not in result.artefacts:
        return None
    fig, ax = plt.subplots(figsize=(9, 4))
    result.artefacts["product_shares"].plot(ax=ax)
    _mark_shifts(ax, result)
    ax.set(xlabel="day", ylabel="share of interactions", title="Product share by day")
    ax.legend(loc="center left", bbox_to_anchor=(1, 0.5))
    return fig


def graph_over_time(result: StudyResult) -> Figure | None:
    """New edges per day; referral share, homophily and the cumulative mean degree."""
    if "degree_by_day" not in result.artefacts:
        return None
    degree = result.artefacts["degree_by_day"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    degree[["new_edges"]].plot(ax=axes[0], legend=False, title="new edges per day")
    degree[[c for c in ("referral_share", "homophily") if c in degree]].plot(
        ax=axes[1], title="referral share and homophily")
    twin = axes[1].twinx()
    degree["mean_degree"].plot(ax=twin, color="k", linestyle=":", label="mean degree (cumulative)")
    twin.set_ylabel("mean degree (cumulative)")
    for ax in axes:
        ax.set_xlabel("day")
        _mark_shifts(ax, result)
    return fig


def treatment_balance(result: StudyResult) -> Figure | None:
    """Standardised mean difference of every user feature between each offer and no offer."""
    if "smd" not in result.artefacts:
        return None
    fig, ax = plt.subplots(figsize=(8, 4))
    result.artefacts["smd"].plot.barh(ax=ax)
    for edge in (IMBALANCE_SMD, -IMBALANCE_SMD):
        ax.axvline(edge, color="r", linestyle="--", linewidth=1)
    ax.set(xlabel="standardised mean difference vs no offer", title="Treatment balance")
    return fig


def propensity_overlap(result: StudyResult) -> Figure | None:
    """Histogram of each offer's true propensity (needs the oracle)."""
    world = result.artefacts["world"]
    if "effects" not in result.artefacts or not world.oracle:
        return None
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for offer in result.artefacts["effects"].index:
        ax.hist(world.oracle["effects"][f"propensity_{offer}"], bins=40, alpha=0.5, label=offer)
    ax.set(xlabel="true propensity of the offer", ylabel="users", title="Overlap")
    ax.legend()
    return fig
