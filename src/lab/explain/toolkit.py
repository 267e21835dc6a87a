"""The integrated explanation toolkit: the classic methods, run on the same model and data as LICE.

Which question each method answers is in ``EXPLANATION_METHODS``; ``method_table`` puts that beside each
method's fidelity (where one is defined) and its cost. Library methods are used where they exist: SHAP
(shap), PDP/ICE and permutation importance (scikit-learn), surrogate trees (scikit-learn). Written here,
because no installed library provides them: the LIME-style local linear fit, gradient counterfactuals,
rule extraction and simplification, and the soft decision tree (Frosst & Hinton, 2017).
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import shap
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.inspection import partial_dependence, permutation_importance
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from lab.core import member_seed, stopwatch
from lab.explain.measures import deletion_check, driver_precision
from lab.explain.network import positive_probability, torch_module
from lab.explain.rules import Term, covers, rule_text, tree_leaves

EXPLANATION_METHODS = {
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
    """``records`` of ``{method, fidelity, fidelity_kind, explain_seconds, scope}`` -> the report's table."""
    table = pd.DataFrame(records)
    table.insert(1, "answers", table["method"].map(EXPLANATION_METHODS))
    return table


# -- SHAP and PDP/ICE --------------------------------------------------------------------------------
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
        values = np.asarray(shap.TreeExplainer(model).shap_values(X_explain))
        return (values[..., -1] if values.ndim == 3 else values), "TreeExplainer"
    summary = shap.kmeans(background, 20)
    values = shap.KernelExplainer(lambda z: model.predict_proba(z)[:, 1], summary).shap_values(X_explain)
    return np.asarray(values), "KernelExplainer"


