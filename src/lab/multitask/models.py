"""Multi-task funnel models: shared-bottom, MMoE, PLE, a funnel-aware AITM model, and the graph model.

Every model predicts the five cumulative funnel probabilities P(exposure), P(click), ..., P(drawdown)
for each user and is trained on all users (the "entire space" of ESMM), one loss per stage.

* ``shared_bottom``, ``mmoe`` and ``ple`` give each stage its own sigmoid head, so nothing stops a
  later stage from scoring higher than an earlier one (a funnel violation).
* ``funnel_aware`` follows ESMM / AITM: each tower predicts the *conditional* probability of passing
  its stage, an attention transfer unit passes information from the previous stage's tower, and the
  marginal is the product of conditionals, so P(drawdown) <= P(approve) <= ... by construction.
* the multi-objective graph model is ``funnel_aware`` on top of GraphSAGE user embeddings
  (``SAGEConv`` over user-user and user-product edges) and attention pooling over the user's last
  interactions.

Every architecture adds a *wide* part (Wide & Deep, Cheng et al. 2016): a linear map from the heads'
input straight to each stage's logit, so stages that are near-linear in the features (exposure,
approval) need not be learned through the deep towers. ``funnel_aware`` also adds the cascade's
objective as an auxiliary loss (``conditional_weight``): each stage's conditional probability on the
users who reached the previous stage. The entire-space loss alone gives late stages a weak signal
(their gradient is scaled by the earlier stages' small probabilities); the conditional loss alone is
trained on the selected users only and extrapolates badly to the rest (ESMM's sample selection bias).

Task weights are fixed, learned by homoscedastic uncertainty (Kendall et al. 2018) or by GradNorm
(Chen et al. 2018) on the shared stem; their trajectory is kept in ``task_weights_history_``.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn import functional as F
from torch_geometric.nn import SAGEConv
from torch_geometric.utils import to_torch_csr_tensor

from lab.core import EarlyStopping, limit_threads, member_seed, validation_folds
from lab.data import STAGES
from lab.multitask.features import FunnelData

N_TASKS = len(STAGES)
ARCHITECTURES = ("shared_bottom", "mmoe", "ple", "funnel_aware")
WEIGHTINGS = ("fixed", "uncertainty", "gradnorm")


def _mlp(in_dim: int, hidden: int, out_dim: int, dropout: float = 0.1) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim))


def _reset(module: nn.Module) -> None:
    for child in module.modules():
        reset = getattr(child, "reset_parameters", None)
        if child is not module and callable(reset):
            reset()


class GraphEncoder(nn.Module):
    """Two GraphSAGE layers over users and products.

    Users enter with their tabular features, products with a learned embedding of the same width.
    Input ``x_users`` [n_users, d], ``edge_index`` [2, E] (or a sparse transposed adjacency) over
    n_users + n_products nodes; output [n_users, hidden].
    """

    def __init__(self, in_dim: int, n_products: int, hidden: int):
        super().__init__()
        self.product_embedding = nn.Parameter(torch.empty(n_products, in_dim))
        self.conv1 = SAGEConv(in_dim, hidden)
        self.conv2 = SAGEConv(hidden, hidden)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.product_embedding, std=0.1)
        self.conv1.reset_parameters()
        self.conv2.reset_parameters()

    def forward(self, x_users: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x_users, self.product_embedding])
        h = F.relu(self.conv1(x, edge_index))
        h = F.dropout(h, 0.1, self.training)
        return self.conv2(h, edge_index)[: len(x_users)]


class SequenceEncoder(nn.Module):
    """Attention pooling over the last L interactions, with a learned recency (position) embedding.

    ``items`` [B, L] product index + 1 (0 = pad), ``numeric`` [B, L, 2] -> [B, hidden]. Cheaper than a
    GRU on CPU and as expressive for sequences of a dozen events.
    """

    def __init__(self, n_products: int, hidden: int, length: int = 64):
        super().__init__()
        self.item_embedding = nn.Embedding(n_products + 1, hidden, padding_idx=0)
        self.position_embedding = nn.Embedding(length, hidden)
        self.numeric = nn.Linear(2, hidden)
        self.score = nn.Linear(hidden, 1)

    def reset_parameters(self) -> None:
        _reset(self)

    def forward(self, items: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(items.shape[1] - 1, -1, -1, device=items.device)  # 0 = most recent
        h = torch.tanh(self.item_embedding(items) + self.position_embedding(positions) + self.numeric(numeric))
        scores = self.score(h).squeeze(-1).masked_fill(items == 0, -1e9)
        weights = scores.softmax(-1) * (items > 0).any(-1, keepdim=True)
        return (weights.unsqueeze(-1) * h).sum(1)


class MultiTaskHeads(nn.Module):
    """The multi-task part: a shared stem, then one of the four architectures.

    Input [B, in_dim]; output log P(stage) and log(1 - P(stage)), each [B, 5].
    """

    def __init__(self, architecture: str, in_dim: int, hidden: int, n_experts: int, wide: bool = True):
        super().__init__()
        self.architecture = architecture
        self.wide = nn.Linear(in_dim, N_TASKS) if wide else None
        self.stem = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU())
        half = max(hidden // 2, 4)
        if architecture == "shared_bottom":
            self.bottom = _mlp(hidden, hidden, hidden)
        elif architecture == "mmoe":
            self.experts = nn.ModuleList(_mlp(hidden, hidden, hidden) for _ in range(n_experts))
            self.gates = nn.ModuleList(nn.Linear(hidden, n_experts) for _ in range(N_TASKS))
        elif architecture == "ple":
            n_own = max(n_experts // 2, 1)
            self.shared_experts = nn.ModuleList(_mlp(hidden, hidden, hidden) for _ in range(n_experts))
            self.task_experts = nn.ModuleList(nn.ModuleList(_mlp(hidden, hidden, hidden) for _ in range(n_own))
                                              for _ in range(N_TASKS))
            self.gates = nn.ModuleList(nn.Linear(hidden, n_experts + n_own) for _ in range(N_TASKS))
        elif architecture == "funnel_aware":
            self.bottom = _mlp(hidden, hidden, hidden)
            self.transfer = nn.ModuleList(nn.Linear(half, half) for _ in range(N_TASKS - 1))
            self.attention = nn.ModuleList(nn.ModuleList(nn.Linear(half, half) for _ in range(3))
                                           for _ in range(N_TASKS - 1))
        else:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
        self.towers = nn.ModuleList(nn.Sequential(nn.Linear(hidden, half), nn.ReLU()) for _ in range(N_TASKS))
        self.outputs = nn.ModuleList(nn.Linear(half, 1) for _ in range(N_TASKS))

    def reset_parameters(self) -> None:
        _reset(self)

    def _task_inputs(self, h: torch.Tensor) -> list[torch.Tensor]:
        if self.architecture in ("shared_bottom", "funnel_aware"):
            return [self.bottom(h)] * N_TASKS
        if self.architecture == "mmoe":
            experts = torch.stack([e(h) for e in self.experts], dim=1)
            return [(gate(h).softmax(-1).unsqueeze(-1) * experts).sum(1) for gate in self.gates]
        shared = [e(h) for e in self.shared_experts]
        out = []
        for own, gate in zip(self.task_experts, self.gates):
            experts = torch.stack([e(h) for e in own.children()] + shared, dim=1)
            out.append((gate(h).softmax(-1).unsqueeze(-1) * experts).sum(1))
        return out

    def _attention_transfer(self, t: int, previous: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        """AITM's unit: attend over (information passed from stage t-1, stage t's own tower)."""
        candidates = torch.stack([self.transfer[t - 1](previous), current], dim=1)  # [B, 2, half]
        value, key, query = (layer(candidates) for layer in self.attention[t - 1].children())
        weights = ((key * query).sum(-1) / key.shape[-1] ** 0.5).softmax(-1)
        return (weights.unsqueeze(-1) * value).sum(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.stem(x)
        towers = [tower(z) for tower, z in zip(self.towers, self._task_inputs(h))]
        if self.architecture != "funnel_aware":
            logits = torch.cat([out(z) for out, z in zip(self.outputs, towers)], dim=1)
            logits = logits + self.wide(x) if self.wide is not None else logits
            return F.logsigmoid(logits), F.logsigmoid(-logits)
        states = [towers[0]]
        for t in range(1, N_TASKS):
            states.append(self._attention_transfer(t, states[-1], towers[t]))
        conditional = torch.cat([out(z) for out, z in zip(self.outputs, states)], dim=1)
        conditional = conditional + self.wide(x) if self.wide is not None else conditional
        log_p = torch.cumsum(F.logsigmoid(conditional), dim=1).clamp(max=-1e-7)
        return log_p, torch.log(-torch.expm1(log_p))


class StageLogit(nn.Module):
    """The multi-task heads seen as a plain classifier of one stage: input [B, in_dim] -> logit [B].

    Lets a tabular explainer (LICE, SHAP) open the funnel model: its hidden layers keep their names
    under ``heads.`` (e.g. ``heads.stem``, ``heads.bottom``, ``heads.towers.4``).
    """

    def __init__(self, heads: MultiTaskHeads, stage: int = N_TASKS - 1):
        super().__init__()
        self.heads = heads
        self.stage = stage

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_p, log_1mp = self.heads(x)
        return (log_p - log_1mp)[:, self.stage]


class FunnelNet(nn.Module):
    """Optional graph and sequence encoders feeding the multi-task heads.

    ``forward(x_all, edge_index, rows, items, numeric)``: tabular features of all users [n, d], the graph,
    the rows to score [B] and their sequences [B, L], [B, L, 2]; returns (log p, log 1-p), each [B, 5].
    """

    def __init__(self, architecture: str, in_dim: int, n_products: int, hidden: int, n_experts: int,
                 use_graph: bool, use_sequence: bool, wide: bool = True):
        super().__init__()
        self.graph = GraphEncoder(in_dim, n_products, hidden) if use_graph else None
        self.sequence = SequenceEncoder(n_products, hidden // 2) if use_sequence else None
        head_in = in_dim + (hidden if use_graph else 0) + (hidden // 2 if use_sequence else 0)
        self.heads = MultiTaskHeads(architecture, head_in, hidden, n_experts, wide)

    def reset_parameters(self) -> None:
        _reset(self)

    def forward(self, x_all, edge_index, rows, items, numeric) -> tuple[torch.Tensor, torch.Tensor]:
        return self.heads(self.head_inputs(x_all, edge_index, rows, items, numeric))

    def head_inputs(self, x_all, edge_index, rows, items, numeric) -> torch.Tensor:
        """What the heads read for ``rows``: tabular features, graph and sequence embeddings, [B, in_dim]."""
        parts = [x_all[rows]]
        if self.graph is not None:
            parts.append(self.graph(x_all, edge_index)[rows])
        if self.sequence is not None:
            parts.append(self.sequence(items, numeric))
        return torch.cat(parts, dim=1)


def _adjacency(edge_index: np.ndarray, n_nodes: int) -> torch.Tensor:
    """Transposed adjacency as a CSR tensor: ``SAGEConv`` then aggregates by sparse matmul, ~2x faster."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's "sparse CSR is beta" notice
        return to_torch_csr_tensor(torch.as_tensor(edge_index).flip(0), size=(n_nodes, n_nodes))


