# Contest engine: every target sets itself up from nothing (a fresh machine has only Python).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup demo test lint bench swarm loadtest clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,load]'
	touch $(STAMP)

setup: $(STAMP)
	@VENV=$(VENV) scripts/ensure-redis

## make demo: start the engine on an embedded redis-server with a sample bank and contests.
demo: setup
	$(BIN)/contest demo

## make test: the whole suite against real redis-servers the fixtures start on free ports.
test: setup
	$(BIN)/python -m pytest

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

loadtest: setup
	$(BIN)/python -m loadtest.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
