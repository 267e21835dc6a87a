"""Ids are labels: every study that takes the researcher's data gives the same result on tables whose ids
are arbitrary integers in any row order as on the same tables with ids 0..n-1, sorted.

The arbitrary ids keep the order of the originals (``id * 7919 + 100003``), so the two folders hold the
same rows once each is put in its canonical order; any difference is a study using ids as positions or
results depending on how a file was sorted.
"""
from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lab.data import simulate_world
from lab.results import compare_results
from test_contract import TINY

ID_COLUMNS = {"user_id", "src", "dst"}


def relabel(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """User ids as large, gapped integers, and the rows shuffled."""
    out = frame.assign(**{c: frame[c] * 7919 + 100003 for c in ID_COLUMNS & set(frame.columns)})
    return out.sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    world = simulate_world(n_users=1200, n_days=12, seed=0, shift_days=(8,), interactions_per_user_day=2.0,
                           edges_per_user_day=0.3)
    root = tmp_path_factory.mktemp("own_ids")
    for name, change in (("plain", lambda f, s: f), ("relabelled", relabel)):
        (root / name).mkdir()
        for position, (table, frame) in enumerate(world.observed.items()):
            change(frame, position).to_csv(root / name / f"{table}.csv", index=False)
    return root / "plain", root / "relabelled"


def run_study(module: str, parameters: dict) -> pd.DataFrame:
    study = importlib.import_module(f"lab.{module}.study")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return study.run(study.Config.from_parameters(parameters)).results


FOLDER_STUDIES = [("overview", "00_world_overview.ipynb"), ("lookalike", "10_lookalike_dynamic_gnn.ipynb"),
                  ("multitask", "20_multitask_segmentation.ipynb"), ("explain", "30_lice_explanation.ipynb")]


@pytest.mark.parametrize("module, notebook", FOLDER_STUDIES, ids=[m for m, _ in FOLDER_STUDIES])
def test_folder_studies_read_ids_as_labels(module, notebook, folders):
    plain, relabelled = (run_study(module, {**TINY[notebook], "n_seeds": 1, "data_dir": str(folder)})
                         for folder in folders)
    differences = compare_results(plain, relabelled, tolerance=1e-9)
    assert differences.empty, differences.head(10).to_string()


def campaign(n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    x = rng.normal(size=n)
    treated = rng.integers(0, 2, n)
    return pd.DataFrame({"customer_id": np.arange(n), "age": rng.integers(20, 70, n), "score": x,
                         "treated": treated, "converted": (rng.random(n) < 0.2 + 0.2 * treated * (x > 0)).astype(int),
                         "value_coupon": rng.gamma(2.0, 1.0, n), "cost_coupon": 1.0})


FILE_STUDIES = [
    ("uplift", {**TINY["40_uplift_study.ipynb"], "treatment_col": "treated", "outcome_col": "converted",
                "feature_cols": ["age", "score"], "randomised": True}),
    ("explain", {**TINY["30_lice_explanation.ipynb"], "n_seeds": 1, "target_col": "converted",
                 "feature_cols": ["age", "score"]}),
    ("allocate", {**TINY["50_budget_allocation.ipynb"], "budget": 100.0}),
]


@pytest.mark.parametrize("module, parameters", FILE_STUDIES, ids=[m for m, _ in FILE_STUDIES])
def test_file_studies_read_ids_as_labels(module, parameters, tmp_path):
    table = campaign()
    if module == "allocate":
        table = table.rename(columns={"customer_id": "user_id"})[["user_id", "value_coupon", "cost_coupon"]]
    id_column = table.columns[0]
    shuffled = table.assign(**{id_column: table[id_column] * 7919 + 100003}).sample(frac=1.0, random_state=0)
    table.to_csv(tmp_path / "plain.csv", index=False)
    shuffled.to_csv(tmp_path / "relabelled.csv", index=False)
    plain, relabelled = (run_study(module, {**parameters, "data_path": str(tmp_path / name)})
                         for name in ("plain.csv", "relabelled.csv"))
    differences = compare_results(plain, relabelled, tolerance=1e-9)
    assert differences.empty, differences.head(10).to_string()
