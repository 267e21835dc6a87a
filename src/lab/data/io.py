"""Read a world from disk: a saved simulation or a researcher's own tables in the same schema.

``world_problems`` lists every problem of a folder at once (what ``lab validate`` prints and what the
runner checks before any run folder exists); ``load_world`` raises them as one ``SchemaError``.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lab.data.schema import SCHEMA, SchemaError, reference_problems, table_problems
from lab.data.world import World, WorldConfig, simulate_world

SUFFIXES = (".parquet", ".csv")


def _delimiter_hint(frame: pd.DataFrame) -> str:
    """A hint when a CSV read as one column was written with another delimiter (';', tab, '|')."""
    if frame.shape[1] != 1:
        return ""
    header = str(frame.columns[0])
    for delimiter, name in ((";", "';'"), ("\t", "tab"), ("|", "'|'")):
        if delimiter in header:
            return (f"it reads as one column {header[:60]!r}: the file looks {name}-separated; "
                    "save it comma-separated (and with '.' as the decimal point)")
    return ""


def read_table(path: str | Path) -> pd.DataFrame:
    """Read one CSV or parquet file, with a clear message when it cannot be read."""
    path = Path(path)
    if not path.exists():
        raise SchemaError(f"file not found: {path}")
    if path.suffix not in SUFFIXES:
        raise SchemaError(f"{path.name}: unsupported file type '{path.suffix}', use .csv or .parquet")
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()  # a 0-byte CSV: a table with no rows
    except Exception as err:  # parser errors come in many types; report them as one schema error
        raise SchemaError(f"{path.name}: cannot be read ({type(err).__name__}: {str(err).splitlines()[0]})") from err
    hint = _delimiter_hint(frame) if path.suffix == ".csv" else ""
    if hint:
        raise SchemaError(f"{path.name}: {hint}")
    return frame


def table_files(root: Path) -> tuple[dict[str, Path], list[str]]:
    """The schema tables present in ``root`` as ``{table: file}``, and the problems with the files: one
    table given twice (``users.csv`` beside ``users.parquet``), or in a format the workbench cannot read."""
    files, problems = {}, []
    for name in SCHEMA:
        found = [root / f"{name}{suffix}" for suffix in SUFFIXES if (root / f"{name}{suffix}").is_file()]
        if len(found) > 1:
            problems.append(f"{name}: both {' and '.join(p.name for p in found)} exist; keep one file per table")
        elif found:
            files[name] = found[0]
        else:
            other = sorted(p.name for p in root.glob(f"{name}.*") if p.is_file())
            if other:
                problems.append(f"{name}: {', '.join(other)} is not a supported file type; use .csv or .parquet")
    return files, problems


def _read_checked(root: Path, require: tuple[str, ...]) -> tuple[dict[str, pd.DataFrame], list[str]]:
    if not root.is_dir():
        return {}, [f"data directory not found: {root}"]
    files, problems = table_files(root)
    observed = {}
    for name, path in files.items():
        try:
            frame = read_table(path)
        except SchemaError as err:
            problems += err.problems
            continue
        if frame.empty and name not in require:
            continue  # a header without rows is a table the study can do without: treated as absent
        checked, found = table_problems(name, frame)
        problems += found
        if checked is not None:
            observed[name] = checked
    missing = [name for name in require if name not in files and not any(p.startswith(f"{name}: ") for p in problems)]
    if missing:
        problems.append(f"{root}: missing table(s) {', '.join(missing)} (expected <table>.csv or <table>.parquet)")
    return observed, problems + reference_problems(observed)


def world_problems(data_dir: str | Path, require: tuple[str, ...] = ("users",)) -> list[str]:
    """Every problem of the tables in ``data_dir`` (one line each; empty when they can be used)."""
    return _read_checked(Path(data_dir), require)[1]


def load_world(data_dir: str | Path, require: tuple[str, ...] = ("users",)) -> World:
    """Load and validate every schema table found in ``data_dir`` (and ``data_dir/oracle`` if present).

    ``require`` names the tables the caller cannot do without (an empty one is a problem; any other
    empty table counts as absent). Each table's rows come in a canonical
    order (``lab.data.schema.ROW_ORDER``), so a result never depends on how a file was sorted. Oracle
    tables are only present for saved simulations; a researcher's own data has none.
    """
    root = Path(data_dir)
    observed, problems = _read_checked(root, require)
    if problems:
        raise SchemaError(*problems)
    oracle, config = {}, None
    if (root / "oracle").is_dir():
        oracle = {p.stem: pd.read_parquet(p) for p in sorted((root / "oracle").glob("*.parquet"))}
    if (root / "oracle" / "config.json").exists():
        config = WorldConfig(**json.loads((root / "oracle" / "config.json").read_text()))
    return World(config=config, observed=observed, oracle=oracle)


def get_world(data_dir: str = "", require: tuple[str, ...] = ("users",), **world_params) -> World:
    """The notebooks' single entry point: the user's tables if ``data_dir`` is set (``require`` naming the
    tables the study cannot do without), else a simulation."""
    if data_dir:
        return load_world(data_dir, require)
    return simulate_world(**world_params)
