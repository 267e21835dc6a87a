"""IHDP (Hill 2011, NPCI realizations 1-9): the standard semi-synthetic benchmark for individual effects.

Each realization has 747 units, 25 covariates, a binary treatment and simulated outcomes whose
noiseless potential outcomes ``mu0, mu1`` are known, so the true effect is ``mu1 - mu0``. Each
realization is split once, 90% train (in-sample) / 10% test (out-of-sample; the split of Shalit et al.
2017), with the realization number as the random seed, stratified by treatment.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lab.core import SchemaError
from lab.paths import shared_data_dir
from lab.uplift.data import CausalData

COLUMNS = ["treatment", "y_factual", "y_cfactual", "mu0", "mu1"] + [f"x{i}" for i in range(1, 26)]
REALIZATIONS = tuple(range(1, 10))
TEST_FRACTION = 0.1
PUBLISHED = pd.DataFrame(  # Shalit et al. (2017), Table 1, mean over 1000 realizations
    {"pehe_train": [2.1, 3.8, 2.2, 0.88, 0.73, 0.71], "pehe_test": [2.3, 3.8, 2.1, 0.95, 0.78, 0.76]},
    index=pd.Index(["BART", "causal forest", "BNN", "TARNet", "CFR-MMD", "CFR-Wass"], name="published"),
)


def ihdp_dir() -> Path:
    return shared_data_dir() / "ihdp_npci"


def load_ihdp(realization: int, data_dir: str | Path | None = None) -> CausalData:
    """One realization as ``CausalData`` (``y`` factual outcome, ``tau = mu1 - mu0``)."""
    path = Path(data_dir or ihdp_dir()) / f"ihdp_npci_{realization}.csv"
    if not path.exists():
        raise SchemaError(f"IHDP realization {realization} not found at {path} (expected ../shared/data/ihdp_npci/)")
    df = pd.read_csv(path, header=None, names=COLUMNS)
    if len(df.columns) != len(COLUMNS) or df.isna().any().any():
        raise SchemaError(f"{path.name}: expected {len(COLUMNS)} numeric columns without gaps")
    return CausalData(X=df[COLUMNS[5:]].astype(np.float64), t=df["treatment"].to_numpy(int),
                      y=df["y_factual"].to_numpy(np.float64),
                      tau=(df["mu1"] - df["mu0"]).to_numpy(np.float64), name=f"ihdp_{realization}")


def ihdp_split(data: CausalData, realization: int) -> tuple[CausalData, CausalData]:
    """The fixed 90/10 train/test split of a realization (seeded by the realization number)."""
    return data.split(TEST_FRACTION, random_state=realization)
