"""The documented schema of the workbench's tables, and validation that fails with one clear message.

A researcher who brings their own data writes the same tables the simulator writes (CSV or parquet,
one file per table, named ``<table>.csv`` or ``<table>.parquet``). ``table_problems`` checks one table
and ``reference_problems`` ids across tables, each returning one line per problem (naming the table,
the column and the problem); ``validate`` and ``check_references`` raise them as one ``SchemaError``.

Gaps: required columns must be complete; the optional user features may be absent or have gaps,
which the encoder imputes (median, plus a ``<column>_missing`` indicator) and the reports count;
infinite values are refused everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


class SchemaError(ValueError):
    """A table does not follow the workbench schema: one line per problem, each naming the table, the
    column and why (``problems`` holds the lines)."""

    def __init__(self, *problems: str):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Column:
    """One column of a table: its kind (``id``, ``int``, ``float``, ``binary``, ``category``).

    ``nullable`` columns may have gaps (NaN): the optional user features, which the encoder imputes with
    the median and flags with a ``<column>_missing`` indicator. Every other column must be complete."""

    name: str
    kind: str
    description: str
    required: bool = True
    nullable: bool = False
    minimum: float | None = None


def _feature(name: str, kind: str, description: str, minimum: float | None = None) -> Column:
    """An optional user feature: may be absent, and may have gaps."""
    return Column(name, kind, description, required=False, nullable=True, minimum=minimum)


SCHEMA: dict[str, tuple[Column, ...]] = {
    "users": (
        Column("user_id", "id", "unique user id (integer)"),
        _feature("signup_day", "int", "day the user signed up, 0 = before the window", minimum=0),
        _feature("age", "int", "age in years", minimum=0),
        _feature("income", "float", "monthly income", minimum=0),
        _feature("credit_score", "int", "bureau score, 300-850", minimum=0),
        _feature("tenure_months", "int", "months since the user joined", minimum=0),
        _feature("app_sessions_30d", "int", "app sessions in the last 30 days", minimum=0),
        _feature("savings_balance", "float", "savings held with us", minimum=0),
        _feature("debt_to_income", "float", "debt service / income", minimum=0),
        _feature("digital_affinity", "float", "0-1, share of contact through digital channels"),
        _feature("risk_appetite", "float", "0-1, psychographic survey score"),
        _feature("price_sensitivity", "float", "0-1, psychographic survey score"),
        _feature("region", "int", "region code"),
        _feature("prior_drawdowns", "int", "drawdowns in the 12 months before the window", minimum=0),
        _feature("preferred_channel", "category", "app_push / sms / email / partner / referral"),
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
    "loans": (
        Column("user_id", "id", "applicant (must exist in users)"),
        Column("approved", "binary", "the lender approved the application"),
        Column("drawn", "binary", "the approved loan was drawn down"),
        Column("amount", "float", "amount drawn, 0 without drawdown", minimum=0),
        Column("scorecard", "float", "the lender's scorecard points behind the decision", required=False),
        Column("defaulted", "binary", "defaulted while on book; empty where no loan was drawn", required=False,
               nullable=True),
        Column("months_on_book", "int", "months observed after drawdown; empty where no loan was drawn",
               required=False, nullable=True, minimum=0),
        Column("term_months", "int", "the loan's term in months", required=False, nullable=True, minimum=1),
        Column("rate", "float", "the loan's yearly interest rate (0.14 = 14%)", required=False, nullable=True,
               minimum=0),
    ),
    "reminders": (
        Column("user_id", "id", "user (must exist in users)"),
        Column("reminded", "binary", "randomly chosen for the SMS reminder (an instrument)"),
        Column("engaged", "binary", "engaged with the app during the campaign"),
    ),
    "account_months": (
        Column("user_id", "id", "customer (must exist in users)"),
        Column("month", "int", "month after the campaign, 0 = first", minimum=0),
        Column("action", "category", "the lender's action that month: none / retention_offer / limit_increase / "
                                     "rate_discount"),
        Column("propensity", "float", "probability of that action under the logging policy", required=False),
        Column("balance", "float", "balance at the start of the month", required=False, minimum=0),
        Column("topped_up", "binary", "drew down again that month", required=False),
        Column("churned", "binary", "closed the account that month", required=False),
        Column("defaulted", "binary", "defaulted that month", required=False),
        Column("profit", "float", "the month's profit: interest margin - credit loss - action cost"),
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
    ("loans", "user_id"): ("users", "user_id"),
    ("account_months", "user_id"): ("users", "user_id"),
    ("reminders", "user_id"): ("users", "user_id"),
}

FUNNEL_ORDER = ("exposure", "click", "apply", "approve", "drawdown")


def _examples(values) -> str:
    shown = [str(v) for v in list(values)[:3]]
    return ", ".join(shown)


def _column_problem(table: str, column: Column, series: pd.Series) -> str:
    """The first thing wrong with one column ("" if nothing): gaps, type, whole numbers, 0/1, infinities,
    the minimum, unique ids."""
    where = f"{table}: column '{column.name}'"
    if not column.nullable and series.isna().any():
        rows = np.flatnonzero(series.isna().to_numpy())
        return (f"{where} has {len(rows)} missing value(s) (NaN), first at row(s) {_examples(rows)}; "
                "missing values are not allowed here")
    values = series.dropna()
    if values.empty:
        return ""  # a nullable column with nothing in it
    if values.dtype == object:
        values = values.infer_objects()  # True / None or numbers / None read as objects
    if column.kind in ("id", "int", "float", "binary"):
        if not (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)) \
                and not (column.kind == "binary" and pd.api.types.is_bool_dtype(values)):
            bad = values[pd.to_numeric(values, errors="coerce").isna()]
            return (f"{where} must be numeric ({column.kind}) but has type {series.dtype}"
                    + (f", e.g. values {_examples(bad.unique())}" if len(bad) else ""))
        infinite = int(np.isinf(values.astype(float)).sum())
        if infinite:
            return f"{where} has {infinite} infinite value(s); use a finite number or leave the cell empty"
        if column.kind in ("id", "int") and not pd.api.types.is_integer_dtype(values):
            frac = values[values.astype(float) % 1 != 0]
            if len(frac):
                return f"{where} must hold whole numbers ({column.kind}), found {_examples(frac.unique())}"
    if column.kind == "binary":
        bad = values[~values.astype(float).isin([0.0, 1.0])]
        if len(bad):
            return f"{where} must be binary (0/1) but holds {_examples(sorted(bad.unique()))}"
    if column.minimum is not None and len(values):
        low = values[values.astype(float) < column.minimum]
        if len(low):
            return (f"{where} must be >= {column.minimum} but has {len(low)} value(s) below, "
                    f"e.g. {_examples(low.unique())}")
    if column.kind == "id" and table in ("users", "products") and values.duplicated().any():
        dup = values[values.duplicated()].unique()
        return f"{where} must be unique but repeats {len(dup)} id(s), e.g. {_examples(dup)}"
    return ""


# The columns that order each table's rows: a study sees the same rows in the same order whatever the
# order of the file, so its result cannot depend on how the table was sorted when it was saved.
ROW_ORDER = {"users": ("user_id",), "products": ("product_id",), "interactions": ("day", "user_id", "product_id"),
             "edges": ("day", "src", "dst"), "funnel": ("user_id",), "treatments": ("user_id",),
             "seeds": ("user_id",), "loans": ("user_id",), "account_months": ("user_id", "month"),
             "reminders": ("user_id",)}


def table_problems(table: str, frame: pd.DataFrame) -> tuple[pd.DataFrame | None, list[str]]:
    """Check ``frame`` against the schema of ``table``: ``(table, [])`` with binary columns as int8 and
    the rows in their canonical order (``ROW_ORDER``, then every other column), else ``(None, problems)``
    with one line per problem."""
    if table not in SCHEMA:
        return None, [f"unknown table '{table}'; known tables: {', '.join(SCHEMA)}"]
    if not isinstance(frame, pd.DataFrame):
        return None, [f"{table}: expected a table (DataFrame), got {type(frame).__name__}"]
    if frame.empty:
        return None, [f"{table}: the table has no rows"]
    missing = [c.name for c in SCHEMA[table] if c.required and c.name not in frame.columns]
    problems = [f"{table}: missing required column(s) {', '.join(repr(m) for m in missing)}; "
                f"found {', '.join(map(repr, frame.columns))}"] if missing else []
    problems += [problem for column in SCHEMA[table] if column.name in frame.columns
                 if (problem := _column_problem(table, column, frame[column.name]))]
    if problems:
        return None, problems
    out = frame.copy()
    for column in SCHEMA[table]:
        if column.kind == "binary" and column.name in out.columns and not out[column.name].isna().any():
            out[column.name] = out[column.name].astype(np.int8)
    if table == "funnel":
        for earlier, later in zip(FUNNEL_ORDER, FUNNEL_ORDER[1:]):
            bad = np.flatnonzero((out[later] > out[earlier]).to_numpy())
            if len(bad):
                problems.append(f"funnel: column '{later}' is 1 where '{earlier}' is 0 in {len(bad)} row(s), "
                                f"first at row(s) {_examples(bad)}; stages must be passed in order")
    if table == "treatments" and ((out["treated"] == 1) == (out["offer"].astype(str) == "none")).any():
        problems.append("treatments: column 'treated' must be 1 exactly where 'offer' is not 'none'")
    if problems:
        return None, problems
    return in_row_order(table, out), []


def in_row_order(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` sorted by the ``ROW_ORDER`` columns of ``table``, then by every other column."""
    order = list(ROW_ORDER[table]) + [c for c in frame.columns if c not in ROW_ORDER[table]]
    return frame.sort_values(order, kind="stable").reset_index(drop=True)


