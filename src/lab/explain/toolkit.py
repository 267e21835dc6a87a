"""The integrated explanation toolkit: the classic methods, run on the same model and data as LICE.

Which question each method answers is in ``METHODS``; ``method_table`` puts that beside each method's
fidelity (where one is defined) and its cost. Library methods are used where they exist: SHAP (shap),
PDP/ICE and permutation importance (scikit-learn), surrogate trees (scikit-learn). Written here, because
no installed library provides them: the LIME-style local linear fit, gradient counterfactuals, the
deletion check, rule extraction and simplification, and the soft decision tree (Frosst & Hinton, 2017).
"""
from __future__ import annotations

import warnings
from time import perf_counter

import numpy as np
import pandas as pd
import shap
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.inspection import PartialDependenceDisplay, permutation_importance
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeClassifier
from torch import nn

METHODS = {
    "lice": "Which regions does each hidden layer carve out, which features drive the decision in each, "
            "and how do users flow from region to region?",
    "permutation_importance": "Which features does the model's accuracy depend on, globally?",
    "shap": "How much did each feature push this user's score up or down from the average?",
    "pdp_ice": "How does the score change as one feature moves, on average (PDP) and per user (ICE)?",
    "global_surrogate_tree": "Which single small tree best imitates the model's decision?",
    "rule_set": "Which few if-then rules cover the users the model picks?",
    "soft_tree": "Can the model be distilled into a differentiable depth-limited tree, and how faithfully?",
    "lime": "Which linear trade-off imitates the model around this one user?",
    "counterfactual": "What smallest change to this user's features would flip the decision?",
    "deletion": "Do the features a method ranks first really move the model when removed?",
}


def method_table(records: list[dict]) -> pd.DataFrame:
    """``records`` of ``{method, fidelity, fidelity_kind, seconds, scope}`` -> the table shown in the report."""
    table = pd.DataFrame(records)
    table.insert(1, "answers", table["method"].map(METHODS))
    return table


# -- deletion ----------------------------------------------------------------------------------------
def deletion_check(score, x: np.ndarray, importance: np.ndarray, k: int = 3, baseline: np.ndarray | None = None,
                   n_random: int = 5, seed: int = 0) -> dict[str, float]:
    """Mean |change| of ``score(x)`` when each row's top-``k`` features by ``importance`` (``[n, d]`` or a
    global ``[d]``) are set to ``baseline``, against ``k`` random features (mean of ``n_random`` draws)."""
    x = np.asarray(x, dtype=np.float32)
    base = x.mean(axis=0) if baseline is None else np.asarray(baseline, dtype=np.float32)
    importance = np.broadcast_to(np.asarray(importance, dtype=float), x.shape)
    before = score(x)
    rows = np.arange(len(x))[:, None]

    def drop(cols: np.ndarray) -> float:
        z = x.copy()
        z[rows, cols] = base[cols]
        return float(np.abs(score(z) - before).mean())

    rng = np.random.default_rng(seed)
    ranked = drop(np.argsort(-importance, axis=1, kind="stable")[:, :k])
    random = np.mean([drop(np.argsort(rng.random(x.shape), axis=1)[:, :k]) for _ in range(n_random)])
    return {"ranked": ranked, "random": float(random)}


# -- SHAP --------------------------------------------------------------------------------------------
def shap_values(model, X_explain: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, str]:
    """``[n, d]`` SHAP values of the positive-class output and the explainer used.

    torch models (or estimators holding one in ``module_``): ``DeepExplainer`` (DeepLIFT rescale rule,
    on the logit; fast and close to exact for ReLU MLPs). Tree models: ``TreeExplainer`` (exact, fast).
    Anything else: ``KernelExplainer`` on ``predict_proba`` (model-agnostic, slow: keep n small).
    """
    module = getattr(model, "module_", model)
    if isinstance(module, nn.Module):
        with warnings.catch_warnings():  # shap warns on modules it does not know; ours (Standardize) is affine
            warnings.filterwarnings("ignore", message="unrecognized nn.Module")
            explainer = shap.DeepExplainer(module, torch.as_tensor(background, dtype=torch.float32))
            values = explainer.shap_values(torch.as_tensor(X_explain, dtype=torch.float32), check_additivity=False)
        return np.asarray(values).reshape(len(X_explain), -1), "DeepExplainer"
    if hasattr(model, "tree_") or hasattr(model, "estimators_"):
        values = shap.TreeExplainer(model).shap_values(X_explain)
        values = np.asarray(values)
        return (values[..., -1] if values.ndim == 3 else values), "TreeExplainer"
    summary = shap.kmeans(background, 20)
    values = shap.KernelExplainer(lambda z: model.predict_proba(z)[:, 1], summary).shap_values(X_explain)
    return np.asarray(values), "KernelExplainer"


