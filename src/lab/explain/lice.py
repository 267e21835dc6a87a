"""LICE: layer-wise local clustering explanation of a deep model's decision.

For each named hidden layer of a torch model, LICE (1) reads the layer's embeddings of the samples
through forward hooks, (2) clusters them with K-means (fitted on every sample's embedding: clustering
never sees the decision), (3) fits one transparent surrogate per cluster (a shallow decision tree or an
L1 logistic regression, by default whichever fits the cluster better) from the *input features* to the
*model's decision*, and (4) links the clusters of consecutive layers into transition matrices and
decision paths. A shallow routing tree per layer says in input terms who lands in which cluster.

K criterion, per layer (the one-standard-error rule of CART pruning): K is the smallest K <=
``max_clusters`` whose cross-validated surrogate fidelity (``n_folds`` folds of the 80% fit split) is
within one standard error of the best K's, SE = sqrt(f (1 - f) / n) for the best fidelity f over the n
cross-validated samples; i.e. the fewest clusters that fit as well as the best within the noise of the
estimate. ``tol`` (a number) replaces the SE by a fixed tolerance. The chosen K's surrogates are refitted
on the whole fit split, and fidelity is reported on the ``holdout`` 20% that neither step has seen.
The fidelity-by-K curve is often flat, so the K chosen is only as stable as the clusterings behind it:
each K-means keeps the best of ``n_init`` k-means++ starts (50 by default; with 10, seeds land in
different local optima, the curve moves by about a standard error and the chosen K flips between seeds).

``LICE(model, layers=[...]).fit(X).explain(x)``; ``model`` is any ``nn.Module`` mapping a float
tensor ``[n, d]`` to logits ``[n]``, ``[n, 1]`` (binary) or ``[n, C]``, or an estimator holding one in
``module_`` (like :class:`lab.explain.mlp.TorchMLPClassifier`). The measures below (ARI stability across
seeds, path agreement under input noise, deletion check) score an explanation instead of asserting it.
"""
from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from lab.core import limit_threads
from lab.explain.measures import deletion_check, driver_precision
from lab.explain.network import as_array, decide, layer_outputs, positive_probability, torch_module
from lab.explain.rules import leaf_rule, tree_rules

SURROGATES = ("tree", "logistic", "auto")


