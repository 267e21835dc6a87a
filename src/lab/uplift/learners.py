"""Individual (conditional average) treatment effect learners behind one scikit-learn style API.

Every learner is ``fit(X, t, y)`` -> ``self`` and ``effect(X)`` -> estimated ``E[Y(1) - Y(0) | X]``
for a binary treatment ``t``. Three families:

* econml's meta-learners and orthogonal learners (S, T, X, R, DR, causal forest, linear DML), with
  histogram gradient boosting as nuisance models because it is fast at 1M rows;
* ``UpliftForest``: a random forest of uplift trees (written here; econml has no uplift tree and
  causalml is not a dependency), split on the squared difference of the children's uplifts;
* ``RepresentationLearner``: TARNet, CFR (with a Wasserstein or MMD penalty between the treated
  and control representations) and DragonNet (with a propensity head and targeted regularisation),
  in torch.

``make_effect_learner(name)`` builds any of them by the name used in results files (``EFFECT_LEARNERS``).

Fitting runs single-threaded (``lab.core.limit_threads(1)``): on a shared 2-core machine OpenMP gradient
boosting and torch slow down by an order of magnitude when their threads compete with other processes.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from torch import nn

from lab.core import EarlyStopping, limit_threads, member_seed, validation_folds

ECONML_LEARNERS = ("s_learner", "t_learner", "x_learner", "r_learner", "dr_learner", "causal_forest", "dml")
NETWORK_LEARNERS = ("tarnet", "cfr", "dragonnet")
EFFECT_LEARNERS = ECONML_LEARNERS + ("uplift_forest",) + NETWORK_LEARNERS


def _as_arrays(X, t=None, y=None):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-d, got shape {X.shape}")
    out = [X]
    if t is not None:
        t = np.asarray(t).astype(np.int64).ravel()
        if set(np.unique(t)) - {0, 1}:
            raise ValueError("t must be binary 0/1")
        if t.min() == t.max():
            raise ValueError("t has a single arm; effects need both treated and control units")
        out.append(t)
    if y is not None:
        out.append(np.asarray(y, dtype=np.float64).ravel())
    return out


def regressor(random_state: int, max_iter: int = 150) -> HistGradientBoostingRegressor:
    """The nuisance regressor every learner shares: small, regularised histogram gradient boosting."""
    return HistGradientBoostingRegressor(max_iter=max_iter, learning_rate=0.08, max_leaf_nodes=15,
                                         min_samples_leaf=40, l2_regularization=1.0, random_state=random_state)


def classifier(random_state: int, max_iter: int = 150) -> HistGradientBoostingClassifier:
    """The nuisance classifier (propensity models inside econml learners)."""
    return HistGradientBoostingClassifier(max_iter=max_iter, learning_rate=0.08, max_leaf_nodes=15,
                                          min_samples_leaf=40, l2_regularization=1.0, random_state=random_state)


class EconMLLearner(BaseEstimator):
    """One of econml's CATE estimators with gradient-boosting nuisance models.

    ``method``: s_learner, t_learner, x_learner (econml.metalearners), r_learner (NonParamDML, the
    R-learner with a flexible final stage), dr_learner (econml.dr.DRLearner), causal_forest
    (CausalForestDML), dml (LinearDML: effect linear in X). ``max_iter`` sets the boosting rounds of
    every nuisance model; ``n_estimators`` the trees of the causal forest.
    """

    def __init__(self, method: str = "x_learner", max_iter: int = 150, n_estimators: int = 200,
                 cv: int = 2, random_state: int = 0):
        self.method = method
        self.max_iter = max_iter
        self.n_estimators = n_estimators
        self.cv = cv
        self.random_state = random_state

    def _build(self):
        from econml.dml import CausalForestDML, LinearDML, NonParamDML
        from econml.dr import DRLearner
        from econml.metalearners import SLearner, TLearner, XLearner

        s, it = self.random_state, self.max_iter
        reg, clf = (lambda: regressor(s, it)), (lambda: classifier(s, it))
        if self.method == "s_learner":
            return SLearner(overall_model=reg())
        if self.method == "t_learner":
            return TLearner(models=reg())
        if self.method == "x_learner":
            return XLearner(models=reg(), cate_models=reg(), propensity_model=clf())
        if self.method == "r_learner":
            return NonParamDML(model_y=reg(), model_t=clf(), model_final=reg(), discrete_treatment=True,
                               cv=self.cv, random_state=s)
        if self.method == "dr_learner":
            return DRLearner(model_propensity=clf(), model_regression=reg(), model_final=reg(), cv=self.cv,
                             min_propensity=0.01, random_state=s)
        if self.method == "causal_forest":
            return CausalForestDML(model_y=reg(), model_t=clf(), discrete_treatment=True, cv=self.cv,
                                   n_estimators=self.n_estimators, min_samples_leaf=20, max_samples=0.3,
                                   random_state=s, n_jobs=1)
        if self.method == "dml":
            return LinearDML(model_y=reg(), model_t=clf(), discrete_treatment=True, cv=self.cv, random_state=s)
        raise ValueError(f"unknown econml method {self.method!r}; choose from {ECONML_LEARNERS}")

    def fit(self, X, t, y) -> EconMLLearner:
        X, t, y = _as_arrays(X, t, y)
        self.estimator_ = self._build()
        with warnings.catch_warnings(), limit_threads(1):
            warnings.simplefilter("ignore")
            self.estimator_.fit(y, t, X=X)
        return self

    def effect(self, X) -> np.ndarray:
        """Estimated effect ``E[Y(1) - Y(0) | x]`` of every row of ``X``."""
        check_is_fitted(self, "estimator_")
        (X,) = _as_arrays(X)
        with warnings.catch_warnings(), limit_threads(1):
            warnings.simplefilter("ignore")
            return np.asarray(self.estimator_.effect(X), dtype=np.float64).ravel()


class UpliftForest(BaseEstimator):
    """Random forest of uplift trees on quantile-binned features (histogram splits, level by level).

    A split maximises ``n_L n_R / n * (tau_L - tau_R)^2``, the gain in between-leaf variance of the
    uplift (the causal-tree criterion), subject to ``min_samples_leaf`` treated *and* control units
    in each child. Optional ``propensity`` weights (``t/e + (1-t)/(1-e)``) make the leaf uplifts
    inverse-probability weighted differences, which removes the confounding the splits do not catch.
    """

    def __init__(self, n_estimators: int = 100, max_depth: int = 6, min_samples_leaf: int = 50,
                 max_features: float = 0.6, subsample: float = 0.5, n_bins: int = 32,
                 random_state: int = 0):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.subsample = subsample
        self.n_bins = n_bins
        self.random_state = random_state

    def _bin(self, X: np.ndarray) -> np.ndarray:
        out = np.empty(X.shape, dtype=np.int64)
        for j, edges in enumerate(self.bin_edges_):
            out[:, j] = np.searchsorted(edges, X[:, j], side="right")
        return out

    def fit(self, X, t, y, propensity=None) -> UpliftForest:
        X, t, y = _as_arrays(X, t, y)
        qs = np.linspace(0, 1, self.n_bins + 1)[1:-1]
        self.bin_edges_ = [np.unique(np.quantile(X[:, j], qs)) for j in range(X.shape[1])]
        Xb = self._bin(X)
        w = np.ones(len(t)) if propensity is None else np.where(
            t == 1, 1 / np.clip(propensity, 0.01, 0.99), 1 / np.clip(1 - propensity, 0.01, 0.99))
        rng = np.random.default_rng(self.random_state)
        m = max(2 * self.min_samples_leaf, int(self.subsample * len(t)))
        self.trees_ = []
        for _ in range(self.n_estimators):
            rows = rng.choice(len(t), size=m, replace=False)
            self.trees_.append(self._grow(Xb[rows], t[rows], y[rows], w[rows], rng))
        return self

    def _grow(self, Xb, t, y, w, rng) -> dict[str, np.ndarray]:
        n, p = Xb.shape
        B = self.n_bins
        wt, wc = w * t, w * (1 - t)

        def uplift(st, sc, yt, yc):
            return yt / np.maximum(st, 1e-12) - yc / np.maximum(sc, 1e-12)

        feature, threshold, left, right = [-1], [0], [-1], [-1]
        value = [uplift(wt.sum(), wc.sum(), (wt * y).sum(), (wc * y).sum())]
        node = np.zeros(n, dtype=np.int64)
        frontier = np.array([0])
        for _ in range(self.max_depth):
            local = np.full(len(feature), -1)
            local[frontier] = np.arange(len(frontier))
            li = local[node]
            act = li >= 0
            idx, Xa = li[act], Xb[act]
            K = len(frontier)
            best_gain, best_f, best_b = np.zeros(K), np.full(K, -1), np.zeros(K, dtype=np.int64)
            n_feat = max(1, int(round(self.max_features * p)))
            allowed = np.argsort(rng.random((K, p)), axis=1)[:, :n_feat]
            allowed_mask = np.zeros((K, p), dtype=bool)
            np.put_along_axis(allowed_mask, allowed, True, axis=1)
            stats = [t[act], 1 - t[act], wt[act], wc[act], wt[act] * y[act], wc[act] * y[act]]
            for f in range(p):
                key = idx * B + Xa[:, f]
                h = [np.bincount(key, weights=s, minlength=K * B).reshape(K, B).cumsum(axis=1) for s in stats]
                nt, nc, st, sc, yt, yc = h
                tot = [a[:, -1:] for a in h]
                nt_r, nc_r = tot[0] - nt, tot[1] - nc
                tau_l = uplift(st, sc, yt, yc)
                tau_r = uplift(tot[2] - st, tot[3] - sc, tot[4] - yt, tot[5] - yc)
                size_l, size_r = st + sc, (tot[2] + tot[3]) - (st + sc)
                gain = size_l * size_r / np.maximum(size_l + size_r, 1e-12) * (tau_l - tau_r) ** 2
                ok = np.minimum(np.minimum(nt, nc), np.minimum(nt_r, nc_r)) >= self.min_samples_leaf
                gain = np.where(ok & allowed_mask[:, [f]], gain, 0.0)
                b = gain.argmax(axis=1)
                g = gain[np.arange(K), b]
                better = g > best_gain
                best_gain[better], best_f[better], best_b[better] = g[better], f, b[better]
            split = np.flatnonzero(best_f >= 0)
            if len(split) == 0:
                break
            new_frontier = []
            for k in split:
                parent = frontier[k]
                members = act.copy()
                members[act] = idx == k
                goes_left = Xb[members, best_f[k]] <= best_b[k]
                for side, mask in (("l", goes_left), ("r", ~goes_left)):
                    rows = np.flatnonzero(members)[mask]
                    child = len(feature)
                    for column, empty in ((feature, -1), (threshold, 0), (left, -1), (right, -1)):
                        column.append(empty)
                    value.append(uplift(wt[rows].sum(), wc[rows].sum(), (wt[rows] * y[rows]).sum(),
                                        (wc[rows] * y[rows]).sum()))
                    node[rows] = child
                    new_frontier.append(child)
                    if side == "l":
                        left[parent] = child
                    else:
                        right[parent] = child
                feature[parent], threshold[parent] = int(best_f[k]), int(best_b[k])
            frontier = np.array(new_frontier)
        return {"feature": np.array(feature), "threshold": np.array(threshold), "left": np.array(left),
                "right": np.array(right), "value": np.array(value)}

    def effect(self, X) -> np.ndarray:
        """Estimated effect of every row of ``X``: the mean leaf uplift over the trees."""
        check_is_fitted(self, "trees_")
        (X,) = _as_arrays(X)
        Xb = self._bin(X)
        rows = np.arange(len(Xb))
        total = np.zeros(len(Xb))
        for tree in self.trees_:
            node = np.zeros(len(Xb), dtype=np.int64)
            for _ in range(self.max_depth):
                f = tree["feature"][node]
                inner = f >= 0
                if not inner.any():
                    break
                go_left = Xb[rows, np.maximum(f, 0)] <= tree["threshold"][node]
                node = np.where(inner, np.where(go_left, tree["left"][node], tree["right"][node]), node)
            total += tree["value"][node]
        return total / len(self.trees_)


def _mlp(n_in: int, width: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(n_in if i == 0 else width, width), nn.ELU()]
    return nn.Sequential(*layers)


class RepresentationNet(nn.Module):
    """Shared representation ``phi(x)`` and one outcome head per arm (TARNet / CFR / DragonNet).

    Shapes: ``x [B, F]`` -> ``phi [B, rep_dim]``, ``y0, y1 [B]`` and, with a propensity head,
    ``t_logit [B]``. ``link="log"`` puts ``exp`` on the outcome heads, so outcomes are modelled
    multiplicatively and extrapolate exponentially rather than linearly.
    """

    def __init__(self, n_features: int, rep_dim: int = 200, rep_layers: int = 3, head_dim: int = 100,
                 head_layers: int = 2, propensity_head: bool = False, link: str = "identity"):
        super().__init__()
        self.link = link
        self.phi = _mlp(n_features, rep_dim, rep_layers)
        self.heads = nn.ModuleList(
            [nn.Sequential(_mlp(rep_dim, head_dim, head_layers), nn.Linear(head_dim, 1)) for _ in range(2)])
        self.propensity = nn.Linear(rep_dim, 1) if propensity_head else None
        self.epsilon = nn.Parameter(torch.zeros(1))  # DragonNet's targeted-regularisation fluctuation
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                module.reset_parameters()
        nn.init.zeros_(self.epsilon)

    def forward(self, x: torch.Tensor):
        phi = self.phi(x)
        y0, y1 = (head(phi).squeeze(-1) for head in self.heads)
        if self.link == "log":
            y0, y1 = y0.clamp(max=20).exp(), y1.clamp(max=20).exp()
        t_logit = self.propensity(phi).squeeze(-1) if self.propensity is not None else None
        return phi, y0, y1, t_logit


def wasserstein(a: torch.Tensor, b: torch.Tensor, lam: float = 10.0, iterations: int = 10) -> torch.Tensor:
    """Entropic (Sinkhorn) approximation of the 1-Wasserstein distance between two point clouds.

    As in Shalit et al. (2017): the transport plan is computed without gradient, the cost carries it.
    """
    cost = torch.cdist(a, b)
    scale = cost.detach().mean().clamp_min(1e-8)
    kernel = torch.exp(-lam * cost.detach() / scale) + 1e-12
    r = torch.full((len(a),), 1.0 / len(a))
    c = torch.full((len(b),), 1.0 / len(b))
    u = r.clone()
    for _ in range(iterations):
        v = c / (kernel.T @ u)
        u = r / (kernel @ v)
    v = c / (kernel.T @ u)
    plan = u[:, None] * kernel * v[None, :]
    return (plan * cost).sum()


def linear_mmd(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared distance between the mean representations of the two arms (linear-kernel MMD)."""
    return ((a.mean(0) - b.mean(0)) ** 2).sum()


