"""Bad and hostile inputs, as a new user would give them: each is refused by the ``lab`` command with
one line per problem (``error: ...``), exit code 2, no traceback and no run folder.

Tables come from a small simulated world saved without its oracle (the researcher's own tables look
like that), each case spoiling one thing.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lab.cli import main
from lab.data import simulate_world
from lab.paths import REPO_ROOT

SPECS = REPO_ROOT / "experiments"
MULTITASK = "notebooks/20_multitask_segmentation.ipynb"


@pytest.fixture(scope="module")
def world_tables() -> dict[str, pd.DataFrame]:
    world = simulate_world(n_users=300, n_days=12, seed=0, shift_days=(8,), interactions_per_user_day=2.0,
                           edges_per_user_day=0.3)
    return world.observed


def folder_of(root: Path, tables: dict[str, pd.DataFrame], change: Callable | None = None) -> Path:
    """The tables as CSV files in ``root/data``, after ``change(tables)`` (which may drop or edit them)."""
    tables = {name: frame.copy() for name, frame in tables.items()}
    if change is not None:
        change(tables)
    folder = root / "data"
    folder.mkdir()
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def refused(argv: list[str], capsys, runs: Path | None = None) -> str:
    """Run ``lab``; assert the refusal (exit 2, error lines only, no traceback, no run folder); return stderr."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip() and all(line.startswith("error: ") for line in err.strip().splitlines()), err
    assert "Traceback" not in err
    if runs is not None:
        assert not runs.exists() or not any(runs.iterdir()), "a refused run left a run folder"
    return err


def run_argv(spec: Path | str, runs: Path, *extra: str) -> list[str]:
    return ["run", str(spec), "--runs-dir", str(runs), "--no-report", "--quiet", *extra]


def write_spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


# --- specs and parameters: (case, spec text or a spec of experiments/, --set and flags, message) -----------
PARAMETER_CASES = [
    ("float_seed", "multitask.yaml", ["--set", "seed=1.5"], "parameter 'seed' must be an integer"),
    ("bool_seeds", f"notebook: {MULTITASK}\nseeds: [true]\n", [], "'seeds' must be a non-empty list of integers"),
    ("string_for_integer", "multitask.yaml", ["--set", "n_users=abc"], "parameter 'n_users' must be an integer"),
    ("list_for_number", "lice.yaml", ["--set", "target_share=[1]"], "'target_share' must be a number"),
    ("duplicate_key", f"notebook: {MULTITASK}\nparameters: {{n_seeds: 2}}\nparameters: {{n_seeds: 3}}\n", [],
     "key 'parameters' is given twice"),
    ("unknown_parameter", "multitask.yaml", ["--set", "n_userz=5"], "no notebook of multitask.yaml has such a"),
    ("set_without_value", "multitask.yaml", ["--set", "n_users"], "--set expects key=value"),
    ("set_of_swept_key", "world_overview.yaml", ["--set", "assignment=targeted"], "the spec sweeps it"),
    ("set_some_studies_lack", "quickstart.yaml", ["--set", "n_seeds=2"], "world_overview have no such parameter"),
    ("spec_not_found", "nowhere.yaml", [], "spec not found"),
    ("invalid_yaml", "notebook: [unclosed\n", [], "not valid YAML"),
    ("unknown_spec_key", f"notebook: {MULTITASK}\nparamters: {{}}\n", [], "unknown key(s) ['paramters']"),
    ("notebook_and_studies", f"notebook: {MULTITASK}\nstudies: []\n", [], "give either 'notebook'"),
    ("bad_name", f"name: my run\nnotebook: {MULTITASK}\n", [], "may hold only letters"),
    ("empty_grid", f"notebook: {MULTITASK}\ngrid: {{n_users: []}}\n", [], "'grid' must map each parameter"),
    ("output_dir_set", f"notebook: {MULTITASK}\nparameters: {{output_dir: x}}\n", [], "'output_dir' is set by"),
    ("too_many_runs", f"notebook: {MULTITASK}\nseeds: [0, 1, 2]\n", ["--max-runs", "2"], "more than --max-runs 2"),
    ("no_workers", "multitask.yaml", ["--workers", "0"], "--workers must be at least 1"),
    ("no_threads", "multitask.yaml", ["--threads", "0"], "--threads must be at least 1"),
    ("no_repetitions", "multitask.yaml", ["--set", "n_seeds=0"], "multitask: n_seeds must be at least 1"),
    ("refused_while_the_cluster_starts", "multitask.yaml", ["--workers", "2", "--set", "n_seeds=0"],
     "multitask: n_seeds must be at least 1"),
    ("share_above_one", "lice.yaml", ["--set", "target_share=1.5"], "target_share must lie in (0, 1)"),
    ("unknown_ablation", "lookalike.yaml", ["--set", "ablations=[nope]"], "ablations: unknown ['nope']"),
    ("unknown_learner", "uplift.yaml", ["--set", "methods=[nope]"], "methods: unknown learner(s) ['nope']"),
    ("budget_grid_zero", "allocation.yaml", ["--set", "budget_grid=[0.0]"], "budget_grid must hold positive"),
    ("limit_share_above_one", "allocation.yaml", ["--set", "limit_shares={coupon: 2.0}"],
     "limit_shares: shares must lie in [0, 1]"),
    ("shift_outside_days", "multitask.yaml", ["--set", "shift_day=40"], "shift_day must lie in 1 .. n_days - 1"),
    ("world_too_small", "quickstart.yaml", ["--set", "n_users=5"], "lookalike: n_users must be at least 50"),
    ("unknown_assignment", "uplift.yaml", ["--set", "assignment=coin"], "assignment must be 'randomised' or"),
]


