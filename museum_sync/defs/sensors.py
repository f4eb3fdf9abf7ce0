"""Sensors: new exports in the inbox start a sync; fully replayed exports get published.

Inbox layout: ``<inbox>/<profile name>/<export file>``. The folder names the profile, so dropping a file
in the right folder is all a registrar has to do. A file is picked up once it has stopped growing
(same size on two ticks), so a half-copied dump is never snapshotted.

While ``museum-sync doctor`` would fail (no worker, workers on different code or schema files, a stale worker,
a queue nobody consumes: ``telemetry.health``), the inbox sensor and the nightly schedules launch nothing and say
why in their skip reason, instead of queuing steps nobody can run or running them on mixed versions
(``health_gate``; ``MUSEUM_SYNC_HEALTH_GATE=false`` turns it off).

The publication sensor never asks for an export older than the one of its source in force (the catalogue
would refuse it: ``Catalog.ready_exports`` marks it superseded); it names those in its log and skip reason.
"""

import json
import math
from pathlib import Path

import dagster as dg

from museum_sync.defs.asset_keys import PUBLISH_JOB
from museum_sync.defs.celery_config import QUEUES
from museum_sync.defs.jobs import publish_job, sync_export_job
from museum_sync.defs.resources import CatalogResource
from museum_sync.defs.run_config import sync_run_config
from museum_sync.pipeline.profiles import list_profiles
from museum_sync.settings import env_name, get_settings
from museum_sync.telemetry import health

__all__ = ["health_gate", "inbox_sensor", "max_runtime_tags", "publication_sensor"]

# Run monitoring ends a run after ``dagster/max_runtime`` seconds (3600 on the jobs): the only thing that ends a
# run whose Celery task died with its worker. A sync launched here gets a limit derived from its export's size
# instead, so a 5M-record export (about 1.7 GB of CSV) is not killed after an hour: ~300 records/s of ~340-byte
# rows, a tenth of the 3,000 records/s measured on 2 cores (benchmarks/README.md), never below the hour.
MIN_RUNTIME_S = 3600
FLOOR_BYTES_PER_S = 100_000


def max_runtime_tags(path: Path) -> dict[str, str]:
    """``{"dagster/max_runtime": seconds}`` for syncing ``path`` (docs/operations.md derives it)."""
    size = path.stat().st_size if path.is_file() else 0
    return {"dagster/max_runtime": str(max(MIN_RUNTIME_S, math.ceil(size / FLOOR_BYTES_PER_S)))}


def health_gate() -> dg.SkipReason | None:
    """Why a sync must not be launched now (``doctor``'s verdict), or None when the workers can run it."""
    if not get_settings().telemetry.health_gate:
        return None
    verdict = health.check_fleet(QUEUES)
    if verdict.ok:
        return None
    return dg.SkipReason(
        f"not launching: `museum-sync doctor` fails: {verdict.summary()} "
        f"(fix the workers; {env_name('telemetry.health_gate')}=false turns this check off)"
    )


@dg.sensor(job=sync_export_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def inbox_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """One sync run per new export file; run_key = path + size + mtime, so each file version runs once."""
    refused = health_gate()
    if refused is not None:  # files wait in the inbox; the cursor stays, so they are picked up once healthy
        return dg.SensorResult(skip_reason=refused, cursor=context.cursor)
    inbox = get_settings().inbox
    previous: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    sizes: dict[str, int] = {}
    requests = []
    profiles = set(list_profiles())
    for folder in sorted(p for p in inbox.glob("*") if p.is_dir()):
        if folder.name not in profiles:
            context.log.warning(f"inbox folder {folder} names no known profile; known: {sorted(profiles)}")
            continue
        for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
            stat = path.stat()
            sizes[str(path)] = stat.st_size
            if previous.get(str(path)) != stat.st_size:
                continue  # still growing, or first sight: wait one tick
            requests.append(
                dg.RunRequest(
                    run_key=f"{path}:{stat.st_size}:{int(stat.st_mtime)}",
                    run_config=sync_run_config(path, folder.name),
                    tags={"museum-sync/kind": "sync", "museum-sync/source-file": path.name, **max_runtime_tags(path)},
                )
            )
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(sizes, sort_keys=True))


@dg.sensor(job=publish_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def publication_sensor(context: dg.SensorEvaluationContext, catalog: CatalogResource) -> dg.SensorResult:
    """Publish an export once replays have loaded all its chunks (the bulk run publishes the others).

    * Never an export older than the one of its source in force: skipped, and named in the log and the
      skip reason (``museum-sync rollback`` makes one public on purpose).
    * One export per source per tick, the oldest snapshot first: exports of a source go public in order
      (an incremental one is applied on the one before it), and none while a publish run of it is queued or
      running.
    * ``run_key = publish:<export_id>:<failed publications of it>`` (``:pending-<attempt>`` while a crashed
      one is pending): Dagster starts a run key once, so a publication that failed is asked for again, and
      the same state never twice.
    """
    client = catalog.client()
    pending = client.pending_publication_attempt()
    requests: list[dg.RunRequest] = []
    skipped: list[str] = []
    first_of_source: dict[str, str] = {}
    for ready in client.ready_exports():
        export_id = ready.export_id
        if ready.superseded is not None:
            skipped.append(f"not publishing {export_id}: {ready.superseded.describe()}")
            continue
        if ready.source in first_of_source:
            skipped.append(f"{export_id} waits for {first_of_source[ready.source]}, older, of source {ready.source!r}")
            continue
        first_of_source[ready.source] = export_id
        if _publication_in_flight(context.instance, export_id):
            skipped.append(f"{export_id}: its publication run is queued or running")
            continue
        run_key = f"publish:{export_id}:{client.publication_failures(export_id)}"
        if pending is not None and pending.export_id == export_id:
            run_key += f":pending-{pending.id}"
        requests.append(dg.RunRequest(run_key=run_key, partition_key=export_id))
    for reason in skipped:
        context.log.info(reason)
    if requests:
        return dg.SensorResult(run_requests=requests)
    return dg.SensorResult(skip_reason=dg.SkipReason("; ".join(skipped) or "no export is ready to publish"))


_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def _publication_in_flight(instance: dg.DagsterInstance, export_id: str) -> bool:
    runs = instance.get_run_records(
        filters=dg.RunsFilter(job_name=PUBLISH_JOB, tags={"dagster/partition": export_id}, statuses=_IN_FLIGHT),
        limit=1,
    )
    return bool(runs)
