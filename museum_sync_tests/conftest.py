"""Shared test fixtures: where the real data lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