@pytest.mark.parametrize("spec, extra, message", [c[1:] for c in PARAMETER_CASES],
                         ids=[c[0] for c in PARAMETER_CASES])
def test_bad_spec_or_parameter_is_one_line(spec, extra, message, tmp_path, capsys):
    path = SPECS / spec if spec.endswith(".yaml") else write_spec(tmp_path, spec)
    runs = tmp_path / "runs"
    assert message in refused(run_argv(path, runs, *extra), capsys, runs)


def test_runs_dir_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "runs").write_text("")
    assert "is a file" in refused(run_argv(SPECS / "multitask.yaml", tmp_path / "runs"), capsys)


# --- the workbench's tables in data_dir: (case, spec, change to the tables, message) -----------------------
def _set(table: str, column: str, value: object, rows: slice = slice(0, 1)) -> Callable:
    def change(tables):
        frame = tables[table]
        frame[column] = frame[column].astype(object if isinstance(value, str) else float)
        frame.iloc[rows, frame.columns.get_loc(column)] = value
    return change


def _keep(*names: str) -> Callable:
    def change(tables):
        for name in set(tables) - set(names):
            del tables[name]
    return change


def _first_users(n: int) -> Callable:
    def change(tables):
        ids = tables["users"]["user_id"].iloc[:n]
        for name, frame in tables.items():
            if "user_id" in frame:
                tables[name] = frame[frame["user_id"].isin(ids)]
        tables["edges"] = tables["edges"][tables["edges"]["src"].isin(ids) & tables["edges"]["dst"].isin(ids)]
    return change


def _nobody_clicks(tables):
    for stage in ("click", "apply", "approve", "drawdown"):
        tables["funnel"][stage] = 0
    tables["funnel"]["value"] = 0.0


def _click_without_exposure(tables):
    funnel = tables["funnel"]
    row = funnel.index[funnel["exposure"] == 0][0]
    funnel.loc[row, "click"] = 1


def _several(tables):
    _set("users", "user_id", 1.0, slice(0, 1))(tables)
    _set("users", "income", -5.0, slice(3, 4))(tables)


