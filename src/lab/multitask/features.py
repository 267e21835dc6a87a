"""Model inputs for the funnel study: tabular features, the user/product graph and behaviour sequences.

``FunnelData`` holds the inputs of every user once (the graph needs all of them) and a ``rows`` view
that says which users a model is fitted on or scores. ``data[rows]`` is a cheap view with the same
graph, so every estimator in this study is called as ``fit(data[train])`` / ``predict_proba(data[test])``.
The users table is encoded by ``lab.core.UserEncoder``: money in logs, channel one-hot and, as in the
lookalike's node features, ``region`` as one code (six one-hot regions, which carry no signal in the
simulated world, cost the graph model 0.007 drawdown AUC and 1.8 drawdowns captured at default scale).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from lab.core import SchemaError, UserEncoder
from lab.data import STAGES, World, check_references


@dataclass
class FunnelData:
    """All users' inputs plus the rows of this view.

    Shapes (``n`` users, ``p`` products, ``L`` sequence length):
    ``tabular_all`` [n, d] standardised; ``labels_all`` [n, 5] cumulative 0/1 funnel outcomes;
    ``sequence_items`` [n, L] product index + 1 (0 = padding, left-padded so the last step is the latest);
    ``sequence_numeric`` [n, L, 2] (log dwell, days ago / n_days); ``edge_index`` [2, E] over ``n + p``
    nodes (users first, then products), both directions; ``value_all`` [n] transaction value.
    """

    user_ids: np.ndarray
    tabular_all: np.ndarray
    feature_names: list[str]
    labels_all: np.ndarray
    value_all: np.ndarray
    sequence_items: np.ndarray
    sequence_numeric: np.ndarray
    edge_index: np.ndarray
    n_products: int
    rows: np.ndarray

    def __getitem__(self, rows) -> FunnelData:
        return replace(self, rows=self.rows[rows if isinstance(rows, slice) else np.asarray(rows)])

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def tabular(self) -> np.ndarray:
        """Tabular features of this view's rows, shape [len(self), d]."""
        return self.tabular_all[self.rows]

    @property
    def labels(self) -> np.ndarray:
        """Cumulative funnel labels of this view's rows, shape [len(self), 5]."""
        return self.labels_all[self.rows]


