# Contest engine: every target sets itself up from nothing (a fresh machine has only Python).
# Installs come from requirements.lock (exact versions and hashes), so a new release upstream
# never changes what CI runs; `make lock` upgrades on purpose.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
UV     := uv==0.13.9
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup demo test lint bench swarm faults loadtest rehearsal lock clean

$(STAMP): pyproject.toml requirements.lock scripts/check-python
	@scripts/check-python "$(PYTHON)" "$(VENV)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "setup: installing the locked dependencies into $(VENV) (about a minute on a fresh machine)"
	$(BIN)/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
	PYTHONWARNINGS="ignore:Editable installation" \
	    $(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)
	@VENV=$(VENV) scripts/ensure-redis

## make demo: start the engine on an embedded redis-server with a sample bank and contests.
demo: setup
	$(BIN)/contest demo

## make test: the whole suite against real redis-servers the fixtures start on free ports, and
## the web pages in a real Chromium (Debian's package, installed as root; else those tests skip).
## TEST_WORKERS pytest-xdist processes (default 2; 0 runs in this process): the slow tests spend
## most of their time waiting on real shows' timelines, so two halve the run on two cores.
TEST_WORKERS ?= 2
test: setup
	@scripts/ensure-chromium
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## make bench: benchmark scripts; each prints its figure beside a reference measured in the same run.
bench: setup
	$(BIN)/python -m bench

swarm: setup
	$(BIN)/python -m loadtest.swarm

## make faults: a live show's fault scenarios (kill -9 of a gateway worker, the conductor, Redis;
## a flood of bad frames), each beside a run without faults; FAULTS_MEMBERS (default 10000).
faults: setup
	$(BIN)/python -m loadtest.faults

loadtest: setup
	$(BIN)/python -m loadtest.run

## make rehearsal: three hosts (network namespaces; needs root), a Redis Cluster of 3 primaries
## + 3 replicas, contest serve on each, a window round and a live show, one host's gateways and
## one primary killed mid-show; prints acked answers against the audit stream (docs/operations.md).
rehearsal: setup
	$(BIN)/python -m loadtest.rehearsal $(REHEARSAL_ARGS)

## make lock: re-resolve every dependency to its newest allowed release (a deliberate upgrade:
## review the diff of requirements.lock, run make test lint, commit).
lock: $(STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check "$(UV)"
	$(BIN)/uv pip compile pyproject.toml requirements-build.in --extra test --extra load \
	    --universal --python-version 3.11 --generate-hashes --upgrade -q -o requirements.lock
	@echo "lock: requirements.lock re-resolved; review 'git diff requirements.lock', then make test lint"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
