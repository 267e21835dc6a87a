"""The study's figures, one function of the ``StudyResult`` each (the first repetition's model and LICE):
fidelity against K, per-layer cluster maps, the flow across layers, the SHAP summary and PDP/ICE curves."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap
from matplotlib.figure import Figure
from matplotlib.patches import Polygon, Rectangle
from sklearn.decomposition import PCA

from lab.core import StudyResult
from lab.explain.network import decide, layer_outputs


def k_selection(result: StudyResult) -> Figure:
    """Cross-validated surrogate fidelity (± one standard error) for every K tried, per layer, with the
    chosen K marked."""
    lice = result.artefacts["runs"][0]["lice"]
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for layer, rows in lice.selection_.groupby("layer", sort=False):
        line, _, _ = ax.errorbar(rows["k"], rows["fidelity"], yerr=rows["se"], marker="o", ms=3, capsize=2,
                                 label=layer)
        k = lice.n_clusters_[layer]
        ax.plot(k, rows.set_index("k").loc[k, "fidelity"], "o", ms=9, mfc="none", color=line.get_color())
    ax.set(xlabel="clusters K", ylabel="surrogate fidelity (cross-validated)", title="Choosing K per layer")
    ax.legend(fontsize=8)
    return fig


def cluster_maps(result: StudyResult, max_points: int = 2000) -> Figure:
    """Per layer, a 2-D PCA of the test users' embeddings coloured by cluster (top) and by the model's
    decision (bottom)."""
    first, seed = result.artefacts["runs"][0], result.config.seed
    lice = first["lice"]
    x = first["X_test"].to_numpy(np.float32)
    rows = np.random.default_rng(seed).permutation(len(x))[:max_points]
    logits, embeddings = layer_outputs(lice.model, x[rows], lice.layers_)
    decision = decide(logits, lice.threshold)
    fig, axes = plt.subplots(2, len(lice.layers_), figsize=(3.4 * len(lice.layers_), 6.2), squeeze=False)
    for j, layer in enumerate(lice.layers_):
        emb = embeddings[layer]
        xy = PCA(n_components=2, random_state=seed).fit_transform(emb) if emb.shape[1] > 1 else \
            np.column_stack([emb[:, 0], np.zeros(len(emb))])
        labels = lice.kmeans_[layer].predict(emb)
        axes[0, j].scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab10", s=4, vmin=0, vmax=9)
        axes[0, j].set_title(f"{layer}: {lice.n_clusters_[layer]} clusters", fontsize=9)
        axes[1, j].scatter(xy[:, 0], xy[:, 1], c=decision, cmap="coolwarm", s=4, vmin=0, vmax=1)
        axes[1, j].set_title(f"{layer}: model decision (red = picked)", fontsize=9)
        for ax in axes[:, j]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig


def flow(result: StudyResult) -> Figure:
    """Sankey-like flow of the test users: each layer a column of cluster boxes (height = share of users,
    colour = share picked), bands between consecutive layers as wide as the users moving between clusters."""
    first = result.artefacts["runs"][0]
    lice, X = first["lice"], first["X_test"]
    labels = lice.assign(X)
    logits, _ = layer_outputs(lice.model, X, [])
    decision = decide(logits, lice.threshold)
    n = len(labels)
    cmap = plt.get_cmap("coolwarm")
    fig, ax = plt.subplots(figsize=(2.6 * len(lice.layers_) + 1, 4.5))
    gap, width = 0.02, 0.12
    spans = {}
    for j, layer in enumerate(lice.layers_):
        bottom = 0.0
        for c in range(lice.n_clusters_[layer]):
            members = labels[layer].to_numpy() == c
            height = members.mean()
            share = decision[members].mean() if members.any() else 0.0
            ax.add_patch(Rectangle((j - width / 2, bottom), width, height, color=cmap(share), ec="black", lw=0.5))
            if height > 0.03:
                ax.text(j, bottom + height / 2, f"{c}\n{share:.0%}", ha="center", va="center", fontsize=7)
            spans[layer, c] = [bottom, bottom]  # next free offset for outgoing / incoming bands
            bottom += height + gap
    for j, (a, b) in enumerate(zip(lice.layers_, lice.layers_[1:])):
        counts = labels.groupby([a, b]).size()
        for (ca, cb), count in counts.items():
            h = count / n
            y0, y1 = spans[a, ca][0], spans[b, cb][1]
            spans[a, ca][0] += h
            spans[b, cb][1] += h
            ax.add_patch(Polygon([(j + width / 2, y0), (j + 1 - width / 2, y1), (j + 1 - width / 2, y1 + h),
                                  (j + width / 2, y0 + h)], closed=True, alpha=0.3, color="grey", lw=0))
    ax.set_xlim(-0.5, len(lice.layers_) - 0.5)
    ax.set_ylim(0, 1 + gap * max(lice.n_clusters_.values()))
    ax.set_xticks(range(len(lice.layers_)), lice.layers_)
    ax.set_yticks([])
    ax.set_title("How users flow through the layers' clusters (label: cluster, share picked)", fontsize=10)
    return fig


def shap_summary(result: StudyResult, max_display: int = 12) -> Figure:
    """SHAP's beeswarm summary of the sampled test users (values on the model's logit)."""
    values, shown, explainer = result.artefacts["toolkit"]["shap"]
    plt.figure()
    shap.summary_plot(values, pd.DataFrame(shown, columns=result.artefacts["X"].columns), show=False,
                      max_display=max_display)
    fig = plt.gcf()
    fig.suptitle(f"SHAP summary ({explainer}, logit of the model)", fontsize=10)
    return fig


def pdp_ice(result: StudyResult) -> Figure:
    """PDP (thick line) over ICE curves (thin) of the top SHAP features, on the positive-class probability."""
    curves = result.artefacts["toolkit"]["pdp_ice"]
    n_cols = min(4, len(curves))
    n_rows = int(np.ceil(len(curves) / 4))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 2.6 * n_rows), squeeze=False, sharey=True)
    for ax, (feature, curve) in zip(axes.flat, curves.items()):
        ax.plot(curve["grid"], curve["individual"].T, color="tab:blue", alpha=0.15, linewidth=0.5)
        ax.plot(curve["grid"], curve["average"], color="black", linestyle="--", linewidth=2, label="average")
        ax.vlines(curve["deciles"], 0, 0.05, transform=ax.get_xaxis_transform(), color="black")
        ax.set_xlabel(feature)
    for ax in axes.flat[len(curves):]:
        ax.set_visible(False)
    axes[0, 0].set_ylabel("Partial dependence")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig
