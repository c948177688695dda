# Two entry points for a fresh clone:
#   make demo   - set up .venv and run the main job end to end on the embedded local AWS
#   make test   - set up .venv and run the whole test suite
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test check types units setup bench clean browser lock deps-latest

PIP_VERSION := 26.3

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet pip==$(PIP_VERSION)

# Installs exactly the lock (every package, hashes checked), then the project itself without dependencies; again
# only when the lock changes. The first install takes torch (about 5.5 GB of the venv's 6.3 GB): pip shows each
# package as it goes.
$(VENV)/.installed-local: requirements/local.lock | $(BIN)/python
	@echo "installing the locked dependencies (first time: ~6 min, ~6 GB venv)"
	$(BIN)/pip install --progress-bar off -r requirements/local.lock 2>&1 | { grep -v "is ignored: it is neither" || true; }
	$(BIN)/pip check >/dev/null || { $(BIN)/pip check; exit 1; }
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-test: requirements/test.lock | $(BIN)/python
	@echo "installing the locked dependencies (first time: ~6 min, ~6 GB venv)"
	$(BIN)/pip install --progress-bar off -r requirements/test.lock 2>&1 | { grep -v "is ignored: it is neither" || true; }
	$(BIN)/pip check >/dev/null || { $(BIN)/pip check; exit 1; }
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.installed-local

# Refresh the locks from pyproject.toml's ranges (then run the suite: the new set is what CI will test).
lock: | $(BIN)/python
	$(BIN)/pip install --quiet pip-tools==7.7.0
	BIN=$(BIN) bash scripts/lock.sh

# Not in CI's path: the newest releases the ranges allow, in a scratch venv, through the moto contract tests and
# the unit tier, so a breaking release is known the day it ships (exact pins such as moto's are lifted to >=).
deps-latest: | $(BIN)/python
	BIN=$(BIN) bash scripts/deps_latest.sh

setup: $(VENV)/.installed-test

demo: $(VENV)/.installed-local
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

test: $(VENV)/.installed-test browser
	$(BIN)/python -m pytest -q --durations=15

# The drive-by test (tests/security) drives a real headless Chromium: Debian's package, installed where apt-get
# runs as root (CI); elsewhere the test is skipped and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "could not install Chromium: the browser test will be skipped"; \
	else echo "Chromium is not installed (needs root and apt-get): the browser test will be skipped"; fi; }

# The fast gate: lint, format, types and the unit tier (no local AWS, no training). mypy (about 45 s of CPU with no
# .mypy_cache, 1 s with one) and the unit tier run side by side, a core each; each one's output comes whole.
check: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory -j2 --output-sync=target types units

types: $(VENV)/.installed-test
	$(BIN)/mypy

units: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -m "not integration"

bench: $(VENV)/.installed-test
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
