"""Named simulated worlds: each study starts from one preset and overrides only what its question needs.

A preset is a dict of ``WorldConfig`` overrides. ``world_for`` is every study's entry point to data:
the researcher's tables when ``data_dir`` is set, else the preset's simulation.
"""
from __future__ import annotations

from typing import Any

from lab.data import World, WorldConfig, get_world

WORLD_PRESETS: dict[str, dict[str, Any]] = {
    # WorldConfig's defaults: 30 days, a regime shift on day 20, sparse activity, randomised offers.
    "default": {},
    # Daily activity dense enough for a graph model to learn from each day's snapshot (lookalike).
    "dense_graph": {"interactions_per_user_day": 2.0, "edges_per_user_day": 0.3},
    # One campaign and its outcome, no history to speak of (uplift): two days, the shift between them.
    "campaign": {"n_days": 2, "shift_days": (1,)},
    # Long enough for the regional pricing change to have a pre and a post period of 6 days each (the
    # quasi-experiments: difference in differences and synthetic control on the region x day panel).
    "natural_experiments": {"n_days": 12, "shift_days": (8,)},
}


def world_params(preset: str = "default", **overrides: Any) -> dict[str, Any]:
    """The ``simulate_world`` keyword arguments of ``preset`` with ``overrides`` applied."""
    if preset not in WORLD_PRESETS:
        raise ValueError(f"unknown world preset {preset!r}; choose from {sorted(WORLD_PRESETS)}")
    return {**WORLD_PRESETS[preset], **overrides}


def world_for(data_dir: str = "", preset: str = "default", require: tuple[str, ...] = ("users",),
              **overrides: Any) -> World:
    """The researcher's validated tables in ``data_dir`` (``require`` naming the tables the study cannot
    do without), else the simulated world of ``preset`` with ``overrides``."""
    return get_world(data_dir, require=require, **world_params(preset, **overrides))


def world_problems_of(preset: str = "default", **overrides: Any) -> list[str]:
    """What is wrong with the simulated world a study would ask for (one line; empty when it can be made)."""
    try:
        WorldConfig(**world_params(preset, **overrides))
    except (TypeError, ValueError) as err:
        return [str(err)]
    return []
