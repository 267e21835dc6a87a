"""Lookalike baselines, all fitted on the same seeds (positives, ``y == 1``) vs the rest (unlabelled).

Feature baselines take a node-feature matrix ``X`` [N, F] (a snapshot's ``x``); graph baselines take a
``Snapshot``. Each is a scikit-learn estimator: ``fit(X, y)`` returns self, ``decision_function`` gives
a score per row (higher = more like the seeds) and changes nothing. The graph baselines a practitioner
tries first are ``NeighbourGBM`` (boosting on own features plus neighbour aggregates) and
``LabelPropagation`` (personalised PageRank from the seeds); a GNN is to be compared with the best of all.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn
from torch_geometric.nn import SAGEConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.nn.models import LabelPropagation as PropagationOperator
from torch_geometric.utils import to_undirected

from lab.lookalike.audiences import max_similarity, similarity_index
from lab.lookalike.sampling import Snapshot

NEIGHBOUR_STATISTICS = ("neighbour_seed_share", "neighbour_seed_count", "neighbour_count", "neighbour_tie_weight",
                        "neighbour_strongest_tie")


def _seed_mask(y: np.ndarray) -> np.ndarray:
    """The seeds (``y == 1``) as a boolean mask; a lookalike fit needs at least one."""
    positives = np.asarray(y) == 1
    if not positives.any():
        raise ValueError("a lookalike fit needs at least one seed user (y == 1)")
    return positives


def _standardiser(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations (1 for a constant column)."""
    std = X.std(axis=0)
    return X.mean(axis=0), np.where(std > 0, std, 1.0)


