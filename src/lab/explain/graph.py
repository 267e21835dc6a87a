"""LICE and graph-aware explanations for the lookalike dynamic GNN (``lab.lookalike.model.DynamicGNN``).

The GNN reads a sequence of graph snapshots, not a feature matrix, so it is read here as LICE needs it
(``read_gnn``): one row per (scored day, non-seed user), each layer's node embeddings from
``DynamicGNN.layer_states`` (the centre's own state, the aggregated neighbourhood, the crossing update),
the model's decision (in the day's top-K audience, K = ``multiple`` x the seeds) and, as the transparent
surrogates' inputs, what a person can read (``gnn_inputs``): the user's own snapshot features, the
neighbour aggregates of ``lab.lookalike.baselines.neighbour_aggregates``, the strong ties (neighbours with
at least ``STRONG_CONTACT_DAYS`` contact days), the strong ties who are seeds, and the days since the
user's last own interaction. ``lab.explain.lice.LICE`` is reused unchanged through ``StoredLayers``, a
module that hands LICE the recorded activations of each input row.

Beside it, a graph-aware explanation (``graph_attributions``): PyG's ``GNNExplainer`` learns a mask over
every node feature of the user's sampled neighbourhood on the day's snapshot (the model frozen at that
day's normalisation statistics, ``FrozenSnapshotScorer``). A user's attribution of feature ``f`` is
``own: f``, the mask on the user's own ``f``, and ``neighbour: f``, the largest mask on ``f`` among the
user's neighbours; the neighbour-feature top-3 share is the share of users for whom a ``neighbour: *``
entry is among the three largest of these 2F entries (a user without sampled neighbours counts as no).
The world's target is own taste plus the strong-tie neighbours who would take the product, so with the
peer effect on, cold-start users' explanations should reach for their neighbours, and with it off, not.
"""
from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import adjusted_rand_score
from torch import Tensor, nn
from torch_geometric.explain import Explainer, GNNExplainer
from torch_geometric.utils import k_hop_subgraph

from lab.core import limit_threads
from lab.explain.lice import LICE
from lab.lookalike.baselines import neighbour_aggregate_names, neighbour_aggregates
from lab.lookalike.audiences import expand
from lab.lookalike.evaluate import LookalikeRun
from lab.lookalike.model import DynamicGNN
from lab.lookalike.sampling import Snapshot

STRONG_CONTACT_DAYS = 2
PARTS = ("centre", "neighbourhood", "cross")


def gnn_layers(model: DynamicGNN) -> list[str]:
    """The layer names LICE explains: ``layer{i}_centre``, ``layer{i}_neighbourhood``, ``layer{i}_cross``."""
    return [f"layer{i}_{part}" for i in range(model.n_layers) for part in PARTS]


def gnn_inputs(run: LookalikeRun, day: int) -> pd.DataFrame:
    """The surrogates' inputs for scoring ``day`` [N, ...]: own snapshot features, neighbour aggregates
    (seeds = those known at training), ``strong_ties``, ``strong_seed_ties`` and ``days_since_interaction``
    (days since the last own interaction before ``day``; ``day`` itself for a user without any)."""
    snapshot = run.snapshots[day - 1]
    names = run.series.feature_names
    seeds = ~run.eval_mask
    own = pd.DataFrame(snapshot.x.numpy(), columns=names)
    aggregates = pd.DataFrame(neighbour_aggregates(snapshot, seeds.astype(int)),
                              columns=neighbour_aggregate_names(names))
    src, dst = snapshot.edge_index.numpy()
    days = (snapshot.contact_days.numpy() if snapshot.contact_days is not None else np.ones(len(src)))
    strong = (days >= STRONG_CONTACT_DAYS) & (src != dst)
    n = run.series.n_users
    series = run.series
    before = series.i_day < day
    last = np.full(n, -1)
    np.maximum.at(last, series.i_user[before], series.i_day[before])
    extra = pd.DataFrame({
        "strong_ties": np.bincount(dst[strong], minlength=n),
        "strong_seed_ties": np.bincount(dst[strong], weights=seeds[src[strong]], minlength=n),
        "days_since_interaction": np.where(last >= 0, day - last, day),
    })
    return pd.concat([own, aggregates, extra], axis=1).astype(np.float32)


