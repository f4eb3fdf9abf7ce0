"""The step bodies both paths run: snapshot (or harvest), validate, load, index, publish, and the fan-out.

An asset (steward path, one run per partition key) and an op of the bulk path (one run per export) call
the same function here with their own context, so a chunk records the same quarantine rows and metadata
whichever path ran it. Each body is a thin wiring of ``museum_sync.pipeline``: resources in, Dagster
metadata and ``dg.Failure`` out; every one but ``harvest`` retries connection errors only (``retries``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from museum_sync import pipeline
from museum_sync.clients.catalog import Catalog, PublicationRefused
from museum_sync.core.exceptions import SourceError
from museum_sync.core.keys import export_tag, partition_key, split_partition_key
from museum_sync.defs import checks
from museum_sync.defs.asset_keys import EXPORT_SNAPSHOT, chunk_mapping_key
from museum_sync.defs.partitions import chunk_partitions, export_partitions, retire_partitions
from museum_sync.defs.resources import ArtifactStoreResource, CatalogResource, SearchResource
from museum_sync.defs.retries import retry_only_connection_errors
from museum_sync.defs.run_config import HarvestConfig, SnapshotConfig
from museum_sync.pipeline.profiles import load_profile
from museum_sync.settings import get_settings
from museum_sync.telemetry import events, logs
from museum_sync.telemetry.metrics import timed_step

__all__ = [
    "Context",
    "fan_out",
    "harvest",
    "publish",
    "register_export",
    "run_index",
    "run_load",
    "run_validation",
    "snapshot",
]

Context = dg.OpExecutionContext | dg.AssetExecutionContext


def register_export(context: Context, export: pipeline.ExportRef, catalog: CatalogResource) -> dict[str, object]:
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
    # The Runs list shows tags cut at the end to its column: the export night first (``core.keys.export_tag``).
    instance.add_run_tags(context.run_id, {"museum-sync/export": export_tag(export.export_id)})
    context.log.info(
        f"export {export.export_id}: {export.plan.total_records} records in {len(export.plan.chunks)} chunks"
    )
    return {
        "export_id": export.export_id,
        "export": checks.export_label(export.export_id),
        "profile": export.profile,
        "kind": manifest.kind,
        "source_path": manifest.source_path or manifest.source,
        "sha256": manifest.sha256,
        "bytes": dg.MetadataValue.int(manifest.bytes),
        "records": dg.MetadataValue.int(export.plan.total_records),
        "chunks": dg.MetadataValue.int(len(export.plan.chunks)),
        "snapshot": dg.MetadataValue.path(str(export.snapshot)),
    }


@retry_only_connection_errors
def snapshot(
    context: Context, config: SnapshotConfig, artifacts: ArtifactStoreResource, catalog: CatalogResource
) -> tuple[pipeline.ExportRef, dict[str, object]]:
    """Snapshot + chunk plan, registered in the catalogue and as dynamic partitions. Idempotent."""
    profile = load_profile(config.profile)
    export = pipeline.extract(
        Path(config.path), profile, artifacts.store(), source=config.source, chunk_size=config.chunk_size
    )
    return export, register_export(context, export, catalog)


def harvest(
    context: dg.OpExecutionContext, config: HarvestConfig, artifacts: ArtifactStoreResource
) -> pipeline.ExportRef | None:
    """Run (or resume) the harvest into a content-addressed snapshot; None when it found no records."""
    from museum_sync.harvest import harvest_json_api, harvest_oai, json_api_config, oai_config

    profile = load_profile(config.profile)
    store = artifacts.store()
    source = config.source or profile.name
    protocol = (profile.harvest or {}).get(
        "protocol", "oai-pmh" if profile.format in ("lido", "oai_dc") else "json_api"
    )
    # Incremental without a date: the harvest starts at the source's stored high-water mark (harvest.watermarks).
    since = config.since if config.incremental else None
    if protocol == "oai-pmh":
        overrides = {"from": since} if since else {}
        result = harvest_oai(oai_config(profile, **overrides), store, source=source, incremental=config.incremental)
    else:
        result = harvest_json_api(
            json_api_config(profile), store, source=source, since=since, incremental=config.incremental
        )
    context.log.info(
        f"harvest {source}: {result.records} records, {len(result.deleted_ids)} deletions, {result.pages} pages, "
        f"{result.requests} requests ({result.retries} retried)" + (" - resumed" if result.resumed else "")
    )
    if result.export_id is None:
        return None
    return pipeline.open_export(store, result.export_id)


def fan_out(
    export: pipeline.ExportRef, metadata: dict[str, object]
) -> Iterator[dg.AssetMaterialization | dg.DynamicOutput[dict[str, object]]]:
    """What a planning op yields: the snapshot's materialization, then one dynamic output per chunk."""
    yield dg.AssetMaterialization(asset_key=EXPORT_SNAPSHOT, metadata=metadata)  # type: ignore[arg-type]
    for index in range(len(export.plan.chunks)):
        yield dg.DynamicOutput(
            {"export_id": export.export_id, "index": index, "partition_key": export.partition_key(index)},
            mapping_key=chunk_mapping_key(index),
        )


