"""Fixtures shared by the Dagster definition tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def museum_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """What runtime_env() sets for a real process; resources resolve their EnvVars from it. Returns home."""
    home = tmp_path / "home"
    values = {
        "MUSEUM_SYNC_HOME": home,
        "MUSEUM_SYNC_INBOX": home / "inbox",
        "MUSEUM_SYNC_ARTIFACT_ROOT": home / "artifacts",
        "MUSEUM_SYNC_IO_DIR": home / "io",
        "MUSEUM_SYNC_PG_URL": "postgresql://museum@127.0.0.1:5432/museum_sync",
        "MUSEUM_SYNC_CATALOG_SCHEMA": "catalog",
        # No workers here: the sensor and schedules are tested for what they ask; their health gate in telemetry/.
        "MUSEUM_SYNC_HEALTH_GATE": "false",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, str(value))
    monkeypatch.delenv("MUSEUM_SYNC_SOURCES", raising=False)
    (home / "inbox").mkdir(parents=True)
    return home