def _interaction_features(interactions: pd.DataFrame, index: pd.Index, product_ids: pd.Index,
                          n_days: int) -> pd.DataFrame:
    """Per-product interaction counts (log) and recency: the user-product graph as node attributes.

    ``interactions.product_id`` holds product positions here; columns are named by product id, and the
    recent-count column follows the first product (the simulated world's featured loan).
    """
    cols = {}
    pos = index.get_indexer(pd.Index(interactions["user_id"]))
    product = interactions["product_id"].to_numpy()
    day = interactions["day"].to_numpy()
    for p, product_id in enumerate(product_ids):
        counts = np.bincount(pos[product == p], minlength=len(index))
        cols[f"log_count_product_{product_id}"] = np.log1p(counts)
    last_day = np.full(len(index), -1.0)
    np.maximum.at(last_day, pos, day.astype(np.float64))
    cols["days_since_last_interaction"] = np.where(last_day < 0, n_days, n_days - 1 - last_day)
    recent = day >= n_days - max(1, n_days // 3)
    recent_first = np.bincount(pos[recent & (product == 0)], minlength=len(index))
    cols[f"log_recent_count_product_{product_ids[0]}"] = np.log1p(recent_first)
    return pd.DataFrame(cols, index=index)


def _sequences(interactions: pd.DataFrame, index: pd.Index, n_days: int, length: int):
    """The last ``length`` interactions of each user, left-padded."""
    n = len(index)
    items = np.zeros((n, length), dtype=np.int64)
    numeric = np.zeros((n, length, 2), dtype=np.float32)
    if interactions.empty:
        return items, numeric
    frame = pd.DataFrame({"pos": index.get_indexer(pd.Index(interactions["user_id"])),
                          "day": interactions["day"].to_numpy(),
                          "item": interactions["product_id"].to_numpy() + 1,
                          "weight": interactions["weight"].to_numpy() if "weight" in interactions else 1.0})
    frame = frame.sort_values(["pos", "day"], kind="stable")
    rank_from_end = frame.groupby("pos").cumcount(ascending=False).to_numpy()
    keep = rank_from_end < length
    frame, slot = frame[keep], length - 1 - rank_from_end[keep]
    pos = frame["pos"].to_numpy()
    items[pos, slot] = frame["item"].to_numpy()
    numeric[pos, slot, 0] = np.log1p(frame["weight"].to_numpy(dtype=np.float64))
    numeric[pos, slot, 1] = (n_days - 1 - frame["day"].to_numpy()) / n_days
    return items, numeric


def _edge_index(edges: pd.DataFrame | None, interactions: pd.DataFrame, index: pd.Index) -> np.ndarray:
    """User-user edges and user-product edges (deduplicated), in both directions; products are the
    nodes after the users, by position."""
    parts = []
    if edges is not None and len(edges):
        src, dst = index.get_indexer(pd.Index(edges["src"])), index.get_indexer(pd.Index(edges["dst"]))
        parts.append(np.stack([src, dst]))
    if len(interactions):
        pairs = np.unique(np.stack([index.get_indexer(pd.Index(interactions["user_id"])),
                                    interactions["product_id"].to_numpy() + len(index)]), axis=1)
        parts.append(pairs)
    if not parts:
        return np.zeros((2, 0), dtype=np.int64)
    one_way = np.concatenate(parts, axis=1)
    both = np.concatenate([one_way, one_way[::-1]], axis=1)
    return np.unique(both, axis=1).astype(np.int64)


def build_funnel_data(world: World, sequence_length: int = 12) -> FunnelData:
    """Turn a world's observed tables into model inputs; needs ``users`` and ``funnel``.

    ``interactions`` and ``edges`` are optional: without them the graph and sequence parts are empty
    and the graph model falls back to the tabular features.
    """
    for table in ("users", "funnel"):
        if table not in world.observed:
            raise SchemaError(f"{table}: table missing; the funnel study needs users and funnel")
    check_references(world.observed)
    users = world.observed["users"].reset_index(drop=True)
    funnel = world.observed["funnel"].set_index("user_id")
    missing = ~users["user_id"].isin(funnel.index)
    if missing.any():
        raise SchemaError(f"funnel: {int(missing.sum())} user(s) from users have no funnel row, "
                          f"e.g. user_id {users['user_id'][missing].iloc[0]}")
    funnel = funnel.loc[users["user_id"]]
    index = pd.Index(users["user_id"])
    interactions = world.observed.get("interactions", pd.DataFrame(columns=["day", "user_id", "product_id"]))
    products = world.observed.get("products")
    product_ids = pd.Index(products["product_id"] if products is not None else
                           np.unique(interactions["product_id"]) if len(interactions) else [0])
    n_products = len(product_ids)
    # product ids may be any integers: work on their positions 0..n_products-1 from here on
    interactions = interactions.assign(product_id=product_ids.get_indexer(pd.Index(interactions["product_id"])))
    n_days = int(interactions["day"].max()) + 1 if len(interactions) else 1

    # Unscaled here: the users' columns and the interaction counts are standardised together below, over
    # all users (features, not labels, of every user are known: the graph model sees them all anyway).
    profile = UserEncoder(ordinal=("region",), scale=False).fit_transform(users).set_axis(index)
    features = pd.concat([profile, _interaction_features(interactions, index, product_ids, n_days)], axis=1)
    values = features.to_numpy(dtype=np.float64)
    std = values.std(axis=0)
    tabular = ((values - values.mean(axis=0)) / np.where(std > 0, std, 1.0)).astype(np.float32)
    items, numeric = _sequences(interactions, index, n_days, sequence_length)
    value = funnel["value"].to_numpy(dtype=np.float32) if "value" in funnel else np.zeros(len(users), np.float32)
    return FunnelData(
        user_ids=users["user_id"].to_numpy(), tabular_all=tabular, feature_names=list(features.columns),
        labels_all=funnel[list(STAGES)].to_numpy(dtype=np.float32), value_all=value,
        sequence_items=items, sequence_numeric=numeric,
        edge_index=_edge_index(world.observed.get("edges"), interactions, index),
        n_products=n_products, rows=np.arange(len(users)),
    )


def train_test_rows(data: FunnelData, test_size: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A user-level split stratified on the final stage."""
    return train_test_split(np.arange(data.n_users), test_size=test_size, random_state=seed,
                            stratify=data.labels_all[:, -1])
