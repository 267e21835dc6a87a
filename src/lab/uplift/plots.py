"""The uplift study's figures, one function of the ``StudyResult`` each (last replicate where one is drawn)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from lab.core import StudyResult
from lab.uplift import evaluate
from lab.uplift.designs import DESIGNS
from lab.uplift.evaluate import perfect_qini_score, qini_curve, uplift_curve


def balance_overlap(result: StudyResult) -> Figure:
    """|SMD| of every feature before adjustment, after IPW and after matching; the arms' propensities."""
    report, t = result.artefacts["report"], result.artefacts["data"].t
    balance = report.balance
    fig, axes = plt.subplots(1, 2, figsize=(12, max(3.5, 0.22 * len(balance))))
    order = balance["before"].abs().sort_values().index
    for col, marker in zip(balance.columns, "oxs"):
        axes[0].scatter(balance.loc[order, col].abs(), range(len(order)), marker=marker, label=col)
    axes[0].axvline(0.1, color="grey", ls="--")
    axes[0].set_yticks(range(len(order)), order, fontsize=7)
    axes[0].set_xlabel("|SMD|")
    axes[0].legend()
    axes[0].set_title("Covariate balance")
    for arm, name in ((1, "treated"), (0, "control")):
        axes[1].hist(report.propensity[t == arm], bins=40, alpha=0.55, density=True, label=name)
    axes[1].set_xlabel("estimated propensity")
    axes[1].legend()
    axes[1].set_title("Overlap")
    return fig


def average_effects(result: StudyResult) -> Figure:
    """Every average-effect estimate with its 95% interval, against the true ATE and ATT when known."""
    report, data = result.artefacts["report"], result.artefacts["data"]
    effects = report.effects + report.extra
    fig, ax = plt.subplots(figsize=(7, 3))
    for i, eff in enumerate(effects):
        ax.errorbar(eff.estimate, i, xerr=[[eff.estimate - eff.ci_low], [eff.ci_high - eff.estimate]], fmt="o",
                    capsize=4)
    if data.tau is not None:
        ax.axvline(data.tau.mean(), color="k", ls="--", label="true ATE")
        ax.axvline(data.tau[data.t == 1].mean(), color="grey", ls=":", label="true ATT")
        ax.legend()
    ax.set_yticks(range(len(effects)), [f"{e.method} ({e.estimand})" for e in effects])
    ax.set_xlabel("effect on the outcome")
    ax.set_title("Average effect, 95% CI (last replicate)")
    return fig


def qini_uplift(result: StudyResult) -> Figure:
    """Qini and uplift curves on the test split: the best learner, the oracle, the three best by Qini."""
    art = result.artefacts
    test, weights, effects = art["test"], art["weights"], art["effects"]
    leaders = art["means"].loc[art["fitted"], "qini"].nlargest(3).index
    show = [m for m in dict.fromkeys([art["best"], "oracle", *leaders]) if m in effects]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    low, peak = 0.0, 0.0
    for m in show:
        x, q = qini_curve(effects[m], test.t, test.y, weights)
        axes[0].plot(x, q, label=m)
        low, peak = min(low, q.min()), max(peak, q.max())
        x, u = uplift_curve(effects[m], test.t, test.y, weights)
        axes[1].plot(x, u, label=m)
    x, q_best = qini_curve(perfect_qini_score(test.t, test.y), test.t, test.y, weights)
    axes[0].plot(x, q_best, color="k", ls=":", label=f"perfect (peaks at {q_best.max():.3f})")
    axes[0].plot([0, 1], [0, q_best[-1]], color="grey", ls="--", label="random")
    axes[0].set_ylim(min(low, q_best[-1]) - 0.005, 2 * peak)  # the perfect curve runs off the top: see its label
    axes[0].set_title("Qini curve (incremental conversions per treated unit)")
    axes[1].plot([0, 1], [0, u[-1]], color="grey", ls="--", label="random")
    axes[1].set_title("Uplift curve")
    for ax in axes:
        ax.set_xlabel("fraction targeted (highest estimated effect first)")
        ax.legend(fontsize=8)
    return fig