def pdp_ice_figure(estimator, X: pd.DataFrame, features: list[str], n_ice: int = 100, seed: int = 0):
    """PDP (thick line) over ICE curves (thin) for each feature, on the positive-class probability."""
    display = PartialDependenceDisplay.from_estimator(
        estimator, X, features, kind="both", subsample=n_ice, random_state=seed, n_cols=min(4, len(features)),
        grid_resolution=25,
        ice_lines_kw={"alpha": 0.15, "linewidth": 0.5}, pd_line_kw={"color": "black", "linewidth": 2})
    display.figure_.set_size_inches(3.2 * min(4, len(features)), 2.6 * int(np.ceil(len(features) / 4)))
    return display.figure_


# -- surrogates and rules ----------------------------------------------------------------------------
def condition_text(name: str, cut: float, below: bool) -> str:
    """``income <= 4,200``, or ``preferred_channel is sms`` for a one-hot ``column=level`` feature."""
    if "=" in name and 0 < cut < 1:
        column, level = name.split("=", 1)
        return f"{column} {'is not' if below else 'is'} {level}"
    value = f"{cut:,.0f}" if abs(cut) >= 100 else f"{cut:.2f}"
    return f"{name} {'<=' if below else '>'} {value}"


def _leaves(tree: DecisionTreeClassifier, positive) -> list[dict]:
    """Every leaf whose majority class is ``positive``: its terms ``(feature, cut, below)``, size, precision."""
    if positive not in tree.classes_:
        return []
    pos = list(tree.classes_).index(positive)
    t = tree.tree_
    leaves, stack = [], [(0, [])]
    while stack:
        node, terms = stack.pop()
        if t.children_left[node] == -1:
            share = t.value[node][0] / t.value[node][0].sum()
            if share.argmax() == pos:
                leaves.append({"terms": terms, "n": int(t.n_node_samples[node]), "precision": float(share[pos])})
            continue
        j, cut = int(t.feature[node]), float(t.threshold[node])
        stack.append((t.children_left[node], terms + [(j, cut, True)]))
        stack.append((t.children_right[node], terms + [(j, cut, False)]))
    return sorted(leaves, key=lambda leaf: -leaf["n"])


def tree_rules(tree: DecisionTreeClassifier, names: list[str], positive=1) -> list[dict]:
    """The tree's positive leaves as plain-words rules, largest first: ``{rule, n, precision}``."""
    return [{"rule": " and ".join(condition_text(names[j], cut, below) for j, cut, below in leaf["terms"])
             or "everyone", "n": leaf["n"], "precision": leaf["precision"]} for leaf in _leaves(tree, positive)]


def _covers(terms: list[tuple[int, float, bool]], x: np.ndarray) -> np.ndarray:
    mask = np.ones(len(x), dtype=bool)
    for j, cut, below in terms:
        mask &= (x[:, j] <= cut) if below else (x[:, j] > cut)
    return mask