def _unit_rows(X: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> torch.Tensor:
    Z = torch.as_tensor((X - mean) / scale, dtype=torch.float32)
    return F.normalize(Z, dim=1)


def _node_seeds(snapshot: Snapshot, y: np.ndarray) -> np.ndarray:
    """The seed mask of a graph fit, one entry per snapshot node."""
    seeds = _seed_mask(y)
    if seeds.shape != (snapshot.x.size(0),):
        raise ValueError(f"y must give one label per node ({snapshot.x.size(0)}), got shape {seeds.shape}")
    return seeds


def neighbour_aggregate_names(feature_names: Sequence[str]) -> list[str]:
    """Column names of ``neighbour_aggregates`` for a snapshot whose features are ``feature_names``."""
    return [f"neighbour_mean_{name}" for name in feature_names] + list(NEIGHBOUR_STATISTICS)


def neighbour_aggregates(snapshot: Snapshot, labels: np.ndarray, chunk_size: int = 1 << 20) -> np.ndarray:
    """Per node, what its neighbours look like [N, F + 5] (names: ``neighbour_aggregate_names``).

    The tie-weighted mean of the neighbours' features [F], then ``NEIGHBOUR_STATISTICS``: the tie-weighted
    share of neighbours that are seeds (``labels == 1``, the labels known so far), the count of seed
    neighbours ("converted neighbours"), the count of neighbours, their total tie weight and the strongest
    tie. Only neighbours count, never the node itself (self-loops are dropped), so a seed's own label
    never enters its own row. An isolated node gets zeros. Scatter-adds over ``edge_index`` (messages
    flow to ``edge_index[1]``), the feature gather in blocks of ``chunk_size`` edges to bound memory;
    no per-node loop.
    """
    n = snapshot.x.size(0)
    seeds = torch.as_tensor(np.asarray(labels) == 1, dtype=torch.float32)
    if seeds.shape != (n,):
        raise ValueError(f"labels must give one entry per node ({n}), got shape {tuple(seeds.shape)}")
    src, dst = snapshot.edge_index
    keep = src != dst
    src, dst, weight = src[keep], dst[keep], snapshot.edge_weight[keep].float()
    values = torch.cat([snapshot.x.float(), seeds[:, None]], dim=1)
    sums = torch.zeros(n, values.size(1))
    for start in range(0, len(src), chunk_size):
        block = slice(start, start + chunk_size)
        sums.index_add_(0, dst[block], values[src[block]] * weight[block, None])
    tie_weight = torch.zeros(n).index_add_(0, dst, weight)[:, None]
    means = torch.where(tie_weight > 0, sums / tie_weight.clamp_min(1e-12), 0.0)
    seed_count = torch.zeros(n).index_add_(0, dst, seeds[src])
    count = torch.bincount(dst, minlength=n).float()
    strongest = torch.zeros(n).scatter_reduce_(0, dst, weight, reduce="amax")
    return torch.cat([means, torch.stack([seed_count, count], 1), tie_weight, strongest[:, None]], dim=1).numpy()


class RuleTargeting(BaseEstimator):
    """Tag targeting: rank users by one column (e.g. recent engagement with the featured product),
    oriented so that the seeds' side of it comes first (``sign_``)."""

    def __init__(self, column: int = 0):
        self.column = column

    def fit(self, X: np.ndarray, y: np.ndarray) -> RuleTargeting:
        X, y = validate_data(self, X, y)
        if not 0 <= self.column < X.shape[1]:
            raise ValueError(f"column must index one of the {X.shape[1]} features, got {self.column}")
        positives = _seed_mask(y)
        rest = X[~positives, self.column]
        self.sign_ = 1.0 if not len(rest) or X[positives, self.column].mean() >= rest.mean() else -1.0
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.sign_ * X[:, self.column]


class SeedSimilarity(BaseEstimator):
    """Cosine similarity to the seeds on standardised features.

    ``mode="centroid"``: similarity to the seed centroid. ``mode="max"``: similarity to the most
    similar seed; with ``n_prototypes`` the seeds are first compressed by k-means (seeded by
    ``random_state``) into prototypes, an approximate index whose cost does not grow with the seed count.
    The seeds (or prototypes, or the centroid) sit in a faiss index (``index_``, see
    ``audiences.similarity_index``): ``index="flat"`` is exact, ``"hnsw"`` approximate for many seeds.
    """

    def __init__(self, mode: str = "centroid", n_prototypes: int | None = None, chunk_size: int = 65536,
                 random_state: int = 0, index: str = "flat", hnsw_m: int = 32, ef_search: int = 64):
        self.mode = mode
        self.n_prototypes = n_prototypes
        self.chunk_size = chunk_size
        self.random_state = random_state
        self.index = index
        self.hnsw_m = hnsw_m
        self.ef_search = ef_search

    def fit(self, X: np.ndarray, y: np.ndarray) -> SeedSimilarity:
        if self.mode not in ("centroid", "max"):
            raise ValueError(f"mode must be 'centroid' or 'max', got {self.mode!r}")
        X, y = validate_data(self, X, y)
        self.mean_, self.scale_ = _standardiser(X)
        seeds = _unit_rows(X[_seed_mask(y)], self.mean_, self.scale_)
        if self.mode == "centroid":
            seeds = F.normalize(seeds.mean(0, keepdim=True), dim=1)
        elif self.n_prototypes and len(seeds) > self.n_prototypes:
            kmeans = KMeans(self.n_prototypes, n_init=1, random_state=self.random_state).fit(seeds.numpy())
            seeds = F.normalize(torch.as_tensor(kmeans.cluster_centers_, dtype=torch.float32), dim=1)
        self.seeds_ = seeds
        self.index_ = similarity_index(seeds.numpy(), self.index, self.hnsw_m, self.ef_search)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        out = np.empty(len(X), dtype=np.float32)
        for start in range(0, len(X), self.chunk_size):
            block = _unit_rows(X[start:start + self.chunk_size], self.mean_, self.scale_)
            out[start:start + len(block)] = max_similarity(block.numpy(), self.index_, self.chunk_size)
        return out


class UserCF(BaseEstimator):
    """User-based collaborative filtering with "is a seed" as the item: a user's score is the
    similarity-weighted seed share among their ``n_neighbours`` most similar users (cosine on the
    standardised behaviour columns ``columns``; all columns when ``None``)."""

    def __init__(self, columns: list[int] | None = None, n_neighbours: int = 50, chunk_size: int = 4096):
        self.columns = columns
        self.n_neighbours = n_neighbours
        self.chunk_size = chunk_size

    def _rows(self, X: np.ndarray) -> torch.Tensor:
        return _unit_rows(X if self.columns is None else X[:, self.columns], self.mean_, self.scale_)

    def fit(self, X: np.ndarray, y: np.ndarray) -> UserCF:
        X, y = validate_data(self, X, y)
        self.mean_, self.scale_ = _standardiser(X if self.columns is None else X[:, self.columns])
        self.reference_ = self._rows(X)
        self.labels_ = torch.as_tensor(_seed_mask(y), dtype=torch.float32)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        rows = self._rows(validate_data(self, X, reset=False))
        out = np.empty(len(rows), dtype=np.float32)
        k = min(self.n_neighbours, len(self.reference_))
        for start in range(0, len(rows), self.chunk_size):
            sims, idx = (rows[start:start + self.chunk_size] @ self.reference_.T).topk(k, dim=1)
            weights = sims.clamp_min(0) + 1e-6
            out[start:start + len(sims)] = ((weights * self.labels_[idx]).sum(1) / weights.sum(1)).numpy()
        return out


def logistic_regression(random_state: int = 0) -> Pipeline:
    """Seeds vs the rest, class-balanced logistic regression on standardised features."""
    return make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000,
                                                              random_state=random_state))