class RepresentationLearner(BaseEstimator):
    """TARNet, CFR or DragonNet trained with Adam, early stopping on a validation split.

    ``n_ensemble`` members are averaged; each stops early on its own disjoint validation fold, so
    together they train on every row (a cross-validation ensemble).

    ``architecture``: ``tarnet`` (shared representation + two heads), ``cfr`` (TARNet plus
    ``alpha`` times an IPM between the arms' representations, ``ipm`` = ``wasserstein`` or ``mmd``),
    ``dragonnet`` (TARNet plus a propensity head weighted by ``alpha`` and targeted regularisation
    weighted by ``beta``). Outcomes are scaled by their standard deviation inside; the loss is squared
    error, so binary outcomes give probability differences.

    ``link``: ``identity`` (heads predict the centred outcome), ``log`` (heads predict
    ``exp(g(x))`` above an offset just below the smallest outcome: for outcomes that grow exponentially
    in the covariates, such as IHDP's control surface or heavy-tailed transaction values, which
    ReLU/ELU heads would extrapolate only linearly), or ``auto`` (every member trains both links; the
    link with the lower mean validation factual loss over the members, ``validation_loss_``, is kept for
    all of them as ``link_``).

    Attributes: ``scaler_`` (the features' standardisation), ``y_std_`` and ``y_offset_`` (the outcome's
    scale and, per link, offset), ``validation_loss_`` (per link), ``link_`` and ``networks_`` (the
    members' ``RepresentationNet``).
    """

    def __init__(self, architecture: str = "tarnet", ipm: str = "wasserstein", alpha: float = 1.0,
                 beta: float = 1.0, rep_dim: int = 200, rep_layers: int = 3, head_dim: int = 100,
                 head_layers: int = 2, lr: float = 1e-3, weight_decay: float = 1e-4, batch_size: int = 100,
                 max_epochs: int = 300, patience: int = 30, validation_fraction: float = 0.2,
                 n_ensemble: int = 1, link: str = "identity", random_state: int = 0):
        self.architecture = architecture
        self.ipm = ipm
        self.alpha = alpha
        self.beta = beta
        self.rep_dim = rep_dim
        self.rep_layers = rep_layers
        self.head_dim = head_dim
        self.head_layers = head_layers
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.n_ensemble = n_ensemble
        self.link = link
        self.random_state = random_state

    def _loss(self, net, x, t, y):
        phi, y0, y1, t_logit = net(x)
        y_hat = torch.where(t == 1, y1, y0)
        factual = ((y_hat - y) ** 2).mean()
        loss = factual
        if self.architecture == "cfr" and 0 < t.sum() < len(t):
            distance = wasserstein if self.ipm == "wasserstein" else linear_mmd
            loss = loss + self.alpha * distance(phi[t == 1], phi[t == 0])
        if self.architecture == "dragonnet":
            loss = loss + self.alpha * nn.functional.binary_cross_entropy_with_logits(t_logit, t.float())
            e = torch.sigmoid(t_logit).clamp(0.01, 0.99)
            h = t / e - (1 - t) / (1 - e)
            loss = loss + self.beta * ((y - (y_hat + net.epsilon * h)) ** 2).mean()
        return loss, factual

    def _train_one(self, X: torch.Tensor, t: torch.Tensor, y: torch.Tensor, val: torch.Tensor,
                   seed: int, link: str) -> tuple[RepresentationNet, float]:
        """One member trained on the rows outside ``val``; returns it with its best validation factual loss.

        ``seed`` draws the initial weights (in a forked torch RNG, so the global one is left alone) and
        the batch order.
        """
        gen = torch.Generator().manual_seed(seed)
        held_out = torch.zeros(len(X), dtype=torch.bool)
        held_out[val] = True
        tr = torch.nonzero(~held_out).squeeze(1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = RepresentationNet(X.shape[1], self.rep_dim, self.rep_layers, self.head_dim, self.head_layers,
                                    propensity_head=self.architecture == "dragonnet", link=link)
        head_params = [p for name, p in net.named_parameters() if name.startswith("heads")]
        other_params = [p for name, p in net.named_parameters() if not name.startswith("heads")]
        opt = torch.optim.Adam([{"params": head_params, "weight_decay": self.weight_decay},
                                {"params": other_params, "weight_decay": 0.0}], lr=self.lr)
        stopper = EarlyStopping(net, self.patience, min_delta=1e-6)
        for _ in range(self.max_epochs):
            net.train()
            perm = tr[torch.randperm(len(tr), generator=gen)]
            for start in range(0, len(perm), self.batch_size):
                b = perm[start:start + self.batch_size]
                loss, _ = self._loss(net, X[b], t[b], y[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                _, val_factual = self._loss(net, X[val], t[val], y[val])
            if stopper.update(val_factual.item()):
                break
        stopper.restore()
        return net, stopper.best_loss

    def fit(self, X, t, y) -> RepresentationLearner:
        """Train ``n_ensemble`` members per link, member ``k`` validating on fold ``k`` with seed
        ``lab.core.member_seed(random_state, k)``; keep the link with the lower validation loss."""
        if self.architecture not in NETWORK_LEARNERS:
            raise ValueError(f"architecture must be one of {NETWORK_LEARNERS}, got {self.architecture!r}")
        if self.ipm not in ("wasserstein", "mmd"):
            raise ValueError(f"ipm must be 'wasserstein' or 'mmd', got {self.ipm!r}")
        if self.link not in ("identity", "log", "auto"):
            raise ValueError(f"link must be 'identity', 'log' or 'auto', got {self.link!r}")
        X, t, y = _as_arrays(X, t, y)
        folds = [torch.as_tensor(fold) for fold in validation_folds(len(X), self.validation_fraction,
                                                                      self.n_ensemble, self.random_state)]
        self.scaler_ = StandardScaler().fit(X)
        self.y_std_ = float(y.std() or 1.0)
        links = ("identity", "log") if self.link == "auto" else (self.link,)
        self.y_offset_ = {link: float(y.mean()) if link == "identity" else float(y.min()) - 0.5 * self.y_std_
                          for link in links}
        Xt = torch.tensor(self.scaler_.transform(X), dtype=torch.float32)
        tt = torch.tensor(t, dtype=torch.float32)
        targets = {link: torch.tensor((y - offset) / self.y_std_, dtype=torch.float32)
                   for link, offset in self.y_offset_.items()}
        with limit_threads(1):
            fitted = {link: [self._train_one(Xt, tt, targets[link], val, member_seed(self.random_state, k), link)
                             for k, val in enumerate(folds)] for link in links}
        self.validation_loss_ = {link: float(np.mean([loss for _, loss in members]))
                                 for link, members in fitted.items()}
        self.link_ = min(self.validation_loss_, key=self.validation_loss_.__getitem__)
        self.networks_ = [net for net, _ in fitted[self.link_]]
        return self

    def predict_outcomes(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Predicted ``(mu0(x), mu1(x))`` on the original outcome scale, averaged over the ensemble."""
        check_is_fitted(self, "networks_")
        (X,) = _as_arrays(X)
        Xt = torch.tensor(self.scaler_.transform(X), dtype=torch.float32)
        with torch.no_grad(), limit_threads(1):
            outs = [net(Xt) for net in self.networks_]
        offset = self.y_offset_[self.link_]
        y0 = torch.stack([o[1] for o in outs]).mean(0).numpy() * self.y_std_ + offset
        y1 = torch.stack([o[2] for o in outs]).mean(0).numpy() * self.y_std_ + offset
        return y0, y1

    def effect(self, X) -> np.ndarray:
        """Estimated effect ``mu1(x) - mu0(x)`` of every row of ``X``."""
        y0, y1 = self.predict_outcomes(X)
        return (y1 - y0).astype(np.float64)


def make_effect_learner(name: str, random_state: int = 0, **params) -> BaseEstimator:
    """The learner behind a results-file name of ``EFFECT_LEARNERS``, e.g. ``make_effect_learner("cfr", alpha=0.5)``."""
    if name in ECONML_LEARNERS:
        return EconMLLearner(method=name, random_state=random_state, **params)
    if name == "uplift_forest":
        return UpliftForest(random_state=random_state, **params)
    if name in NETWORK_LEARNERS:
        return RepresentationLearner(architecture=name, random_state=random_state, **params)
    raise ValueError(f"unknown effect learner {name!r}; choose from {EFFECT_LEARNERS}")
