"""The Dagster code location: loads and merges the definitions in ``museum_sync.defs``, nothing else.

Every Dagster process loads this module (code server, daemon, run worker, a Celery worker child rebuilding a
job); the one library warning museum-sync filters is installed first (``defs.library_warnings``, and why).
"""

from __future__ import annotations

import dagster as dg

import museum_sync.defs.library_warnings  # noqa: F401 - before the check specs are built (see there)
from museum_sync.defs.asset_keys import (
    CHUNK_JOB,
    HARVEST_EXPORT_JOB,
    PUBLISH_JOB,
    REPLAY_QUARANTINED_JOB,
    SYNC_EXPORT_JOB,
)
from museum_sync.defs.assets import (
    catalog_chunk,
    export_snapshot,
    published_export,
    search_chunk,
    validated_chunk,
)
from museum_sync.defs.executor import museum_celery_executor
from museum_sync.defs.iiif import iiif_chunk
from museum_sync.defs.jobs import chunk_job, harvest_export_job, publish_job, sync_export_job
from museum_sync.defs.loggers import json_console_logger
from museum_sync.defs.replay import replay_quarantined_job
from museum_sync.defs.resources import default_resources
from museum_sync.defs.schedules import nightly_harvest_schedule, nightly_sync_schedule
from museum_sync.defs.sensors import inbox_sensor, publication_sensor

defs = dg.Definitions(
    assets=[export_snapshot, validated_chunk, catalog_chunk, search_chunk, published_export, iiif_chunk],
    jobs=[sync_export_job, harvest_export_job, chunk_job, publish_job, replay_quarantined_job],
    sensors=[inbox_sensor, publication_sensor],
    schedules=[nightly_sync_schedule, nightly_harvest_schedule],
    resources=default_resources(),
    executor=museum_celery_executor(),
    loggers={"console": json_console_logger},  # run events in the one log format (defs.loggers)
)


# Module-level accessors so that `reconstructable(...)` (and so the Celery workers) can rebuild each job
# with the resources and executor bound above.
def sync_export_job_def() -> dg.JobDefinition:
    return defs.resolve_job_def(SYNC_EXPORT_JOB)


def chunk_job_def() -> dg.JobDefinition:
    return defs.resolve_job_def(CHUNK_JOB)


def publish_job_def() -> dg.JobDefinition:
    return defs.resolve_job_def(PUBLISH_JOB)


def harvest_export_job_def() -> dg.JobDefinition:
    return defs.resolve_job_def(HARVEST_EXPORT_JOB)


def replay_quarantined_job_def() -> dg.JobDefinition:
    return defs.resolve_job_def(REPLAY_QUARANTINED_JOB)
