"""What a bulk run is asked to do: the op configs, and the run config the CLI, sensors and schedules build.

``SnapshotConfig`` (``sync_export_job``) and ``HarvestConfig`` (``harvest_export_job``) are the only
inputs of a run; everything else comes from the environment through the resources. Building the run
config here keeps the op names it is keyed by (``asset_keys``) out of every caller.
"""

from pathlib import Path
from typing import Any

import dagster as dg

from museum_sync.defs.asset_keys import HARVEST_AND_PLAN, SNAPSHOT_AND_PLAN

__all__ = ["HarvestConfig", "SnapshotConfig", "harvest_run_config", "quiet_console", "sync_run_config"]


class SnapshotConfig(dg.Config):
    """Which export to snapshot: a file path and the mapping profile that reads it."""

    path: str
    profile: str
    source: str | None = None
    chunk_size: int | None = None


class HarvestConfig(dg.Config):
    """Which configured source to harvest: a profile with a [harvest] table (OAI-PMH or paged JSON API)."""

    profile: str
    source: str | None = None
    incremental: bool = False
    since: str | None = None  # OAI `from` / API `since`; default for incremental: the last harvest's next_from


def sync_run_config(
    path: Path, profile: str, source: str | None = None, *, chunk_size: int | None = None
) -> dict[str, Any]:
    """Run config of ``sync_export_job`` for one export file (options left out when not given)."""
    config: dict[str, object] = {"path": str(path), "profile": profile}
    if source:
        config["source"] = source
    if chunk_size:
        config["chunk_size"] = chunk_size
    return {"ops": {SNAPSHOT_AND_PLAN: {"config": config}}}


def harvest_run_config(
    profile: str, *, source: str | None = None, incremental: bool = False, since: str | None = None
) -> dict[str, Any]:
    """Run config of ``harvest_export_job``: ``since`` is the incremental window's start, when one is given."""
    config: dict[str, object] = {"profile": profile, "incremental": incremental}
    if source:
        config["source"] = source
    if since:
        config["since"] = since
    return {"ops": {HARVEST_AND_PLAN: {"config": config}}}


def quiet_console(run_config: dict[str, Any], *, verbose: bool) -> dict[str, Any]:
    """``run_config`` with Dagster's console logger silenced unless ``verbose``.

    The console logger prints every event and each quarantined chunk's stack trace; the CLI prints its own
    summary instead (``--verbose`` restores them; the event log in the UI always has everything).
    """
    return {**run_config, "loggers": {"console": {"config": {"log_level": "DEBUG" if verbose else "CRITICAL"}}}}
