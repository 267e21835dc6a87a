"""The documented schema of the workbench's tables, and validation that fails with one clear message.

A researcher who brings their own data writes the same tables the simulator writes (CSV or parquet,
one file per table, named ``<table>.csv`` or ``<table>.parquet``). ``validate`` checks one table and
``check_references`` checks ids across tables; both raise ``SchemaError`` whose message names the
table, the column and the problem, so a notebook or ``lab validate`` can show it as one line.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


class SchemaError(ValueError):
    """A table does not follow the workbench schema; the message says which column and why."""


@dataclass(frozen=True)
class Column:
    """One column of a table: its kind (``id``, ``int``, ``float``, ``binary``, ``category``)."""

    name: str
    kind: str
    description: str
    required: bool = True
    nullable: bool = False
    minimum: float | None = None


SCHEMA: dict[str, tuple[Column, ...]] = {
    "users": (
        Column("user_id", "id", "unique user id (integer)"),
        Column("age", "int", "age in years", required=False, minimum=0),
        Column("income", "float", "monthly income", required=False, minimum=0),
        Column("credit_score", "int", "bureau score, 300-850", required=False, minimum=0),
        Column("tenure_months", "int", "months since the user joined", required=False, minimum=0),
        Column("app_sessions_30d", "int", "app sessions in the last 30 days", required=False, minimum=0),
        Column("savings_balance", "float", "savings held with us", required=False, minimum=0),
        Column("debt_to_income", "float", "debt service / income", required=False, minimum=0),
        Column("digital_affinity", "float", "0-1, share of contact through digital channels", required=False),
        Column("risk_appetite", "float", "0-1, psychographic survey score", required=False),
        Column("price_sensitivity", "float", "0-1, psychographic survey score", required=False),
        Column("region", "int", "region code", required=False),
        Column("preferred_channel", "category", "app_push / sms / email / partner / referral", required=False),
    ),
    "products": (
        Column("product_id", "id", "unique product id"),
        Column("name", "category", "product name"),
        Column("kind", "category", "loan / card / wealth", required=False),
        Column("avg_ticket", "float", "average transaction value", required=False, minimum=0),
    ),
    "interactions": (
        Column("day", "int", "day index, 0 = first day", minimum=0),
        Column("user_id", "id", "user who interacted (must exist in users)"),
        Column("product_id", "id", "product interacted with (must exist in products)"),
        Column("weight", "float", "strength of the interaction, e.g. dwell seconds", required=False, minimum=0),
    ),
    "edges": (
        Column("day", "int", "day the edge was observed", minimum=0),
        Column("src", "id", "user id at the source (must exist in users)"),
        Column("dst", "id", "user id at the destination (must exist in users)"),
        Column("kind", "category", "social / referral", required=False),
        Column("weight", "float", "edge strength", required=False, minimum=0),
    ),
    "funnel": (
        Column("user_id", "id", "user (must exist in users)"),
        Column("exposure", "binary", "saw the campaign"),
        Column("click", "binary", "clicked"),
        Column("apply", "binary", "applied"),
        Column("approve", "binary", "was approved"),
        Column("drawdown", "binary", "drew down / activated"),
        Column("value", "float", "transaction value, 0 without drawdown", required=False, minimum=0),
    ),
    "treatments": (
        Column("user_id", "id", "user (must exist in users)"),
        Column("offer", "category", "offer given: none / coupon / rate_discount / sms"),
        Column("treated", "binary", "1 if any offer was given"),
        Column("converted", "binary", "outcome: drew down during the campaign"),
        Column("cost", "float", "cost of the offer given", required=False, minimum=0),
        Column("value", "float", "transaction value, 0 without conversion", required=False, minimum=0),
    ),
    "seeds": (
        Column("user_id", "id", "seed user (must exist in users)"),
        Column("day", "int", "day the user was tagged as a seed", required=False, minimum=0),
    ),
}

# (table, column) -> (table, column) it must refer to.
REFERENCES = {
    ("interactions", "user_id"): ("users", "user_id"),
    ("interactions", "product_id"): ("products", "product_id"),
    ("edges", "src"): ("users", "user_id"),
    ("edges", "dst"): ("users", "user_id"),
    ("funnel", "user_id"): ("users", "user_id"),
    ("treatments", "user_id"): ("users", "user_id"),
    ("seeds", "user_id"): ("users", "user_id"),
}

FUNNEL_ORDER = ("exposure", "click", "apply", "approve", "drawdown")


def _examples(values) -> str:
    shown = [str(v) for v in list(values)[:3]]
    return ", ".join(shown)


def _check_column(table: str, column: Column, series: pd.Series) -> None:
    where = f"{table}: column '{column.name}'"
    if not column.nullable and series.isna().any():
        rows = np.flatnonzero(series.isna().to_numpy())
        raise SchemaError(f"{where} has {len(rows)} missing value(s) (NaN), first at row(s) {_examples(rows)}; "
                          "missing values are not allowed here")
    values = series.dropna()
    if column.kind in ("id", "int", "float", "binary"):
        if not (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)) \
                and not (column.kind == "binary" and pd.api.types.is_bool_dtype(values)):
            bad = values[pd.to_numeric(values, errors="coerce").isna()]
            raise SchemaError(f"{where} must be numeric ({column.kind}) but has type {series.dtype}"
                              + (f", e.g. values {_examples(bad.unique())}" if len(bad) else ""))
        if column.kind in ("id", "int") and not pd.api.types.is_integer_dtype(values):
            frac = values[values.astype(float) % 1 != 0]
            if len(frac):
                raise SchemaError(f"{where} must hold whole numbers ({column.kind}), found {_examples(frac.unique())}")
    if column.kind == "binary":
        bad = values[~values.astype(float).isin([0.0, 1.0])]
        if len(bad):
            raise SchemaError(f"{where} must be binary (0/1) but holds {_examples(sorted(bad.unique()))}")
    if column.minimum is not None and len(values):
        low = values[values.astype(float) < column.minimum]
        if len(low):
            raise SchemaError(f"{where} must be >= {column.minimum} but has {len(low)} value(s) below, "
                              f"e.g. {_examples(low.unique())}")
    if column.kind == "id" and table in ("users", "products") and values.duplicated().any():
        dup = values[values.duplicated()].unique()
        raise SchemaError(f"{where} must be unique but repeats {len(dup)} id(s), e.g. {_examples(dup)}")


def validate(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Check ``frame`` against the schema of ``table``; return it with binary columns as int8."""
    if table not in SCHEMA:
        raise SchemaError(f"unknown table '{table}'; known tables: {', '.join(SCHEMA)}")
    if not isinstance(frame, pd.DataFrame):
        raise SchemaError(f"{table}: expected a table (DataFrame), got {type(frame).__name__}")
    if frame.empty:
        raise SchemaError(f"{table}: the table has no rows")
    missing = [c.name for c in SCHEMA[table] if c.required and c.name not in frame.columns]
    if missing:
        raise SchemaError(f"{table}: missing required column(s) {', '.join(repr(m) for m in missing)}; "
                          f"found {', '.join(map(repr, frame.columns))}")
    for column in SCHEMA[table]:
        if column.name in frame.columns:
            _check_column(table, column, frame[column.name])
    out = frame.copy()
    for column in SCHEMA[table]:
        if column.kind == "binary" and column.name in out.columns:
            out[column.name] = out[column.name].astype(np.int8)
    if table == "funnel":
        for earlier, later in zip(FUNNEL_ORDER, FUNNEL_ORDER[1:]):
            bad = np.flatnonzero((out[later] > out[earlier]).to_numpy())
            if len(bad):
                raise SchemaError(f"funnel: column '{later}' is 1 where '{earlier}' is 0 in {len(bad)} row(s), "
                                  f"first at row(s) {_examples(bad)}; stages must be passed in order")
    if table == "treatments":
        none = out["offer"].astype(str) == "none"
        if ((out["treated"] == 1) == none).any():
            raise SchemaError("treatments: column 'treated' must be 1 exactly where 'offer' is not 'none'")
    return out


def check_references(tables: dict[str, pd.DataFrame]) -> None:
    """Every id that points into another table must exist there (e.g. edge endpoints in users)."""
    for (table, column), (target, target_column) in REFERENCES.items():
        if table in tables and target in tables:
            known = tables[target][target_column].to_numpy()
            values = tables[table][column].to_numpy()
            unknown = ~np.isin(values, known)
            if unknown.any():
                raise SchemaError(f"{table}: column '{column}' has {int(unknown.sum())} id(s) not found in "
                                  f"{target}.{target_column}, e.g. {_examples(np.unique(values[unknown]))}")


def schema_markdown() -> str:
    """The schema as Markdown tables, for the README and ``lab schema``."""
    lines = []
    for table, columns in SCHEMA.items():
        lines += [f"### `{table}`", "", "| column | kind | required | meaning |", "| --- | --- | --- | --- |"]
        lines += [f"| `{c.name}` | {c.kind} | {'yes' if c.required else 'no'} | {c.description} |" for c in columns]
        lines.append("")
    return "\n".join(lines)
