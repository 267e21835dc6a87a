"""Notebooks: committed without outputs, literal parameters first, and the overview runs end to end."""
from __future__ import annotations

import ast
import json

import nbformat
import pandas as pd
import papermill
import pytest

from lab.data import OFFERS, simulate_world
from lab.paths import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert any(p.name == "00_world_overview.ipynb" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: strip outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_literal_parameters(path):
    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", []), f"{path.name}: first code cell must be tagged"
    names = set()
    for node in ast.parse(first.source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, f"{path.name}: only assignments"
        ast.literal_eval(node.value)
        names.add(node.targets[0].id)
    assert {"seed", "output_dir"} <= names


def run_overview(tmp_path, **params):
    out = tmp_path / "out"
    papermill.execute_notebook(str(REPO_ROOT / "notebooks" / "00_world_overview.ipynb"), str(tmp_path / "nb.ipynb"),
                               parameters={"output_dir": str(out), **params}, kernel_name="python3",
                               cwd=str(REPO_ROOT), progress_bar=False)
    return out


def test_overview_runs_on_a_tiny_world(tmp_path):
    out = run_overview(tmp_path, n_users=400, n_days=8, shift_day=4, seed=1)
    results = pd.read_csv(out / "results.csv")
    assert set(results.columns) == {"model", "metric", "value", "split", "seed", "regime", "offer"}
    assert {"world", "oracle", "diff_in_means"} <= set(results["model"])
    assert set(results["split"]) == {"all"} and (results["seed"] == 1).all()
    regimes = results.dropna(subset=["regime"])
    assert set(regimes["metric"]) == {"lookalike_target_rate"} and set(regimes["regime"]) == {0, 1}
    offers = results.dropna(subset=["offer"])
    assert set(offers["metric"]) == {"max_abs_smd", "ate"} and set(offers["offer"]) == set(OFFERS[1:])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["headline"]["users"] == 400 and metrics["runtime_seconds"] > 0
    assert metrics["config"] == {"seed": 1, "n_users": 400, "n_days": 8, "shift_day": 4}
    assert {"funnel_by_segment.png", "drift_by_day.png", "graph_over_time.png", "treatment_balance.png",
            "propensity_overlap.png"} <= {p.name for p in out.iterdir()}


def test_overview_runs_on_user_tables_without_oracle(tmp_path):
    world = simulate_world(n_users=300, n_days=6, shift_days=(3,), seed=2)
    data = tmp_path / "mine"
    data.mkdir()
    for name, table in world.observed.items():
        table.to_csv(data / f"{name}.csv", index=False)
    out = run_overview(tmp_path, data_dir=str(data))
    results = pd.read_csv(out / "results.csv")
    assert "oracle" not in set(results["model"]) and results["regime"].isna().all()
    assert json.loads((out / "metrics.json").read_text())["headline"]["users"] == 300
    assert "propensity_overlap.png" not in {p.name for p in out.iterdir()}  # needs the true propensities


def test_bad_user_tables_fail_with_the_schema_message(tmp_path):
    data = tmp_path / "bad"
    data.mkdir()
    pd.DataFrame({"user_id": [1, 2], "age": ["old", "young"]}).to_csv(data / "users.csv", index=False)
    with pytest.raises(papermill.PapermillExecutionError) as err:
        run_overview(tmp_path, data_dir=str(data))
    assert err.value.ename == "ValueError" and "column 'age' must be numeric" in err.value.evalue