def gradient_boosting(random_state: int = 0) -> HistGradientBoostingClassifier:
    """Seeds vs the rest, class-balanced histogram gradient boosting."""
    return HistGradientBoostingClassifier(class_weight="balanced", max_iter=200, learning_rate=0.05,
                                          random_state=random_state)


class NeighbourGBM(BaseEstimator):
    """The strong non-GNN graph baseline: ``gradient_boosting()`` on a node's own features plus
    ``neighbour_aggregates`` (neighbours' mean features, seed share and count, degree, tie weights).

    ``fit(snapshot, y)`` keeps the seed mask (``labels_``, the labels known so far) and fits the booster
    (``model_``) seeds vs the rest; ``decision_function(snapshot)`` scores any later snapshot of the
    same users (same node order) with those fitted labels on that snapshot's graph. No leakage: a
    node's aggregates count only its neighbours, never itself, so a seed's own label is never one of
    its features; that a seed's neighbours' rows count it is the signal (converted neighbours), and
    it is the same at fit and at scoring.
    """

    def __init__(self, random_state: int = 0):
        self.random_state = random_state

    def _design(self, snapshot: Snapshot) -> np.ndarray:
        return np.hstack([snapshot.x.numpy(), neighbour_aggregates(snapshot, self.labels_)])

    def fit(self, snapshot: Snapshot, y: np.ndarray) -> NeighbourGBM:
        self.labels_ = _node_seeds(snapshot, y)
        self.n_features_in_ = snapshot.x.size(1)
        self.model_ = gradient_boosting(self.random_state).fit(self._design(snapshot), self.labels_.astype(int))
        return self

    def decision_function(self, snapshot: Snapshot) -> np.ndarray:
        """Scores [N] of ``snapshot``'s nodes, the fitted users in the fitted order."""
        check_is_fitted(self)
        if snapshot.x.shape != (len(self.labels_), self.n_features_in_):
            raise ValueError(f"snapshot.x must be [{len(self.labels_)}, {self.n_features_in_}] as at fit, "
                             f"got {list(snapshot.x.shape)}")
        return self.model_.decision_function(self._design(snapshot))


class LabelPropagation(BaseEstimator):
    """Label propagation from the seeds: personalised PageRank with restart probability ``alpha`` to
    the seed set over a snapshot's weighted graph, symmetric-normalised (D^-1/2 A D^-1/2, tie weights),
    ``n_iter`` power iterations: s <- (1 - alpha) A_norm s + alpha y.

    ``fit(snapshot, y)`` keeps the seeds (``labels_``); ``decision_function(snapshot)`` propagates over
    the given snapshot's graph, so it can be re-scored on each day's fresh graph. Users with no path of
    at most ``n_iter`` hops to a seed get exactly 0 and tie (left as is: no feature could break them).
    The iterations are PyG's ``LabelPropagation`` operator on ``gcn_norm`` weights, without its clamp
    to [0, 1] (a hub's score may exceed 1 and the clamp would tie hubs); scikit-learn's
    ``LabelSpreading`` builds its graph as a kernel on features, not from a given weighted graph.
    """

    def __init__(self, alpha: float = 0.15, n_iter: int = 10):
        self.alpha = alpha
        self.n_iter = n_iter

    def fit(self, snapshot: Snapshot, y: np.ndarray) -> LabelPropagation:
        if not 0 < self.alpha <= 1:
            raise ValueError(f"alpha (the restart probability) must lie in (0, 1], got {self.alpha}")
        if self.n_iter < 1:
            raise ValueError(f"n_iter must be at least 1, got {self.n_iter}")
        self.labels_ = _node_seeds(snapshot, y)
        return self

    @torch.no_grad()
    def decision_function(self, snapshot: Snapshot) -> np.ndarray:
        """Scores [N] of ``snapshot``'s nodes (the fitted users in the fitted order) on its graph."""
        check_is_fitted(self)
        n = len(self.labels_)
        if snapshot.x.size(0) != n:
            raise ValueError(f"snapshot must have the {n} fitted nodes, got {snapshot.x.size(0)}")
        edge_index, edge_weight = gcn_norm(snapshot.edge_index, snapshot.edge_weight.float(), n,
                                           add_self_loops=False)
        seeds = torch.as_tensor(self.labels_, dtype=torch.float32)[:, None]
        operator = PropagationOperator(self.n_iter, 1.0 - self.alpha)
        return operator(seeds, edge_index, edge_weight=edge_weight, post_step=lambda out: out)[:, 0].numpy()


