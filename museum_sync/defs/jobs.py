"""Jobs: the nightly bulk path (one run per export) and the steward path (one run per partition key).

``sync_export_job`` is measured to be ~6x faster than one run per chunk (``../shared/notes``): one run,
one Celery step per chunk (``DynamicOut``), each recording its own chunk partition's materializations
and check results, so a bad chunk stops only itself and the others still load. ``harvest_export_job`` is
the same run after a harvest instead of a file snapshot. ``chunk_job`` and ``publish_job`` select the
partitioned assets (``defs.assets``) for backfills, replays and the publication sensor.

Both bulk jobs carry their resources (``default_resources``) themselves: a job that left them to
``Definitions`` made Dagster rebuild each sensor targeting it, and that rebuild printed a ``BetaWarning``
(about the sensor's ``owners``) in every process that loaded the code location.
"""

from typing import Any

import dagster as dg

import museum_sync.defs.library_warnings  # noqa: F401 - before the check specs are built (see there)
from museum_sync.defs import checks, steps
from museum_sync.defs.asset_keys import (
    CATALOG_CHUNK,
    CHUNK_JOB,
    HARVEST_AND_PLAN,
    HARVEST_EXPORT_JOB,
    PUBLISH_JOB,
    PUBLISH_SYNCED_EXPORT,
    PUBLISHED_EXPORT,
    SEARCH_CHUNK,
    SNAPSHOT_AND_PLAN,
    SYNC_CHUNK,
    SYNC_EXPORT_JOB,
    VALIDATED_CHUNK,
)
from museum_sync.defs.assets import catalog_chunk, published_export, search_chunk, validated_chunk
from museum_sync.defs.celery_config import INGESTION_QUEUE, QUEUE_TAG
from museum_sync.defs.dagster_internals import report_planned_materializations
from museum_sync.defs.iiif import check_iiif_chunk, plan_iiif
from museum_sync.defs.resources import ArtifactStoreResource, CatalogResource, SearchResource, default_resources
from museum_sync.defs.retries import CONNECTION_RETRY, retry_only_connection_errors
from museum_sync.defs.run_config import HarvestConfig, SnapshotConfig

__all__ = ["chunk_job", "harvest_export_job", "publish_job", "sync_export_job"]

MAX_RUNTIME_TAG = {"dagster/max_runtime": "3600"}
# What a chunk step materializes, in order: planned when the step starts (see ``sync_chunk``).
CHUNK_ASSETS = (VALIDATED_CHUNK, CATALOG_CHUNK, SEARCH_CHUNK)


@dg.op(
    name=SNAPSHOT_AND_PLAN,
    out=dg.DynamicOut(dict),
    tags={QUEUE_TAG: INGESTION_QUEUE},
    retry_policy=CONNECTION_RETRY,
    description="Snapshot the export, plan its chunks, register the partitions, fan out one step per chunk.",
)
def snapshot_and_plan(
    context: dg.OpExecutionContext,
    config: SnapshotConfig,
    artifacts: ArtifactStoreResource,
    catalog: CatalogResource,
) -> Any:
    export, metadata = steps.snapshot(context, config, artifacts, catalog)
    yield from steps.fan_out(export, metadata)


@retry_only_connection_errors
def _harvest_and_register(
    context: dg.OpExecutionContext, config: HarvestConfig, artifacts: ArtifactStoreResource, catalog: CatalogResource
) -> tuple[Any, dict[str, object]] | None:
    """Harvest (or resume) and register the snapshot; errors classified by ``defs.retries`` like every step's
    (a server's 5xx/429/timeouts retried: the harvest resumes from its last checkpointed page; a 4xx not)."""
    export = steps.harvest(context, config, artifacts)
    if export is None:
        return None
    return export, steps.register_export(context, export, catalog)


@dg.op(
    name=HARVEST_AND_PLAN,
    out=dg.DynamicOut(dict),
    tags={QUEUE_TAG: INGESTION_QUEUE},
    retry_policy=CONNECTION_RETRY,
    description="Harvest a source (OAI-PMH or paged JSON API, resumable) into a snapshot; fan out its chunks.",
)
def harvest_and_plan(
    context: dg.OpExecutionContext,
    config: HarvestConfig,
    artifacts: ArtifactStoreResource,
    catalog: CatalogResource,
) -> Any:
    harvested = _harvest_and_register(context, config, artifacts, catalog)
    if harvested is None:
        return
    yield from steps.fan_out(*harvested)


