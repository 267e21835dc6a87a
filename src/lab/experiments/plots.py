"""The A/B testing study's figures, one function of the ``StudyResult`` each."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from lab.core import StudyResult
from lab.experiments import abtest
from lab.experiments.study import Config


def monitoring(result: StudyResult) -> Figure:
    """The test's z-statistic look by look against the sequential boundaries and the naive 1.96."""
    path, config = result.artefacts["path"], result.config
    assert isinstance(config, Config)
    looks = np.arange(1, len(path["z"]) + 1)
    naive = stats.norm.isf(config.alpha / 2)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(looks, path["z"], "o-", label="z-statistic of the test")
    ax.plot(looks, path["bound"], "k--", label=f"sequential boundary ({config.spending})")
    ax.plot(looks, -path["bound"], "k--")
    ax.axhline(naive, color="tab:red", ls=":", label=f"naive |z| = {naive:.2f} at every look")
    ax.axhline(-naive, color="tab:red", ls=":")
    ax.set_ylim(-max(4.0, np.abs(path["z"]).max() + 0.5), max(4.5, np.abs(path["z"]).max() + 0.5))
    ax.set_xticks(looks, [f"{k}\n{n:,}" for k, n in zip(looks, path["n"])], fontsize=7)
    ax.set_xlabel("look (units so far)")
    ax.set_ylabel("z")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Sequential monitoring of the test")
    return fig


def false_positives_and_power(result: StudyResult) -> Figure:
    """Left: the A/A false-positive rate of each way of reading a test, with 95% binomial intervals, against
    the nominal alpha. Right: the nominal power curve of the design with the simulated powers."""
    config, design, rows = result.config, result.artefacts["design"], result.results
    assert isinstance(config, Config)
    n_rep = config.n_replicates

    def value(model: str, metric: str) -> float:
        return float(rows.query("model == @model and metric == @metric")["value"].iloc[0])

    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    names = ["naive_peeking", "sequential", "fixed_horizon"]
    rates = np.array([value(m, "aa_false_positive_rate") for m in names])
    half = 1.96 * np.sqrt(rates * (1 - rates) / n_rep)
    axes[0].bar(range(3), rates, yerr=half, capsize=5, color=["tab:red", "tab:green", "tab:grey"])
    axes[0].axhline(config.alpha, color="k", ls="--", label=f"nominal {config.alpha}")
    axes[0].set_xticks(range(3), ["naive peeking\n(10 looks)", "sequential\n(alpha spending)", "one look\nat the end"])
    axes[0].set_ylabel("A/A false-positive rate")
    axes[0].legend()
    sizes = np.unique(np.geomspace(max(10, design["n_per_arm"] // 8), design["n_per_arm"] * 3, 60).astype(int))
    curve = [abtest.design_power(int(n), design["baseline"], design["lift"], config.alpha, design["sd"])
             for n in sizes]
    axes[1].plot(sizes, curve, label="nominal power (statsmodels)")
    for model, marker in (("power_design", "o"), ("sequential", "s")):
        p = value(model, "power")
        axes[1].errorbar(design["n_per_arm"], p, yerr=1.96 * np.sqrt(p * (1 - p) / n_rep), fmt=marker, capsize=4,
                         label=f"simulated, {'one look' if model == 'power_design' else 'sequential'}")
    axes[1].axhline(config.power, color="grey", ls=":")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("users per arm")
    axes[1].set_ylabel("power")
    axes[1].legend(fontsize=8)
    axes[1].set_title(f"Power against a lift of {design['lift']:+.4f}")
    return fig


def segments(result: StudyResult) -> Figure | None:
    """The primary metric's lift per segment with 95% intervals; filled where significant after BH."""
    table, primary = result.artefacts["segments"], result.artefacts["data"].primary
    assert isinstance(result.config, Config)
    alpha = result.config.alpha
    if not len(table):
        return None
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(table) + 1.5))
    for i, row in enumerate(table.itertuples()):
        significant = float(row.p_adjusted) < alpha
        ax.errorbar(row.lift, i, xerr=[[row.lift - row.ci_low], [row.ci_high - row.lift]], fmt="o", capsize=3,
                    mfc="tab:blue" if significant else "white", color="tab:blue")
    rows = result.results
    overall = float(rows.query("model == 'cuped' and metric == 'lift' and outcome == @primary")["value"].iloc[0])
    ax.axvline(overall, color="k", ls="--", label="overall (CUPED)")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(range(len(table)), table["segment"])
    ax.set_ylabel(str(result.artefacts["data"].segments.name))
    ax.set_xlabel(f"lift in {primary}")
    ax.set_title("Lift per segment (filled: significant after Benjamini-Hochberg)")
    ax.legend(fontsize=8)
    return fig
