"""The nightly sync of configured sources.

Sources are listed in a TOML file named by ``MUSEUM_SYNC_SOURCES`` (``settings.paths.sources``, default
``<home>/sources.toml``)::

    [[source]]
    name = "tate"
    profile = "tate_artworks_csv"
    path = "/exports/tate/artwork_data.csv"   # where the CMS drops its nightly dump

Each source gets its own run (one per export); an unchanged file snapshots to the same export id, so
the run finds nothing new to publish and changes nothing. ``[[harvest]]`` entries get a nightly
incremental harvest each, with no date in the request: the harvest starts where the last successful
harvest of that source ended (its stored high-water mark), so a night the schedule did not run (daemon down,
a failed run) loses nothing; a fixed window (yesterday's date) would have skipped that night's changes.
Both refuse (a ``SkipReason`` shown in the UI) while ``museum-sync doctor`` would fail (``sensors.health_gate``).
Crons and time zone: ``settings.schedules`` (read when the code location loads; a bad one is a
``SettingsError`` naming the variable).
"""

import tomllib
from pathlib import Path

import dagster as dg

from museum_sync.defs.jobs import harvest_export_job, sync_export_job
from museum_sync.defs.run_config import harvest_run_config, sync_run_config
from museum_sync.defs.sensors import health_gate, max_runtime_tags
from museum_sync.settings import SettingsError, env_name, get_settings

__all__ = ["configured_harvests", "configured_sources", "nightly_harvest_schedule", "nightly_sync_schedule"]


def _checked_schedule_settings() -> tuple[str, str, str]:
    """``(nightly cron, harvest cron, time zone)``, each checked the way Dagster will check it, so a bad value is
    one line naming its variable rather than Dagster's error (and traceback) from inside this module's import."""
    settings = get_settings().schedules
    _check("schedules.nightly_cron", settings.nightly_cron, "UTC", "a cron expression of 5 fields, e.g. '0 2 * * *'")
    _check("schedules.harvest_cron", settings.harvest_cron, "UTC", "a cron expression of 5 fields, e.g. '30 1 * * *'")
    _check("schedules.timezone", "0 0 * * *", settings.timezone, "an IANA time zone name, e.g. 'Europe/Paris'")
    return settings.nightly_cron, settings.harvest_cron, settings.timezone


def _check(path: str, cron: str, timezone: str, expected: str) -> None:
    try:
        dg.ScheduleDefinition(name="check", cron_schedule=cron, job_name="check", execution_timezone=timezone)
    except dg.DagsterInvalidDefinitionError:
        value = timezone if path == "schedules.timezone" else cron
        raise SettingsError(f"{env_name(path)}={value!r}: expected {expected}") from None


# Dagster takes a schedule's cron and time zone when it is defined, so they are read as the code location loads.
_NIGHTLY_CRON, _HARVEST_CRON, _TIMEZONE = _checked_schedule_settings()


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
    cron_schedule=_NIGHTLY_CRON,
    execution_timezone=_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def nightly_sync_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
    sources = configured_sources()
    if not sources:
        return dg.SkipReason("no sources configured (MUSEUM_SYNC_SOURCES)")
    if (refused := health_gate()) is not None:  # doctor fails: nothing is launched tonight, and the UI says why
        return refused
    stamp = context.scheduled_execution_time.strftime("%Y%m%d")
    return [
        dg.RunRequest(
            run_key=f"nightly:{s['name']}:{stamp}",
            run_config=sync_run_config(Path(s["path"]), s["profile"], s["name"]),
            tags={"museum-sync/kind": "nightly", "museum-sync/source": s["name"], **max_runtime_tags(Path(s["path"]))},
        )
        for s in sources
    ]


@dg.schedule(
    job=harvest_export_job,
    cron_schedule=_HARVEST_CRON,
    execution_timezone=_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def nightly_harvest_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
    """Nightly harvests: an incremental one (the default) asks for no date and continues from the source's last
    successful harvest (its stored high-water mark); ``incremental = false`` harvests everything."""
    harvests = configured_harvests()
    if not harvests:
        return dg.SkipReason("no harvests configured ([[harvest]] in MUSEUM_SYNC_SOURCES)")
    if (refused := health_gate()) is not None:
        return refused
    when = context.scheduled_execution_time
    return [
        dg.RunRequest(
            run_key=f"harvest:{h['name']}:{when:%Y%m%d}",
            run_config=harvest_run_config(h["profile"], source=h["name"], incremental=bool(h.get("incremental", True))),
            tags={"museum-sync/kind": "nightly", "museum-sync/source": h["name"]},
        )
        for h in harvests
    ]
