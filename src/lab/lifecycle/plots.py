"""Figures of the lifecycle study, one function per figure: ``plots.<name>(result) -> Figure``.

The truth's figures are ``None`` on a researcher's own logs (no simulator to roll the policies out in).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from lab.core import StudyResult
from lab.lifecycle.study import OPE, value_table


def value_curves(result: StudyResult) -> Figure | None:
    """Mean cumulative discounted profit per customer by month under each policy (first seed, in truth)."""
    truths = result.artefacts["truths"]
    if not truths:
        return None
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, truth in truths.items():
        ax.plot(np.arange(1, len(truth.curve) + 1), truth.curve, marker="o", markersize=3, label=name)
    ax.set(xlabel="month", ylabel="cumulative discounted profit per customer",
           title="Lifetime value by month, each policy (simulator rollouts)")
    ax.legend(loc="upper left")
    return fig


def ope_vs_truth(result: StudyResult) -> Figure:
    """Every estimator's value of each policy beside its true value and 95% interval (means over seeds)."""
    table = value_table(result)
    fig, ax = plt.subplots(figsize=(9, 4))
    x = np.arange(len(table))
    if "true_value" in table:
        ax.errorbar(x, table["true_value"], yerr=[table["true_value"] - table["true_value_ci_low"],
                                                  table["true_value_ci_high"] - table["true_value"]],
                    fmt="s", color="k", markersize=8, capsize=4, label="true value")
    for offset, metric in zip(np.linspace(-0.3, 0.3, len(OPE)), OPE):
        ax.scatter(x + offset, table[metric], label=metric.removeprefix("ope_"), zorder=3)
    ax.set_xticks(x, table.index)
    ax.set(ylabel="discounted 12-month profit per customer", title="Off-policy estimates against the truth")
    ax.legend(loc="center left", bbox_to_anchor=(1, 0.5))
    return fig


def action_mix(result: StudyResult) -> Figure:
    """Share of the logged states given each action by the fitted-Q policy, by month."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    result.artefacts["actions_by_month"].plot.bar(stacked=True, ax=ax, width=0.85)
    ax.set(ylabel="share of open accounts", title="Fitted-Q's action by month (logged states)")
    ax.legend(loc="center left", bbox_to_anchor=(1, 0.5))
    return fig
