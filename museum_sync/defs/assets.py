"""The chunk assets as real partitioned asset definitions: the steward path.

A data steward re-runs one chunk from the UI, or ``museum-sync quarantine replay`` launches one run per
partition key of ``chunk_job`` (``validated_chunk`` → ``catalog_chunk``); ``published_export`` then
publishes the export once every chunk is loaded. The nightly bulk path (``jobs.sync_export_job``)
records materializations of these same asset keys, so lineage shows one history whichever path ran.
"""

from pathlib import Path

import dagster as dg

from museum_sync import pipeline
from museum_sync.clients.catalog import PublicationRefused
from museum_sync.core.exceptions import SourceError
from museum_sync.core.keys import split_partition_key
from museum_sync.core.profiles import load_profile
from museum_sync.defs import chunk_steps
from museum_sync.defs.executor import INGESTION_QUEUE, QUEUE_TAG
from museum_sync.defs.partitions import chunk_partitions, export_partitions
from museum_sync.defs.resources import ArtifactStoreResource, CatalogResource, SearchResource
from museum_sync.settings import get_settings

__all__ = [
    "CONNECTION_RETRY",
    "SnapshotConfig",
    "catalog_chunk",
    "export_snapshot",
    "register_export",
    "publish",
    "published_export",
    "run_index",
    "search_chunk",
    "snapshot",
    "validated_chunk",
]

OWNERS = ["team:collections-data"]

# Connection errors (PostgreSQL restart, Redis failover) are retried with backoff and jitter; validation
# and gate failures raise ``dg.Failure(allow_retries=False)`` and are never retried.
CONNECTION_RETRY = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


class SnapshotConfig(dg.Config):
    """Which export to snapshot: a file path and the mapping profile that reads it."""

    path: str
    profile: str
    source: str | None = None
    chunk_size: int | None = None


def register_export(
    context: dg.OpExecutionContext | dg.AssetExecutionContext, export: pipeline.ExportRef, catalog: CatalogResource
) -> dict[str, object]:
    """Make a snapshot known to the catalogue and to Dagster (its export and chunk partitions). Idempotent."""
    manifest = export.manifest
    catalog.client().register_export(
        export.export_id,
        manifest.source,
        export.profile,
        manifest.to_dict(),
        len(export.plan.chunks),
        export.plan.total_records,
        kind=manifest.kind,
    )
    instance = context.instance
    instance.add_dynamic_partitions(export_partitions.name, [export.export_id])
    instance.add_dynamic_partitions(chunk_partitions.name, export.partition_keys)
    context.log.info(
        f"export {export.export_id}: {export.plan.total_records} records in {len(export.plan.chunks)} chunks"
    )
    return {
        "export_id": export.export_id,
        "profile": export.profile,
        "kind": manifest.kind,
        "source_path": manifest.source_path or manifest.source,
        "sha256": manifest.sha256,
        "bytes": dg.MetadataValue.int(manifest.bytes),
        "records": dg.MetadataValue.int(export.plan.total_records),
        "chunks": dg.MetadataValue.int(len(export.plan.chunks)),
        "snapshot": dg.MetadataValue.path(str(export.snapshot)),
    }


@chunk_steps.retry_only_connection_errors
def snapshot(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
    config: SnapshotConfig,
    artifacts: ArtifactStoreResource,
    catalog: CatalogResource,
) -> tuple[pipeline.ExportRef, dict[str, object]]:
    """Snapshot + chunk plan, registered in the catalogue and as dynamic partitions. Idempotent."""
    profile = load_profile(config.profile)
    export = pipeline.extract(
        Path(config.path), profile, artifacts.store(), source=config.source, chunk_size=config.chunk_size
    )
    return export, register_export(context, export, catalog)


@dg.asset(
    key=chunk_steps.EXPORT_SNAPSHOT,
    description="An export as received: the source file unchanged (CSV) or one record per line (JSON, LIDO), "
    "content-addressed, with its manifest and chunk plan. Same bytes, same export id: a rerun is a no-op.",
    owners=OWNERS,
    kinds={"python", "file"},
    group_name="museum_sync",
    op_tags={QUEUE_TAG: INGESTION_QUEUE},
)
def export_snapshot(
    context: dg.AssetExecutionContext,
    config: SnapshotConfig,
    artifacts: ArtifactStoreResource,
    catalog: CatalogResource,
) -> dg.MaterializeResult:
    _, metadata = snapshot(context, config, artifacts, catalog)
    return dg.MaterializeResult(metadata=metadata)  # type: ignore[arg-type]