class BaggingPU(BaseEstimator):
    """Bagging PU learning (Mordelet & Vert, 2014): many classifiers of the seeds vs a random
    unlabelled subsample of the same size; an unlabelled user is scored only by the classifiers
    that did not see it (out of bag, ``oob_score_``), new data by all of them."""

    def __init__(self, n_estimators: int = 50, max_depth: int | None = 6, random_state: int = 0):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> BaggingPU:
        X, y = validate_data(self, X, y)
        rng = np.random.default_rng(self.random_state)
        seeds = _seed_mask(y)
        positives, unlabelled = np.flatnonzero(seeds), np.flatnonzero(~seeds)
        if len(unlabelled) == 0:
            raise ValueError("BaggingPU needs unlabelled users (y != 1) besides the seeds, got one class")
        total, hits = np.zeros(len(X)), np.zeros(len(X))
        self.estimators_ = []
        for _ in range(self.n_estimators):
            bag = rng.choice(unlabelled, size=min(len(positives), len(unlabelled)), replace=False)
            rows = np.concatenate([positives, bag])
            tree = DecisionTreeClassifier(max_depth=self.max_depth, random_state=int(rng.integers(1 << 31)))
            tree.fit(X[rows], np.r_[np.ones(len(positives)), np.zeros(len(bag))])
            out_of_bag = np.setdiff1d(unlabelled, bag, assume_unique=True)
            if len(out_of_bag):
                total[out_of_bag] += tree.predict_proba(X[out_of_bag])[:, 1]
            hits[out_of_bag] += 1
            self.estimators_.append(tree)
        self.oob_score_ = np.where(hits > 0, total / np.maximum(hits, 1), 1.0)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return np.mean([tree.predict_proba(X)[:, 1] for tree in self.estimators_], axis=0)


def random_walks(edge_index: torch.Tensor, num_nodes: int, walk_length: int, walks_per_node: int,
                 generator: torch.Generator) -> torch.Tensor:
    """Uniform random walks [num_nodes * walks_per_node, walk_length + 1] (DeepWalk), vectorised over
    walkers; a walker at an isolated node stays put. Plain torch: PyG's Node2Vec needs pyg-lib."""
    src, dst = edge_index
    order = torch.argsort(src, stable=True)
    col = dst[order]
    degree = torch.bincount(src, minlength=num_nodes)
    rowptr = torch.cat([torch.zeros(1, dtype=torch.long), degree.cumsum(0)])
    current = torch.arange(num_nodes).repeat(walks_per_node)
    walks = [current]
    for _ in range(walk_length):
        deg = degree[current]
        step = (torch.rand(len(current), generator=generator) * deg).long()
        nxt = col[(rowptr[current] + step).clamp_max(max(len(col) - 1, 0))] if len(col) else current
        current = torch.where(deg > 0, nxt, current)
        walks.append(current)
    return torch.stack(walks, dim=1)


