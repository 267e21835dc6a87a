"""Figures of the world tour, one function per figure: ``plots.<name>(result) -> Figure``.

A figure whose table the data lacks (your own tables need not hold every table) is ``None``; the
oracle's additions (segments, the shift days, the propensities) appear only where the truth is known.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
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


def degree_distribution(result: StudyResult) -> Figure | None:
    """Share of users with at least each degree in the whole window's graph (log-log: a heavy tail is a
    slowly falling line)."""
    world = result.artefacts["world"]
    if "edges" not in world.observed:
        return None
    edges, users = world.observed["edges"], world.observed["users"]
    ends = pd.concat([edges["src"], edges["dst"]], ignore_index=True)
    degree = ends.value_counts().reindex(users["user_id"], fill_value=0).to_numpy()  # ids are labels
    values = np.arange(1, max(int(degree.max()), 1) + 1)
    share = np.array([(degree >= k).mean() for k in values])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(values, share, marker=".", linestyle="none")
    ax.set(xlabel="degree k", ylabel="share of users with degree >= k", title="Degree distribution")
    return fig


def cold_start_by_day(result: StudyResult) -> Figure | None:
    """Users signed up by each day, and the share of them with two or fewer own interactions so far."""
    if "history_by_day" not in result.artefacts:
        return None
    history = result.artefacts["history_by_day"]
    fig, ax = plt.subplots(figsize=(9, 3.5))
    history["cold_share"].plot(ax=ax, label="share with <= 2 own interactions")
    ax.set(xlabel="day", ylabel="share of signed-up users", ylim=(0, 1), title="Cold starts by day")
    twin = ax.twinx()
    history["signed_up"].plot(ax=twin, color="k", linestyle=":", label="users signed up")
    twin.set_ylabel("users signed up")
    _mark_shifts(ax, result)
    return fig


def lifecycle_curves(result: StudyResult) -> Figure | None:
    """The months after the campaign: accounts still open, churn and default rates, profit per account."""
    if "account_curves" not in result.artefacts:
        return None
    curves = result.artefacts["account_curves"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    curves["open_share"].plot(ax=axes[0], marker="o", title="accounts still open", ylim=(0, 1.05))
    rates = [c for c in ("churn_rate", "default_rate") if c in curves]
    if rates:
        curves[rates].plot(ax=axes[1], marker="o", title="monthly churn and default")
    if "mean_profit" in curves:
        curves["mean_profit"].plot(ax=axes[2], marker="o", title="mean profit per open account")
    for ax in axes:
        ax.set_xlabel("month after the campaign")
    return fig