def uplift_by_decile(result: StudyResult) -> Figure:
    """Observed and predicted uplift (and the true effect when known) per decile of the best learner's ranking."""
    art = result.artefacts
    best, test = art["best"], art["test"]
    deciles = evaluate.uplift_by_decile(art["effects"][best], test.t, test.y, test.tau, art["weights"])
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.bar(deciles["decile"] - 0.2, deciles["observed_uplift"], width=0.4, label="observed uplift")
    ax.bar(deciles["decile"] + 0.2, deciles["predicted"], width=0.4, label=f"predicted ({best})")
    if test.tau is not None:
        ax.plot(deciles["decile"], deciles["true"], "k.-", label="true effect")
    ax.set_xlabel("decile of estimated effect (1 = highest)")
    ax.set_xticks(range(1, 11))
    ax.legend()
    ax.set_title("Uplift by decile")
    return fig


def effects_vs_truth(result: StudyResult) -> Figure:
    """The best learner's test-split effects against the true ones: distributions and a scatter."""
    art = result.artefacts
    best, tau = art["best"], art["test"].tau
    estimate = art["effects"][best]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    axes[0].hist(tau, bins=50, alpha=0.6, density=True, label="true")
    axes[0].hist(estimate, bins=50, alpha=0.6, density=True, label=best)
    axes[0].set_xlabel("individual effect")
    axes[0].legend()
    axes[0].set_title("Effect distribution (test split)")
    axes[1].scatter(tau, estimate, s=3, alpha=0.3)
    lims = [min(tau.min(), estimate.min()), max(tau.max(), estimate.max())]
    axes[1].plot(lims, lims, "k--")
    axes[1].set_xlabel("true effect")
    axes[1].set_ylabel(f"estimated ({best})")
    axes[1].set_title("Estimated vs true")
    return fig


def effect_drivers(result: StudyResult) -> Figure:
    """SHAP beeswarm of the surrogate of the best learner's effects (top 10 features)."""
    import shap

    art = result.artefacts
    fig = plt.figure()
    shap.plots.beeswarm(art["explanation"], max_display=10, show=False)
    fig.suptitle(f"SHAP of the estimated effect ({art['best']}); surrogate R² {art['surrogate_r2']:.2f}")
    return fig


__all__ = ["average_effects", "balance_overlap", "effect_drivers", "effects_vs_truth", "qini_uplift",
           "uplift_by_decile"]


def quasi_experiments(result: StudyResult) -> Figure | None:
    """Each natural experiment's estimate and 95% interval as a share of its true effect (1 = the truth),
    one point per replicate; None off the world."""
    rows = result.results[result.results["model"].isin(list(DESIGNS))]
    if rows.empty:
        return None
    wide = rows.pivot_table(index=["model", "seed"], columns="metric", values="value").reset_index()
    fig, ax = plt.subplots(figsize=(7, 3))
    for i, design in enumerate(DESIGNS):
        one = wide[wide["model"] == design]
        truth, estimate = one["true_effect"].to_numpy(float), one["estimate"].to_numpy(float)
        low, high = one["ci_low"].to_numpy(float), one["ci_high"].to_numpy(float)
        ax.errorbar(estimate / truth, i + 0.1 * np.arange(len(one)), xerr=[(estimate - low) / truth,
                                                                           (high - estimate) / truth],
                    fmt="o", capsize=4, color=f"C{i}")
    ax.axvline(1.0, color="k", ls="--", label="true effect")
    ax.set_yticks(range(len(DESIGNS)), list(DESIGNS))
    ax.set_xlabel("estimate / true effect (95% interval)")
    ax.set_title("Quasi-experiments against their truth")
    ax.legend(fontsize=8)
    return fig