TABLE_CASES = [
    ("no_users_table", "multitask.yaml", _keep("funnel"), "missing table(s) users"),
    ("duplicate_user", "multitask.yaml", _set("users", "user_id", 1.0), "column 'user_id' must be unique"),
    ("text_user_ids", "lookalike.yaml", _set("users", "user_id", "u-1"), "column 'user_id' must be numeric"),
    ("fractional_age", "multitask.yaml", _set("users", "age", 30.5), "column 'age' must hold whole numbers"),
    ("negative_income", "multitask.yaml", _set("users", "income", -1.0), "column 'income' must be >= 0"),
    ("infinite_income", "lice.yaml", _set("users", "income", np.inf), "column 'income' has 1 infinite value"),
    ("gap_in_required_column", "multitask.yaml", _set("funnel", "click", np.nan), "column 'click' has 1 missing"),
    ("stage_out_of_order", "multitask.yaml", _click_without_exposure, "stages must be passed in order"),
    ("unknown_user_in_interactions", "lookalike.yaml", _set("interactions", "user_id", 99999.0),
     "interactions: column 'user_id' has 1 id(s) not found in users.user_id"),
    ("treated_without_offer", "world_overview.yaml", _set("treatments", "treated", 1.0,
                                                          slice(None)), "'treated' must be 1 exactly where"),
    ("one_user", "multitask.yaml", _first_users(1), "the multi-task study needs at least 200 users"),
    ("twelve_users", "lice.yaml", _first_users(12), "users: 12 rows; the explanation study needs at least 100"),
    ("nobody_clicks", "multitask.yaml", _nobody_clicks, "too few users reach 'click' 0"),
    ("nobody_applies_for_lice", "lice.yaml", _nobody_clicks, "target 'apply' has 0 positive"),
    ("lookalike_without_graph", "lookalike.yaml", _keep("users", "seeds"), "the lookalike study needs a graph"),
    ("lookalike_without_seeds", "lookalike.yaml", _keep("users", "interactions"), "missing table(s) seeds"),
    ("several_problems", "multitask.yaml", _several, "column 'income' must be >= 0"),
]


@pytest.mark.parametrize("spec, change, message", [c[1:] for c in TABLE_CASES], ids=[c[0] for c in TABLE_CASES])
def test_bad_tables_are_refused_before_any_run_folder(spec, change, message, world_tables, tmp_path, capsys):
    folder = folder_of(tmp_path, world_tables, change)
    runs = tmp_path / "runs"
    err = refused(run_argv(SPECS / spec, runs, "--set", f"data_dir={folder}"), capsys, runs)
    assert message in err
    assert "Traceback" not in err


def test_every_problem_of_a_folder_is_listed(world_tables, tmp_path, capsys):
    folder = folder_of(tmp_path, world_tables, _several)
    err = refused(["validate", str(folder)], capsys)
    assert len(err.strip().splitlines()) == 2


def test_train_end_past_the_data_is_refused(world_tables, tmp_path, capsys):
    folder = folder_of(tmp_path, world_tables)
    runs = tmp_path / "runs"
    err = refused(run_argv(SPECS / "lookalike.yaml", runs, "--set", f"data_dir={folder}", "--set", "train_end=50"),
                  capsys, runs)
    assert "train_end=50 must lie inside the observed days 1..11" in err


@pytest.mark.parametrize("case", ["two_files", "semicolons", "header_only", "spreadsheet", "missing_folder"])
def test_unreadable_folders_are_one_line(case, world_tables, tmp_path, capsys):
    folder = folder_of(tmp_path, world_tables, _keep("users", "funnel"))
    users = world_tables["users"]
    message = {"two_files": "users: both users.parquet and users.csv exist; keep one file per table",
               "semicolons": "users.csv: it reads as one column", "header_only": "users: the table has no rows",
               "spreadsheet": "users: users.xlsx is not a supported file type",
               "missing_folder": "data directory not found"}[case]
    if case == "two_files":
        users.to_parquet(folder / "users.parquet")
    elif case == "semicolons":
        users.to_csv(folder / "users.csv", sep=";", index=False)
    elif case == "header_only":
        users.iloc[:0].to_csv(folder / "users.csv", index=False)
    elif case == "spreadsheet":
        (folder / "users.csv").rename(folder / "users.xlsx")
    else:
        folder = tmp_path / "nowhere"
    runs = tmp_path / "runs"
    assert message in refused(run_argv(SPECS / "multitask.yaml", runs, "--set", f"data_dir={folder}"), capsys, runs)


