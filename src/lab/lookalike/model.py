"""The dynamic-GNN lookalike model: sampled daily snapshots, centre-conditioned multi-aggregator
attention, a feature-crossing update, a GAE objective, and a decayed per-user state carried across days.

The layer (``DynamicConv``) is a PyG ``MessagePassing`` over the sampled edges, built to cost about what
GraphSAGE costs (``benchmarks/bench_lookalike_cost.py``): the message map runs on the N nodes before the
aggregation, and the K aggregators are sparse-dense products on the sampled adjacency (fused message and
aggregation): one with ``[h, h * h]`` gives mean, sum and std, one max-reduction gives max, stacked into
a single [N, K, C] tensor. No [E, C] message tensor, no per-aggregator copies, no [E, K*C] concatenation.
What makes the parts earn their place:

* attention (``CentreAttentionAggregation``): each aggregator's summary is normalised on its own before
  mixing (not one shared norm): every (aggregator, channel) standardised over the snapshot's nodes, the
  full graph being the batch (``BatchNorm1d`` on batch statistics, the same in training and scoring), with
  its own affine map. A summary on a large scale (sum) cannot dominate by its size, and unlike a per-node
  LayerNorm, which makes ``sum`` the ``mean`` summary again, the degree information survives; it is also
  4x cheaper here than a per-node group/layer norm. A learned log-temperature lets the softmax sharpen.
* update (``CrossUpdate``, ``cross``): own state and neighbour aggregate are each standardised the same
  way before the element-wise product, so the crossing compares the two on a common scale.
* sampler (``lab.lookalike.sampling``): the heuristic keeps strong (several contact days, heavy) and recent
  ties, and the per-snapshot sample is drawn once per ``fit``, not every epoch.

State across dates (the design choice): each user's state is an exponentially decayed record of
their product engagement and of their user-user edges (half-life ``half_life`` days, built by
``GraphSeries.snapshot``): yesterday counts fully, three days ago half. It is carried from day to day
at a fixed forgetting rate, so the model follows a regime change within a few days. A learned GRU
memory per user (``memory=True``, ``s_u(t) = GRU(z_u(t), s_u(t-1))``) is available, but labels exist
only before the training cutoff: a GRU trained there learns that the past predicts the present and
so holds on to the old regime after a shift (the ``plus_gru_memory`` ablation measures the cost).
The forgetting rate is a choice about how fast the market moves, not something the seeds can teach.

PU training: seeds are positives, everyone else unlabelled. Under the usual "selected completely at
random" assumption a positive-vs-unlabelled classifier ranks users like the positive-vs-negative one
(Elkan & Noto, 2008), so the PU loss is a class-balanced binary cross-entropy on seeds vs the rest.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from sklearn.metrics import roc_auc_score
from sklearn.utils.validation import check_is_fitted
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import coalesce, to_torch_csr_tensor
from tqdm.auto import tqdm

from lab.core import EarlyStopping, member_seed
from lab.lookalike.sampling import Snapshot, sample_neighbours

AGGREGATORS = ("mean", "max", "sum", "std")
SUPPORTED_AGGREGATORS = ("mean", "sum", "max", "min", "std")
STD_EPS = 1e-5


def centre_adjacency(edge_index: Tensor, num_nodes: int) -> Tensor:
    """The transposed adjacency ``adj_t`` [N, N] (sparse CSR, ones): row ``i`` selects the sources of the edges
    into centre ``i``, the layout ``DynamicConv`` aggregates with (PyG's ``adj_t`` convention). A repeated
    edge counts once."""
    return to_torch_csr_tensor(coalesce(edge_index.flip(0), num_nodes=num_nodes), size=(num_nodes, num_nodes),
                               is_coalesced=True)


def neighbourhood_summaries(adj_t: Tensor, h: Tensor, aggrs: Sequence[str]) -> tuple[Tensor, Tensor]:
    """Summaries [N, K, C] of the rows of ``h`` [M, C] that each row of ``adj_t`` (sparse CSR [N, M], ones)
    selects, one per aggregator in ``aggrs``, and each centre's count [N].

    Sparse-dense products, so no [E, C] tensor is formed: mean, sum and std share one product with
    ``[h, h * h]`` (std is ``sqrt(var + eps) - sqrt(eps)``: zero for fewer than two messages, finite gradient
    at zero variance); max and min are ``torch.sparse.mm`` reductions (0 for a centre without messages)."""
    count = adj_t.crow_indices().diff().to(h.dtype).unsqueeze(-1)
    needed = set(aggrs)
    parts: dict[str, Tensor] = {}
    if needed & {"mean", "sum", "std"}:
        moments = adj_t @ (torch.cat([h, h * h], dim=-1) if "std" in needed else h)
        parts["sum"] = moments[:, : h.size(1)]
        parts["mean"] = parts["sum"] / count.clamp_min(1.0)
        if "std" in needed:
            variance = (moments[:, h.size(1):] / count.clamp_min(1.0) - parts["mean"] ** 2).clamp_min(0.0)
            parts["std"] = (variance + STD_EPS).sqrt() - math.sqrt(STD_EPS)
    for name in needed & {"max", "min"}:
        parts[name] = torch.sparse.mm(adj_t, h, "a" + name)
    return torch.stack([parts[name] for name in aggrs], dim=1), count.squeeze(-1)


class CentreAttentionAggregation(nn.Module):
    """Several aggregators of the neighbour messages, each normalised on its own, mixed by attention that
    depends on the centre node and the task.

    PyG's ``MultiAggregation(mode="attn")`` learns one mixing for every node; here a query built from
    the centre node's own state (plus a task embedding) scores each aggregator's summary, so a hub and
    a newcomer can weigh the aggregators differently. Each summary has its own normalisation (per channel
    over the nodes, one ``BatchNorm1d`` over the K*C summary channels) and the logits are divided by a
    learned temperature (``log_temperature``, starting at 1). A centre without messages gets a zero output.
    Shapes: ``messages`` [E, C] with centre ``index`` [E], ``centre`` [N, C] -> out [N, C], attention [N, K];
    ``mix`` takes the raw summaries [N, K, C] and counts [N] instead (``DynamicConv``'s fused path).
    """

    def __init__(self, channels: int, aggrs: Sequence[str] = AGGREGATORS, n_tasks: int = 1,
                 key_channels: int = 16):
        super().__init__()
        unknown = [a for a in aggrs if a not in SUPPORTED_AGGREGATORS]
        if unknown or not aggrs:
            raise ValueError(f"aggrs must be a non-empty subset of {SUPPORTED_AGGREGATORS}, got {tuple(aggrs)}")
        self.aggrs = tuple(aggrs)
        self.norm = nn.BatchNorm1d(len(self.aggrs) * channels, track_running_stats=False)
        self.query = nn.Linear(channels, key_channels)
        self.key = nn.Linear(channels, key_channels, bias=False)
        self.task = nn.Embedding(n_tasks, key_channels)
        self.log_temperature = nn.Parameter(torch.empty(()))
        self.scale = 1.0 / math.sqrt(key_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.log_temperature)
        for module in (self.norm, self.query, self.key, self.task):
            module.reset_parameters()

    def forward(self, messages: Tensor, index: Tensor, centre: Tensor, task: int = 0) -> tuple[Tensor, Tensor]:
        n, e = centre.size(0), messages.size(0)
        select = to_torch_csr_tensor(torch.stack([index, torch.arange(e, device=index.device)]), size=(n, e))
        return self.mix(*neighbourhood_summaries(select, messages, self.aggrs), centre, task)

    def mix(self, raw: Tensor, count: Tensor, centre: Tensor, task: int = 0) -> tuple[Tensor, Tensor]:
        n, k, c = raw.shape
        summaries = self.norm(raw.reshape(n, k * c)).view(n, k, c)
        query = self.query(centre) + self.task.weight[task]
        # query . key(s) for every aggregator, as s . (W_k^T query): no [N, K, key_channels] tensor. One
        # aggregator at a time: broadcast multiplies over [N, K, C] ran on torch's slow strided path.
        key = query @ self.key.weight
        parts = summaries.unbind(1)
        logits = torch.stack([(part * key).sum(-1) for part in parts], dim=1)
        attention = (logits * (self.scale * torch.exp(-self.log_temperature))).softmax(dim=-1)
        out = attention[:, :1] * parts[0]
        for weight, part in zip(attention[:, 1:].unbind(1), parts[1:]):
            out = out + weight.unsqueeze(-1) * part
        return out * (count > 0).unsqueeze(-1), attention


class CrossUpdate(nn.Module):
    """Combine a centre node ``x`` [N, C] with its neighbourhood summary ``a`` [N, C] into [N, C].

    ``cross``: MLP over ``[x, a, x * a]`` with ``x`` and ``a`` each standardised over the nodes first
    (``BatchNorm1d`` on batch statistics), the element-wise product
    letting each of the user's own traits interact with the same trait of their neighbourhood (feature
    crossing) on a common scale. Kept for the ablations, unnormalised: ``concat``, a linear layer over
    ``[x, a]`` (GraphSAGE's update), and ``add``, ``x`` plus a linear map of ``a`` (GCN-style residual sum).
    """

    def __init__(self, channels: int, mode: str = "cross"):
        super().__init__()
        if mode not in ("cross", "concat", "add"):
            raise ValueError(f"update must be 'cross', 'concat' or 'add', got {mode!r}")
        self.mode = mode
        width = {"cross": 3 * channels, "concat": 2 * channels, "add": channels}[mode]
        self.lin = nn.Linear(width, channels)
        crossing = mode == "cross"
        self.norm_x = nn.BatchNorm1d(channels, track_running_stats=False) if crossing else nn.Identity()
        self.norm_a = nn.BatchNorm1d(channels, track_running_stats=False) if crossing else nn.Identity()
        self.out = nn.Linear(channels, channels) if crossing else nn.Identity()

    def reset_parameters(self) -> None:
        for module in (self.lin, self.norm_x, self.norm_a, self.out):
            if not isinstance(module, nn.Identity):
                module.reset_parameters()

    def forward(self, x: Tensor, a: Tensor) -> Tensor:
        if self.mode == "cross":
            x, a = self.norm_x(x), self.norm_a(a)
            return self.out(F.relu(self.lin(torch.cat([x, a, x * a], dim=-1))))
        if self.mode == "add":
            return x + self.lin(a)
        return self.lin(torch.cat([x, a], dim=-1))


class DynamicConv(MessagePassing):
    """One layer: messages ``W z_j`` from the sampled neighbours, centre-attention over the aggregators, and
    the crossing update. ``x`` [N, C] and ``edge_index`` [2, E] (source, centre) or its ``centre_adjacency``
    [N, N] -> (update [N, C], attention [N, K]).

    Fused message and aggregation (``message_and_aggregate`` on the sparse ``adj_t``): the message map runs
    on the N nodes and the aggregators are sparse-dense products, so no per-edge messages are formed. Pass
    the adjacency when a graph is reused (it is built once per sampled snapshot in ``DynamicGNN``)."""

    def __init__(self, channels: int, aggrs: Sequence[str] = AGGREGATORS, update: str = "cross"):
        super().__init__(aggr=None)
        self.message_lin = nn.Linear(channels, channels)
        self.aggregation = CentreAttentionAggregation(channels, aggrs)
        self.combine = CrossUpdate(channels, update)

    def reset_parameters(self) -> None:
        for module in (self.message_lin, self.aggregation, self.combine):
            module.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        adj_t = edge_index if edge_index.layout == torch.sparse_csr else centre_adjacency(edge_index, x.size(0))
        a, attention = self.propagate(adj_t, h=self.message_lin(x), centre=x)
        return self.combine(x, a), attention

    def message_and_aggregate(self, adj_t: Tensor, h: Tensor, centre: Tensor) -> tuple[Tensor, Tensor]:
        raw, count = neighbourhood_summaries(adj_t, h, self.aggregation.aggrs)
        return self.aggregation.mix(raw, count, centre)

    def update(self, inputs: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        return inputs


class DynamicEncoder(nn.Module):
    """Snapshot encoder plus memory: ``x`` [N, F], ``edge_index`` [2, E] (or its ``centre_adjacency``),
    ``state`` [N, H] -> (z [N, H], the snapshot embedding; new state [N, H]; first-layer attention [N, K])."""

    def __init__(self, in_channels: int, hidden_channels: int = 32, n_layers: int = 2,
                 aggrs: Sequence[str] = AGGREGATORS, update: str = "cross", memory: bool = True,
                 dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.input = nn.Linear(in_channels, hidden_channels)
        self.convs = nn.ModuleList(DynamicConv(hidden_channels, aggrs, update) for _ in range(n_layers))
        self.memory = nn.GRUCell(hidden_channels, hidden_channels) if memory else None
        self.head = nn.Linear(hidden_channels, 1)
        self.wide = nn.Linear(in_channels, 1)

    def reset_parameters(self) -> None:
        for module in (self.input, *self.convs, self.head, self.wide):
            module.reset_parameters()
        if self.memory is not None:
            self.memory.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, state: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        z = self.dropout(F.relu(self.input(x)))
        adj_t = edge_index if edge_index.layout == torch.sparse_csr else centre_adjacency(edge_index, x.size(0))
        attentions = []
        for conv in self.convs:
            update, attention = conv(z, adj_t)
            z = self.dropout(F.relu(z + update))
            attentions.append(attention)
        if self.memory is None:
            return z, z, attentions[0]
        return z, self.memory(z, state if state is not None else torch.zeros_like(z)), attentions[0]

    def score(self, state: Tensor, x: Tensor) -> Tensor:
        """Lookalike logit [N]: the deep part from the memory plus a wide (linear) part from today's features."""
        return (self.head(state) + self.wide(x)).squeeze(-1)


class Rollout(NamedTuple):
    """What ``DynamicGNN.rollout`` returns: ``scores`` [D, N], the final ``embedding`` (state) [N, H] and the
    first layer's aggregator ``attention`` [D, N, K] (float16) over the D snapshots."""

    scores: np.ndarray
    embedding: np.ndarray
    attention: np.ndarray


class DynamicGNN(BaseEstimator):
    """Dynamic-GNN lookalike scorer: ``fit(snapshots, positives)`` then ``decision_function(snapshots)`` gives
    one score per user per snapshot, rolled forward in time; ``rollout`` also returns states and attention.

    ``snapshots`` are consecutive days (``GraphSeries.snapshot``); ``positives`` a boolean mask [N]
    of seed users. Ablations: ``sampler="uniform"``, ``aggrs=("mean",)``, ``update="concat"``,
    ``gae_weight=0``, ``memory=True`` (add a learned GRU state); a static graph is a single snapshot.
    ``random_state`` seeds the weights, dropout, the held-out seeds and every sampled edge.

    Attributes: ``module_`` (the ``DynamicEncoder``), ``x_mean_``/``x_scale_`` (feature scaling),
    ``loss_history_`` (per step), ``validation_auc_`` (per epoch, held-out seed recall) and ``epoch_seconds_``
    (wall time of each epoch; the neighbour sampling runs once per ``fit``, before the first).
    """

    def __init__(self, hidden_channels: int = 32, n_layers: int = 1, aggrs: Sequence[str] = AGGREGATORS,
                 update: str = "cross", sampler: str = "heuristic", n_neighbours: int = 10, memory: bool = False,
                 gae_weight: float = 0.1, epochs: int = 8, lr: float = 0.02, weight_decay: float = 1e-3,
                 burn_in: int = 0, unroll: int = 1, validation_fraction: float = 0.2, dropout: float = 0.5,
                 max_gae_edges: int = 50_000, random_state: int = 0, progress: bool = False):
        self.hidden_channels = hidden_channels
        self.n_layers = n_layers
        self.aggrs = aggrs
        self.update = update
        self.sampler = sampler
        self.n_neighbours = n_neighbours
        self.memory = memory
        self.gae_weight = gae_weight
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.burn_in = burn_in
        self.unroll = unroll
        self.validation_fraction = validation_fraction
        self.dropout = dropout
        self.max_gae_edges = max_gae_edges
        self.random_state = random_state
        self.progress = progress

    def _sample(self, snapshot: Snapshot, generator: torch.Generator) -> Tensor:
        """Neighbours kept for a snapshot: the top-k by importance (heuristic) or k at random (uniform)."""
        edge_index, _ = sample_neighbours(snapshot.edge_index, snapshot.edge_weight, snapshot.x.size(0),
                                          self.n_neighbours, self.sampler,
                                          generator if self.sampler == "uniform" else None, snapshot.contact_days)
        return edge_index

    def _scale(self, x: Tensor) -> Tensor:
        return (x - self.x_mean_) / self.x_scale_

    def _gae_loss(self, z: Tensor, edge_index: Tensor, generator: torch.Generator) -> Tensor:
        """GAE reconstruction loss (PyG's ``GAE.recon_loss`` with an inner-product decoder, in log-sigmoid
        form) on at most ``max_gae_edges`` kept edges against as many uniformly drawn node pairs. Drawing
        them with ``randint`` instead of PyG's exact ``negative_sampling`` (a Python loop) is 10x faster and,
        on a sparse graph, almost never hits a true edge; ``index_select`` instead of PyG's fancy indexing
        makes the backward a cheap ``index_add``."""
        keep = torch.randperm(edge_index.size(1), generator=generator)[: self.max_gae_edges]
        pairs = torch.cat([edge_index[:, keep], torch.randint(0, z.size(0), (2, len(keep)), generator=generator)], 1)
        z = F.normalize(z, dim=-1) * 3.0
        logits = (z.index_select(0, pairs[0]) * z.index_select(0, pairs[1])).sum(-1)
        return -(F.logsigmoid(logits[: len(keep)]).mean() + F.logsigmoid(-logits[len(keep):]).mean())

    def fit(self, snapshots: Sequence[Snapshot], positives: np.ndarray) -> DynamicGNN:
        """Train on consecutive ``snapshots`` with ``positives`` (seed mask [N]) as the labelled class.

        A ``validation_fraction`` of the seeds is hidden (left unlabelled) and the epoch whose
        last-day scores rank those hidden seeds highest among the unlabelled users is kept (``EarlyStopping``
        on minus that AUC, patience = every epoch): PU model selection by held-out seed recall, the only
        validation signal a lookalike task has. Torch's global random state is left as it was.
        """
        if len(snapshots) == 0:
            raise ValueError("fit needs at least one snapshot")
        positives = np.asarray(positives, dtype=bool)
        if positives.sum() < 2:
            raise ValueError("fit needs at least two positive (seed) users")
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            self._fit(snapshots, positives)
        return self

    def _fit(self, snapshots: Sequence[Snapshot], positives: np.ndarray) -> None:
        generator = torch.Generator().manual_seed(self.random_state)
        rng = np.random.default_rng(self.random_state)
        seeds = np.flatnonzero(positives)
        held_out = rng.choice(seeds, size=max(1, int(self.validation_fraction * len(seeds))), replace=False)
        y = torch.as_tensor(positives, dtype=torch.float32)
        y[held_out] = 0.0
        validation = np.flatnonzero(y.numpy() == 0)
        validation_truth = np.isin(validation, held_out)

        self.module_ = DynamicEncoder(snapshots[0].x.size(1), self.hidden_channels, self.n_layers, self.aggrs,
                                      self.update, self.memory, self.dropout)
        optimiser = torch.optim.Adam(self.module_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        pos_weight = (len(y) - y.sum()) / y.sum()
        burn_in = min(self.burn_in, len(snapshots) - 1)
        sampled = [self._sample(snapshot, generator) for snapshot in snapshots]
        adjacency = [centre_adjacency(edge_index, len(y)) for edge_index in sampled]
        stacked = torch.cat([snapshot.x for snapshot in snapshots])
        self.x_mean_, self.x_scale_ = stacked.mean(0), stacked.std(0).clamp_min(1e-6)
        self.loss_history_: list[float] = []
        self.validation_auc_: list[float] = []
        self.epoch_seconds_: list[float] = []
        stopper = EarlyStopping(self.module_, patience=self.epochs, min_delta=0.0)
        for _ in tqdm(range(self.epochs), desc="dynamic GNN", disable=not self.progress):
            started = time.perf_counter()
            state: Tensor | None = None
            loss = torch.zeros(())
            for t, (snapshot, edge_index, adj_t) in enumerate(zip(snapshots, sampled, adjacency)):
                x = self._scale(snapshot.x)
                z, state, _ = self.module_(x, adj_t, state)
                if t < burn_in:
                    continue
                logits = self.module_.score(state, x)
                loss = loss + F.binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight)
                if self.gae_weight > 0 and edge_index.size(1) > 0:
                    loss = loss + self.gae_weight * self._gae_loss(z, edge_index, generator)
                if (t - burn_in + 1) % self.unroll == 0 or t == len(snapshots) - 1:
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                    self.loss_history_.append(float(loss.detach()))
                    state, loss = state.detach(), torch.zeros(())
            auc = float(roc_auc_score(validation_truth, logits.detach().numpy()[validation]))
            self.validation_auc_.append(auc)
            stopper.update(-auc)
            self.epoch_seconds_.append(time.perf_counter() - started)
        stopper.restore()

    def _roll(self, snapshots: Sequence[Snapshot]) -> Iterator[tuple[Tensor, Tensor, Tensor, Tensor]]:
        """Per snapshot, the sampled ``edge_index``, the state, the score and the first layer's attention, the
        memory rolled from the first snapshot to the last. Uniform neighbour draws come from a stream of their
        own (``member_seed(random_state, 1)``)."""
        check_is_fitted(self, "module_")
        generator = torch.Generator().manual_seed(member_seed(self.random_state, 1))
        state: Tensor | None = None
        for snapshot in snapshots:
            x = self._scale(snapshot.x)
            edge_index = self._sample(snapshot, generator)
            _, state, attention = self.module_(x, edge_index, state)
            yield edge_index, state, self.module_.score(state, x), attention

    @torch.no_grad()
    def rollout(self, snapshots: Sequence[Snapshot]) -> Rollout:
        """Scores, final state and attention (see ``Rollout``), the memory rolled from the first snapshot to
        the last."""
        scores, attention, last = [], [], None
        for _, state, score, att in self._roll(snapshots):  # only the last state is kept
            scores.append(score.numpy())
            attention.append(att.numpy().astype(np.float16))
            last = state
        if last is None:
            raise ValueError("rollout needs at least one snapshot")
        return Rollout(np.stack(scores), last.numpy(), np.stack(attention))

    @torch.no_grad()
    def layer_states(self, snapshots: Sequence[Snapshot]) -> list[dict[str, np.ndarray]]:
        """Per snapshot, what each layer ``i`` computed, rolled as ``rollout`` rolls (same sampled edges, same
        state): ``layer{i}_centre`` (the node state the layer read), ``layer{i}_neighbourhood`` (the
        attention-mixed aggregate of the sampled neighbours) and ``layer{i}_cross`` (the crossing update), each
        [N, H], read by a forward hook on each layer's update; then ``embedding`` (the state scored) [N, H],
        ``score`` [N] and ``edge_index`` [2, E] (the sampled edges). What LICE and the graph explanations read
        (``lab.explain.graph``)."""
        check_is_fitted(self, "module_")
        layers: dict[str, np.ndarray] = {}

        def keep(i: int) -> Callable[[nn.Module, tuple[Tensor, Tensor], Tensor], None]:
            def hook(module: nn.Module, inputs: tuple[Tensor, Tensor], output: Tensor) -> None:
                layers.update({f"layer{i}_centre": inputs[0].numpy(), f"layer{i}_neighbourhood": inputs[1].numpy(),
                               f"layer{i}_cross": output.numpy()})
            return hook

        convs = [conv for conv in self.module_.convs if isinstance(conv, DynamicConv)]
        handles = [conv.combine.register_forward_hook(keep(i)) for i, conv in enumerate(convs)]
        try:
            return [{**layers, "embedding": state.numpy(), "score": score.numpy(), "edge_index": edge_index.numpy()}
                    for edge_index, state, score, _ in self._roll(snapshots)]
        finally:
            for handle in handles:
                handle.remove()

    def decision_function(self, snapshots: Sequence[Snapshot]) -> np.ndarray:
        """Lookalike scores [len(snapshots), N] (higher = more like the seeds)."""
        return self.rollout(snapshots).scores
