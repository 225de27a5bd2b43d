# Hello Cities: the app, its local development host, and their checks.
# `make run` and `make test` set themselves up; `make setup` is idempotent.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
LINT_PATHS := devhost hello_cities function_app.py producer.py tests bench

.PHONY: setup run test test-fast lint faults bench clean

setup: $(PY_STAMP) $(NODE_STAMP)
	@bash scripts/ensure-chromium.sh

$(PY_STAMP): pyproject.toml requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -e '.[dev]'
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

run: setup
	$(BIN)/devhost start --app-dir .

test: setup
	$(BIN)/python -m pytest

# The suite on every core (pytest-xdist), without the browser test and the benchmark smoke test;
# loadgroup keeps the tests of one xdist_group (the fixed development-storage ports) on one worker.
test-fast: setup
	$(BIN)/python -m pytest -n auto --dist loadgroup -m "not browser and not bench"

lint: setup
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy $(LINT_PATHS)
	$(BIN)/lint-imports --no-cache
	node_modules/.bin/biome ci --colors=off --error-on-warnings devhost/dashboard/static

bench: setup
	$(BIN)/python -m bench.run

faults: setup
	$(BIN)/python -m tests.reliability.faults

clean:
	rm -rf $(VENV) node_modules .devhost test-artifacts .mypy_cache .ruff_cache .pytest_cache
