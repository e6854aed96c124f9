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

# Every benchmark, one after the other, each rewriting its own block of docs/benchmarks.md.
BENCHES = seal_bench verify_bench rewrap_bench remote_bench backup_bench restore_bench \
	verify_restore_bench backup_profile
bench: bootstrap
	@for b in $(BENCHES); do \
		echo "== bench/$$b.py --out docs/benchmarks.md" >&2; \
		$(BIN)/python bench/$$b.py --out docs/benchmarks.md || exit 1; \
	done

docs-errors: bootstrap
	$(BIN)/python scripts/update_errors_doc.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache .mypy_cache .ruff_cache
