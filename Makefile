# cadencia task runner: the README and CI call these targets.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# benchmarks: redis-server and the load generators at SCHED_FIFO (needs root; SCHED=fair otherwise)
SCHED ?= rt

.PHONY: help setup redis bench-tools run test lint typecheck wheel check bench faults clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/cadencia: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

redis:  ## install redis-server (>= 7) from the system's packages when it is missing
	@command -v redis-server >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }

bench-tools:  ## the benchmarks' load tools (wrk, gcc for the open-loop generator) from the system's packages
	@command -v wrk >/dev/null && command -v gcc >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk gcc; }

setup: redis $(BIN)/cadencia  ## virtual environment, the package, and redis-server

run: setup  ## the engine on its embedded default: private Redis, demo portfolio, decisions, outcomes
	$(BIN)/cadencia run

test: setup  ## the whole test suite against real redis-server processes
	$(BIN)/pytest

lint: setup  ## ruff and mypy on the pure packages
	$(BIN)/ruff check .
	$(BIN)/mypy

wheel: redis  ## build the wheel, install it in a fresh virtualenv outside the checkout, run cadencia from it
	PY=$(PY) .ci/wheel-check

check: lint test wheel  ## what CI runs

bench: setup bench-tools  ## speed and quality benchmarks; results in benchmarks/results/ (SCHED=fair without root)
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.run --sched $(SCHED)
	[ "$(SCHED)" = fair ] || $(BIN)/python -m benchmarks.sched
	$(BIN)/python -m benchmarks.sim --identity
	$(BIN)/python -m benchmarks.sim.worlds --quick

faults: setup  ## crash the dataflow 20x, the API 5x, restart Redis; the run must end as a clean one
	$(BIN)/python -m benchmarks.faults

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