def _record_checks(
    context: dg.OpExecutionContext, partition_key: str, results: list[dg.AssetCheckResult], *, materialized: bool
) -> None:
    """Log the chunk's check results on its partition, tied to the materialization just recorded when the chunk
    passed (so the UI shows them on it), to none when it was held back (an op cannot return them)."""
    target = None
    if materialized:
        target = checks.latest_materialization_target(context.instance, VALIDATED_CHUNK, partition_key)
    for evaluation in checks.check_evaluations(results, partition_key, target):
        context.log_event(evaluation)


@dg.op(
    name=SYNC_CHUNK,
    tags={QUEUE_TAG: INGESTION_QUEUE},
    retry_policy=CONNECTION_RETRY,
    description="Validate one chunk, record its partition's checks, quarantine rejects, load it if it passed.",
)
def sync_chunk(
    context: dg.OpExecutionContext,
    chunk: dict[str, Any],
    artifacts: ArtifactStoreResource,
    catalog: CatalogResource,
    search: SearchResource,
) -> Any:
    key = chunk["partition_key"]
    # Planned like an asset job's: a chunk this step does not materialize shows failed when the run fails.
    report_planned_materializations(context, CHUNK_ASSETS, key)
    report = steps.run_validation(context, artifacts, catalog, key)
    problems = checks.problems_found(artifacts.store(), report)
    results = checks.check_results(report, problems)
    if not report.passed:
        _record_checks(context, key, results, materialized=False)
        context.instance.add_run_tags(context.run_id, checks.quarantine_tags(report))
        raise checks.quarantine_failure(report, problems)
    metadata = checks.validated_metadata(report, problems)
    yield dg.AssetMaterialization(asset_key=VALIDATED_CHUNK, partition=key, metadata=metadata)
    _record_checks(context, key, results, materialized=True)
    loaded = steps.run_load(context, artifacts, catalog, key)
    yield dg.AssetMaterialization(asset_key=CATALOG_CHUNK, partition=key, metadata=loaded)  # type: ignore[arg-type]
    indexed = steps.run_index(context, artifacts, catalog, search, key)
    yield dg.AssetMaterialization(asset_key=SEARCH_CHUNK, partition=key, metadata=indexed)  # type: ignore[arg-type]
    yield dg.Output({"partition_key": key, "export_id": chunk["export_id"], "valid": report.valid})


@dg.op(
    name=PUBLISH_SYNCED_EXPORT,
    tags={QUEUE_TAG: INGESTION_QUEUE},
    retry_policy=CONNECTION_RETRY,
    description="Publish the export atomically once every chunk is loaded.",
)
def publish_synced_export(
    context: dg.OpExecutionContext,
    chunks: list[dict[str, Any]],
    artifacts: ArtifactStoreResource,
    catalog: CatalogResource,
    search: SearchResource,
) -> Any:
    if not chunks:  # an empty harvest: nothing new to publish
        yield dg.Output(None)
        return
    export_id = chunks[0]["export_id"]
    metadata = steps.publish(context, artifacts, catalog, search, export_id)
    yield dg.AssetMaterialization(asset_key=PUBLISHED_EXPORT, partition=export_id, metadata=metadata)  # type: ignore[arg-type]
    yield dg.Output(None)


@dg.job(
    name=SYNC_EXPORT_JOB,
    description="Sync one export end to end: snapshot, one Celery step per chunk, atomic publication.",
    tags={**MAX_RUNTIME_TAG, "museum-sync/kind": "sync"},
    resource_defs=default_resources(),
)
def sync_export_job() -> None:
    loaded = snapshot_and_plan().map(sync_chunk)
    publish_synced_export(loaded.collect())
    plan_iiif(loaded.collect()).map(check_iiif_chunk)  # beside publication, on the iiif queue (defs.iiif)


@dg.job(
    name=HARVEST_EXPORT_JOB,
    description="Harvest one source (OAI-PMH LIDO/oai_dc or a paged JSON API) and sync it like an export file.",
    tags={**MAX_RUNTIME_TAG, "museum-sync/kind": "harvest"},
    resource_defs=default_resources(),
)
def harvest_export_job() -> None:
    loaded = harvest_and_plan().map(sync_chunk)
    publish_synced_export(loaded.collect())
    plan_iiif(loaded.collect()).map(check_iiif_chunk)


chunk_job = dg.define_asset_job(
    CHUNK_JOB,
    selection=dg.AssetSelection.assets(validated_chunk, catalog_chunk, search_chunk),
    description="Validate and load one chunk partition (UI backfills and quarantine replays).",
    tags={**MAX_RUNTIME_TAG, "museum-sync/kind": "replay"},
)

publish_job = dg.define_asset_job(
    PUBLISH_JOB,
    selection=dg.AssetSelection.assets(published_export),
    description="Publish one export (after replays have loaded its quarantined chunks).",
    tags={**MAX_RUNTIME_TAG, "museum-sync/kind": "publish"},
)
