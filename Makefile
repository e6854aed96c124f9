# The two commands of the README: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck unit bootstrap bench docs-errors clean

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	@scripts/demo.sh

lint: bootstrap
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: bootstrap
	$(BIN)/mypy

test: bootstrap lint typecheck
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=25

bench: bootstrap
	$(BIN)/python bench/seal_bench.py --out docs/benchmarks.md

docs-errors: bootstrap
	$(BIN)/python scripts/update_errors_doc.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache .mypy_cache .ruff_cache
