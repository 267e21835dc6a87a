"""The ``lab`` command: run specs, render reports, compare runs, simulate and validate data."""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import pandas as pd

from lab.data import SchemaError, gap_counts, load_world, schema_markdown, simulate_world
from lab.paths import REPORTS_DIR, RUNS_DIR
from lab.report import render_all
from lab.results import comparable, compare_results
from lab.runner import MAX_RUNS, RunResult, RunsInterrupted, SpecError, check_folder, parse_override, run_spec


def _summarise(results: list[RunResult]) -> None:
    for result in results:
        line = f"[{result.status}] {result.plan.name} {result.runtime_seconds:6.1f} s  {result.folder}"
        print(line + (f"\n         {result.error}" if result.error else ""))


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run(args: argparse.Namespace) -> int:
    overrides = dict(parse_override(item) for item in args.set)
    reports_dir = check_folder(args.reports_dir, "--reports-dir") if not args.no_report else args.reports_dir
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        results = run_spec(args.spec, overrides, runs_dir=args.runs_dir, progress=not args.quiet,
                           workers=args.workers, scheduler=args.scheduler, max_runs=args.max_runs,
                           threads=args.threads)
    except RunsInterrupted as stop:
        _summarise(stop.finished)
        print(f"interrupted after {len(stop.finished)} finished run(s): runs not yet started were cancelled, "
              "running ones are marked interrupted", file=sys.stderr)
        if not args.no_report:
            print(f"reports: {render_all(args.runs_dir, reports_dir, runs=[r.folder for r in stop.finished])}")
        return 130
    _summarise(results)
    if not args.no_report:
        index = render_all(args.runs_dir, reports_dir, runs=[r.folder for r in results])
        print(f"reports: {index}")
    failed = sum(r.status != "ok" for r in results)
    if failed:
        print(f"{failed} of {len(results)} run(s) failed", file=sys.stderr)
    return 1 if failed else 0


def _report(args: argparse.Namespace) -> int:
    reports_dir = check_folder(args.reports_dir, "--reports-dir")
    print(f"reports: {render_all(args.runs_dir, reports_dir, only_missing=not args.all)}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.out.is_dir():
        raise SpecError(f"{args.out} is a file; give a folder for the simulated tables")
    if args.out.is_dir() and any(args.out.iterdir()) and not args.force:
        raise SpecError(f"{args.out} is not empty: its tables would be mixed with the simulation's; "
                        "choose an empty folder or pass --force")
    world = simulate_world(n_users=args.n_users, n_days=args.n_days, seed=args.seed, assignment=args.assignment)
    path = world.save(args.out)
    print(f"wrote {len(world.observed)} observed tables and {len(world.oracle)} oracle tables to {path}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    """Every problem of the folder, one line each (exit 2); else the tables found and the gaps to impute."""
    world = load_world(args.data_dir)
    sizes = ", ".join(f"{name} ({len(table)} rows)" for name, table in world.observed.items())
    print(f"ok: {sizes}")
    gaps = gap_counts(world.observed["users"])
    if gaps:
        print("gaps in optional user features (imputed with the median, flagged by <column>_missing): "
              + ", ".join(f"{column} {count}" for column, count in gaps.items()))
    return 0


def _compare(args: argparse.Namespace) -> int:
    tables = []
    for folder in (args.first, args.second):
        if not (folder / "results.csv").is_file():
            raise SpecError(f"{folder}: no results.csv (give two run folders)")
        tables.append(pd.read_csv(folder / "results.csv"))
    differences = compare_results(tables[0], tables[1], tolerance=args.tolerance)
    compared = len(comparable(tables[0]))
    if differences.empty:
        print(f"identical: {compared} result rows agree (timing rows left out)")
        return 0
    print(differences.to_string(index=False, max_rows=args.max_rows))
    print(f"{len(differences)} of {compared} result rows differ by more than {args.tolerance:g} (timing rows left out)")
    return 1


def _schema(_: argparse.Namespace) -> int:
    print(schema_markdown())
    return 0


def _folder(text: str) -> Path:
    """A folder argument, resolved against the caller's working directory once."""
    return Path(text).expanduser().resolve()


def _add_folders(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", type=_folder, default=RUNS_DIR, help=f"run folders (default {RUNS_DIR})")
    parser.add_argument("--reports-dir", type=_folder, default=REPORTS_DIR,
                        help=f"HTML reports (default {REPORTS_DIR})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a spec's notebooks through Papermill, then render reports")
    run.add_argument("spec", type=Path)
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a notebook parameter (value read as YAML); repeatable")
    run.add_argument("--no-report", action="store_true", help="skip rendering HTML reports")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--workers", type=int, default=1,
                     help="run in parallel on a local Dask cluster of this many processes (default 1: serial)")
    run.add_argument("--threads", type=int, default=None,
                     help="BLAS/OpenMP/torch threads per run (default with --workers: cores / workers)")
    run.add_argument("--scheduler", default="", metavar="tcp://HOST:PORT",
                     help="submit the runs to an existing Dask cluster instead")
    run.add_argument("--max-runs", type=int, default=MAX_RUNS,
                     help=f"refuse a spec asking for more runs than this (default {MAX_RUNS})")
    _add_folders(run)
    run.set_defaults(func=_run)

    report = sub.add_parser("report", help="render run notebooks to reports/ and rebuild reports/index.html")
    report.add_argument("--all", action="store_true", help="re-render runs that already have a report")
    _add_folders(report)
    report.set_defaults(func=_report)

    simulate = sub.add_parser("simulate", help="write a simulated world as parquet tables")
    simulate.add_argument("out", type=Path)
    simulate.add_argument("--n-users", type=int, default=5000)
    simulate.add_argument("--n-days", type=int, default=30)
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--assignment", choices=["randomised", "targeted"], default="randomised")
    simulate.add_argument("--force", action="store_true", help="write into a folder that is not empty")
    simulate.set_defaults(func=_simulate)

    validate = sub.add_parser("validate", help="check a folder of your own tables against the schema")
    validate.add_argument("data_dir", type=Path)
    validate.set_defaults(func=_validate)

    compare = sub.add_parser("compare", help="compare two run folders' results.csv beyond timing rows")
    compare.add_argument("first", type=Path)
    compare.add_argument("second", type=Path)
    compare.add_argument("--tolerance", type=float, default=0.0, help="largest difference taken as equal")
    compare.add_argument("--max-rows", type=int, default=40, help="differing rows to print")
    compare.set_defaults(func=_compare)

    schema = sub.add_parser("schema", help="print the table schema as Markdown")
    schema.set_defaults(func=_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (SpecError, SchemaError, ValueError) as err:  # ValueError: a bad parameter, said in one line
        for line in str(err).splitlines() or [type(err).__name__]:
            print(f"error: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