def validate(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` checked against the schema of ``table`` (see ``table_problems``); ``SchemaError``
    listing every problem otherwise."""
    checked, problems = table_problems(table, frame)
    if checked is None:
        raise SchemaError(*problems)
    return checked


def reference_problems(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Ids that point into another table but are not there (e.g. edge endpoints missing from users)."""
    problems = []
    for (table, column), (target, target_column) in REFERENCES.items():
        if table in tables and target in tables:
            known = tables[target][target_column].to_numpy()
            values = tables[table][column].to_numpy()
            unknown = ~np.isin(values, known)
            if unknown.any():
                problems.append(f"{table}: column '{column}' has {int(unknown.sum())} id(s) not found in "
                                f"{target}.{target_column}, e.g. {_examples(np.unique(values[unknown]))}")
    return problems


def check_references(tables: dict[str, pd.DataFrame]) -> None:
    """Every id that points into another table must exist there; ``SchemaError`` listing those that do not."""
    problems = reference_problems(tables)
    if problems:
        raise SchemaError(*problems)


def gap_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Missing values per column that has any (what the encoder imputes and the reports count)."""
    counts = frame.isna().sum()
    return {str(column): int(count) for column, count in counts[counts > 0].items()}


def schema_markdown() -> str:
    """The schema as Markdown tables, for the README and ``lab schema``."""
    lines = []
    for table, columns in SCHEMA.items():
        lines += [f"### `{table}`", "", "| column | kind | required | meaning |", "| --- | --- | --- | --- |"]
        lines += [f"| `{c.name}` | {c.kind} | {'yes' if c.required else 'no'} | {c.description} |" for c in columns]
        lines.append("")
    return "\n".join(lines)
