"""Shared test fixtures: where the real data lives."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from museum_sync.clients.search import SearchClient
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
