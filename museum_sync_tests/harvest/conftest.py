"""Fixtures of the harvest tests: a fast-failing HTTP client and an artifact store per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.clients.http import HttpClient, HttpSettings


@pytest.fixture
def client() -> Iterator[HttpClient]:
    with HttpClient(HttpSettings(read_timeout=0.5, backoff_base=0.02, backoff_max=0.1, max_attempts=3)) as c:
        yield c


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")
