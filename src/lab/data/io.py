"""Read a world from disk: a saved simulation or a researcher's own tables in the same schema."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lab.data.schema import SCHEMA, SchemaError, check_references, validate
from lab.data.world import World, WorldConfig, simulate_world


def read_table(path: str | Path) -> pd.DataFrame:
    """Read one CSV or parquet file, with a clear message when it cannot be read."""
    path = Path(path)
    if not path.exists():
        raise SchemaError(f"file not found: {path}")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix == ".csv":
            return pd.read_csv(path)
    except Exception as err:  # parser errors come in many types; report them as one schema error
        raise SchemaError(f"{path.name}: cannot be read ({type(err).__name__}: {err})") from err
    raise SchemaError(f"{path.name}: unsupported file type '{path.suffix}', use .csv or .parquet")


def _find(root: Path, name: str) -> Path | None:
    for suffix in (".parquet", ".csv"):
        if (root / f"{name}{suffix}").exists():
            return root / f"{name}{suffix}"
    return None


def load_world(data_dir: str | Path, require: tuple[str, ...] = ("users",)) -> World:
    """Load and validate every schema table found in ``data_dir`` (and ``data_dir/oracle`` if present).

    ``require`` names the tables the caller cannot do without; a missing one is a ``SchemaError``.
    Oracle tables are only present for saved simulations; a researcher's own data has none.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise SchemaError(f"data directory not found: {root}")
    observed = {}
    for name in SCHEMA:
        path = _find(root, name)
        if path is not None:
            observed[name] = validate(name, read_table(path))
    missing = [name for name in require if name not in observed]
    if missing:
        raise SchemaError(f"{root}: missing table(s) {', '.join(missing)} (expected <table>.csv or <table>.parquet)")
    check_references(observed)
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
