"""Sensors: new exports in the inbox start a sync; fully replayed exports get published.

Inbox layout: ``<inbox>/<profile name>/<export file>``. The folder names the profile, so dropping a file
in the right folder is all a registrar has to do. A file is picked up once it has stopped growing
(same size on two ticks), so a half-copied dump is never snapshotted.
"""

import json

import dagster as dg

from museum_sync.defs.jobs import publish_job, sync_export_job
from museum_sync.defs.resources import CatalogResource
from museum_sync.defs.run_config import sync_run_config
from museum_sync.pipeline.profiles import list_profiles
from museum_sync.settings import get_settings

__all__ = ["inbox_sensor", "publication_sensor"]


@dg.sensor(job=sync_export_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def inbox_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """One sync run per new export file; run_key = path + size + mtime, so each file version runs once."""
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
                    tags={"museum-sync/kind": "sync", "museum-sync/source-file": path.name},
                )
            )
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(sizes, sort_keys=True))


@dg.sensor(job=publish_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def publication_sensor(context: dg.SensorEvaluationContext, catalog: CatalogResource) -> dg.SensorResult:
    """Publish an export once replays have loaded all its chunks (the bulk run publishes the others)."""
    client = catalog.client()
    requests = [
        dg.RunRequest(run_key=f"publish:{export_id}", partition_key=export_id)
        for export_id in client.exports_ready_to_publish()
    ]
    return dg.SensorResult(run_requests=requests)
