"""Run study notebooks from a YAML spec through Papermill, one run folder per parameter combination.

A spec names one notebook (or a list of ``studies``), its parameters, optional ``seeds`` and an
optional ``grid``; every combination of seed x grid values is one run. Each run gets a new folder
``experiments/runs/<time>-<name>-<hash>/`` that holds the executed notebook, the resolved parameters,
whatever the notebook wrote into its ``output_dir`` (results.csv, metrics.json, figures), a log,
an environment record and a status (``queued``, ``running``, then ``ok``, ``failed`` or
``interrupted``). Bad specs, unknown parameters, values of the wrong type and whatever a study's
``check`` finds wrong with its parameters or the researcher's tables are refused before anything
runs, every problem on its own line; a failing notebook is recorded as failed and the other runs go on.

Runs execute one after the other in this process, or in parallel on Dask: a ``LocalCluster`` of
processes with one thread each (``workers``), or an existing cluster (``scheduler``) whose workers
share the project's environment and see the repository and the run folders at the same paths.
"""
from __future__ import annotations

import ast
import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import itertools
import json
import logging
import platform
import re
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import yaml
from tqdm.auto import tqdm

from lab.paths import REPO_ROOT, RUNS_DIR

# jsonschema (under nbformat, under papermill) imports rfc3987_syntax only to check the "iri" string
# format, which no notebook schema uses; that import compiles a grammar, 1.2 of the 1.7 s it takes to
# import this module (measured), paid by every `lab` command and every Dask worker. Marked absent,
# jsonschema skips that one format (it expects the ImportError).
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

import nbformat  # noqa: E402
import papermill  # noqa: E402

SPEC_KEYS = {"name", "description", "notebook", "parameters", "seeds", "grid", "studies"}
STUDY_KEYS = {"name", "notebook", "parameters", "seeds", "grid"}
RECORDED_PACKAGES = ("lab", "numpy", "pandas", "scikit-learn", "scipy", "torch", "torch-geometric",
                     "econml", "shap", "papermill", "matplotlib")
KERNEL = "lab"
MAX_RUNS = 100  # a larger grid needs --max-runs: a typo in a grid should not start a million runs


class SpecError(ValueError):
    """The spec is malformed or names parameters its notebook does not have."""


class RunsInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped ``lab run``; ``finished`` holds the runs that ended before it."""

    def __init__(self, finished: list[RunResult]):
        super().__init__(f"interrupted after {len(finished)} finished run(s)")
        self.finished = finished


@dataclass
class RunPlan:
    """One notebook execution: which notebook, with which parameters, under which name; ``spec`` names
    the spec it came from, ``defaults`` are the notebook's and ``swept`` the parameters its spec sweeps."""

    name: str
    notebook: Path
    parameters: dict
    spec: str = ""
    defaults: dict = field(default_factory=dict)
    swept: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    """What happened to one planned run."""

    plan: RunPlan
    folder: Path
    status: str
    runtime_seconds: float
    error: str = ""
    outputs: list[str] = field(default_factory=list)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML would keep the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise SpecError(f"key {key!r} is given twice (line {key_node.start_mark.line + 1})")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(text: str) -> object:
    """Parse YAML safely, refusing duplicate keys."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def parse_override(text: str) -> tuple[str, object]:
    """``key=value`` from the command line; the value is read as YAML (numbers, lists, true/false)."""
    if "=" not in text:
        raise SpecError(f"--set expects key=value, got {text!r}")
    key, raw = text.split("=", 1)
    if not key.strip():
        raise SpecError(f"--set expects key=value, got {text!r}")
    try:
        value = read_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise SpecError(f"--set {key.strip()}: the value is not valid YAML ({str(err).splitlines()[0]})") from err
    return key.strip(), value


def notebook_parameters(notebook: Path) -> dict:
    """Names and default values of the notebook's ``parameters`` cell (which holds only literals)."""
    try:
        cells = nbformat.read(notebook, as_version=4).cells
    except (OSError, ValueError) as err:
        raise SpecError(f"{notebook.name}: not a readable notebook ({err})") from err
    cell = next((c for c in cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])), None)
    if cell is None:
        raise SpecError(f"{notebook.name}: no code cell tagged 'parameters'")
    defaults = {}
    for node in ast.parse(cell.source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise SpecError(f"{notebook.name}: the parameters cell may only assign literals to names")
        try:
            defaults[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError as err:
            raise SpecError(f"{notebook.name}: parameter {node.targets[0].id!r} must be a literal, "
                            f"got {ast.unparse(node.value)!r}") from err
    return defaults


def _kind(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a mapping"}.get(type(value), type(value).__name__)


def check_type(name: str, value: object, default: object, where: str) -> None:
    """Refuse ``value`` unless it has the type of the notebook's ``default`` (an int is a float too; a
    list's items must have the type of the default's items, a seed is an integer)."""
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(value, bool) and isinstance(default, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float))
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, list)
        if isinstance(value, list) and default:
            for item in value:
                check_type(f"{name} item", item, default[0], where)
    elif default is None:
        ok = True
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise SpecError(f"{where}: parameter {name!r} must be {_kind(default)} like its default "
                        f"{default!r}, got {value!r}")


def _absolute_paths(parameters: dict) -> dict:
    """Path parameters (``*_dir``, ``*_path``) resolved against the caller's working directory once, so
    the kernel (which runs in the repository) reads the same files the caller named."""
    return {k: str(Path(v).expanduser().resolve()) if k.endswith(("_dir", "_path")) and isinstance(v, str) and v
            else v for k, v in parameters.items()}


def _resolve_notebook(path: str, spec_path: Path) -> Path:
    for base in (Path.cwd(), REPO_ROOT, spec_path.parent):
        candidate = (base / path).resolve()
        if candidate.is_file():
            return candidate
    raise SpecError(f"{spec_path.name}: notebook not found: {path}")


def _expand(study: dict, spec_name: str, spec_path: Path, overrides: dict) -> list[RunPlan]:
    unknown = set(study) - STUDY_KEYS
    if unknown:
        raise SpecError(f"{spec_path.name}: unknown key(s) {sorted(unknown)} in study; allowed: {sorted(STUDY_KEYS)}")
    if "notebook" not in study:
        raise SpecError(f"{spec_path.name}: every study needs a 'notebook'")
    notebook = _resolve_notebook(study["notebook"], spec_path)
    parameters = study.get("parameters") or {}
    seeds = study.get("seeds")
    grid = study.get("grid") or {}
    if not isinstance(parameters, dict):
        raise SpecError(f"{spec_path.name}: 'parameters' must be a mapping, got {type(parameters).__name__}")
    if not isinstance(grid, dict) or any(not isinstance(v, list) or not v for v in grid.values()):
        raise SpecError(f"{spec_path.name}: 'grid' must map each parameter to a non-empty list of values")
    if seeds is not None and (not isinstance(seeds, list) or not seeds
                              or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        raise SpecError(f"{spec_path.name}: 'seeds' must be a non-empty list of integers")

    known = notebook_parameters(notebook)
    overrides = {k: v for k, v in overrides.items() if k in known}
    swept = sorted(set(overrides) & (set(grid) | ({"seed"} if seeds else set())))
    if swept:
        raise SpecError(f"--set {', '.join(swept)}: the spec sweeps {'it' if len(swept) == 1 else 'them'} "
                        "(grid or seeds); edit the spec's sweep instead")
    asked = set(parameters) | set(grid) | set(overrides) | ({"seed"} if seeds else set())
    unknown_params = sorted(asked - set(known))
    if unknown_params:
        raise SpecError(f"{spec_path.name}: {notebook.name} has no parameter(s) {unknown_params}; "
                        f"it takes {sorted(known)}")
    if "output_dir" in asked:
        raise SpecError(f"{spec_path.name}: 'output_dir' is set by the runner (the run folder), not by the spec")
    where = f"{spec_path.name} ({notebook.name})"
    for name, value in {**parameters, **overrides}.items():
        check_type(name, value, known[name], where)
    for name, values in grid.items():
        for value in values:
            check_type(name, value, known[name], where)

    axes = dict(grid)
    if seeds:
        axes["seed"] = seeds
    name = study.get("name") or spec_name
    plans = []
    for combo in itertools.product(*axes.values()) if axes else [()]:
        values = {**known, **parameters, **dict(zip(axes, combo)), **overrides}
        values.pop("output_dir", None)
        plans.append(RunPlan(name=name, notebook=notebook, parameters=_absolute_paths(values), spec=spec_name,
                             defaults=known, swept=list(axes)))
    return plans


def load_spec(spec_path: str | Path, overrides: dict | None = None) -> list[RunPlan]:
    """Read and check a spec; return the runs it asks for. Raises ``SpecError`` before anything runs."""
    spec_path = Path(spec_path)
    if not spec_path.is_file():
        raise SpecError(f"spec not found: {spec_path}")
    try:
        spec = read_yaml(spec_path.read_text())
    except SpecError as err:
        raise SpecError(f"{spec_path.name}: {err}") from err
    except yaml.YAMLError as err:
        raise SpecError(f"{spec_path.name}: not valid YAML ({err})") from err
    if not isinstance(spec, dict):
        raise SpecError(f"{spec_path.name}: a spec is a mapping with at least 'notebook' or 'studies'")
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise SpecError(f"{spec_path.name}: unknown key(s) {sorted(unknown)}; allowed: {sorted(SPEC_KEYS)}")
    if ("notebook" in spec) == ("studies" in spec):
        raise SpecError(f"{spec_path.name}: give either 'notebook' (one study) or 'studies' (a list), not both")
    name = str(spec.get("name") or spec_path.stem)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise SpecError(f"{spec_path.name}: name {name!r} may hold only letters, digits, '_', '-' and '.'")
    if "studies" in spec:
        if not isinstance(spec["studies"], list) or not spec["studies"]:
            raise SpecError(f"{spec_path.name}: 'studies' must be a non-empty list")
        studies = spec["studies"]
    else:
        studies = [{k: spec[k] for k in STUDY_KEYS - {"name"} if k in spec} | {"name": name}]
    overrides = overrides or {}
    plans = []
    for study in studies:
        if not isinstance(study, dict):
            raise SpecError(f"{spec_path.name}: each entry of 'studies' must be a mapping")
        study = dict(study)
        study.setdefault("name", Path(study.get("notebook", name)).stem.split("_", 1)[-1])
        plans += _expand(study, name, spec_path, overrides)
    takers = {key: {plan.name for plan in plans if key in plan.parameters} for key in overrides}
    unused = sorted(key for key, taking in takers.items() if not taking)
    if unused:
        raise SpecError(f"--set {', '.join(unused)}: no notebook of {spec_path.name} has such a parameter")
    names = sorted({plan.name for plan in plans})
    refused = {key: [n for n in names if n not in taking] for key, taking in takers.items() if len(taking) < len(names)}
    if refused:
        detail = "; ".join(f"--set {key}: {', '.join(studies)} {'has' if len(studies) == 1 else 'have'} "
                           "no such parameter" for key, studies in refused.items())
        raise SpecError(f"{spec_path.name}: {detail}")
    return plans


def study_problems(plans: list[RunPlan]) -> list[str]:
    """What each plan's study finds wrong with its parameters and the tables they name (its ``check``,
    see ``lab.core.study``), one line each and prefixed by the run's name, before any run folder exists.
    Plans that differ only by seed are checked once; a notebook outside the contract is not checked."""
    from lab.core import study_module

    problems: list[str] = []
    checked = set()
    for plan in plans:
        module = study_module(plan.notebook)
        key = (plan.name, json.dumps({k: v for k, v in plan.parameters.items() if k != "seed"}, sort_keys=True,
                                     default=str))
        if module is None or not hasattr(module, "check") or key in checked:
            continue
        checked.add(key)
        try:
            found = module.check(module.Config.from_parameters(plan.parameters))
        except (TypeError, ValueError, KeyError, OSError) as err:  # a check that broke: still one line
            found = str(err).splitlines() or [type(err).__name__]
        problems += [line for line in (f"{plan.name}: {problem}" for problem in found) if line not in problems]
    return problems


def _short_hash(plan: RunPlan) -> str:
    payload = json.dumps({"notebook": plan.notebook.name, "parameters": plan.parameters}, sort_keys=True,
                         default=str)
    return hashlib.sha1(payload.encode()).hexdigest()[:7]


def new_run_folder(plan: RunPlan, runs_dir: Path = RUNS_DIR) -> Path:
    """Create a fresh, never reused folder ``<time>-<name>-<hash>`` (suffixed if it already exists)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{plan.name}-{_short_hash(plan)}"
    runs_dir.mkdir(parents=True, exist_ok=True)
    for attempt in itertools.count(1):
        folder = runs_dir / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def software_record() -> dict:
    """Package versions, git commit, python and platform: what every run of one invocation shares."""
    versions: dict[str, str | None] = {}
    for package in RECORDED_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True,
                                    text=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, None
    return {"git_commit": commit, "git_dirty": dirty, "python": platform.python_version(),
            "platform": platform.platform(), "packages": versions}


def environment_record(seed: object, software: dict | None = None) -> dict:
    """The run's seed with the ``software_record`` (computed here unless given): enough to reproduce it."""
    return {"seed": seed, **(software or software_record())}


def _kernel_name() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL if KERNEL in KernelSpecManager().find_kernel_specs() else "python3"


def write_status(folder: Path, status: str, **fields: object) -> None:
    """Write ``status.json`` atomically (a reader never sees half a file)."""
    record = {"status": status, **fields}
    partial = folder / f".status.{os.getpid()}.tmp"
    partial.write_text(json.dumps(record, indent=2))
    os.replace(partial, folder / "status.json")


def prepare(plan: RunPlan, runs_dir: Path = RUNS_DIR, software: dict | None = None) -> Path:
    """Create the run's folder with its parameters, environment record (``software`` shared by the runs of
    one invocation) and a ``queued`` status."""
    folder = new_run_folder(plan, runs_dir)
    parameters = {**plan.parameters, "output_dir": str(folder)}
    notebook = (str(plan.notebook.relative_to(REPO_ROOT)) if plan.notebook.is_relative_to(REPO_ROOT)
                else str(plan.notebook))
    overrides = {k: v for k, v in plan.parameters.items() if plan.defaults.get(k, object()) != v}
    (folder / "params.yaml").write_text(yaml.safe_dump({"notebook": notebook, "name": plan.name, "spec": plan.spec,
                                                        "swept": plan.swept, "overrides": overrides,
                                                        "parameters": parameters}, sort_keys=False))
    record = environment_record(plan.parameters.get("seed"), software)
    (folder / "environment.json").write_text(json.dumps(record, indent=2))
    write_status(folder, "queued")
    return folder


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def execute(plan: RunPlan, folder: Path, progress: bool = False, threads: int | None = None) -> RunResult:
    """Execute one prepared plan into its folder; never raises for a failing notebook.

    ``threads`` caps BLAS, OpenMP and torch threads in the run's kernel (a worker's share of the
    machine). Ctrl-C or SIGTERM mark the run ``interrupted`` and propagate.
    """
    with _thread_caps(threads):
        return _execute(plan, folder, progress)


@contextlib.contextmanager
def _thread_caps(threads: int | None) -> Iterator[None]:
    """Thread caps in the environment the run's kernel inherits; the previous values come back after."""
    previous = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    if threads is not None:
        os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _execute(plan: RunPlan, folder: Path, progress: bool) -> RunResult:
    started_at = dt.datetime.now().isoformat(timespec="seconds")
    write_status(folder, "running", started=started_at, host=platform.node(), pid=os.getpid())
    handler = logging.FileHandler(folder / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("papermill")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    started = time.perf_counter()
    status, error = "ok", ""
    try:
        papermill.execute_notebook(str(plan.notebook), str(folder / "notebook.ipynb"),
                                   parameters={**plan.parameters, "output_dir": str(folder)},
                                   kernel_name=_kernel_name(), cwd=str(REPO_ROOT), log_output=True,
                                   progress_bar=progress)
    except papermill.PapermillExecutionError as err:
        status, error = "failed", f"{err.ename}: {err.evalue}"
    except (KeyboardInterrupt, SystemExit):
        write_status(folder, "interrupted", error="interrupted (Ctrl-C or SIGTERM) before the notebook finished",
                     started=started_at, runtime_seconds=round(time.perf_counter() - started, 2))
        raise
    except Exception as err:  # kernel death, missing kernel, I/O: record it and let other runs go on
        status, error = "failed", f"{type(err).__name__}: {err}"
    finally:
        logger.removeHandler(handler)
        handler.close()
    seconds = time.perf_counter() - started
    if status == "ok" and not (folder / "results.csv").exists():
        status, error = "failed", "the notebook finished but wrote no results.csv into output_dir"
    write_status(folder, status, error=error, started=started_at, runtime_seconds=round(seconds, 2),
                 finished=dt.datetime.now().isoformat(timespec="seconds"))
    return RunResult(plan=plan, folder=folder, status=status, runtime_seconds=seconds, error=error,
                     outputs=sorted(p.name for p in folder.iterdir()))


def _worker_problems(notebooks: list[str], runs_dir: str) -> list[str]:
    """Run on each Dask worker before anything is submitted: can it import lab and see the files?"""
    problems = []
    try:
        import lab  # noqa: F401
    except ImportError as err:
        problems.append(f"cannot import lab ({err}); install the project's environment on every worker")
    problems += [f"cannot see the notebook {path}" for path in notebooks if not os.path.isfile(path)]
    if not os.access(runs_dir, os.W_OK):
        problems.append(f"cannot write the run folders in {runs_dir} (put them on shared storage)")
    return problems


def _check_workers(client: Any, plans: list[RunPlan], runs_dir: Path) -> None:
    workers = client.scheduler_info().get("workers", {})
    if not workers:
        raise SpecError("the Dask scheduler has no workers; start some with `dask worker ADDRESS --nthreads 1`")
    notebooks = sorted({str(plan.notebook) for plan in plans})
    answers = client.run(_worker_problems, notebooks, str(runs_dir))
    problems = [f"worker {worker}: {problem}" for worker, found in answers.items() for problem in found]
    if problems:
        raise SpecError("; ".join(problems))


class _Progress:
    """One bar over runs, with the counts of ok, failed and running runs."""

    def __init__(self, total: int, slots: int, enabled: bool):
        self.total, self.slots = total, slots
        self.bar = tqdm(total=total, unit="run", disable=not enabled)
        self.counts = {"ok": 0, "failed": 0, "running": min(slots, total)}
        self.bar.set_postfix(self.counts)

    def finished(self, result: RunResult) -> None:
        self.counts["ok" if result.status == "ok" else "failed"] += 1
        self.counts["running"] = min(self.slots, self.total - self.counts["ok"] - self.counts["failed"])
        self.bar.set_postfix(self.counts)
        self.bar.update()

    def close(self) -> None:
        self.bar.close()


def _run_serial(prepared: list[tuple[RunPlan, Path]], threads: int | None, bar: _Progress,
                finished: list[RunResult]) -> None:
    for plan, folder in prepared:
        finished.append(execute(plan, folder, threads=threads))
        bar.finished(finished[-1])


RUN_FOLDER = re.compile(r"^\d{8}-\d{6}-(?P<name>.+)-(?P<hash>[0-9a-f]{7})(?:-\d+)?$")  # new_run_folder's names


def expected_seconds(plans: list[RunPlan], runs_dir: Path = RUNS_DIR) -> list[float | None]:
    """How long each plan should take, from the runs in ``runs_dir`` that finished ok: the latest with the
    same name, notebook and parameters, else the median of those with the same name; None without either."""
    latest: dict[tuple[str, str], float] = {}
    by_name: dict[str, list[float]] = {}
    for folder in sorted(runs_dir.iterdir()) if runs_dir.is_dir() else []:  # by time stamp: the latest last
        match = RUN_FOLDER.match(folder.name)
        record = _read_status(folder) if match else {}
        seconds = record.get("runtime_seconds")
        if match is None or record.get("status") != "ok" or not isinstance(seconds, (int, float)):
            continue
        latest[(match["name"], match["hash"])] = float(seconds)
        by_name.setdefault(match["name"], []).append(float(seconds))
    found = [latest.get((plan.name, _short_hash(plan))) for plan in plans]
    return [seconds if seconds is not None or plan.name not in by_name else statistics.median(by_name[plan.name])
            for plan, seconds in zip(plans, found)]


def start_order(expected: list[float | None]) -> list[int]:
    """The plans' positions in the order to start them on a cluster: those never run before first (in plan
    order: they may be long), then the longest first, so that no long run starts last while the other
    workers idle (longest-processing-time-first scheduling)."""
    return sorted(range(len(expected)), key=lambda i: (expected[i] is not None, -(expected[i] or 0.0), i))


def _run_on_dask(prepared: list[tuple[RunPlan, Path]], client: Any, threads: int | None, bar: _Progress,
                 finished: list[RunResult], order: list[int]) -> None:
    from distributed import as_completed

    futures = [client.submit(execute, *prepared[i], False, threads, pure=False, key=f"run-{prepared[i][1].name}",
                             priority=len(order) - rank)
               for rank, i in enumerate(order)]
    try:
        for future in as_completed(futures):
            finished.append(future.result())
            bar.finished(finished[-1])
    except BaseException:
        client.cancel(futures)
        raise


def _settle_interrupted(prepared: list[tuple[RunPlan, Path]]) -> None:
    """After Ctrl-C: runs that never started leave no folder; runs cut short are marked interrupted."""
    for _, folder in prepared:
        status = _read_status(folder)
        if status.get("status") == "queued":
            shutil.rmtree(folder, ignore_errors=True)
        elif status.get("status") == "running":
            write_status(folder, "interrupted", error="interrupted (Ctrl-C or SIGTERM) before the notebook finished",
                         started=status.get("started"))


def _read_status(folder: Path) -> dict:
    """The folder's ``status.json``; empty when missing, unreadable or not a mapping."""
    try:
        record = json.loads((folder / "status.json").read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def check_folder(path: Path, what: str) -> Path:
    """``path`` resolved against the working directory, created if missing; refused if not a writable folder."""
    path = path.expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise SpecError(f"{what} {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SpecError(f"{what} {path} cannot be created ({err.strerror})") from err
    if not os.access(path, os.W_OK | os.X_OK):
        raise SpecError(f"{what} {path} is not writable")
    return path


def _connect(plans: list[RunPlan], runs_dir: Path, workers: int, scheduler: str) -> tuple[Any, Any]:
    """A client of the Dask cluster at ``scheduler``, or of a new local cluster of ``workers`` processes,
    whose workers have been checked (``_check_workers``)."""
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as err:
            raise SpecError(f"--scheduler {scheduler}: cannot connect ({err})") from err
    else:
        import dask

        environment = dict(os.environ)
        # The nanny would write its workers' thread caps (OMP_NUM_THREADS=1, ...) into this process's
        # environment, where the caller's own imports running meanwhile would pick them up; the caps a
        # run needs go to its kernel instead (``execute``), so the workers start without them.
        try:
            with dask.config.set({"distributed.nanny.pre-spawn-environ": {}}):
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
        except Exception as err:  # the nanny's own errors come in several types
            raise SpecError(f"--workers {workers}: the local Dask cluster did not start ({err})") from err
        finally:
            _restore_environment(environment, NANNY_VARIABLES)
        client = Client(cluster)
    try:
        _check_workers(client, plans, runs_dir)
    except BaseException:
        client.close()
        if cluster is not None:
            cluster.close()
        raise
    return client, cluster


NANNY_VARIABLES = ("PYTHONHASHSEED", "MALLOC_TRIM_THRESHOLD_", *THREAD_VARIABLES)


def _restore_environment(environment: dict[str, str], keys: tuple[str, ...]) -> None:
    """Put back the ``keys`` Dask's nanny may write into this process's environment as they were in
    ``environment``; other keys (which the caller's thread may set meanwhile) are left alone."""
    for key in keys:
        if key in environment:
            os.environ[key] = environment[key]
        else:
            os.environ.pop(key, None)


def _disconnect(connecting: Future | None) -> None:
    """Close the cluster a refused spec had started (or wait for its start to fail)."""
    if connecting is None:
        return
    try:
        client, cluster = connecting.result()
    except BaseException:  # the start failed: the spec's refusal is what the caller hears
        return
    client.close()
    if cluster is not None:
        cluster.close()


def run_spec(spec_path: str | Path, overrides: dict | None = None, runs_dir: Path = RUNS_DIR,
             progress: bool = True, workers: int = 1, scheduler: str = "",
             max_runs: int = MAX_RUNS, threads: int | None = None) -> list[RunResult]:
    """Plan every run of the spec (refusing a bad spec up front), then execute them: in this process
    one after the other (``workers=1``), on a local Dask cluster of ``workers`` processes, or on the
    Dask cluster at ``scheduler``. ``threads`` caps BLAS, OpenMP and torch threads per run (default on
    a local cluster: the machine's cores / ``workers``; else uncapped). On a cluster the runs start
    longest first, as far as earlier runs in ``runs_dir`` tell (``expected_seconds``, ``start_order``);
    results come in the order of the plans. Ctrl-C or SIGTERM remove the runs not yet started, mark
    the running ones interrupted and raise ``RunsInterrupted`` with the runs that finished."""
    plans = load_spec(spec_path, overrides)
    if len(plans) > max_runs:
        raise SpecError(f"{Path(spec_path).name} asks for {len(plans)} runs, more than --max-runs {max_runs}; "
                        f"pass --max-runs {len(plans)} to run them all")
    if workers < 1:
        raise SpecError(f"--workers must be at least 1, got {workers}")
    runs_dir = check_folder(Path(runs_dir), "--runs-dir")
    if threads is not None and threads < 1:
        raise SpecError(f"--threads must be at least 1, got {threads}")
    if workers > 1 and not scheduler:
        threads = threads or max(1, (os.cpu_count() or 1) // workers)
    connecting = None
    if scheduler or workers > 1:  # the cluster starts while the studies check their parameters and tables
        connecting = ThreadPoolExecutor(1).submit(_connect, plans, runs_dir, workers, scheduler)
    prepared: list[tuple[RunPlan, Path]] = []
    try:
        problems = study_problems(plans)
        if problems:
            raise SpecError("\n".join(problems))
        software = software_record()
        prepared = [(plan, prepare(plan, runs_dir, software)) for plan in plans]
        client, cluster = connecting.result() if connecting is not None else (None, None)
    except BaseException as err:  # refused, failed or interrupted before any run: no cluster, no folders left
        for _, folder in prepared:
            shutil.rmtree(folder, ignore_errors=True)
        _disconnect(connecting)
        if isinstance(err, KeyboardInterrupt):
            raise RunsInterrupted([]) from err
        raise
    slots = 1 if client is None else max(1, len(client.scheduler_info().get("workers", {})))
    bar = _Progress(len(prepared), slots, progress)
    finished: list[RunResult] = []
    try:
        if client is None:
            _run_serial(prepared, threads, bar, finished)
        else:
            order = start_order(expected_seconds(plans, runs_dir))  # this call's folders are queued, not ok
            _run_on_dask(prepared, client, threads, bar, finished, order)
    except (KeyboardInterrupt, SystemExit) as err:
        _settle_interrupted(prepared)
        raise RunsInterrupted(finished) from err
    finally:
        bar.close()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    position = {folder: i for i, (_, folder) in enumerate(prepared)}
    return sorted(finished, key=lambda result: position[result.folder])
