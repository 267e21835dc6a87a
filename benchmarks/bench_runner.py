"""The runner's bars (issue: runs that outgrow one machine), measured in one run of this script.

* ``speedup``: a grid of 8 tiny world-overview runs, serial wall time over ``--workers 2`` wall time
  (cluster start-up included), at least 1.6 on 2 cores;
* ``scheduler``: the same grid through ``--scheduler`` against a local ``dask scheduler`` with two
  ``dask worker`` processes gives results.csv identical to the serial run beyond timing rows;
* ``make_reports`` (``--quickstart``): the quickstart spec with ``--workers 2`` takes at most 0.65 of
  the serial runner's wall time (in a fresh runs folder, as on a new machine). Each run's start and
  runtime are printed, with how busy the serial runner kept the cores (``/proc/stat``: the share below
  which no schedule of the same CPU work can go), and the parallel run is repeated beside the serial
  runs, whose runtimes let the runner start the longest studies first (``lab.runner.start_order``).

Usage: ``.venv/bin/python benchmarks/bench_runner.py [--quickstart]``
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import yaml

from lab.paths import REPO_ROOT
from lab.results import compare_results
from lab.runner import RunResult, run_spec

TINY_GRID = {"name": "bench_grid", "notebook": "notebooks/00_world_overview.ipynb",
             "parameters": {"n_users": 3000, "n_days": 10, "shift_day": 6},
             "seeds": [0, 1, 2, 3], "grid": {"assignment": ["randomised", "targeted"]}}


def busy_cores() -> tuple[float, float]:
    """The machine's (busy, total) CPU time so far in seconds, from ``/proc/stat`` (all processes)."""
    fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


def timed_run(spec: Path, runs_dir: Path, **kwargs) -> tuple[float, list[RunResult]]:
    started = time.perf_counter()
    results = run_spec(spec, runs_dir=runs_dir, progress=False, **kwargs)
    return time.perf_counter() - started, results


def same_results(first: list[RunResult], second: list[RunResult]) -> tuple[int, int]:
    """(runs compared, result rows that differ) between runs with equal parameters."""
    twins = {json.dumps(r.plan.parameters, sort_keys=True): r for r in second}
    differing = 0
    for run in first:
        twin = twins[json.dumps(run.plan.parameters, sort_keys=True)]
        differing += len(compare_results(pd.read_csv(run.folder / "results.csv"),
                                         pd.read_csv(twin.folder / "results.csv")))
    return len(first), differing


def timeline(results: list[RunResult]) -> str:
    """Each run's start (seconds after the first run started) and runtime, in start order."""
    started = {r.folder: datetime.fromisoformat(json.loads((r.folder / "status.json").read_text())["started"])
               for r in results}
    first = min(started.values())
    ordered = sorted(results, key=lambda r: started[r.folder])
    return ", ".join(f"{r.plan.name} +{(started[r.folder] - first).total_seconds():.0f} s for {r.runtime_seconds:.0f} s"
                     for r in ordered)


def local_scheduler(workdir: Path) -> tuple[str, list[subprocess.Popen]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dask = str(Path(sys.executable).with_name("dask"))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              **quiet)]
    time.sleep(2)
    address = f"tcp://127.0.0.1:{port}"
    procs += [subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard"], cwd=workdir, **quiet)
              for _ in range(2)]
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(2, timeout=60)
    return address, procs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quickstart", action="store_true", help="also time the quickstart (about 25 minutes)")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        spec = root / "grid.yaml"
        spec.write_text(yaml.safe_dump({**TINY_GRID, "notebook": str(REPO_ROOT / TINY_GRID["notebook"])}))
        serial_s, serial = timed_run(spec, root / "serial")
        parallel_s, parallel = timed_run(spec, root / "parallel", workers=2)
        ok = all(r.status == "ok" for r in serial + parallel)
        ratio = serial_s / parallel_s
        print(f"BAR speedup: 8 tiny runs, serial {serial_s:.1f} s, --workers 2 {parallel_s:.1f} s, "
              f"ratio {ratio:.2f} (bar >= 1.6; all ok: {ok}) -> {'MET' if ratio >= 1.6 and ok else 'NOT MET'}")
        address, procs = local_scheduler(root)
        try:
            remote_s, remote = timed_run(spec, root / "remote", scheduler=address)
        finally:
            for proc in procs:
                proc.terminate()
        compared, differing = same_results(serial, remote)
        ok = all(r.status == "ok" for r in remote)
        print(f"BAR scheduler: {compared} runs through a local scheduler with 2 workers in {remote_s:.1f} s, "
              f"{differing} result rows differ from the serial run (all ok: {ok}) -> "
              f"{'MET' if differing == 0 and ok else 'NOT MET'}")
        if args.quickstart:
            quickstart = REPO_ROOT / "experiments" / "quickstart.yaml"
            busy_before, total_before = busy_cores()
            serial_s, serial = timed_run(quickstart, root / "qs_serial")
            busy_after, total_after = busy_cores()
            busy = (busy_after - busy_before) / (total_after - total_before)
            parallel_s, parallel = timed_run(quickstart, root / "qs_parallel", workers=2)
            share = parallel_s / serial_s
            compared, differing = same_results(serial, parallel)
            print(f"BAR make_reports: quickstart serial {serial_s:.0f} s, --workers 2 {parallel_s:.0f} s, "
                  f"share {share:.2f} (bar <= 0.65); {differing} result rows differ over {compared} studies -> "
                  f"{'MET' if share <= 0.65 else 'NOT MET'}")
            print(f"  the serial runner kept the {os.cpu_count()} cores {100 * busy:.0f}% busy: on them, the same CPU "
                  f"work cannot take less than {busy:.2f} of its wall time, however it is scheduled")
            print(f"  serial: {timeline(serial)}")
            print(f"  --workers 2: {timeline(parallel)}")
            rerun_s, rerun = timed_run(quickstart, root / "qs_serial", workers=2)
            print(f"  --workers 2 again, beside the serial runs (their runtimes order the starts): {rerun_s:.0f} s, "
                  f"share {rerun_s / serial_s:.2f}; {timeline(rerun)}")


if __name__ == "__main__":
    main()
