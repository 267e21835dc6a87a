# Two commands on a fresh machine: `make reports` and `make test`. Both install what is missing first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SPEC ?= experiments/quickstart.yaml
WORKERS ?= 1

.PHONY: install reports test lab clean-runs

install: $(STAMP)

# torch is installed first and pinned exactly: 2.13.0's CPU build lies on this machine's disk,
# and any looser requirement would let pip pull a multi-GB CUDA build from the registry.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name lab --display-name "Python (lab)" >/dev/null
	touch $(STAMP)

# Serial on purpose: the quickstart's long studies already use every core through BLAS and torch, and
# two Dask workers made it slower (benchmarks/bench_runner.py --quickstart). Grids of many small
# runs gain from `make reports WORKERS=2` (or `lab run SPEC --workers 2`).
reports: install
	$(BIN)/lab run $(SPEC) --workers $(WORKERS)

# Lint and type-check first (seconds), then the test suite.
test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest

lab: install
	$(BIN)/jupyter lab notebooks/

clean-runs:
	rm -rf experiments/runs reports/*.html
