"""Shared by the benchmarks: how long a study's notebook takes at its default scale."""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time

from lab.paths import REPO_ROOT


def notebook_seconds(notebook: str) -> float:
    """Wall seconds to execute ``notebooks/<notebook>`` with papermill at its defaults, as ``lab run`` would
    (kernel ``lab``, outputs in a temporary folder)."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "papermill", "-k", "lab", f"notebooks/{notebook}", f"{tmp}/out.ipynb",
                        "-p", "output_dir", f"{tmp}/outputs", "--no-progress-bar"], cwd=REPO_ROOT, check=True,
                       capture_output=True)
        return time.perf_counter() - started
