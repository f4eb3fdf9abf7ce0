"""The nightly sync of configured sources.

Sources are listed in a TOML file named by ``MUSEUM_SYNC_SOURCES`` (``settings.paths.sources``, default
``<home>/sources.toml``)::

    [[source]]
    name = "tate"
    profile = "tate_artworks_csv"
    path = "/exports/tate/artwork_data.csv"   # where the CMS drops its nightly dump

Each source gets its own run (one per export); an unchanged file snapshots to the same export id, so
the run finds nothing new to publish and changes nothing. ``[[harvest]]`` entries get a nightly
incremental harvest each. Crons and time zone: ``settings.schedules`` (read when the code location loads).
"""

import tomllib
from datetime import timedelta
from pathlib import Path

import dagster as dg

from museum_sync.defs.jobs import harvest_export_job, sync_export_job
from museum_sync.defs.run_config import harvest_run_config, sync_run_config
from museum_sync.settings import get_settings

__all__ = ["configured_harvests", "configured_sources", "nightly_harvest_schedule", "nightly_sync_schedule"]

# Dagster takes a schedule's cron and time zone when it is defined, so they are read as the code location loads.
_SCHEDULES = get_settings().schedules


def _sources_file() -> dict[str, list[dict[str, str]]]:
    path = get_settings().paths.sources
    if not path.is_file():
        return {}
    return tomllib.loads(path.read_text(encoding="utf-8"))


def configured_sources() -> list[dict[str, str]]:
    return list(_sources_file().get("source", []))


def configured_harvests() -> list[dict[str, str]]:
    """``[[harvest]]`` entries: ``name``, ``profile`` (with a [harvest] table), optional ``incremental``."""
    return list(_sources_file().get("harvest", []))


@dg.schedule(
    job=sync_export_job,
    cron_schedule=_SCHEDULES.nightly_cron,
    execution_timezone=_SCHEDULES.timezone,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def nightly_sync_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
    sources = configured_sources()
    if not sources:
        return dg.SkipReason("no sources configured (MUSEUM_SYNC_SOURCES)")
    stamp = context.scheduled_execution_time.strftime("%Y%m%d")
    return [
        dg.RunRequest(
            run_key=f"nightly:{s['name']}:{stamp}",
            run_config=sync_run_config(Path(s["path"]), s["profile"], s["name"]),
            tags={"museum-sync/kind": "nightly", "museum-sync/source": s["name"]},
        )
        for s in sources
    ]


@dg.schedule(
    job=harvest_export_job,
    cron_schedule=_SCHEDULES.harvest_cron,
    execution_timezone=_SCHEDULES.timezone,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def nightly_harvest_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
    """Nightly incremental harvests: each asks for what changed since the previous night's window."""
    harvests = configured_harvests()
    if not harvests:
        return dg.SkipReason("no harvests configured ([[harvest]] in MUSEUM_SYNC_SOURCES)")
    when = context.scheduled_execution_time
    since = (when - timedelta(days=1, hours=1)).strftime("%Y-%m-%d")  # an hour of overlap: upserts are idempotent
    requests = []
    for h in harvests:
        incremental = bool(h.get("incremental", True))
        requests.append(
            dg.RunRequest(
                run_key=f"harvest:{h['name']}:{when:%Y%m%d}",
                run_config=harvest_run_config(
                    h["profile"], source=h["name"], incremental=incremental, since=since if incremental else None
                ),
                tags={"museum-sync/kind": "nightly", "museum-sync/source": h["name"]},
            )
        )
    return requests
