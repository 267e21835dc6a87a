"""Validation folds and member seeds for ensembles, drawn one way in every study.

Member 0 of an ensemble uses the estimator's own ``random_state`` (so a one-member ensemble is the
single model); the others draw seeds from ``numpy.random.SeedSequence([random_state, member])``, which
never collide with a neighbouring ``random_state``'s members the way ``random_state + k`` does.
"""
from __future__ import annotations

import numpy as np


def member_seed(random_state: int, member: int) -> int:
    """The seed of ensemble member ``member`` of an estimator seeded with ``random_state``."""
    if member == 0:
        return int(random_state)
    return int(np.random.SeedSequence([int(random_state), int(member)]).generate_state(1)[0])


def member_seeds(random_state: int, n_members: int) -> list[int]:
    """Seeds of members ``0 .. n_members - 1`` (see ``member_seed``)."""
    return [member_seed(random_state, member) for member in range(n_members)]


def validation_folds(n_rows: int, validation_fraction: float, n_members: int,
                     random_state: int) -> list[np.ndarray]:
    """One validation fold of ``validation_fraction`` of the ``n_rows`` rows per ensemble member.

    The folds are consecutive slices of one permutation: disjoint while they last, then cycling, so
    an ensemble trains every row in most of its members instead of hiding the same rows from all.
    """
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must lie in (0, 1), got {validation_fraction}")
    if n_members < 1:
        raise ValueError(f"n_members must be at least 1, got {n_members}")
    order = np.random.default_rng(random_state).permutation(n_rows)
    size = max(1, int(validation_fraction * n_rows))
    n_folds = max(1, n_rows // size)
    return [order[(k % n_folds) * size:(k % n_folds + 1) * size] for k in range(n_members)]
