"""The runner in parallel and under faults: a local Dask cluster, a real scheduler with workers on
localhost, failures, interruption, two runners at once, reports during a run, corrupt folders."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from lab.cli import main
from lab.paths import REPO_ROOT
from lab.report import render_all, run_summary
from lab.results import compare_results
from lab.runner import (SpecError, _worker_problems, expected_seconds, load_spec, prepare, run_spec, start_order,
                        write_status)

LAB = [sys.executable, "-m", "lab.cli"]
# A seeded computation whose result depends on every parameter: parallel runs must match serial ones.
BODY = """import pathlib, time, numpy as np
time.sleep(pause)
if fail:
    raise ValueError('this run fails on purpose')
score = np.random.default_rng(seed).normal() + alpha
rows = f'model,metric,value,seed\\nm,score,{score},{seed}\\nm,fit_seconds,{time.time()},{seed}\\n'
pathlib.Path(output_dir, 'results.csv').write_text(rows)
pathlib.Path(output_dir, 'metrics.json').write_text('{"headline": {"score": %f}}' % score)"""


def make_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("seed = 0\noutput_dir = 'out'\nalpha = 0.0\npause = 0.0\nfail = False")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(BODY)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def write_spec(tmp_path: Path, **spec) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"name": "grid", "notebook": str(make_notebook(tmp_path / "nb.ipynb")), **spec}))
    return path


def assert_same_results(first, second) -> None:
    """Runs with the same parameters wrote the same results, beyond timing rows."""
    by_parameters = {json.dumps(r.plan.parameters, sort_keys=True): r for r in second}
    for run in first:
        twin = by_parameters[json.dumps(run.plan.parameters, sort_keys=True)]
        assert run.status == twin.status and run.folder != twin.folder
        if run.status == "ok":
            differences = compare_results(pd.read_csv(run.folder / "results.csv"),
                                          pd.read_csv(twin.folder / "results.csv"))
            assert differences.empty, differences


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_local_cluster_matches_the_serial_run_and_keeps_failures(tmp_path):
    spec = write_spec(tmp_path, seeds=[1, 2], grid={"alpha": [0.0, 1.0], "fail": [False, True]})
    serial = run_spec(spec, runs_dir=tmp_path / "serial", progress=False)
    parallel = run_spec(spec, runs_dir=tmp_path / "parallel", progress=False, workers=2)
    assert [r.status for r in parallel] == [r.status for r in serial]
    assert sum(r.status == "failed" for r in parallel) == 4
    assert all("fails on purpose" in r.error for r in parallel if r.status == "failed")
    assert all((r.folder / "notebook.ipynb").exists() for r in parallel)
    assert len({r.folder for r in parallel}) == 8
    assert_same_results(serial, parallel)
    assert main(["run", str(spec), "--workers", "2", "--runs-dir", str(tmp_path / "cli"),
                 "--reports-dir", str(tmp_path / "reports"), "--quiet"]) == 1


def finished_before(plan, runs_dir: Path, status: str, seconds: float) -> None:
    """A run of ``plan`` in ``runs_dir`` that ended with ``status`` after ``seconds``."""
    write_status(prepare(plan, runs_dir), status, runtime_seconds=seconds)


def test_expected_seconds_read_the_latest_ok_run_else_the_study_median(tmp_path):
    plans = load_spec(write_spec(tmp_path, grid={"alpha": [0.0, 1.0, 2.0]}))
    runs = tmp_path / "runs"
    assert expected_seconds(plans, runs) == [None, None, None]
    finished_before(plans[0], runs, "ok", 30.0)
    finished_before(plans[1], runs, "ok", 10.0)
    finished_before(plans[1], runs, "failed", 99.0)
    time.sleep(1.1)  # folder names carry the start second: the next run of plans[1] is the latest
    finished_before(plans[1], runs, "ok", 12.0)
    (runs / "not-a-run-folder").mkdir()
    (prepare(plans[2], runs) / "status.json").write_text("[1, 2]")  # not a status record: skipped
    assert expected_seconds(plans, runs) == [30.0, 12.0, 12.0]  # plans[2]: the median of the study's ok runs
    other = load_spec(write_spec(tmp_path, name="other", grid={"alpha": [0.0]}))
    assert expected_seconds(other, runs) == [None]


def test_runs_start_longest_first_with_the_new_ones_ahead():
    assert start_order([5.0, None, 60.0, 20.0, None]) == [1, 4, 2, 3, 0]
    assert start_order([None, None]) == [0, 1]


def test_a_cluster_starts_the_runs_known_to_be_long_first(tmp_path):
    spec = write_spec(tmp_path, grid={"pause": [0.0, 0.0, 4.0, 4.0]})
    runs = tmp_path / "runs"
    plans = load_spec(spec)
    for plan in plans:
        finished_before(plan, runs, "ok", 1.0 + plan.parameters["pause"])
    results = run_spec(spec, runs_dir=runs, progress=False, workers=2)
    assert [r.plan.parameters["pause"] for r in results] == [0.0, 0.0, 4.0, 4.0]  # still in plan order
    started = {r.plan.parameters["pause"]: [] for r in results}
    for result in results:
        started[result.plan.parameters["pause"]].append(json.loads((result.folder / "status.json").read_text())
                                                        ["started"])
    assert max(started[4.0]) < min(started[0.0])


@pytest.fixture
def scheduler(tmp_path):
    """A real ``dask scheduler`` and two ``dask worker`` processes on localhost."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).with_name("dask"))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    time.sleep(2)
    procs += [subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard"], env=env,
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(2, timeout=60)
    yield address
    for proc in reversed(procs):
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=30)


