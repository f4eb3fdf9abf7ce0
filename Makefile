# museum-sync: every target installs what it needs first (only Python 3.11+ is required on the machine).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install demo test lint bench dev clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "museum-sync needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## Sync the sample exports end to end on embedded PostgreSQL + Redis with real Celery workers.
demo: $(STAMP)
	$(BIN)/museum-sync demo

## The whole test suite (real PostgreSQL, Redis, Celery workers and Dagster; embedded unless
## MUSEUM_SYNC_PG_URL / MUSEUM_SYNC_REDIS_URL are set).
test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy museum_sync/core

## Benchmarks at full size (50k and 500k records); CI runs them small inside the test suite.
bench: $(STAMP)
	$(BIN)/python benchmarks/core_throughput.py
	$(BIN)/python benchmarks/bench_sync.py
	$(BIN)/python benchmarks/bench_search.py

dev: $(STAMP)
	$(BIN)/museum-sync dev

clean:
	rm -rf .state $(VENV)
