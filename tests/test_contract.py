"""The study contract, checked on every notebook: parameters match the study's Config, specs hold only
overrides, and a tiny run writes results in the one vocabulary with a headline and its runtime, the
same results (beyond timing rows) when run again in another process."""
from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import papermill
import pytest
import yaml

from lab.paths import REPO_ROOT
from lab.results import KEY_COLUMNS, RESULT_COLUMNS, SPLITS, check_results, compare_results

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
MAX_CODE_LINES = 90

# Each notebook at the smallest scale that still exercises every section (seconds, not minutes).
TINY: dict[str, dict] = {
    "00_world_overview.ipynb": {"n_users": 400, "n_days": 8, "shift_day": 4},
    "10_lookalike_dynamic_gnn.ipynb": {"n_users": 300, "n_days": 12, "shift_day": 8, "train_end": 5, "epochs": 2,
                                       "n_seeds": 2, "ablations": ["single_aggregator", "static_graph"]},
    "20_multitask_segmentation.ipynb": {"n_users": 1200, "n_days": 8, "shift_day": 5, "n_seeds": 2, "max_epochs": 4,
                                        "n_ensemble": 2, "n_jobs": 1},
    "30_lice_explanation.ipynb": {"n_users": 500, "n_seeds": 2, "epochs": 4, "max_clusters": 3, "hidden": [8, 4]},
    "40_uplift_study.ipynb": {"n_users": 2500, "methods": ["s_learner", "uplift_forest", "tarnet"]},
    "50_budget_allocation.ipynb": {"n_users": 600, "uplift_learner": "t_learner", "budget_grid": [1.0, 4.0]},
    "70_lifecycle_policy.ipynb": {"n_users": 4000, "n_rollouts": 3, "max_iter": 10, "gamma_grid": [0.9],
                                  "budget_grid": [0.2]},
    "60_risk_and_value.ipynb": {"n_users": 8000, "max_epochs": 3, "allocation_users": 1500,
                                "uplift_learner": "t_learner"},
    "80_ab_testing.ipynb": {"n_users": 3000, "n_replicates": 200},
}


def _cells(path: Path) -> list:
    return nbformat.read(path, as_version=4).cells


def parameters_of(path: Path) -> dict:
    first = next(c for c in _cells(path) if c.cell_type == "code")
    return {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(first.source).body}


def study_module(path: Path):
    source = "\n".join(c.source for c in _cells(path) if c.cell_type == "code")
    match = re.search(r"from lab\.(\w+)\.study import", source)
    assert match, f"{path.name} does not import its study's Config and run from lab.<study>.study"
    return importlib.import_module(f"lab.{match.group(1)}.study")


def code_lines(path: Path) -> int:
    return sum(1 for c in _cells(path) if c.cell_type == "code" for line in c.source.splitlines()
               if line.strip() and not line.strip().startswith("#"))


def test_every_notebook_has_tiny_parameters():
    assert {p.name for p in NOTEBOOKS} == set(TINY)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_thin(path):
    assert code_lines(path) <= MAX_CODE_LINES, f"{path.name}: move logic into src/lab"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_are_the_config_defaults(path):
    module = study_module(path)
    defaults = {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
                for f in dataclasses.fields(module.Config)}
    parameters = parameters_of(path)
    assert parameters.pop("output_dir")
    assert set(parameters) == set(defaults), f"{path.name}: parameters and Config fields differ"
    for name, value in parameters.items():
        expected = list(defaults[name]) if isinstance(defaults[name], tuple) else defaults[name]
        assert value == expected, f"{path.name}: parameter {name} = {value!r}, Config default {expected!r}"
    for tool in ("check", "run", "verdict"):
        assert callable(getattr(module, tool, None)), f"{module.__name__} needs {tool}()"


def _spec_studies():
    for spec in sorted((REPO_ROOT / "experiments").glob("*.yaml")):
        text = yaml.safe_load(spec.read_text())
        for study in text.get("studies", [text]):
            yield spec.name, study


@pytest.mark.parametrize("spec,study", list(_spec_studies()), ids=lambda v: v if isinstance(v, str) else "")
def test_specs_hold_only_overrides(spec, study):
    defaults = parameters_of(REPO_ROOT / study["notebook"])
    for name, value in (study.get("parameters") or {}).items():
        assert not isinstance(value, str) or "," not in value or name == "segment_query", \
            f"{spec}: {name} is a comma string; use a YAML list"
        assert value != defaults.get(name), f"{spec}: {name}: {value!r} is the default; drop it"


def run_tiny(path: Path, folder: Path) -> Path:
    """Execute the notebook at its tiny scale in a fresh kernel (its own process); return its output_dir."""
    out = folder / "out"
    folder.mkdir()
    papermill.execute_notebook(str(path), str(folder / "run.ipynb"), kernel_name="python3",
                               parameters={"output_dir": str(out), **TINY[path.name]}, cwd=str(REPO_ROOT),
                               progress_bar=False)
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_tiny_run_follows_the_results_vocabulary_and_repeats(path, tmp_path):
    out = run_tiny(path, tmp_path / "first")
    results = pd.read_csv(out / "results.csv")
    check_results(results)
    assert set(RESULT_COLUMNS) <= set(results.columns) <= set(RESULT_COLUMNS) | set(KEY_COLUMNS)
    if "split" in results:
        assert set(results["split"].dropna()) <= set(SPLITS)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["headline"], f"{path.name}: empty headline"
    assert metrics["runtime_seconds"] > 0
    assert {p.suffix for p in out.iterdir()} >= {".png"}, f"{path.name}: no figure written"
    again = pd.read_csv(run_tiny(path, tmp_path / "second") / "results.csv")
    differences = compare_results(results, again)
    assert differences.empty, f"{path.name}: a second process gave other results:\n{differences.head(10)}"