def conditional_stage_losses(log_p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of each stage's conditional probability P(stage | previous stage), on the
    users who reached the previous stage (all users for the first), shape [5]."""
    previous = torch.cat([torch.zeros_like(log_p[:, :1]), log_p[:, :-1]], dim=1)
    log_c = (log_p - previous).clamp(max=-1e-7)
    reached = torch.cat([torch.ones_like(y[:, :1]), y[:, :-1]], dim=1)
    nll = -(y * log_c + (1 - y) * torch.log(-torch.expm1(log_c))) * reached
    return nll.sum(0) / reached.sum(0).clamp(min=1)


def stage_losses(log_p: torch.Tensor, log_1mp: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of each stage's marginal probability, shape [5]."""
    return -(y * log_p + (1 - y) * log_1mp).mean(0)


class MultiTaskFunnelClassifier(BaseEstimator):
    """scikit-learn style wrapper: ``fit(data[train])``, ``predict_proba(data[test])`` -> [n, 5].

    Parameters
    ----------
    architecture : one of ``shared_bottom``, ``mmoe``, ``ple``, ``funnel_aware``.
    use_graph, use_sequence : add the GraphSAGE and the behaviour-sequence encoders.
    task_weighting : ``fixed`` (``task_weights``, default all 1), ``uncertainty`` or ``gradnorm``.
    wide : add the linear (Wide & Deep) part to every stage's logit.
    conditional_weight : weight of the auxiliary conditional (cascade) loss, ``funnel_aware`` only.
    n_ensemble : networks averaged (a deep ensemble, Lakshminarayanan et al. 2017). Each member starts
        from its own initialisation and stops early on its own validation fold (disjoint for the first
        ``1 / validation_fraction`` members, then cycling); averaging probabilities keeps the funnel
        order of ``funnel_aware`` members.
    Full-batch Adam with early stopping on a held-out share (``validation_fraction``) of the training
    users (``lab.core.EarlyStopping``). ``n_threads`` torch and BLAS threads while fitting and predicting:
    these small nets run fastest on one thread, and many threads on a shared machine slow them ten-fold.

    Attributes
    ----------
    networks_ : the fitted ``FunnelNet`` members.
    task_weights_history_, validation_loss_history_, n_epochs_ : the first member's task weights per
        epoch [n_epochs_, 5], validation loss per epoch, and epochs run.
    """

    def __init__(self, architecture: str = "funnel_aware", use_graph: bool = False, use_sequence: bool = False,
                 task_weighting: str = "uncertainty", task_weights: tuple[float, ...] | None = None,
                 gradnorm_alpha: float = 1.5, hidden: int = 32, n_experts: int = 3, learning_rate: float = 0.005,
                 weight_decay: float = 1e-2, max_epochs: int = 300, patience: int = 20,
                 validation_fraction: float = 0.15, wide: bool = True, conditional_weight: float = 1.0,
                 n_ensemble: int = 1, n_threads: int = 1, random_state: int = 0):
        self.architecture = architecture
        self.use_graph = use_graph
        self.use_sequence = use_sequence
        self.task_weighting = task_weighting
        self.task_weights = task_weights
        self.gradnorm_alpha = gradnorm_alpha
        self.hidden = hidden
        self.n_experts = n_experts
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.wide = wide
        self.conditional_weight = conditional_weight
        self.n_ensemble = n_ensemble
        self.n_threads = n_threads
        self.random_state = random_state

    @staticmethod
    def _inputs(X: FunnelData, rows: np.ndarray, features: torch.Tensor, adjacency: torch.Tensor):
        return (features, adjacency, torch.as_tensor(rows), torch.as_tensor(X.sequence_items[rows]),
                torch.as_tensor(X.sequence_numeric[rows]))

    @classmethod
    def _view_inputs(cls, X: FunnelData):
        """The networks' inputs for the rows of ``X`` (graph and features of all users)."""
        adjacency = _adjacency(X.edge_index, X.n_users + X.n_products)
        return cls._inputs(X, X.rows, torch.as_tensor(X.tabular_all), adjacency)

    def fit(self, X: FunnelData, y: np.ndarray | None = None) -> MultiTaskFunnelClassifier:
        """Train on the users in ``X.rows`` (labels from ``X`` unless ``y`` [n, 5] is given)."""
        with limit_threads(self.n_threads):
            return self._fit(X, y)

    def _fit(self, X: FunnelData, y: np.ndarray | None) -> MultiTaskFunnelClassifier:
        if self.task_weighting not in WEIGHTINGS:
            raise ValueError(f"task_weighting must be one of {WEIGHTINGS}, got {self.task_weighting!r}")
        if not isinstance(X, FunnelData):
            raise TypeError("X must be a FunnelData view, e.g. build_funnel_data(world)[train_rows]")
        if self.n_ensemble < 1:
            raise ValueError(f"n_ensemble must be at least 1, got {self.n_ensemble}")
        labels = np.asarray(X.labels if y is None else y, dtype=np.float32)
        if labels.shape != (len(X), N_TASKS):
            raise ValueError(f"y must have shape ({len(X)}, {N_TASKS}), got {labels.shape}")
        features, adjacency = torch.as_tensor(X.tabular_all), _adjacency(X.edge_index, X.n_users + X.n_products)
        self.networks_, histories = [], []
        folds = validation_folds(len(X), self.validation_fraction, self.n_ensemble, self.random_state)
        for member, val in enumerate(folds):
            train = np.setdiff1d(np.arange(len(X)), val)
            network, history = self._fit_member(X, labels, train, val, features, adjacency,
                                                member_seed(self.random_state, member))
            self.networks_.append(network)
            histories.append(history)
        self.task_weights_history_, self.validation_loss_history_ = histories[0]
        self.n_epochs_ = len(self.validation_loss_history_)
        return self

    def _fit_member(self, X: FunnelData, labels: np.ndarray, train: np.ndarray, val: np.ndarray,
                    features: torch.Tensor, adjacency: torch.Tensor, seed: int):
        """One network trained on positions ``train`` of ``X``, stopped early on positions ``val``;
        returns it with its (task weights, validation loss) per epoch."""
        torch.manual_seed(seed)
        network = FunnelNet(self.architecture, X.tabular_all.shape[1], X.n_products, self.hidden,
                            self.n_experts, self.use_graph, self.use_sequence, self.wide)
        fixed = torch.tensor(self.task_weights if self.task_weights is not None else [1.0] * N_TASKS)
        log_vars = nn.Parameter(torch.zeros(N_TASKS))
        gradnorm_w = nn.Parameter(torch.ones(N_TASKS))
        optimiser = torch.optim.Adam([
            {"params": list(network.parameters()), "weight_decay": self.weight_decay},
            {"params": [log_vars] if self.task_weighting == "uncertainty" else [], "lr": 0.05},
        ], lr=self.learning_rate)
        weight_optimiser = torch.optim.Adam([gradnorm_w], lr=0.025)
        y_train, y_val = torch.as_tensor(labels[train]), torch.as_tensor(labels[val])
        # Early stopping on the validation loss of each stage relative to a constant predictor, so that
        # the rare final stages count as much as exposure does.
        rate = y_train.mean(0).clamp(1e-4, 1 - 1e-4)
        baseline = -(y_val * rate.log() + (1 - y_val) * (1 - rate).log()).mean(0)
        train_in = self._inputs(X, X.rows[train], features, adjacency)
        val_in = self._inputs(X, X.rows[val], features, adjacency)
        stem = network.heads.stem[0]
        assert isinstance(stem, nn.Linear)
        stem_weight = stem.weight  # GradNorm balances the tasks' gradient norms on the shared stem

        stopper = EarlyStopping(network, self.patience)
        history, initial = [], None
        for _ in range(self.max_epochs):
            network.train()
            log_p, log_1mp = network(*train_in)
            losses = stage_losses(log_p, log_1mp, y_train)
            if self.architecture == "funnel_aware" and self.conditional_weight > 0:
                losses = losses + self.conditional_weight * conditional_stage_losses(log_p, y_train)
            if self.task_weighting == "fixed":
                weights = fixed
                total = (weights * losses).sum()
            elif self.task_weighting == "uncertainty":
                weights = torch.exp(-log_vars)
                total = (weights * losses + log_vars).sum()
            else:
                initial = losses.detach() if initial is None else initial
                weights = gradnorm_w
                norms = torch.stack([torch.autograd.grad(loss, stem_weight, retain_graph=True)[0].norm()
                                     for loss in losses])
                ratio = losses.detach() / initial
                target = (gradnorm_w * norms).mean().detach() * (ratio / ratio.mean()) ** self.gradnorm_alpha
                weight_optimiser.zero_grad()
                (gradnorm_w * norms - target).abs().sum().backward()
                total = (weights.detach() * losses).sum()
            optimiser.zero_grad()
            total.backward()
            optimiser.step()
            if self.task_weighting == "gradnorm":
                weight_optimiser.step()
                with torch.no_grad():
                    gradnorm_w.clamp_(min=1e-3)
                    gradnorm_w.mul_(N_TASKS / gradnorm_w.sum())
            history.append(weights.detach().numpy().copy())
            network.eval()
            with torch.no_grad():
                log_p_val, log_1mp_val = network(*val_in)
                val_loss = float((stage_losses(log_p_val, log_1mp_val, y_val) / baseline).mean())
            if stopper.update(val_loss):
                break
        return stopper.restore(), (np.array(history), np.array(stopper.history))

    def predict_proba(self, X: FunnelData) -> np.ndarray:
        """Cumulative probability of reaching each stage, shape [len(X), 5] (columns = ``STAGES``), averaged
        over the ensemble's members."""
        return self.member_proba(X).mean(axis=0)

    def member_proba(self, X: FunnelData) -> np.ndarray:
        """Each member's cumulative probabilities, shape [n_members, len(X), 5]."""
        check_is_fitted(self, "networks_")
        with torch.no_grad(), limit_threads(self.n_threads):
            inputs = self._view_inputs(X)
            return np.stack([network(*inputs)[0].exp().numpy() for network in self.networks_]).astype(np.float64)

    def predict(self, X: FunnelData) -> np.ndarray:
        """Whether each user is predicted to reach each stage (P >= 0.5), [len(X), 5] of 0/1."""
        return (self.predict_proba(X) >= 0.5).astype(np.int8)

    def explainable(self, X: FunnelData, stage: str = "drawdown", member: int = 0) -> tuple[StageLogit, pd.DataFrame]:
        """One ensemble member as a tabular classifier of ``stage`` for LICE or SHAP: its heads as a module
        mapping their input to the stage's logit, and that input for the users of ``X`` (tabular
        features, then the graph and sequence embeddings computed with the graph held fixed). Members
        differ in their learned embeddings, so each is explained on its own inputs.

        ``LICE(module, layers=["heads.stem", "heads.towers.4"]).fit(inputs)`` then explains the model (layer
        names: ``dict(module.named_modules())``; ``heads.bottom`` exists for shared-bottom and funnel-aware).
        """
        check_is_fitted(self, "networks_")
        with torch.no_grad(), limit_threads(self.n_threads):
            network = self.networks_[member]
            inputs = network.head_inputs(*self._view_inputs(X))
        n_extra = inputs.shape[1] - len(X.feature_names)
        n_graph = self.hidden if self.use_graph else 0
        names = list(X.feature_names) + [f"graph_{i}" for i in range(n_graph)] + [
            f"sequence_{i}" for i in range(n_extra - n_graph)]
        return StageLogit(network.heads, STAGES.index(stage)).eval(), pd.DataFrame(inputs.numpy(), columns=names)

    def select(self, X: FunnelData, k: int) -> np.ndarray:
        """Positions (into ``X``) of the ``k`` users with the highest P(drawdown)."""
        return np.argsort(-self.predict_proba(X)[:, -1], kind="stable")[:k]