@chunk_steps.retry_only_connection_errors
def run_validation(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
    artifacts: ArtifactStoreResource,
    catalog: CatalogResource,
    partition_key: str,
) -> pipeline.ChunkReport:
    export_id, index = split_partition_key(partition_key)
    store = artifacts.store()
    export = pipeline.open_export(store, export_id)
    try:
        report = pipeline.validate_chunk(store, export, index)
    except SourceError as exc:
        # Undecodable bytes, an unterminated quote...: the chunk cannot be read as its format says. It is
        # quarantined (the bytes stay in the snapshot) and the step fails without retries.
        pipeline.quarantine_unreadable_chunk(catalog.client(), export, index, exc, context.run_id)
        raise dg.Failure(description=f"chunk {partition_key} quarantined: {exc}", allow_retries=False) from exc
    pipeline.record_chunk_outcome(catalog.client(), store, report, context.run_id)
    context.log.info(
        f"{partition_key}: {report.valid} valid, {report.rejected} rejected {report.reasons}; "
        f"checks {'passed' if report.passed else 'FAILED: ' + ', '.join(report.failed_checks)}"
    )
    return report


@dg.asset(
    key=chunk_steps.VALIDATED_CHUNK,
    partitions_def=chunk_partitions,
    deps=[chunk_steps.EXPORT_SNAPSHOT],
    check_specs=chunk_steps.CHECK_SPECS,
    description="One chunk (500-1000 records) mapped with its profile and validated against the canonical "
    "LIDO/Dublin Core record and the controlled vocabularies. Rejects go to quarantine with every reason; "
    "blocking checks schema_drift and record_validity stop a bad chunk here.",
    owners=OWNERS,
    kinds={"python", "lido"},
    group_name="museum_sync",
    op_tags={QUEUE_TAG: INGESTION_QUEUE},
    retry_policy=CONNECTION_RETRY,
)
def validated_chunk(
    context: dg.AssetExecutionContext, artifacts: ArtifactStoreResource, catalog: CatalogResource
) -> dg.MaterializeResult:
    report = run_validation(context, artifacts, catalog, context.partition_key)
    return dg.MaterializeResult(
        metadata=chunk_steps.validated_metadata(report), check_results=chunk_steps.check_results(report)
    )


@chunk_steps.retry_only_connection_errors
def run_load(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
    artifacts: ArtifactStoreResource,
    catalog: CatalogResource,
    partition_key: str,
) -> dict[str, object]:
    export_id, index = split_partition_key(partition_key)
    store = artifacts.store()
    try:
        result = pipeline.load_chunk(catalog.client(), store, export_id, index, context.run_id)
    except pipeline.GateRefused as exc:
        raise dg.Failure(description=f"catalog gate refused: {exc}", allow_retries=False) from exc
    context.log.info(f"{partition_key}: {result.loaded} rows loaded, {len(result.duplicates)} duplicates quarantined")
    return chunk_steps.catalog_metadata(result, pipeline.read_report(store, export_id, index))


@dg.asset(
    key=chunk_steps.CATALOG_CHUNK,
    partitions_def=chunk_partitions,
    deps=[chunk_steps.VALIDATED_CHUNK],
    description="The chunk's valid records COPYed into its export's staging table (idempotent on export id + "
    "record id). Refuses a chunk whose validation failed or is stale, even when the UI skips the checks.",
    owners=OWNERS,
    kinds={"postgres"},
    group_name="museum_sync",
    op_tags={QUEUE_TAG: INGESTION_QUEUE},
    retry_policy=CONNECTION_RETRY,
)
def catalog_chunk(
    context: dg.AssetExecutionContext, artifacts: ArtifactStoreResource, catalog: CatalogResource
) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata=run_load(context, artifacts, catalog, context.partition_key))  # type: ignore[arg-type]


