"""Where things live: the repository root, run folders, reports and the shared data folder beside it."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNS_DIR = REPO_ROOT / "experiments" / "runs"
REPORTS_DIR = REPO_ROOT / "reports"


def shared_data_dir() -> Path:
    """``../shared/data`` beside the repository (override with the LAB_SHARED_DATA variable)."""
    return Path(os.environ.get("LAB_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
