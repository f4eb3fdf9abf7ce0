"""Shared test fixtures: where the real data lives."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from museum_sync.clients.search import SearchClient
from museum_sync.settings import env_name
from museum_sync_tests.es_server import EsTestServer, fast_client

pytest_plugins = ["museum_sync_tests.services_fixtures"]

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def shared_data_dir() -> Path:
    """``../shared/data`` beside the clone (CI lays it there), or ``MUSEUM_SYNC_SHARED_DATA``."""
    env = os.environ.get("MUSEUM_SYNC_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.fail(f"real test data not found at {path}: set MUSEUM_SYNC_SHARED_DATA or lay shared/ beside the clone")
    return path


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def es_server() -> Iterator[EsTestServer]:
    """The suite's Elasticsearch test server (real HTTP), one per test."""
    with EsTestServer() as server:
        yield server


@pytest.fixture
def search(es_server: EsTestServer) -> Iterator[SearchClient]:
    """A client of ``es_server`` with millisecond backoffs."""
    client = fast_client(es_server.url)
    yield client
    client.close()


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """pytest-xdist (``-n``) only on the embedded services, one PostgreSQL and Redis per worker: on servers the
    shell names, every worker's stacks would share one broker db (one worker's Celery processes running another's
    steps) and one database server (a test comparing the server before and after would see the others)."""
    if not getattr(config.option, "numprocesses", None):
        return
    shared = [name for name in (env_name("postgres.pg_url"), env_name("redis.redis_url")) if os.environ.get(name)]
    if shared:
        print(f"museum-sync tests: {', '.join(shared)} set: pytest-xdist off, the suite runs in one process")
        config.option.numprocesses = 0


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's scheduling: a module's tests on one worker, so its module-scoped stack (workers, a sync whose
    outcome several tests read) is built once; every fault test on one worker, so the session's clean reference
    run is made once and no two faults ever strike at the same time. (``--dist loadgroup`` would say the same
    with marks, but pytest 9.2 ignores the node ids pytest-xdist 3.8 rewrites for it.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "faults" if module.startswith("museum_sync_tests/faults/") else module

    return ModuleScheduling(config, log)
