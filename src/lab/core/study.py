"""The study contract: every study's ``study.py`` has a ``Config``, ``check(config) -> list[str]``,
``run(config) -> StudyResult`` and ``verdict(result) -> str``; notebooks and benchmarks call the same
``run``.

``check`` lists every problem with the parameters and, when they name the researcher's tables, with
those tables (one line each, nothing run): the runner calls it before it makes any run folder, and
``run`` starts with ``refuse(check(config))`` so a notebook fails on the same lines.

``Config`` subclasses ``StudyConfig`` (a dataclass of the study's defaults); a notebook builds it from
its parameters cell with ``Config.from_parameters(globals())``, a benchmark with keyword overrides.
"""
from __future__ import annotations

import dataclasses
import time
import importlib
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd


@dataclass
class StudyConfig:
    """Base of every study's ``Config``: a dataclass whose fields are the notebook's parameters."""

    seed: int = 0

    @classmethod
    def from_parameters(cls, namespace: Mapping[str, Any]) -> StudyConfig:
        """The config whose fields take their values from ``namespace`` (a notebook's ``globals()``);
        names that are not fields (``output_dir``, imports) are ignored, missing fields keep defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in namespace.items() if k in names}
        return cls(**values)

    def overrides(self) -> dict[str, Any]:
        """The fields that differ from the defaults (what a spec for this run would hold)."""
        default = type(self)()
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if _plain(getattr(self, f.name)) != _plain(getattr(default, f.name))}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass
class StudyResult:
    """What ``run`` returns.

    ``results``: tidy rows (``model, metric, value`` plus the key columns of ``lab.results``);
    ``headline``: the few figures the reports index shows; ``metrics``: anything else written to
    metrics.json; ``artefacts``: in-memory objects the figures and tables need (fitted models,
    worlds, curves), never written; ``runtime_seconds``: wall time of ``run``.
    """

    config: StudyConfig
    results: pd.DataFrame
    headline: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    artefacts: dict[str, Any] = field(default_factory=dict)
    runtime_seconds: float = float("nan")


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """``with stopwatch() as clock: ...``; ``clock["seconds"]`` holds the block's wall time afterwards."""
    clock = {"seconds": float("nan")}
    started = time.perf_counter()
    try:
        yield clock
    finally:
        clock["seconds"] = time.perf_counter() - started


def refuse(problems: Sequence[str]) -> None:
    """Raise the problems ``check`` found as one ``ValueError``, one line each; nothing if there are none."""
    if problems:
        raise ValueError("\n".join(problems))


def study_module(notebook: str | Path) -> ModuleType | None:
    """The ``lab.<study>.study`` module a notebook imports its ``Config`` and ``run`` from (None for a
    notebook outside the contract)."""
    import nbformat  # only the runner reads notebooks; a study's kernel need not import it

    try:
        cells = nbformat.read(notebook, as_version=4).cells
    except (OSError, ValueError):
        return None
    source = "\n".join(c.source for c in cells if c.cell_type == "code")
    match = re.search(r"from lab\.(\w+)\.study import", source)
    if match is None:
        return None
    try:
        return importlib.import_module(f"lab.{match.group(1)}.study")
    except ImportError:
        return None