def audience(scores: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """The top-``k`` of the ``candidates`` (mask [N]) by ``scores`` [N] as a mask, and the cut between
    the k-th and the (k+1)-th score (a user is in the audience when their score is above it)."""
    chosen = expand(scores, min(k, int(candidates.sum())), exclude=~candidates)
    low, rest = scores[chosen].min(), scores[candidates & ~chosen]
    return chosen, float((low + rest.max()) / 2 if len(rest) else low - 1.0)


def cold_starts(run: LookalikeRun, day: int) -> np.ndarray:
    """The scored users who are cold starts on ``day`` (one of ``run.days``), a mask [N]: the study's
    ``test_cold`` slice."""
    return run.slices["test_cold"][int(np.searchsorted(run.days, day))]


@dataclass
class GNNReading:
    """The GNN read as LICE needs it: ``X`` (surrogate inputs), ``embeddings`` (per layer, [n, H]), the
    ``logits`` (score minus the day's audience cut: positive = in the top-K audience), and the ``day``,
    ``user`` (positions) and ``cold`` (cold start that day) of each row."""

    X: pd.DataFrame
    embeddings: dict[str, np.ndarray]
    logits: np.ndarray
    day: np.ndarray
    user: np.ndarray
    cold: np.ndarray


def n_audience(run: LookalikeRun, multiple: int) -> int:
    """Audience size: ``multiple`` x the number of seeds known at training."""
    return multiple * int((~run.eval_mask).sum())


def read_gnn(run: LookalikeRun, days: Sequence[int] | None = None, multiple: int = 5, max_rows: int = 3000,
             random_state: int = 0, states: list[dict[str, np.ndarray]] | None = None) -> GNNReading:
    """Rows (scored day, non-seed user) of the fitted GNN, at most ``max_rows`` drawn at random (seeded)
    from every scored day (or ``days``); ``states`` reuses a ``run.model.layer_states(run.snapshots)``."""
    states = states if states is not None else run.model.layer_states(run.snapshots)
    scored = np.asarray(run.days if days is None else days)
    k = n_audience(run, multiple)
    layers = gnn_layers(run.model)
    embeddings: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    frames, logits, day_col, users, cold = [], [], [], [], []
    for day in scored:
        record = states[day - 1]
        _, cut = audience(record["score"], run.eval_mask, k)
        rows = np.flatnonzero(run.eval_mask)
        frames.append(gnn_inputs(run, int(day)).iloc[rows])
        for name in layers:
            embeddings[name].append(record[name][rows])
        logits.append(record["score"][rows] - cut)
        day_col.append(np.full(len(rows), day))
        users.append(rows)
        cold.append(cold_starts(run, day)[rows])
    X = pd.concat(frames, ignore_index=True)
    keep = np.sort(np.random.default_rng(random_state).permutation(len(X))[:max_rows])
    keep = keep[~X.iloc[keep].duplicated().to_numpy()]
    return GNNReading(X=X.iloc[keep].reset_index(drop=True),
                      embeddings={name: np.concatenate(parts)[keep] for name, parts in embeddings.items()},
                      logits=np.concatenate(logits)[keep], day=np.concatenate(day_col)[keep],
                      user=np.concatenate(users)[keep], cold=np.concatenate(cold)[keep])


class StoredLayers(nn.Module):
    """A module that returns, for each input row of ``X``, the logit and layer activations recorded for it,
    so ``LICE`` (which reads layers through forward hooks) can explain a model whose inputs are not a
    feature matrix. A row that was not recorded raises ``KeyError``: the GNN must be rerun for new inputs."""

    def __init__(self, X: np.ndarray, logits: np.ndarray, embeddings: dict[str, np.ndarray]):
        super().__init__()
        self._rows = {row.tobytes(): i for i, row in enumerate(np.ascontiguousarray(X, dtype=np.float32))}
        self._logits = torch.as_tensor(logits, dtype=torch.float32)
        self._embeddings = {name: torch.as_tensor(e, dtype=torch.float32) for name, e in embeddings.items()}
        for name in embeddings:
            self.add_module(name, nn.Identity())
        self.layer_names_ = list(embeddings)

    def forward(self, x: Tensor) -> Tensor:
        rows = np.ascontiguousarray(x.numpy(), dtype=np.float32)
        try:
            index = torch.as_tensor([self._rows[row.tobytes()] for row in rows], dtype=torch.long)
        except KeyError as error:
            raise KeyError("a row that was not recorded: rerun the GNN on the new inputs") from error
        for name, values in self._embeddings.items():
            getattr(self, name)(values[index])
        return self._logits[index]


def fit_gnn_lice(reading: GNNReading, max_clusters: int = 8, n_init: int = 10, random_state: int = 0) -> LICE:
    """LICE on every GNN layer of ``reading`` (``lab.explain.lice.LICE`` through ``StoredLayers``)."""
    model = StoredLayers(reading.X.to_numpy(), reading.logits, reading.embeddings)
    return LICE(model, layers=model.layer_names_, max_clusters=max_clusters, n_init=n_init,
                random_state=random_state).fit(reading.X)


def gnn_path_agreement(lice: LICE, run: LookalikeRun, reading: GNNReading, noise: float = 0.05,
                       random_state: int = 0) -> dict[str, float]:
    """Share of ``reading``'s rows whose cluster (per layer) and whole path are unchanged when every
    non-binary node feature of every snapshot gets Gaussian noise of ``noise`` standard deviations and the
    GNN is rerun (the perturbation goes through the graph, so neighbours' features move too)."""
    rng = np.random.default_rng(random_state)
    noisy = []
    for snapshot in run.snapshots:
        x = snapshot.x.numpy()
        continuous = np.array([len(np.unique(x[:, j])) > 2 for j in range(x.shape[1])])
        shaken = x + rng.normal(0, noise, x.shape) * x.std(axis=0) * continuous
        noisy.append(Snapshot(snapshot.day, torch.as_tensor(shaken, dtype=torch.float32), snapshot.edge_index,
                              snapshot.edge_weight, snapshot.contact_days))
    states = run.model.layer_states(noisy)
    before = lice.assign(reading.X).to_numpy()
    after = np.stack([lice.kmeans_[layer].predict(np.stack([states[d - 1][layer][u]
                                                            for d, u in zip(reading.day, reading.user)]))
                      for layer in lice.layers_], axis=1)
    same = before == after
    return {"path": float(same.all(axis=1).mean()), **{layer: float(same[:, i].mean())
                                                         for i, layer in enumerate(lice.layers_)}}


def gnn_lice_rows(run: LookalikeRun, seeds: Sequence[int] = (0, 1, 2), max_clusters: int = 8, multiple: int = 5,
                  max_rows: int = 3000, n_init: int = 10, noise: float = 0.05,
                  reading: GNNReading | None = None, fits: Sequence[LICE] | None = None) -> pd.DataFrame:
    """Results rows (``model="lice_gnn"``, ``split="test"``) of LICE on the GNN: held-out ``fidelity`` and
    ``n_clusters`` per layer for each LICE seed (``seed`` column), ``ari`` per layer across the ``seeds``,
    ``path_agreement`` per layer and for the whole path (``layer="all"``) under ``noise``, and
    ``decision_rate`` (share of rows in the audience: the fidelity of always saying "not picked" is one
    minus it). ``ari`` is ``lab.explain.lice.stability_ari``'s mean pairwise adjusted Rand index, read off
    the seeds' fits instead of refitting them; ``fits`` reuses LICE fits of ``reading``, one per seed."""
    reading = reading if reading is not None else read_gnn(run, multiple=multiple, max_rows=max_rows)
    fits = list(fits) if fits is not None else [fit_gnn_lice(reading, max_clusters, n_init, seed) for seed in seeds]
    rows = [{"metric": metric, "layer": layer, "seed": seed, "value": value}
            for seed, lice in zip(seeds, fits) for layer in lice.layers_
            for metric, value in (("fidelity", lice.fidelity_[layer]), ("n_clusters", lice.n_clusters_[layer]))]
    first = fits[0]
    if len(seeds) > 1:
        labels = [lice.assign(reading.X) for lice in fits]
        rows += [{"metric": "ari", "layer": layer,
                  "value": float(np.mean([adjusted_rand_score(a[layer], b[layer])
                                          for a, b in itertools.combinations(labels, 2)]))}
                 for layer in first.layers_]
    agreement = gnn_path_agreement(first, run, reading, noise)
    rows += [{"metric": "path_agreement", "layer": layer, "value": agreement[layer]} for layer in first.layers_]
    rows.append({"metric": "path_agreement", "layer": "all", "value": agreement["path"]})
    rows.append({"metric": "decision_rate", "layer": "all", "value": first.decision_rate_})
    return pd.DataFrame(rows).assign(model="lice_gnn", split="test")


def lice_paths(run: LookalikeRun, lice: LICE | None = None, reading: GNNReading | None = None,
               top: int = 10) -> pd.DataFrame:
    """The decision paths (cluster per layer) of the expanded audience (rows in the top-K audience), the
    ``top`` largest, with their size, share of cold starts and each last-layer cluster's rule."""
    reading = reading if reading is not None else read_gnn(run)
    lice = lice if lice is not None else fit_gnn_lice(reading)
    picked = reading.logits > 0
    labels = lice.assign(reading.X).loc[picked].reset_index(drop=True)
    labels["cold_start"] = reading.cold[picked]
    paths = labels.groupby(lice.layers_, as_index=False).agg(n=("cold_start", "size"),
                                                             share_cold_start=("cold_start", "mean"))
    last = lice.layers_[-1]
    rules = lice.cluster_table_.query("layer == @last").set_index("cluster")["rule"]
    paths["rule_at_" + last] = paths[last].map(rules)
    return paths.sort_values("n", ascending=False, ignore_index=True).head(top)


class FrozenSnapshotScorer(nn.Module):
    """The GNN's score as a function ``(x, edge_index) -> [n]`` of one snapshot, ``x`` already scaled: the
    encoder with every batch normalisation frozen at its statistics on the full snapshot, so a node's score
    depends only on its sampled neighbourhood and an ego-graph scores the user as the full graph does.
    Needs ``memory=False`` (no state carried)."""

    def __init__(self, model: DynamicGNN, snapshot: Snapshot, edge_index: Tensor):
        super().__init__()
        if model.memory:
            raise ValueError("the frozen scorer needs a model without GRU memory (memory=False)")
        self.encoder = copy.deepcopy(model.module_).eval()
        norms = [m for m in self.encoder.modules() if isinstance(m, nn.BatchNorm1d)]
        captured: dict[nn.Module, Tensor] = {}
        handles = [m.register_forward_pre_hook(lambda m, inputs: captured.__setitem__(m, inputs[0])) for m in norms]
        x = model._scale(snapshot.x)
        with torch.no_grad():
            self.encoder(x, edge_index, None)
        for handle in handles:
            handle.remove()
        for m in norms:
            m.running_mean = captured[m].mean(0)
            m.running_var = captured[m].var(0, unbiased=False)
            m.track_running_stats = True
        self.x = x
        self.eval()

    def train(self, mode: bool = True) -> FrozenSnapshotScorer:
        """Frozen: stays in evaluation mode whatever a caller asks (PyG's ``Explainer`` puts back the mode it
        found, and in training mode dropout and batch statistics would make every score a draw)."""
        return super().train(False)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        z, state, _ = self.encoder(x, edge_index, None)
        return self.encoder.score(state, x)


class GraphAttribution(NamedTuple):
    """``features`` [n_targets, 2F]: ``own: f`` and ``neighbour: f`` attributions per target; ``neighbours``:
    one row per (target, neighbour node) with the neighbour's ``importance`` (sum of its feature mask);
    ``deletion`` [n_targets]: the deletion check, ``|score change|`` when the ``DELETED`` largest entries are
    set to the feature's mean (``top_change``) and when as many entries drawn at random are
    (``random_change``). An explanation that tells what the model reads moves the score more with its own
    choice than at random."""

    features: pd.DataFrame
    neighbours: pd.DataFrame
    deletion: pd.DataFrame


DELETED = 3


def _deleted(x: Tensor, entries: np.ndarray, centres: np.ndarray, owner: np.ndarray, is_centre: np.ndarray,
             n_features: int) -> Tensor:
    """``x`` of the ego-graph union with, per target ``t``, the attribution entries ``entries[t]`` (positions
    in ``own: *, neighbour: *``) set to 0, the feature's mean after scaling: ``own: f`` on the target,
    ``neighbour: f`` on every other node of its ego-graph."""
    x = x.clone()
    for t, picked in enumerate(entries):
        own = picked[picked < n_features]
        x[int(centres[t]), torch.as_tensor(own)] = 0.0
        around = torch.as_tensor(np.flatnonzero((owner == t) & ~is_centre))
        for f in picked[picked >= n_features] - n_features:
            x[around, int(f)] = 0.0
    return x


def graph_attributions(model: nn.Module, x: Tensor, edge_index: Tensor, targets: np.ndarray,
                       feature_names: Sequence[str], num_hops: int = 1, epochs: int = 100, lr: float = 0.01,
                       random_state: int = 0) -> GraphAttribution:
    """GNNExplainer node-feature masks (PyG ``Explainer``, regression on the raw score) for each of
    ``targets`` on ``model(x, edge_index) -> [N]``, explained together on the disjoint union of their
    ``num_hops`` ego-graphs (every mask entry belongs to one target, so they do not interact), with the
    deletion check on the same union (``GraphAttribution.deletion``)."""
    parts_x, parts_e, centres, owners, nodes = [], [], [], [], []
    offset = 0
    for t, target in enumerate(targets):
        subset, sub_edges, mapping, _ = k_hop_subgraph(int(target), num_hops, edge_index, relabel_nodes=True,
                                                       num_nodes=x.size(0))
        parts_x.append(x[subset])
        parts_e.append(sub_edges + offset)
        centres.append(offset + int(mapping[0]))
        owners.append(np.full(len(subset), t))
        nodes.append(subset.numpy())
        offset += len(subset)
    explainer = Explainer(model=model, algorithm=GNNExplainer(epochs=epochs, lr=lr), explanation_type="model",
                          node_mask_type="attributes", edge_mask_type=None,
                          model_config={"mode": "regression", "task_level": "node", "return_type": "raw"})
    union_x, union_edges, centre_rows = torch.cat(parts_x), torch.cat(parts_e, dim=1), np.array(centres)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(random_state)
        explanation = explainer(union_x, union_edges, index=torch.as_tensor(centre_rows))
    mask = explanation.node_mask.detach().numpy()
    owner, node = np.concatenate(owners), np.concatenate(nodes)
    is_centre = np.zeros(len(owner), dtype=bool)
    is_centre[centres] = True
    neighbour_max = np.zeros((len(targets), mask.shape[1]))
    np.maximum.at(neighbour_max, owner[~is_centre], mask[~is_centre])
    names = list(feature_names)
    attribution = np.hstack([mask[centres], neighbour_max])
    features = pd.DataFrame(attribution, columns=[f"own: {n}" for n in names] + [f"neighbour: {n}" for n in names])
    neighbours = pd.DataFrame({"target": owner[~is_centre], "node": node[~is_centre],
                               "importance": mask[~is_centre].sum(axis=1)})
    rng = np.random.default_rng(random_state)
    top = np.argsort(-attribution, axis=1, kind="stable")[:, :DELETED]
    drawn = np.stack([rng.choice(attribution.shape[1], size=DELETED, replace=False) for _ in targets])
    with torch.no_grad():
        base = model(union_x, union_edges)[centre_rows]
        changes = {name: (model(_deleted(union_x, entries, centre_rows, owner, is_centre, len(names)), union_edges)
                          [centre_rows] - base).abs().numpy()
                   for name, entries in (("top_change", top), ("random_change", drawn))}
    return GraphAttribution(features, neighbours, pd.DataFrame(changes))


def neighbour_in_top(features: pd.DataFrame, top: int = 3) -> np.ndarray:
    """Per row of ``graph_attributions(...).features``: is a ``neighbour: *`` entry among the ``top``
    largest (strictly positive) attributions?"""
    values = features.to_numpy()
    order = np.argsort(-values, axis=1, kind="stable")[:, :top]
    is_neighbour = np.array([c.startswith("neighbour: ") for c in features.columns])
    picked = np.take_along_axis(values, order, axis=1) > 0
    return np.asarray((is_neighbour[order] & picked).any(axis=1))


def audience_attributions(run: LookalikeRun, days: Sequence[int] | None = None, multiple: int = 5,
                          max_cold: int = 20, max_warm: int = 10, epochs: int = 200, lr: float = 0.1,
                          random_state: int = 0, states: list[dict[str, np.ndarray]] | None = None
                          ) -> tuple[pd.DataFrame, GraphAttribution]:
    """Graph attributions of the expanded audience (top-K non-seed users, K = ``multiple`` x seeds) on each
    of ``days`` (default: every scored day): up to ``max_cold`` cold-start and ``max_warm`` warm users drawn at random;
    returns who was explained (``day``, ``user``, ``cold``) and their ``GraphAttribution`` (rows aligned);
    ``states`` reuses a ``run.model.layer_states(run.snapshots)``."""
    scored = np.asarray(run.days if days is None else days)
    rng = np.random.default_rng(random_state)
    k = n_audience(run, multiple)
    frames, features, neighbours, deletions = [], [], [], []
    states = states if states is not None else run.model.layer_states(run.snapshots)
    done = 0
    for day in scored:
        snapshot, record = run.snapshots[day - 1], states[day - 1]
        chosen, _ = audience(record["score"], run.eval_mask, k)
        cold = cold_starts(run, day)
        warm = np.flatnonzero(chosen & ~cold)
        colder = np.flatnonzero(chosen & cold)
        users = np.sort(np.concatenate([rng.choice(colder, size=min(max_cold, len(colder)), replace=False),
                                        rng.choice(warm, size=min(max_warm, len(warm)), replace=False)]))
        edge_index = torch.as_tensor(record["edge_index"])
        scorer = FrozenSnapshotScorer(run.model, snapshot, edge_index)
        found = graph_attributions(scorer, scorer.x, edge_index, users, run.series.feature_names,
                                   run.model.n_layers, epochs, lr, random_state)
        frames.append(pd.DataFrame({"day": day, "user": users, "cold": cold[users]}))
        features.append(found.features)
        neighbours.append(found.neighbours.assign(target=found.neighbours["target"] + done))
        deletions.append(found.deletion)
        done += len(users)
    return (pd.concat(frames, ignore_index=True),
            GraphAttribution(pd.concat(features, ignore_index=True), pd.concat(neighbours, ignore_index=True),
                             pd.concat(deletions, ignore_index=True)))


def graph_explanation_rows(run: LookalikeRun, days: Sequence[int] | None = None, multiple: int = 5,
                           max_cold: int = 20, max_warm: int = 10, top: int = 3, epochs: int = 200,
                           explained: tuple[pd.DataFrame, GraphAttribution] | None = None) -> pd.DataFrame:
    """Results rows (``model="graph_explanation"``): ``neighbour_feature_top3_share`` (see the module
    docstring), ``n_users`` explained and the deletion check's mean ``deletion_top_change`` and
    ``deletion_random_change`` (``GraphAttribution``), on ``split="test_cold"`` and ``"test_warm"``."""
    who, found = explained if explained is not None else audience_attributions(
        run, days, multiple, max_cold, max_warm, epochs)
    hit = neighbour_in_top(found.features, top)
    rows = []
    for split, mask in (("test_cold", who["cold"].to_numpy()), ("test_warm", ~who["cold"].to_numpy())):
        rows.append({"metric": f"neighbour_feature_top{top}_share", "split": split,
                     "value": float(hit[mask].mean()) if mask.any() else 0.0})
        rows.append({"metric": "n_users", "split": split, "value": int(mask.sum())})
        for change in ("top_change", "random_change"):
            rows.append({"metric": f"deletion_{change}", "split": split,
                         "value": float(found.deletion.loc[mask, change].mean()) if mask.any() else 0.0})
    return pd.DataFrame(rows).assign(model="graph_explanation")


def _describe_neighbour(inputs: pd.DataFrame, node: int, strong: bool, seed: bool) -> str:
    """A neighbour in words, never by id: tie strength, seed or not, and their featured-product share."""
    tie = "a strong tie" if strong else "a weak tie"
    who = "who is a seed" if seed else "who is not a seed"
    share = inputs.get("share_product_0")
    taste = f", featured-product share {share.iloc[node]:.2f}" if share is not None else ""
    return f"{tie} {who}{taste}"


def worked_examples(run: LookalikeRun, day: int | None = None, multiple: int = 5, n_features: int = 5,
                    n_neighbours: int = 3, random_state: int = 0,
                    explained: tuple[pd.DataFrame, GraphAttribution] | None = None) -> dict[str, pd.DataFrame]:
    """Two worked examples from the expanded audience of ``day`` (default: the last scored day): a cold-start
    user ("user A (cold start)") and a warm one ("user B (warm)"), each a small table of their top
    attributed features and most important neighbours, neighbours described by their features (tie
    strength, seed or not, taste), never by id. ``explained`` reuses ``audience_attributions`` that cover
    ``day``."""
    day = int(run.days[-1] if day is None else day)
    who, found = explained if explained is not None else audience_attributions(run, [day], multiple,
                                                                               random_state=random_state)
    snapshot = run.snapshots[day - 1]
    inputs = gnn_inputs(run, day)
    src, dst = snapshot.edge_index.numpy()
    contact = snapshot.contact_days.numpy() if snapshot.contact_days is not None else np.ones(len(src))
    seeds = ~run.eval_mask
    examples = {}
    for label, cold in (("user A (cold start)", True), ("user B (warm)", False)):
        candidates = np.flatnonzero((who["cold"].to_numpy() == cold) & (who["day"].to_numpy() == day))
        if not len(candidates):
            continue
        t = int(candidates[0])
        user = int(who["user"].iloc[t])
        attributions = found.features.iloc[t].sort_values(ascending=False).head(n_features)
        rows = [{"what": "feature", "description": name, "attribution": float(value)}
                for name, value in attributions.items()]
        theirs = found.neighbours.query("target == @t").sort_values("importance", ascending=False)
        for node, importance in theirs[["node", "importance"]].head(n_neighbours).itertuples(index=False):
            tie = (src == node) & (dst == user)
            strong = bool((contact[tie] >= STRONG_CONTACT_DAYS).any())
            rows.append({"what": "neighbour", "description": _describe_neighbour(inputs, int(node), strong,
                                                                                  bool(seeds[int(node)])),
                         "attribution": float(importance)})
        examples[label] = pd.DataFrame(rows)
    return examples


class GNNExplanation(NamedTuple):
    """What the lookalike report's "why these users" section shows: the results ``rows`` (LICE on the GNN and
    the graph explanation), the expanded audience's LICE ``paths`` and two ``examples`` (no ids)."""

    rows: pd.DataFrame
    paths: pd.DataFrame
    examples: dict[str, pd.DataFrame]


def explain_run(run: LookalikeRun, seeds: Sequence[int] = (0, 1, 2)) -> GNNExplanation:
    """Every part of the report section at its defaults, on one thread, each computed once: the layer states,
    the reading, the LICE fits (the first seed's for the paths) and the attributions (the last day's for the
    worked examples)."""
    with limit_threads(1):
        states = run.model.layer_states(run.snapshots)
        reading = read_gnn(run, states=states)
        fits = [fit_gnn_lice(reading, random_state=seed) for seed in seeds]
        lice_rows = gnn_lice_rows(run, seeds, reading=reading, fits=fits)
        explained = audience_attributions(run, states=states)
        rows = pd.concat([lice_rows, graph_explanation_rows(run, explained=explained)], ignore_index=True)
        return GNNExplanation(rows, lice_paths(run, fits[0], reading), worked_examples(run, explained=explained))
