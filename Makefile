# museum-sync: every target installs what it needs first (only Python 3.11+ is required on the machine).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

# The lowest elasticsearch-py pyproject.toml declares, in a venv of its own: that elasticsearch and the lowest
# elastic-transport it accepts, over the main venv's other packages (a .pth), so the search client's tests
# run against the lower bound (museum_sync_tests/clients/test_es_compat.py) without a second full install.
ES_MIN      := $(shell sed -n 's/^ *"elasticsearch>=\([0-9.]*\),.*/\1/p' pyproject.toml)
ESMIN       := .venv-esmin
ESMIN_STAMP := $(ESMIN)/.installed-$(ES_MIN)-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install esmin demo test lint bench dev clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "museum-sync needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# An editable install gets no bytecode, and where PYTHONDONTWRITEBYTECODE is set (containers, CI) none is ever
	@# written: every CLI command, orchestrator and worker then compiles ~120 modules from source (~0.1 s each time).
	@# A changed module is recompiled in memory as before; `pip install .` (the image) compiles on its own.
	$(BIN)/python -m compileall -q museum_sync
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

$(ESMIN_STAMP): $(STAMP)
	@test -n '$(ES_MIN)' || { echo 'no "elasticsearch>=X,..." line in pyproject.toml'; exit 1; }
	@test -x $(ESMIN)/bin/python || $(BIN)/python -m venv $(ESMIN)
	$(ESMIN)/bin/python -m pip install --quiet 'elasticsearch==$(ES_MIN)'
	$(ESMIN)/bin/python -m pip install --quiet "elastic-transport==$$($(ESMIN)/bin/python -c 'import re; from importlib.metadata import requires; print(next(re.search(r">=\s*([0-9.]+)", r).group(1) for r in requires("elasticsearch") if r.startswith("elastic-transport")))')"
	$(ESMIN)/bin/python -c 'import sys, sysconfig; from pathlib import Path; Path(sysconfig.get_paths()["purelib"], "zz_museum_sync_main_venv.pth").write_text(f"import site; site.addsitedir({sys.argv[1]!r})\n")' "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
	@rm -f $(ESMIN)/.installed-* && touch $@

esmin: $(ESMIN_STAMP)

## Sync the sample exports end to end on embedded PostgreSQL + Redis with real Celery workers.
demo: $(STAMP)
	$(BIN)/museum-sync demo

## The whole test suite (real PostgreSQL, Redis, Celery workers and Dagster; embedded unless
## MUSEUM_SYNC_PG_URL / MUSEUM_SYNC_REDIS_URL are set), in two processes (pytest-xdist; one with those set).
test: $(STAMP) $(ESMIN_STAMP)
	$(BIN)/python -m pytest -n 2

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy museum_sync/core

## Benchmarks at full size (50k and 500k records); CI runs them small inside the test suite.
bench: $(STAMP)
	$(BIN)/python benchmarks/core_throughput.py
	$(BIN)/python benchmarks/bench_record_work.py
	$(BIN)/python benchmarks/bench_sync.py
	$(BIN)/python benchmarks/bench_search.py
	$(BIN)/python benchmarks/bench_partitions.py

dev: $(STAMP)
	$(BIN)/museum-sync dev

clean:
	rm -rf .state $(VENV) $(ESMIN)