@timed_step("validate")
@retry_only_connection_errors
def run_validation(
    context: Context, artifacts: ArtifactStoreResource, catalog: CatalogResource, partition_key: str
) -> pipeline.ChunkReport:
    """Validate one chunk and record its outcome (quarantine rows, chunk state) in the catalogue."""
    export_id, index = split_partition_key(partition_key)
    logs.bind(partition=partition_key, export_id=export_id)  # every later line of this task carries them
    store = artifacts.store()
    export = pipeline.open_export(store, export_id)
    try:
        report = pipeline.validate_chunk(store, export, index)
    except SourceError as exc:
        # Undecodable bytes, an unterminated quote...: the chunk cannot be read as its format says. It is
        # quarantined (the bytes stay in the snapshot) and the step fails without retries.
        pipeline.quarantine_unreadable_chunk(catalog.client(), export, index, exc, context.run_id)
        events.chunk_unreadable(export_id, partition_key, exc)
        raise dg.Failure(description=f"chunk {partition_key} quarantined: {exc}", allow_retries=False) from exc
    pipeline.record_chunk_outcome(catalog.client(), store, report, context.run_id)
    events.chunk_outcome(report)
    context.log.info(
        f"{partition_key}: {report.valid} valid, {report.rejected} rejected {report.reasons}; "
        f"checks {'passed' if report.passed else 'FAILED: ' + ', '.join(report.failed_checks)}"
    )
    return report


@timed_step("load")
@retry_only_connection_errors
def run_load(
    context: Context, artifacts: ArtifactStoreResource, catalog: CatalogResource, partition_key: str
) -> dict[str, object]:
    """COPY one validated chunk into its export's staging table, behind the catalogue's gate."""
    export_id, index = split_partition_key(partition_key)
    store = artifacts.store()
    try:
        result = pipeline.load_chunk(catalog.client(), store, export_id, index, context.run_id)
    except pipeline.GateRefused as exc:
        raise dg.Failure(description=f"catalog gate refused: {exc}", allow_retries=False) from exc
    context.log.info(f"{partition_key}: {result.loaded} rows loaded, {len(result.duplicates)} duplicates quarantined")
    locators = list(pipeline.iter_valid_locators(store, export_id, index))
    return checks.catalog_metadata(result, pipeline.read_report(store, export_id, index)) | checks.lineage_metadata(
        context.run_id, partition_key, locators
    )


@timed_step("index")
@retry_only_connection_errors
def run_index(
    context: Context,
    artifacts: ArtifactStoreResource,
    catalog: CatalogResource,
    search: SearchResource,
    partition_key: str,
) -> dict[str, object]:
    """Index one loaded chunk into its export's Elasticsearch index; a no-op that says so without one."""
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


@timed_step("publish")
@retry_only_connection_errors
def publish(
    context: Context,
    artifacts: ArtifactStoreResource,
    catalog: CatalogResource,
    search: SearchResource,
    export_id: str,
) -> dict[str, object]:
    """Gate, then switch PostgreSQL and (when configured) Elasticsearch together: both or neither; then retire
    the partition keys of the exports retention dropped.

    ``MUSEUM_SYNC_KEEP_EXPORTS`` is honoured as set, 1 included (the public export only: rollback then has
    nothing to go back to, and ``museum-sync status`` says so). An export older than the one of its source
    in force is refused (``PublicationRefused``): the step fails without retries, naming both.
    """
    client, search_client, store = catalog.client(), search.client(), artifacts.store()
    try:
        outcome = pipeline.publish(store, client, search_client, export_id, keep=get_settings().keep_exports)
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
    retired = _retire_partitions(context, client)
    chunks = len(pipeline.open_export(store, export_id).plan.chunks)
    return {
        "export_id": export_id,
        "records": dg.MetadataValue.int(pub.record_count),
        "withdrawn": dg.MetadataValue.int(pub.withdrawn_count),
        "withdrawn_sample": dg.MetadataValue.json(pub.withdrawn_sample[:20]),
        "previous_export_id": pub.previous_export_id or "",
        "already_published": outcome.already_published,
        "search": str(outcome.search),
        # Lineage at chunk level: published_export's partition depends on no chunk partition in Dagster's graph
        # (see defs.assets), so the chunks it published are named here.
        "chunks": dg.MetadataValue.int(chunks),
        "chunk_partitions": f"{partition_key(export_id, 0)} .. {partition_key(export_id, max(chunks - 1, 0))}",
        "retired_exports": dg.MetadataValue.json(retired[:50]),
    }


def _retire_partitions(context: Context, catalog: Catalog) -> list[str]:
    """After a publication: retire the partition keys of exports its retention dropped. Never fails the step
    (the publication stands; the next publication retires what this one could not)."""
    try:
        return retire_partitions(context.instance, catalog, context.log.info)
    except Exception as exc:  # noqa: BLE001 - a Dagster storage or catalogue error must not undo a publication
        context.log.warning(
            f"retiring the partition keys of dropped exports failed, the next publication retries: {exc}"
        )
        return []