class LICE(BaseEstimator):
    """Layer-wise clusters of a torch model's embeddings, each explained by a transparent surrogate.

    Learned attributes: ``layers_``, ``n_clusters_`` (K per layer), ``kmeans_``, ``surrogates_``
    (``[layer][cluster]``), ``selection_`` (fidelity for every K tried), ``fidelity_`` (held-out, per
    layer), ``cluster_table_`` (per cluster: size, share decided positive, held-out fidelity, rule),
    ``transitions_`` (row-normalised cluster-to-cluster matrices of consecutive layers), ``paths_``
    and ``importance_`` (layer x feature, cluster-size weighted surrogate importances).
    """

    def __init__(self, model, layers: list[str] | None = None, max_clusters: int = 8,
                 n_clusters: int | dict[str, int] | None = None, surrogate: str = "auto",
                 max_depth: int = 3, C: float = 1.0, tol: float | None = None, holdout: float = 0.2,
                 n_folds: int = 3, n_init: int = 50,
                 threshold: float = 0.5, random_state: int = 0, progress: bool = False) -> None:
        self.model = model
        self.layers = layers
        self.max_clusters = max_clusters
        self.n_clusters = n_clusters
        self.surrogate = surrogate
        self.max_depth = max_depth
        self.C = C
        self.tol = tol
        self.holdout = holdout
        self.n_folds = n_folds
        self.n_init = n_init
        self.threshold = threshold
        self.random_state = random_state
        self.progress = progress

    # -- fitting -------------------------------------------------------------------------------------
    def _surrogate(self, x: np.ndarray, decision: np.ndarray):
        """A shallow tree, an L1 logistic regression, or ("auto") whichever of the two fits better."""
        if len(np.unique(decision)) < 2:
            return DummyClassifier(strategy="most_frequent", random_state=self.random_state).fit(x, decision)
        candidates = []
        if self.surrogate in ("tree", "auto"):
            candidates.append(DecisionTreeClassifier(max_depth=self.max_depth, min_samples_leaf=max(5, len(x) // 100),
                                                     random_state=self.random_state).fit(x, decision))
        if self.surrogate in ("logistic", "auto"):
            candidates.append(make_pipeline(StandardScaler(), LogisticRegression(
                C=self.C, l1_ratio=1.0, solver="liblinear", tol=1e-3, random_state=self.random_state)).fit(x, decision))
        return max(candidates, key=lambda model: model.score(x, decision))

    def _cluster(self, emb: np.ndarray, k: int) -> KMeans:
        # One thread: K-means on a few thousand points gains nothing from threads, and spinning OpenMP
        # workers slow it down many-fold on busy cores. Dead ReLU units leave duplicate points, so
        # K-means may find fewer distinct clusters than asked for; that is fine.
        with warnings.catch_warnings(), limit_threads(1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            return KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state).fit(emb)

    def _fit_surrogates(self, x, decision, labels, k, rows):
        """One surrogate per cluster, fitted on ``rows`` (all of ``rows`` for a cluster without any)."""
        surrogates = []
        for c in range(k):
            members = rows[labels[rows] == c]
            members = members if len(members) else rows
            surrogates.append(self._surrogate(x[members], decision[members]))
        return surrogates

    @staticmethod
    def _surrogate_predict(surrogates, x, labels) -> np.ndarray:
        out = np.zeros(len(x), dtype=int)
        for c, model in enumerate(surrogates):
            rows = labels == c
            if rows.any():
                out[rows] = model.predict(x[rows])
        return out

    def _choose_k(self, rows: list[dict]) -> int:
        """Smallest K within one standard error (or ``tol``) of the best cross-validated fidelity."""
        best = max(rows, key=lambda row: row["fidelity"])
        margin = best["se"] if self.tol is None else self.tol
        return min(row["k"] for row in rows if row["fidelity"] >= best["fidelity"] - margin)

    def fit(self, X, y=None) -> LICE:
        """Cluster every layer and fit the surrogates; ``y`` is ignored (LICE explains the model)."""
        if self.surrogate not in SURROGATES:
            raise ValueError(f"surrogate must be one of {SURROGATES}, got {self.surrogate!r}")
        x = as_array(X)
        self.feature_names_in_ = np.asarray(X.columns if isinstance(X, pd.DataFrame)
                                            else [f"x{j}" for j in range(x.shape[1])], dtype=object)
        module = torch_module(self.model)
        self.layers_ = list(self.layers or getattr(self.model, "layer_names_", []))
        if not self.layers_:
            raise ValueError("name the hidden layers to explain: LICE(model, layers=[...]); "
                             f"the model's named modules are {[n for n, _ in module.named_modules() if n]}")
        logits, embeddings = layer_outputs(module, x, self.layers_)
        decision = decide(logits, self.threshold)
        rng = np.random.default_rng(self.random_state)
        order = rng.permutation(len(x))
        n_test = int(round(len(x) * self.holdout))
        test, train = order[:n_test], order[n_test:]
        folds = np.array_split(train, self.n_folds)
        self.decision_rate_ = float(decision.mean())
        names = list(self.feature_names_in_)

        self.n_clusters_, self.kmeans_, self.surrogates_, self.routers_, self.fidelity_ = {}, {}, {}, {}, {}
        selection, clusters, labels_by_layer = [], [], {}
        for layer in tqdm(self.layers_, desc="LICE layers", disable=not self.progress):
            emb = embeddings[layer]
            fits = {}
            fixed = self.n_clusters.get(layer) if isinstance(self.n_clusters, dict) else self.n_clusters
            for k in [fixed] if fixed else range(1, self.max_clusters + 1):
                kmeans = self._cluster(emb, k)
                labels = kmeans.labels_
                agree = []
                for i, fold in enumerate(folds):
                    rest = np.concatenate([f for j, f in enumerate(folds) if j != i])
                    surrogates = self._fit_surrogates(x, decision, labels, k, rest)
                    agree.append(self._surrogate_predict(surrogates, x[fold], labels[fold]) == decision[fold])
                fidelity = float(np.concatenate(agree).mean())
                selection.append({"layer": layer, "k": k, "fidelity": fidelity,
                                  "se": float(np.sqrt(fidelity * (1 - fidelity) / len(train)))})
                fits[k] = kmeans
            k = self._choose_k([row for row in selection if row["layer"] == layer])
            kmeans = fits[k]
            labels = kmeans.labels_
            surrogates = self._fit_surrogates(x, decision, labels, k, train)
            self.n_clusters_[layer], self.kmeans_[layer], self.surrogates_[layer] = k, kmeans, surrogates
            self.routers_[layer] = DecisionTreeClassifier(max_depth=4, min_samples_leaf=20,
                                                          random_state=self.random_state).fit(x[train], labels[train])
            labels_by_layer[layer] = labels
            agree = self._surrogate_predict(surrogates, x[test], labels[test]) == decision[test]
            self.fidelity_[layer] = float(agree.mean())
            for c in range(k):
                in_c = labels == c
                test_c = labels[test] == c
                clusters.append({
                    "layer": layer, "cluster": c, "size": int(in_c.sum()),
                    "share_positive": float(decision[in_c].mean()) if in_c.any() else np.nan,
                    "fidelity": float(agree[test_c].mean()) if test_c.any() else np.nan,
                    "n_test": int(test_c.sum()),
                    "who": next(iter(tree_rules(self.routers_[layer], names, positive=c)),
                                {"rule": "(no simple rule)"})["rule"],
                    "rule": self._describe(surrogates[c]),
                })
        self.selection_ = pd.DataFrame(selection)
        self.cluster_table_ = pd.DataFrame(clusters)
        self.test_index_ = test
        self.transitions_ = {
            (a, b): pd.crosstab(pd.Series(labels_by_layer[a], name=a), pd.Series(labels_by_layer[b], name=b),
                                normalize="index")
            for a, b in zip(self.layers_, self.layers_[1:])
        }
        self.paths_ = self._paths(np.stack([labels_by_layer[layer] for layer in self.layers_], axis=1), decision)
        self.importance_ = self._importance()
        return self

    # -- explanations --------------------------------------------------------------------------------
    def _feature_weights(self, model) -> np.ndarray:
        if isinstance(model, DecisionTreeClassifier):
            return model.feature_importances_
        if isinstance(model, DummyClassifier):
            return np.zeros(len(self.feature_names_in_))
        coef = np.abs(model[-1].coef_).sum(axis=0)
        return coef / coef.sum() if coef.sum() > 0 else coef

    def _describe(self, model) -> str:
        """The surrogate of one cluster in plain words."""
        if isinstance(model, DummyClassifier):
            return f"every user here is {'picked' if model.classes_[0] == 1 else 'not picked'}"
        if isinstance(model, DecisionTreeClassifier):
            rules = tree_rules(model, list(self.feature_names_in_), positive=1)
            if not rules:
                return "no subgroup is picked"
            return " OR ".join(f"({r['rule']})" for r in rules[:3])
        coef = model[-1].coef_[0] / model[0].scale_
        top = np.argsort(-np.abs(coef))[:4]
        terms = [f"{'higher' if coef[j] > 0 else 'lower'} {self.feature_names_in_[j]}" for j in top if coef[j] != 0]
        return "picked more often with " + ", ".join(terms) if terms else "no feature matters"

    def _paths(self, labels: np.ndarray, decision: np.ndarray) -> pd.DataFrame:
        frame = pd.DataFrame(labels, columns=self.layers_)
        frame["positive"] = decision
        paths = frame.groupby(self.layers_, as_index=False).agg(n=("positive", "size"),
                                                               share_positive=("positive", "mean"))
        paths["n_positive"] = (paths["n"] * paths["share_positive"]).round().astype(int)
        return paths.sort_values(["n_positive", "n"], ascending=False, ignore_index=True)

    def _importance(self) -> pd.DataFrame:
        """Per layer: the routing tree's importances (which features send users to which cluster) plus the
        cluster-size weighted importances of the surrogates inside the clusters, halved to sum to 1."""
        rows = {}
        for layer in self.layers_:
            sizes = self.cluster_table_.query("layer == @layer")["size"].to_numpy(dtype=float)
            weights = np.stack([self._feature_weights(m) for m in self.surrogates_[layer]])
            rows[layer] = ((sizes[:, None] * weights).sum(axis=0) / sizes.sum()
                           + self.routers_[layer].feature_importances_) / 2
        return pd.DataFrame(rows, index=self.feature_names_in_).T

    def global_importance(self) -> pd.Series:
        """Features ranked by their surrogate importance averaged over layers (sums to 1 per layer)."""
        check_is_fitted(self)
        return self.importance_.mean(axis=0).sort_values(ascending=False)

    def assign(self, X) -> pd.DataFrame:
        """Cluster of each sample at each layer, ``[n, n_layers]`` (its decision path)."""
        check_is_fitted(self)
        _, embeddings = layer_outputs(self.model, X, self.layers_)
        return pd.DataFrame({layer: self.kmeans_[layer].predict(embeddings[layer]) for layer in self.layers_})

    def predict(self, X, layer: str | None = None) -> np.ndarray:
        """The surrogates' decision at ``layer`` (default: the last explained layer)."""
        check_is_fitted(self)
        layer = layer or self.layers_[-1]
        return self._surrogate_predict(self.surrogates_[layer], as_array(X), self.assign(X)[layer].to_numpy())

    def local_importance(self, X) -> np.ndarray:
        """``[n, d]`` feature scores per sample: per layer, the routing tree's importances plus those of the
        surrogate of the sample's cluster, summed over layers.

        A small multiple of the global importance breaks ties where every cluster is pure.
        """
        check_is_fitted(self)
        labels = self.assign(X)
        scores = np.zeros((len(labels), len(self.feature_names_in_)))
        for layer in self.layers_:
            weights = np.stack([self._feature_weights(m) for m in self.surrogates_[layer]])
            scores += weights[labels[layer].to_numpy()] + self.routers_[layer].feature_importances_
        return scores + 1e-3 * self.global_importance().reindex(self.feature_names_in_).to_numpy()

    def explain(self, X) -> pd.DataFrame:
        """One row per sample and layer: its cluster, the model's and the surrogate's decision, ``who``
        (the routing-tree conditions that place it in the cluster), ``why`` (the cluster surrogate's rule
        for it) and the top features of the cluster's surrogate."""
        check_is_fitted(self)
        x = as_array(X)
        logits, _ = layer_outputs(self.model, x, self.layers_)
        decision = decide(logits, self.threshold)
        labels = self.assign(x)
        names = list(self.feature_names_in_)
        rows = []
        for i, layer in itertools.product(range(len(x)), self.layers_):
            c = int(labels[layer].to_numpy()[i])
            model = self.surrogates_[layer][c]
            weights = self._feature_weights(model)
            top = [names[j] for j in np.argsort(-weights)[:3] if weights[j] > 0]
            rows.append({
                "sample": i, "layer": layer, "cluster": c, "model_decision": int(decision[i]),
                "surrogate_decision": int(model.predict(x[i:i + 1])[0]),
                "who": leaf_rule(self.routers_[layer], x[i], names),
                "why": leaf_rule(model, x[i], names) if isinstance(model, DecisionTreeClassifier)
                else self._describe(model),
                "top_features": ", ".join(top),
            })
        return pd.DataFrame(rows)


# -- measures ----------------------------------------------------------------------------------------
def stability_ari(lice: LICE, X, seeds: Sequence[int] = (0, 1, 2), fix_k: bool = False) -> pd.DataFrame:
    """Per layer, the mean pairwise adjusted Rand index of the cluster assignments of ``X`` when LICE is
    refitted on ``X`` with each ``random_state`` of ``seeds`` (K-means initialisation, the surrogate split
    and hence the chosen K). ``lice`` itself stands for its own ``random_state``, so pass the data it was
    fitted on. ``fix_k`` keeps ``lice``'s K per layer, isolating the stability of the clusters from that
    of the K choice."""
    params = {**lice.get_params(deep=False), **({"n_clusters": dict(lice.n_clusters_)} if fix_k else {})}
    fits = [lice if s == lice.random_state else LICE(**{**params, "random_state": s}).fit(X) for s in seeds]
    labels = [f.assign(X) for f in fits]
    rows = []
    for layer in lice.layers_:
        pairs = [adjusted_rand_score(a[layer], b[layer]) for a, b in itertools.combinations(labels, 2)]
        rows.append({"layer": layer, "ari": float(np.mean(pairs)),
                     "k": "/".join(str(f.n_clusters_[layer]) for f in fits)})
    return pd.DataFrame(rows)


def path_agreement(lice: LICE, X, noise: float = 0.05, random_state: int = 0) -> dict[str, float]:
    """Share of samples whose cluster (per layer) and whole decision path are unchanged when every
    non-binary feature gets Gaussian noise of ``noise`` standard deviations."""
    x = as_array(X)
    rng = np.random.default_rng(random_state)
    std = x.std(axis=0)
    continuous = np.array([len(np.unique(x[:, j])) > 2 for j in range(x.shape[1])])
    noisy = x + rng.normal(0, noise, x.shape) * std * continuous
    a, b = lice.assign(x), lice.assign(noisy.astype(np.float32))
    same = a.to_numpy() == b.to_numpy()
    return {"path": float(same.all(axis=1).mean()), **{layer: float(same[:, i].mean())
                                                         for i, layer in enumerate(lice.layers_)}}


def lice_deletion(lice: LICE, X, k: int = 3, baseline: np.ndarray | None = None, n_random: int = 5,
                  random_state: int = 0) -> dict[str, float]:
    """Deletion check: mean |change| of the model's probability when each sample's top-``k`` LICE
    features are set to the baseline (default: the mean of ``X``), against ``k`` random features."""
    x = as_array(X)
    base = x.mean(axis=0) if baseline is None else baseline
    return deletion_check(lambda z: positive_probability(lice.model, z), x, lice.local_importance(x), k=k,
                          baseline=base, n_random=n_random, random_state=random_state)


def lice_results(lice: LICE, X_fit, X_eval, ari_seeds: Sequence[int] = (), noise: float = 0.05, k_delete: int = 3,
                 drivers: Sequence[str] = (), baseline: np.ndarray | None = None,
                 random_state: int = 0) -> pd.DataFrame:
    """The results rows (``model, metric, layer, value``) of a fitted LICE: held-out ``fidelity`` and
    ``n_clusters`` per layer, ``ari`` per layer over refits on ``X_fit`` with the ``ari_seeds`` (when
    given; ``ari_fixed_k`` with K held at this fit's choice), and on ``X_eval``: ``path_agreement`` under
    ``noise`` std of input noise (per layer, and ``layer="all"`` for the whole path), ``deletion_drop``
    for LICE's top-``k_delete`` features and for random ones (deleted = set to ``baseline``, by default
    the mean of ``X_eval``), and ``driver_precision`` (when the true drivers are known). ``random_state``
    seeds the input noise and the random features."""
    rows = []
    for layer in lice.layers_:
        rows.append({"model": "lice", "metric": "fidelity", "layer": layer, "value": lice.fidelity_[layer]})
        rows.append({"model": "lice", "metric": "n_clusters", "layer": layer, "value": lice.n_clusters_[layer]})
    if ari_seeds:
        for metric, fix_k in (("ari", False), ("ari_fixed_k", True)):
            for row in stability_ari(lice, X_fit, ari_seeds, fix_k=fix_k).itertuples():
                rows.append({"model": "lice", "metric": metric, "layer": row.layer, "value": row.ari})
    agreement = path_agreement(lice, X_eval, noise=noise, random_state=random_state)
    rows += [{"model": "lice", "metric": "path_agreement", "layer": layer, "value": agreement[layer]}
             for layer in lice.layers_]
    rows.append({"model": "lice", "metric": "path_agreement", "layer": "all", "value": agreement["path"]})
    deletion = lice_deletion(lice, X_eval, k=k_delete, baseline=baseline, random_state=random_state)
    rows.append({"model": "lice", "metric": "deletion_drop", "value": deletion["ranked"]})
    rows.append({"model": "random_features", "metric": "deletion_drop", "value": deletion["random"]})
    if drivers:
        rows.append({"model": "lice", "metric": "driver_precision",
                     "value": driver_precision(lice.global_importance(), drivers)})
    return pd.DataFrame(rows)