def partial_dependence_curves(estimator, X: pd.DataFrame, features: Sequence[str], n_ice: int = 100,
                              grid_resolution: int = 25, random_state: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Per feature, the positive-class probability along a grid (5th to 95th percentile): ``grid``,
    ``average`` (the PDP, over every row of ``X``), ``individual`` (ICE curves of ``n_ice`` random rows) and
    the feature's ``deciles``."""
    rows = np.random.default_rng(random_state).permutation(len(X))[:n_ice]
    curves = {}
    for feature in features:
        result = partial_dependence(estimator, X, [feature], kind="both", grid_resolution=grid_resolution)
        curves[feature] = {"grid": result["grid_values"][0], "average": result["average"][0],
                           "individual": result["individual"][0][rows],
                           "deciles": np.percentile(X[feature], np.arange(10, 100, 10))}
    return curves


# -- surrogates and rules ----------------------------------------------------------------------------
class RuleSetSurrogate(ClassifierMixin, BaseEstimator):
    """A short if-then rule list imitating a binary decision: the positive leaves of a surrogate tree,
    each simplified by dropping conditions whose removal costs at most ``slack`` precision on the fit
    data, kept when they cover at least ``min_coverage`` of the samples. Predicts the positive class
    (``classes_[1]``) if any rule fires.

    Attributes: ``classes_``, ``rules_`` (``{terms, precision, coverage}``, terms as in ``lab.explain.rules``).
    """

    def __init__(self, max_depth: int = 4, slack: float = 0.02, min_coverage: float = 0.01,
                 random_state: int = 0) -> None:
        self.max_depth = max_depth
        self.slack = slack
        self.min_coverage = min_coverage
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # a rule list says who is positive: two classes only
        return tags

    def fit(self, X, y) -> RuleSetSurrogate:
        """Extract the rules imitating the decision ``y`` (two classes; the second sorted one is positive)."""
        x, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        target_type = type_of_target(y, input_name="y")
        if target_type != "binary":
            raise ValueError(f"Only binary classification is supported: RuleSetSurrogate says who is positive; "
                             f"the type of the target is {target_type} ({len(np.unique(y))} class(es))")
        self.classes_, d = np.unique(y, return_inverse=True)
        tree = DecisionTreeClassifier(max_depth=self.max_depth, min_samples_leaf=max(5, len(x) // 200),
                                      random_state=self.random_state).fit(x, d)
        self.rules_: list[dict] = []
        for leaf in tree_leaves(tree, 1):
            terms: list[Term] = list(leaf["terms"])
            precision = d[covers(terms, x)].mean()
            for term in list(terms):
                shorter = [t for t in terms if t != term]
                covered = covers(shorter, x)
                if shorter and d[covered].mean() >= precision - self.slack:
                    terms, precision = shorter, d[covered].mean()
            coverage = covers(terms, x).mean()
            if coverage >= self.min_coverage and terms not in [r["terms"] for r in self.rules_]:
                self.rules_.append({"terms": terms, "precision": float(precision), "coverage": float(coverage)})
        return self

    def predict(self, X) -> np.ndarray:
        """The positive class where any rule fires, the other class elsewhere."""
        check_is_fitted(self)
        x = validate_data(self, X, reset=False, dtype=np.float32)
        fired = np.zeros(len(x), dtype=bool)
        for rule in self.rules_:
            fired |= covers(rule["terms"], x)
        return self.classes_[fired.astype(int)]

    def describe(self, names: list[str]) -> pd.DataFrame:
        """The rules in plain words with their precision and coverage on the fit data."""
        check_is_fitted(self)
        return pd.DataFrame([{"rule": rule_text(r["terms"], names), "precision": r["precision"],
                              "coverage": r["coverage"]} for r in self.rules_])


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
    """Distil a model into a :class:`SoftTreeModule` by matching its probabilities (cross-entropy).

    ``fit(X, teacher_probability)`` takes the teacher's positive-class probability ``[n]`` in [0, 1];
    ``random_state`` seeds the initial weights and the batch order (never torch's global RNG).
    """

    def __init__(self, depth: int = 4, epochs: int = 60, lr: float = 0.02, random_state: int = 0) -> None:
        self.depth = depth
        self.epochs = epochs
        self.lr = lr
        self.random_state = random_state

    def fit(self, X, teacher_probability) -> SoftTreeDistiller:
        """Train the soft tree on standardised ``X`` to reproduce ``teacher_probability``."""
        x, p = validate_data(self, X, teacher_probability, dtype=np.float32, y_numeric=True)
        if p.min() < 0 or p.max() > 1:
            raise ValueError("teacher_probability must lie in [0, 1]")
        self.mean_, self.scale_ = x.mean(axis=0), np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        with torch.random.fork_rng(devices=[]):  # seeded initial weights, torch's global RNG left as it was
            torch.manual_seed(self.random_state)
            self.module_ = SoftTreeModule(x.shape[1], self.depth)
        xt = torch.from_numpy((x - self.mean_) / self.scale_)
        target = torch.as_tensor(p, dtype=torch.float32)
        optim = torch.optim.Adam(self.module_.parameters(), lr=self.lr)
        generator = torch.Generator().manual_seed(self.random_state)
        for _ in range(self.epochs):
            for batch in torch.randperm(len(xt), generator=generator).split(512):
                q = self.module_(xt[batch]).clamp(1e-6, 1 - 1e-6)
                loss = nn.functional.binary_cross_entropy(q, target[batch])
                optim.zero_grad()
                loss.backward()
                optim.step()
        return self

    def predict_proba(self, X) -> np.ndarray:
        """``[n, 2]``: one minus and the distilled probability."""
        check_is_fitted(self)
        x = (validate_data(self, X, reset=False, dtype=np.float32) - self.mean_) / self.scale_
        with torch.no_grad():
            p = self.module_(torch.from_numpy(x.astype(np.float32))).numpy()
        return np.stack([1 - p, p], axis=1)


# -- local explanations ------------------------------------------------------------------------------
def local_linear(score: Callable[[np.ndarray], np.ndarray], x: np.ndarray, X_train: np.ndarray, names: list[str],
                 n_samples: int = 2000, sigma: float = 0.5, random_state: int = 0) -> tuple[pd.Series, float]:
    """LIME-style: perturb ``x`` (Gaussian of ``sigma`` std on continuous features, 10% flips on 0/1
    ones), weight samples by an RBF kernel on their distance, fit a weighted ridge to ``score``.

    Returns the local slopes per standard deviation and the weighted R2 on fresh perturbations (the
    local fidelity).
    """
    rng = np.random.default_rng(random_state)
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
    module = torch_module(model)
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
                    drivers: Sequence[str] = (), k_delete: int = 3, n_local: int = 200, n_pdp: int = 4,
                    n_ice: int = 60, random_state: int = 0) -> dict:
    """Run the toolkit on a fitted binary classifier holding a torch ``module_`` and its decision
    ``probability >= threshold``. Returns ``results`` (tidy rows ``model, metric, value``), ``table``
    (the method table's records) and the artefacts the report shows (``shap``, ``rankings``, ``rules``,
    ``counterfactuals``, ``counterfactual_inputs``, ``lime``, ``pdp_ice`` for the top ``n_pdp`` SHAP features)."""
    names = list(X_train.columns)
    xtr, xte = X_train.to_numpy(np.float32), X_test.to_numpy(np.float32)
    rng = np.random.default_rng(random_state)
    local = xte[rng.permutation(len(xte))[:n_local]]

    def score(z: np.ndarray) -> np.ndarray:
        return positive_probability(estimator, z)

    d_train, d_test = (score(xtr) >= threshold).astype(int), (score(xte) >= threshold).astype(int)
    baseline = xtr.mean(axis=0)
    rows: list[dict] = []
    records: list[dict] = []
    out: dict = {"rankings": {}}

    def add(method: str, metric: str, value: float) -> None:
        rows.append({"model": method, "metric": metric, "value": float(value)})

    def record(method: str, fidelity: float, kind: str, seconds: float, scope: str) -> None:
        records.append({"method": method, "fidelity": fidelity, "fidelity_kind": kind, "explain_seconds": seconds,
                        "scope": scope})

    def rank(method: str, importance: np.ndarray) -> None:
        ranking = pd.Series(importance.mean(axis=0) if importance.ndim == 2 else importance, index=names)
        out["rankings"][method] = ranking.sort_values(ascending=False)
        if drivers:
            add(method, "driver_precision", driver_precision(out["rankings"][method], drivers))
        add(method, "deletion_drop", deletion_check(score, local, importance, k=k_delete, baseline=baseline,
                                                    n_random=1, random_state=random_state)["ranked"])

    with stopwatch() as clock:
        target = y_test if y_test is not None else d_test
        perm = permutation_importance(estimator, X_test, target, scoring="roc_auc", n_repeats=3,
                                      random_state=random_state)
    rank("permutation_importance", perm.importances_mean)
    record("permutation_importance", np.nan, "-", clock["seconds"], "global")

    with stopwatch() as clock:
        background = xtr[rng.permutation(len(xtr))[:200]]
        values, explainer = shap_values(estimator, local, background)
    out["shap"] = (values, local, explainer)
    rank("shap", np.abs(values))
    record("shap", np.nan, f"additive by construction ({explainer})", clock["seconds"], f"{len(local)} users")

    with stopwatch() as clock:
        tree = DecisionTreeClassifier(max_depth=4, min_samples_leaf=20, random_state=random_state).fit(xtr, d_train)
        fidelity = (tree.predict(xte) == d_test).mean()
    record("global_surrogate_tree", fidelity, "agreement, held out", clock["seconds"], "global")
    add("global_surrogate_tree", "fidelity", fidelity)
    out["surrogate_tree"] = tree

    with stopwatch() as clock:
        rules = RuleSetSurrogate(max_depth=4, random_state=random_state).fit(xtr, d_train)
        fidelity = (rules.predict(xte) == d_test).mean()
    record("rule_set", fidelity, "agreement, held out", clock["seconds"], "global")
    add("rule_set", "fidelity", fidelity)
    add("rule_set", "n_rules", len(rules.rules_))
    out["rules"] = rules.describe(names)

    with stopwatch() as clock:
        soft = SoftTreeDistiller(depth=4, random_state=random_state).fit(xtr, score(xtr))
        fidelity = ((soft.predict_proba(xte)[:, 1] >= threshold).astype(int) == d_test).mean()
    record("soft_tree", fidelity, "agreement, held out", clock["seconds"], "global")
    add("soft_tree", "fidelity", fidelity)

    with stopwatch() as clock:
        fits = [local_linear(score, x, xtr, names, n_samples=1000, random_state=member_seed(random_state, i))
                for i, x in enumerate(local[:20])]
        fidelity = float(np.mean([r2 for _, r2 in fits]))
    record("lime", fidelity, "local weighted R2", clock["seconds"], f"{len(fits)} users")
    add("lime", "fidelity", fidelity)
    out["lime"] = fits[0][0]

    with stopwatch() as clock:
        mutable = np.array([len(np.unique(xtr[:, j])) > 2 and names[j] != "age" for j in range(len(names))])
        cf = counterfactuals(estimator, local, threshold, xtr, mutable=mutable)
    record("counterfactual", cf["valid"].mean(), "share flipped", clock["seconds"], f"{len(local)} users")
    add("counterfactual", "validity", cf["valid"].mean())
    if cf["valid"].any():
        add("counterfactual", "features_changed", cf.loc[cf["valid"], "n_changed"].mean())
    out["counterfactuals"] = cf.rename(columns=dict(enumerate(names)))
    out["counterfactual_inputs"] = pd.DataFrame(local, columns=names)

    with stopwatch() as clock:
        top = list(out["rankings"]["shap"].index[:n_pdp])
        out["pdp_ice"] = partial_dependence_curves(estimator, X_test, top, n_ice=n_ice, random_state=random_state)
    record("pdp_ice", np.nan, "-", clock["seconds"], f"{len(top)} features")

    out["results"] = pd.DataFrame(rows)
    out["table"] = records
    return out
