"""Decision trees read as plain-words rules: shared by LICE's cluster surrogates and the toolkit's rule set.

A rule is a list of terms ``(feature index, cut, below)``: ``below`` means ``x[feature] <= cut``.
"""
from __future__ import annotations

import numpy as np
from sklearn.tree import DecisionTreeClassifier

Term = tuple[int, float, bool]


def condition_text(name: str, cut: float, below: bool) -> str:
    """``income <= 4,200``, or ``preferred_channel is sms`` for a one-hot ``column=level`` feature."""
    if "=" in name and 0 < cut < 1:
        column, level = name.split("=", 1)
        return f"{column} {'is not' if below else 'is'} {level}"
    value = f"{cut:,.0f}" if abs(cut) >= 100 else f"{cut:.2f}"
    return f"{name} {'<=' if below else '>'} {value}"


def rule_text(terms: list[Term], names: list[str]) -> str:
    """The terms of one rule joined into plain words (``everyone`` for no terms)."""
    return " and ".join(condition_text(names[j], cut, below) for j, cut, below in terms) or "everyone"


def tree_leaves(tree: DecisionTreeClassifier, positive: object) -> list[dict]:
    """Every leaf whose majority class is ``positive``: its terms, size ``n`` and precision, largest first."""
    if positive not in tree.classes_:
        return []
    pos = list(tree.classes_).index(positive)
    t = tree.tree_
    leaves: list[dict] = []
    stack: list[tuple[int, list[Term]]] = [(0, [])]
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


def tree_rules(tree: DecisionTreeClassifier, names: list[str], positive: object = 1) -> list[dict]:
    """The tree's positive leaves as plain-words rules, largest first: ``{rule, n, precision}``."""
    return [{"rule": rule_text(leaf["terms"], names), "n": leaf["n"], "precision": leaf["precision"]}
            for leaf in tree_leaves(tree, positive)]


def leaf_rule(tree: DecisionTreeClassifier, x: np.ndarray, names: list[str]) -> str:
    """The conditions on the path from the root to the leaf ``x`` falls in, in plain words."""
    t = tree.tree_
    node, terms = 0, []
    while t.children_left[node] != -1:
        j, cut = t.feature[node], t.threshold[node]
        left = x[j] <= cut
        terms.append(condition_text(names[j], cut, left))
        node = t.children_left[node] if left else t.children_right[node]
    return " and ".join(terms) or "all users in this cluster"


def covers(terms: list[Term], x: np.ndarray) -> np.ndarray:
    """Which rows of ``x`` satisfy every term of a rule."""
    mask = np.ones(len(x), dtype=bool)
    for j, cut, below in terms:
        mask &= (x[:, j] <= cut) if below else (x[:, j] > cut)
    return mask