class RuleSetSurrogate(ClassifierMixin, BaseEstimator):
    """A short if-then rule list imitating a decision: the positive leaves of a surrogate tree, each
    simplified by dropping conditions whose removal costs at most ``slack`` precision on the fit data,
    kept when they cover at least ``min_coverage`` of the samples. Predicts positive if any rule fires."""

    def __init__(self, max_depth: int = 4, slack: float = 0.02, min_coverage: float = 0.01, seed: int = 0) -> None:
        self.max_depth = max_depth
        self.slack = slack
        self.min_coverage = min_coverage
        self.seed = seed

    def fit(self, X, decision) -> RuleSetSurrogate:
        x, d = np.asarray(X, dtype=np.float32), np.asarray(decision).astype(int)
        self.classes_ = np.array([0, 1])
        tree = DecisionTreeClassifier(max_depth=self.max_depth, min_samples_leaf=max(5, len(x) // 200),
                                      random_state=self.seed).fit(x, d)
        self.rules_ = []
        for leaf in _leaves(tree, 1):
            terms = list(leaf["terms"])
            precision = d[_covers(terms, x)].mean()
            for term in list(terms):
                shorter = [t for t in terms if t != term]
                covered = _covers(shorter, x)
                if shorter and d[covered].mean() >= precision - self.slack:
                    terms, precision = shorter, d[covered].mean()
            coverage = _covers(terms, x).mean()
            if coverage >= self.min_coverage and terms not in [r["terms"] for r in self.rules_]:
                self.rules_.append({"terms": terms, "precision": float(precision), "coverage": float(coverage)})
        return self

    def predict(self, X) -> np.ndarray:
        x = np.asarray(X, dtype=np.float32)
        fired = np.zeros(len(x), dtype=bool)
        for rule in self.rules_:
            fired |= _covers(rule["terms"], x)
        return fired.astype(int)

    def describe(self, names: list[str]) -> pd.DataFrame:
        """The rules in plain words with their precision and coverage on the fit data."""
        return pd.DataFrame([{"rule": " and ".join(condition_text(names[j], c, b) for j, c, b in r["terms"]),
                              "precision": r["precision"], "coverage": r["coverage"]} for r in self.rules_])


# -- soft decision tree ------------------------------------------------------------------------------
class SoftTreeModule(nn.Module):
    """A soft binary decision tree: every inner node routes right with ``sigmoid(w.x + b)``; the output
    is the path-probability-weighted mix of the leaves' probabilities. x: ``[n, d] -> [n]`` probability."""

    def __init__(self, n_features: int, depth: int) -> None:
        super().__init__()
        self.depth = depth
        self.inner = nn.Linear(n_features, 2 ** depth - 1)
        self.leaf_logits = nn.Parameter(torch.zeros(2 ** depth))

    def reset_parameters(self) -> None:
        self.inner.reset_parameters()
        nn.init.zeros_(self.leaf_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        right = torch.sigmoid(self.inner(x))
        reach = torch.ones(len(x), 1)
        for level in range(self.depth):
            nodes = right[:, 2 ** level - 1: 2 ** (level + 1) - 1]
            reach = torch.stack([reach * (1 - nodes), reach * nodes], dim=2).reshape(len(x), -1)
        return reach @ torch.sigmoid(self.leaf_logits)


class SoftTreeDistiller(BaseEstimator):
    """Distil a model into a :class:`SoftTreeModule` by matching its probabilities (cross-entropy)."""

    def __init__(self, depth: int = 4, epochs: int = 60, lr: float = 0.02, seed: int = 0) -> None:
        self.depth = depth
        self.epochs = epochs
        self.lr = lr
        self.seed = seed

    def fit(self, X, teacher_probability) -> SoftTreeDistiller:
        x = np.asarray(X, dtype=np.float32)
        self.mean_, self.scale_ = x.mean(axis=0), np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        torch.manual_seed(self.seed)
        self.module_ = SoftTreeModule(x.shape[1], self.depth)
        xt = torch.from_numpy((x - self.mean_) / self.scale_)
        target = torch.as_tensor(np.asarray(teacher_probability), dtype=torch.float32)
        optim = torch.optim.Adam(self.module_.parameters(), lr=self.lr)
        generator = torch.Generator().manual_seed(self.seed)
        for _ in range(self.epochs):
            for batch in torch.randperm(len(xt), generator=generator).split(512):
                p = self.module_(xt[batch]).clamp(1e-6, 1 - 1e-6)
                loss = nn.functional.binary_cross_entropy(p, target[batch])
                optim.zero_grad()
                loss.backward()
                optim.step()
        return self

    def predict_proba(self, X) -> np.ndarray:
        x = (np.asarray(X, dtype=np.float32) - self.mean_) / self.scale_
        with torch.no_grad():
            p = self.module_(torch.from_numpy(x.astype(np.float32))).numpy()
        return np.stack([1 - p, p], axis=1)


# -- local explanations ------------------------------------------------------------------------------
def local_linear(score, x: np.ndarray, X_train: np.ndarray, names: list[str], n_samples: int = 2000,
                 sigma: float = 0.5, seed: int = 0) -> tuple[pd.Series, float]:
    """LIME-style: perturb ``x`` (Gaussian of ``sigma`` std on continuous features, 10% flips on 0/1
    ones), weight samples by an RBF kernel on their distance, fit a weighted ridge to ``score``.

    Returns the local slopes per standard deviation and the weighted R2 on fresh perturbations (the
    local fidelity).
    """
    rng = np.random.default_rng(seed)
    std = np.where(X_train.std(axis=0) > 0, X_train.std(axis=0), 1.0)
    binary = np.array([set(np.unique(X_train[:, j])) <= {0.0, 1.0} for j in range(X_train.shape[1])])

    def sample() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        steps = rng.normal(0, sigma, (n_samples, len(x))) * ~binary
        z = x + steps * std
        flips = binary & (rng.random((n_samples, len(x))) < 0.1)
        z = np.where(flips, 1 - z, z).astype(np.float32)
        distance = np.sqrt((((z - x) / std) ** 2).sum(axis=1))
        return (z - x) / std, score(z), np.exp(-(distance ** 2) / (2 * (0.75 * np.sqrt(len(x))) ** 2))

    u, s, w = sample()
    ridge = Ridge(alpha=1.0).fit(u, s, sample_weight=w)
    u2, s2, w2 = sample()
    return pd.Series(ridge.coef_, index=names), float(ridge.score(u2, s2, sample_weight=w2))


def counterfactuals(model, X: np.ndarray, threshold: float, X_train: np.ndarray, mutable: np.ndarray | None = None,
                    l1: float = 0.02, steps: int = 300, lr: float = 0.05) -> pd.DataFrame:
    """Wachter-style counterfactuals for a batch: the smallest (L1, in std units) change to the ``mutable``
    features that moves the torch model's probability across ``threshold``, kept inside the training range.

    Returns ``[n, d]`` changes in feature units plus ``valid`` (the decision flipped) and ``n_changed``.
    """
    module = getattr(model, "module_", model)
    x = torch.as_tensor(X, dtype=torch.float32)
    std = torch.as_tensor(np.where(X_train.std(axis=0) > 0, X_train.std(axis=0), 1.0), dtype=torch.float32)
    low, high = torch.as_tensor(X_train.min(axis=0)), torch.as_tensor(X_train.max(axis=0))
    mask = torch.ones(x.shape[1]) if mutable is None else torch.as_tensor(mutable, dtype=torch.float32)
    cut = float(np.log(threshold / (1 - threshold)))
    with torch.no_grad():
        start = module(x).reshape(-1)
    sign = torch.where(start >= cut, -1.0, 1.0)  # push the logit down for picked users, up for the rest
    delta = torch.zeros_like(x, requires_grad=True)
    optim = torch.optim.Adam([delta], lr=lr)
    for _ in range(steps):
        z = torch.minimum(torch.maximum(x + delta * std * mask, low), high)
        margin = torch.relu(0.2 - sign * (module(z).reshape(-1) - cut))
        loss = margin.sum() + l1 * delta.abs().mul(mask).sum()
        optim.zero_grad()
        loss.backward()
        optim.step()
    with torch.no_grad():
        z = torch.minimum(torch.maximum(x + delta * std * mask, low), high)
        valid = (module(z).reshape(-1) >= cut) != (start >= cut)
        change = (z - x).numpy()
    out = pd.DataFrame(change)
    out["valid"] = valid.numpy()
    out["n_changed"] = (np.abs(change) > 0.05 * std.numpy()).sum(axis=1)
    return out


# -- everything on one model -------------------------------------------------------------------------
def compare_methods(estimator, X_train: pd.DataFrame, X_test: pd.DataFrame, threshold: float, y_test=None,
                    drivers: tuple[str, ...] = (), k_delete: int = 3, n_local: int = 200, seed: int = 0) -> dict:
    """Run the toolkit on a fitted binary classifier with a torch ``module_`` and its decision
    ``probability >= threshold``. Returns ``results`` (tidy rows), ``table`` (the method table) and the
    artefacts the report shows (``shap``, ``rankings``, ``rules``, ``counterfactuals``, ``lime``)."""
    names = list(X_train.columns)
    xtr, xte = X_train.to_numpy(np.float32), X_test.to_numpy(np.float32)
    rng = np.random.default_rng(seed)
    local = xte[rng.permutation(len(xte))[:n_local]]

    def score(z: np.ndarray) -> np.ndarray:
        return estimator.predict_proba(z)[:, 1]

    d_train, d_test = (score(xtr) >= threshold).astype(int), (score(xte) >= threshold).astype(int)
    baseline = xtr.mean(axis=0)
    rows, records, out = [], [], {}

    def add(method, metric, value):
        rows.append({"model": method, "metric": metric, "value": float(value)})

    def delete(method, importance):
        add(method, "deletion_drop", deletion_check(score, local, importance, k=k_delete, baseline=baseline,
                                                    n_random=1, seed=seed)["ranked"])

    def rank(method, importance: pd.Series):
        out.setdefault("rankings", {})[method] = importance.sort_values(ascending=False)
        if drivers:
            top = list(out["rankings"][method].index[:len(drivers)])
            add(method, "driver_precision", len(set(top) & set(drivers)) / len(drivers))

    start = perf_counter()
    target = y_test if y_test is not None else d_test
    perm = permutation_importance(estimator, X_test, target, scoring="roc_auc", n_repeats=3, random_state=seed)
    seconds = perf_counter() - start
    rank("permutation_importance", pd.Series(perm.importances_mean, index=names))
    delete("permutation_importance", perm.importances_mean)
    records.append({"method": "permutation_importance", "fidelity": np.nan, "fidelity_kind": "-", "seconds": seconds,
                    "scope": "global"})

    start = perf_counter()
    background = xtr[rng.permutation(len(xtr))[:200]]
    values, explainer = shap_values(estimator, local, background)
    seconds = perf_counter() - start
    out["shap"] = (values, local, explainer)
    rank("shap", pd.Series(np.abs(values).mean(axis=0), index=names))
    delete("shap", np.abs(values))
    records.append({"method": "shap", "fidelity": np.nan, "fidelity_kind": f"additive by construction ({explainer})",
                    "seconds": seconds, "scope": f"{len(local)} users"})

    start = perf_counter()
    tree = DecisionTreeClassifier(max_depth=4, min_samples_leaf=20, random_state=seed).fit(xtr, d_train)
    fidelity = (tree.predict(xte) == d_test).mean()
    records.append({"method": "global_surrogate_tree", "fidelity": fidelity, "fidelity_kind": "agreement, held out",
                    "seconds": perf_counter() - start, "scope": "global"})
    add("global_surrogate_tree", "fidelity", fidelity)
    out["surrogate_tree"] = tree

    start = perf_counter()
    rules = RuleSetSurrogate(max_depth=4, seed=seed).fit(xtr, d_train)
    fidelity = (rules.predict(xte) == d_test).mean()
    records.append({"method": "rule_set", "fidelity": fidelity, "fidelity_kind": "agreement, held out",
                    "seconds": perf_counter() - start, "scope": "global"})
    add("rule_set", "fidelity", fidelity)
    add("rule_set", "n_rules", len(rules.rules_))
    out["rules"] = rules.describe(names)

    start = perf_counter()
    soft = SoftTreeDistiller(depth=4, seed=seed).fit(xtr, score(xtr))
    fidelity = ((soft.predict_proba(xte)[:, 1] >= threshold).astype(int) == d_test).mean()
    records.append({"method": "soft_tree", "fidelity": fidelity, "fidelity_kind": "agreement, held out",
                    "seconds": perf_counter() - start, "scope": "global"})
    add("soft_tree", "fidelity", fidelity)

    start = perf_counter()
    fits = [local_linear(score, x, xtr, names, n_samples=1000, seed=seed + i) for i, x in enumerate(local[:20])]
    fidelity = float(np.mean([r2 for _, r2 in fits]))
    records.append({"method": "lime", "fidelity": fidelity, "fidelity_kind": "local weighted R2",
                    "seconds": perf_counter() - start, "scope": f"{len(fits)} users"})
    add("lime", "fidelity", fidelity)
    out["lime"] = fits[0][0]

    start = perf_counter()
    mutable = np.array([len(np.unique(xtr[:, j])) > 2 and names[j] != "age" for j in range(len(names))])
    cf = counterfactuals(estimator, local, threshold, xtr, mutable=mutable)
    records.append({"method": "counterfactual", "fidelity": cf["valid"].mean(), "fidelity_kind": "share flipped",
                    "seconds": perf_counter() - start, "scope": f"{len(local)} users"})
    add("counterfactual", "validity", cf["valid"].mean())
    if cf["valid"].any():
        add("counterfactual", "features_changed", cf.loc[cf["valid"], "n_changed"].mean())
    out["counterfactuals"] = cf.rename(columns=dict(enumerate(names)))
    out["counterfactual_inputs"] = pd.DataFrame(local, columns=names)

    out["results"] = pd.DataFrame(rows).assign(seed=seed)
    out["table"] = records
    return out