class DeepWalk(BaseEstimator):
    """DeepWalk embeddings (uniform walks + skip-gram with negative sampling), then cosine to the seed
    centroid in embedding space. Transductive: ``fit(snapshot, y)`` embeds the snapshot's nodes
    (``embedding_`` [N, dim]) and ``decision_function()`` scores those same nodes."""

    def __init__(self, dim: int = 32, walk_length: int = 20, walks_per_node: int = 4, context: int = 4,
                 epochs: int = 2, batch_size: int = 4096, lr: float = 0.02, random_state: int = 0):
        self.dim = dim
        self.walk_length = walk_length
        self.walks_per_node = walks_per_node
        self.context = context
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.random_state = random_state

    def fit(self, snapshot: Snapshot, y: np.ndarray) -> DeepWalk:
        generator = torch.Generator().manual_seed(self.random_state)
        n = snapshot.x.size(0)
        walks = random_walks(snapshot.edge_index, n, self.walk_length, self.walks_per_node, generator)
        centre = walks[:, :-self.context].unsqueeze(-1).expand(-1, -1, self.context).reshape(-1)
        context = torch.stack([walks[:, i:i + self.walk_length + 1 - self.context]
                               for i in range(1, self.context + 1)], dim=-1).reshape(-1)
        keep = centre != context
        centre, context = centre[keep], context[keep]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            emb_in, emb_out = nn.Embedding(n, self.dim), nn.Embedding(n, self.dim)
            nn.init.normal_(emb_in.weight, std=0.1)
        nn.init.zeros_(emb_out.weight)
        optimiser = torch.optim.Adam(list(emb_in.parameters()) + list(emb_out.parameters()), lr=self.lr)
        for _ in range(self.epochs):
            for idx in torch.randperm(len(centre), generator=generator).split(self.batch_size):
                c, o = emb_in(centre[idx]), emb_out(context[idx])
                negative = emb_out(torch.randint(0, n, (len(idx),), generator=generator))
                loss = -(F.logsigmoid((c * o).sum(-1)) + F.logsigmoid(-(c * negative).sum(-1))).mean()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        self.embedding_ = emb_in.weight.detach().numpy()
        self.similarity_ = SeedSimilarity("centroid").fit(self.embedding_, np.asarray(y))
        return self

    def decision_function(self, snapshot: Snapshot | None = None) -> np.ndarray:
        """Scores [N] of the fitted snapshot's nodes (a DeepWalk embedding exists only for them)."""
        check_is_fitted(self)
        return self.similarity_.decision_function(self.embedding_)


class GraphSAGENetwork(nn.Module):
    """Two ``SAGEConv`` layers: ``x`` [N, F], ``edge_index`` [2, E] -> one logit per node [N]."""

    def __init__(self, in_channels: int, hidden_channels: int):
        super().__init__()
        self.conv1 = SAGEConv(in_channels, hidden_channels)
        self.conv2 = SAGEConv(hidden_channels, 1)

    def reset_parameters(self) -> None:
        self.conv1.reset_parameters()
        self.conv2.reset_parameters()

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(x, edge_index)), edge_index).squeeze(-1)


class StaticGraphSAGE(BaseEstimator):
    """Two-layer GraphSAGE (``module_``, a ``GraphSAGENetwork``) trained once, seeds vs the rest, on one
    graph: ``fit(snapshot, y)``; ``decision_function(snapshot)`` [N]."""

    def __init__(self, hidden_channels: int = 32, epochs: int = 100, lr: float = 0.01, random_state: int = 0):
        self.hidden_channels = hidden_channels
        self.epochs = epochs
        self.lr = lr
        self.random_state = random_state

    def fit(self, snapshot: Snapshot, y: np.ndarray) -> StaticGraphSAGE:
        target = torch.as_tensor(_seed_mask(y), dtype=torch.float32)
        pos_weight = (len(target) - target.sum()) / target.sum()
        edge_index = to_undirected(snapshot.edge_index)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            self.module_ = GraphSAGENetwork(snapshot.x.size(1), self.hidden_channels)
        optimiser = torch.optim.Adam(self.module_.parameters(), lr=self.lr, weight_decay=1e-4)
        for _ in range(self.epochs):
            optimiser.zero_grad()
            loss = F.binary_cross_entropy_with_logits(self.module_(snapshot.x, edge_index), target,
                                                      pos_weight=pos_weight)
            loss.backward()
            optimiser.step()
        self.module_.eval()
        return self

    @torch.no_grad()
    def decision_function(self, snapshot: Snapshot) -> np.ndarray:
        check_is_fitted(self)
        return self.module_(snapshot.x, to_undirected(snapshot.edge_index)).numpy()
