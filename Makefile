# Two commands on a fresh machine: `make reports` and `make test`. Both install what is missing first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SPEC ?= experiments/quickstart.yaml
WORKERS ?= 2

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

# Two Dask workers: with nine studies the quickstart took 310 s against 412 s serially on 2 cores, with
# identical results (benchmarks/bench_runner.py --quickstart). `make reports WORKERS=1` runs it serially.
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
