"""Bring-your-own-data: a bad table is rejected with one clear message naming column and problem."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lab.cli import main
from lab.data import SchemaError, check_references, load_world, validate


def users(n=5):
    return pd.DataFrame({"user_id": np.arange(n), "age": [30, 40, 50, 25, 35][:n], "income": [1.0] * n})


def test_valid_tables_pass_and_binary_columns_become_int8():
    funnel = pd.DataFrame({"user_id": [0, 1], "exposure": [True, True], "click": [1, 0], "apply": [1, 0],
                           "approve": [0, 0], "drawdown": [0, 0]})
    out = validate("funnel", funnel)
    assert out["exposure"].dtype == np.int8


@pytest.mark.parametrize("table, frame, message", [
    ("users", pd.DataFrame({"id": [1]}), "missing required column(s) 'user_id'"),
    ("users", users().assign(age=["30", "x", "50", "25", "35"]), "column 'age' must be numeric"),
    ("funnel", pd.DataFrame({"user_id": [0, 1], "exposure": [1, 1], "click": [1, np.nan], "apply": [0, 0],
                             "approve": [0, 0], "drawdown": [0, 0]}), "column 'click' has 1 missing value"),
    ("users", users().assign(income=[1.0, np.inf, 2.0, 1.0, 1.0]), "column 'income' has 1 infinite value"),
    ("users", users().assign(user_id=[0, 1, 1, 2, 3]), "column 'user_id' must be unique"),
    ("users", users().assign(age=[30, -1, 50, 25, 35]), "column 'age' must be >= 0"),
    ("users", users().assign(user_id=[0.5, 1, 2, 3, 4]), "column 'user_id' must hold whole numbers"),
    ("treatments", pd.DataFrame({"user_id": [0, 1], "offer": ["none", "coupon"], "treated": [0, 2],
                                 "converted": [0, 1]}), "column 'treated' must be binary"),
    ("treatments", pd.DataFrame({"user_id": [0, 1], "offer": ["none", "coupon"], "treated": [1, 1],
                                 "converted": [0, 1]}), "'treated' must be 1 exactly where"),
    ("funnel", pd.DataFrame({"user_id": [0], "exposure": [0], "click": [1], "apply": [0], "approve": [0],
                             "drawdown": [0]}), "'click' is 1 where 'exposure' is 0"),
    ("edges", pd.DataFrame(columns=["day", "src", "dst"]), "has no rows"),
    ("nonsense", users(), "unknown table"),
])
def test_bad_tables_get_one_clear_message(table, frame, message):
    with pytest.raises(SchemaError) as err:
        validate(table, frame)
    assert message in str(err.value)
    assert table in str(err.value) or "unknown table" in str(err.value)
    assert "\n" not in str(err.value)


def test_gaps_in_optional_user_features_pass_and_rows_come_sorted():
    frame = users().assign(income=[1.0, np.nan, 2.0, 1.0, 1.0]).iloc[::-1]
    out = validate("users", frame)
    assert out["user_id"].tolist() == [0, 1, 2, 3, 4] and out["income"].isna().sum() == 1


def test_every_problem_of_a_table_is_listed():
    frame = users().assign(age=[30, -1, 50, 25, 35], user_id=[0, 1, 1, 2, 3])
    with pytest.raises(SchemaError) as err:
        validate("users", frame)
    assert len(err.value.problems) == 2 and "'age' must be >= 0" in str(err.value)


def test_unknown_ids_in_edges_are_named():
    edges = pd.DataFrame({"day": [0, 1], "src": [0, 1], "dst": [2, 99]})
    with pytest.raises(SchemaError, match=r"edges: column 'dst' has 1 id\(s\) not found in users.user_id, e.g. 99"):
        check_references({"users": users(), "edges": edges})


def write_dir(tmp_path, **tables):
    folder = tmp_path / "mine"
    folder.mkdir()
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def test_user_csv_folder_loads_without_oracle(tmp_path):
    folder = write_dir(tmp_path, users=users(), edges=pd.DataFrame({"day": [0], "src": [0], "dst": [1]}))
    world = load_world(folder)
    assert set(world.observed) == {"users", "edges"}
    assert world.oracle == {} and world.config is None


def test_cli_validate_prints_one_line_and_exits_2(tmp_path, capsys):
    folder = write_dir(tmp_path, users=users(), edges=pd.DataFrame({"day": [0], "src": [0], "dst": [7]}))
    assert main(["validate", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: edges: column 'dst'") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_unreadable_file_is_a_schema_error(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "users.parquet").write_text("not parquet")
    with pytest.raises(SchemaError, match="users.parquet: cannot be read"):
        load_world(folder)


def test_a_nullable_flag_may_be_empty_or_boolean_with_gaps():
    loans = pd.DataFrame({"user_id": [0, 1], "approved": [1, 1], "drawn": [0, 1], "amount": [0.0, 5.0]})
    validate("loans", loans.assign(defaulted=[None, None]))
    validate("loans", loans.assign(defaulted=[None, True]))
    with pytest.raises(SchemaError, match="'defaulted' must be binary"):
        validate("loans", loans.assign(defaulted=[None, 2]))