def test_an_existing_scheduler_runs_the_grid_like_the_serial_runner(tmp_path, scheduler):
    spec = write_spec(tmp_path, seeds=[3, 4], grid={"alpha": [0.5, 2.0]})
    serial = run_spec(spec, runs_dir=tmp_path / "serial", progress=False)
    remote = run_spec(spec, runs_dir=tmp_path / "remote", progress=False, scheduler=scheduler)
    assert all(r.status == "ok" for r in remote) and len(remote) == 4
    assert_same_results(serial, remote)


def test_workers_that_cannot_see_the_files_are_named_before_anything_runs(tmp_path):
    problems = _worker_problems([str(tmp_path / "missing.ipynb")], str(tmp_path))
    assert problems == [f"cannot see the notebook {tmp_path / 'missing.ipynb'}"]
    spec = write_spec(tmp_path)
    with pytest.raises(SpecError, match="cannot connect"):
        run_spec(spec, runs_dir=tmp_path / "runs", scheduler=f"tcp://127.0.0.1:{free_port()}")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("workers", [1, 2])
def test_interrupting_runs_marks_them_and_cancels_the_rest(tmp_path, workers):
    """A quick run finishes, then SIGTERM arrives while the slow ones run: the finished one is summarised,
    the running ones are marked interrupted and the one not started leaves no folder."""
    spec = write_spec(tmp_path, grid={"pause": [0.0, 60.0, 60.0, 60.0]})
    runs = tmp_path / "runs"
    proc = subprocess.Popen([*LAB, "run", str(spec), "--runs-dir", str(runs), "--reports-dir",
                             str(tmp_path / "reports"), "--quiet", "--workers", str(workers)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        statuses = [run_summary(f)["status"] for f in runs.glob("*")] if runs.exists() else []
        if statuses.count("ok") == 1 and statuses.count("running") == workers:
            break
        time.sleep(0.5)
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "interrupted after 1 finished run(s)" in err and out.startswith("[ok] grid")
    statuses = sorted(json.loads((f / "status.json").read_text())["status"] for f in runs.glob("*"))
    assert statuses == ["interrupted"] * workers + ["ok"]
    index = (tmp_path / "reports" / "index.html").read_text()
    assert index.count("<tr class='interrupted'>") == workers and "running" not in index


def test_two_runners_at_once_never_share_a_folder(tmp_path):
    spec = write_spec(tmp_path, seeds=[1, 2])
    args = ["run", str(spec), "--runs-dir", str(tmp_path / "runs"), "--reports-dir", str(tmp_path / "reports"),
            "--quiet"]
    procs = [subprocess.Popen([*LAB, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    folders = list((tmp_path / "runs").glob("*"))
    assert len(folders) == 4 and all(run_summary(f)["status"] == "ok" for f in folders)
    index = (tmp_path / "reports" / "index.html").read_text()
    assert all(f.name in index for f in folders)


def test_a_report_during_a_run_waits_for_the_run(tmp_path):
    spec = write_spec(tmp_path)
    plan = load_spec(spec)[0]
    folder = prepare(plan, tmp_path / "runs")
    reports = tmp_path / "reports"
    write_status(folder, "running")
    nbformat.write(nbformat.read(plan.notebook, as_version=4), folder / "notebook.ipynb")
    render_all(tmp_path / "runs", reports)
    assert not (reports / f"{folder.name}.html").exists()
    write_status(folder, "ok")
    render_all(tmp_path / "runs", reports, runs=[folder])
    assert (reports / f"{folder.name}.html").exists()


def test_a_corrupt_run_folder_is_a_warning_row(tmp_path, capsys):
    spec = write_spec(tmp_path)
    runs = tmp_path / "runs"
    assert main(["run", str(spec), "--runs-dir", str(runs), "--reports-dir", str(tmp_path / "reports"),
                 "--quiet"]) == 0
    good = next(runs.glob("*"))
    bad = runs / "20000101-000000-grid-broken"
    bad.mkdir()
    (bad / "params.yaml").write_text("notebook: [unclosed")
    (bad / "notebook.ipynb").write_text('{"cells": [')
    write_status(bad, "ok")
    assert main(["report", "--all", "--runs-dir", str(runs), "--reports-dir", str(tmp_path / "reports")]) == 0
    index = (tmp_path / "reports" / "index.html").read_text()
    assert "corrupt" in index and "params.yaml is missing or unreadable" in index and good.name in index
    assert main(["run", str(spec), "--runs-dir", str(runs), "--reports-dir", str(tmp_path / "reports"),
                 "--quiet"]) == 0


def test_relative_folders_and_data_paths_are_the_callers(tmp_path, monkeypatch):
    spec = write_spec(tmp_path)
    proc = subprocess.run([*LAB, "run", str(spec), "--runs-dir", "rel_runs", "--reports-dir", "rel_reports",
                           "--quiet"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "rel_runs").glob("*/results.csv"))) == 1
    assert (tmp_path / "rel_reports" / "index.html").exists()
    notebook = make_notebook(tmp_path / "paths.ipynb")
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[0].source += "\ndata_dir = ''"
    nbformat.write(nb, notebook)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"notebook": str(notebook)}))
    monkeypatch.chdir(tmp_path)
    plan = load_spec(tmp_path / "p.yaml", {"data_dir": "my_tables"})[0]
    assert plan.parameters["data_dir"] == str(tmp_path / "my_tables")


@pytest.mark.parametrize("args, message", [
    (["--runs-dir", "FILE"], "--runs-dir"),
    (["--reports-dir", "FILE"], "--reports-dir"),
    (["--max-runs", "3"], "asks for 4 runs, more than --max-runs 3"),
    (["--set", "alpha=[1"], "not valid YAML"),
])
def test_bad_runner_arguments_are_one_line(tmp_path, capsys, args, message):
    spec = write_spec(tmp_path, seeds=[1, 2, 3, 4])
    (tmp_path / "FILE").write_text("not a folder")
    args = [str(tmp_path / "FILE") if a == "FILE" else a for a in args]
    defaults = {"--runs-dir": str(tmp_path / "runs"), "--reports-dir": str(tmp_path / "reports")}
    extra = [x for k, v in defaults.items() if k not in args for x in (k, v)]
    assert main(["run", str(spec), *args, *extra, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not any((tmp_path / "runs").glob("*")) if (tmp_path / "runs").exists() else True


def test_a_slash_in_a_spec_name_is_refused(tmp_path):
    with pytest.raises(SpecError, match="may hold only letters"):
        load_spec(write_spec(tmp_path, name="a/b"))


def test_a_grid_gets_a_sweep_page_linked_from_the_index(tmp_path):
    spec = write_spec(tmp_path, seeds=[1, 2], grid={"alpha": [0.0, 1.0, 2.0]})
    reports = tmp_path / "reports"
    assert main(["run", str(spec), "--runs-dir", str(tmp_path / "runs"), "--reports-dir", str(reports),
                 "--quiet"]) == 0
    pages = list(reports.glob("sweep-*.html"))
    assert len(pages) == 1
    page = pages[0].read_text()
    assert page.count("<img") == 1 and "alpha" in page
    index = (reports / "index.html").read_text()
    assert pages[0].name in index and "alpha=1" in index and "pause" not in index


def test_a_local_cluster_leaves_this_process_environment_alone(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    run_spec(write_spec(tmp_path), runs_dir=tmp_path / "runs", progress=False, workers=2)
    assert "OMP_NUM_THREADS" not in os.environ