@chunk_steps.retry_only_connection_errors
def run_index(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
    artifacts: ArtifactStoreResource,
    catalog: CatalogResource,
    search: SearchResource,
    partition_key: str,
) -> dict[str, object]:
    client = search.client()
    if client is None:
        return {"search": "not configured (PostgreSQL-only publication)"}
    export_id, index = split_partition_key(partition_key)
    try:
        result = pipeline.index_chunk(client, catalog.client(), artifacts.store(), export_id, index, context.run_id)
    except pipeline.GateRefused as exc:
        raise dg.Failure(description=f"search gate refused: {exc}", allow_retries=False) from exc
    if result.errors:
        raise dg.Failure(
            description=f"{partition_key}: Elasticsearch refused {len(result.errors)} documents (quarantined as "
            f"index_rejected); first: {result.errors[0].record_id}: {result.errors[0].reason}",
            allow_retries=False,
        )
    context.log.info(f"{partition_key}: {result.indexed} documents indexed")
    return {"indexed": dg.MetadataValue.int(result.indexed), "index": client.index_name(export_id)}


@dg.asset(
    key=chunk_steps.SEARCH_CHUNK,
    partitions_def=chunk_partitions,
    deps=[chunk_steps.CATALOG_CHUNK],
    description="The records the catalogue kept for this chunk, in its export's versioned Elasticsearch index "
    "(document id = record id, so re-indexing is idempotent). Refused documents are quarantined as "
    "index_rejected. A no-op that says so when Elasticsearch is not configured.",
    owners=OWNERS,
    kinds={"elasticsearch"},
    group_name="museum_sync",
    op_tags={QUEUE_TAG: INGESTION_QUEUE},
    retry_policy=CONNECTION_RETRY,
)
def search_chunk(
    context: dg.AssetExecutionContext,
    artifacts: ArtifactStoreResource,
    catalog: CatalogResource,
    search: SearchResource,
) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata=run_index(context, artifacts, catalog, search, context.partition_key))  # type: ignore[arg-type]


@chunk_steps.retry_only_connection_errors
def publish(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
    artifacts: ArtifactStoreResource,
    catalog: CatalogResource,
    search: SearchResource,
    export_id: str,
) -> dict[str, object]:
    """Gate, then switch PostgreSQL and (when configured) Elasticsearch together: both or neither."""
    client, search_client = catalog.client(), search.client()
    try:
        outcome = pipeline.publish(
            artifacts.store(), client, search_client, export_id, keep=max(2, get_settings().keep_exports)
        )
    except PublicationRefused as exc:
        raise dg.Failure(
            description=f"publication of {export_id} refused: {exc.reason}",
            metadata={"missing": exc.missing[:50], "quarantined": exc.quarantined[:50]},
            allow_retries=False,
        ) from exc
    pub = outcome.publication
    context.log.info(
        f"published {export_id}: {pub.record_count} records, {pub.withdrawn_count} withdrawn; search: "
        f"{outcome.search}" + (" (already published)" if outcome.already_published else "")
    )
    return {
        "export_id": export_id,
        "records": dg.MetadataValue.int(pub.record_count),
        "withdrawn": dg.MetadataValue.int(pub.withdrawn_count),
        "withdrawn_sample": dg.MetadataValue.json(pub.withdrawn_sample[:20]),
        "previous_export_id": pub.previous_export_id or "",
        "already_published": outcome.already_published,
        "search": str(outcome.search),
    }


@dg.asset(
    key=chunk_steps.PUBLISHED_EXPORT,
    partitions_def=export_partitions,
    deps=[
        dg.AssetDep(chunk_steps.CATALOG_CHUNK, partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep(chunk_steps.SEARCH_CHUNK, partition_mapping=dg.AllPartitionMapping()),
    ],
    description="The export made public all at once in both stores: gated on every chunk loaded and none "
    "quarantined, index count = catalogue rows = valid records; then one _aliases call and one PostgreSQL "
    "transaction (view swap + catalog.publications), rolled back together on failure.",
    owners=OWNERS,
    kinds={"postgres", "elasticsearch"},
    group_name="museum_sync",
    op_tags={QUEUE_TAG: INGESTION_QUEUE},
    retry_policy=CONNECTION_RETRY,
)
def published_export(
    context: dg.AssetExecutionContext,
    artifacts: ArtifactStoreResource,
    catalog: CatalogResource,
    search: SearchResource,
) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata=publish(context, artifacts, catalog, search, context.partition_key))  # type: ignore[arg-type]