# --- a researcher's own file in data_path: (case, spec, --set, table, message) -----------------------------
def _campaign(n: int = 400, treated_share: float = 0.5) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"customer_id": np.arange(n) * 7 + 1000, "age": rng.integers(20, 70, n),
                         "income": rng.gamma(2.0, 2000.0, n), "treated": (rng.random(n) < treated_share).astype(int),
                         "converted": rng.integers(0, 2, n)})


def _values(n: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"user_id": np.arange(n), "value_coupon": rng.random(n), "cost_coupon": np.full(n, 1.0)})


UPLIFT = ["--set", "treatment_col=treated", "--set", "outcome_col=converted"]
LICE = ["--set", "target_col=converted"]
FILE_CASES = [
    ("uplift_missing_treatment", "uplift.yaml", ["--set", "treatment_col=offer", "--set", "outcome_col=converted"],
     _campaign(), "missing column(s) ['offer']"),
    ("uplift_three_arms", "uplift.yaml", UPLIFT, _campaign().assign(treated=lambda d: d["age"] % 3),
     "must be a binary treatment with exactly two values"),
    ("uplift_constant_outcome", "uplift.yaml", UPLIFT, _campaign().assign(converted=1), "is constant"),
    ("uplift_tiny_arm", "uplift.yaml", UPLIFT, _campaign(treated_share=0.02), "each arm needs at least 30"),
    ("uplift_no_columns_named", "uplift.yaml", [], _campaign(), "data_path needs treatment_col and outcome_col"),
    ("lice_unknown_target", "lice.yaml", ["--set", "target_col=bought"], _campaign(),
     "target column 'bought' not found"),
    ("lice_rare_class", "lice.yaml", LICE, _campaign().assign(converted=lambda d: (d.index < 5).astype(int)),
     "each class needs at least 20"),
    ("lice_missing_feature", "lice.yaml", [*LICE, "--set", "feature_cols=[age, wealth]"], _campaign(),
     "feature column(s) ['wealth'] not found"),
    ("allocation_no_offers", "allocation.yaml", [], _values().drop(columns=["value_coupon", "cost_coupon"]),
     "values: no offers"),
    ("allocation_negative_cost", "allocation.yaml", [], _values().assign(cost_coupon=-1.0), "negative cost"),
    ("allocation_too_few_users", "allocation.yaml", [], _values(5), "values: 5 rows"),
    ("file_not_found", "uplift.yaml", UPLIFT, None, "file not found"),
]


@pytest.mark.parametrize("spec, extra, table, message", [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_bad_own_file_is_refused_before_any_run_folder(spec, extra, table, message, tmp_path, capsys):
    path = tmp_path / "mine.csv"
    if table is not None:
        table.to_csv(path, index=False)
    runs = tmp_path / "runs"
    assert message in refused(run_argv(SPECS / spec, runs, "--set", f"data_path={path}", *extra), capsys, runs)


# --- the other commands ------------------------------------------------------------------------------------
def test_simulate_refuses_a_folder_with_tables(world_tables, tmp_path, capsys):
    folder = folder_of(tmp_path, world_tables, _keep("users"))
    assert "is not empty" in refused(["simulate", str(folder), "--n-users", "100"], capsys)
    assert sorted(p.name for p in folder.iterdir()) == ["users.csv"]


def test_simulate_refuses_a_file(tmp_path, capsys):
    (tmp_path / "out").write_text("")
    assert "is a file" in refused(["simulate", str(tmp_path / "out")], capsys)


def test_compare_needs_two_run_folders(tmp_path, capsys):
    assert "no results.csv" in refused(["compare", str(tmp_path), str(tmp_path)], capsys)
