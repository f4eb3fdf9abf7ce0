"""The chunk assets as real partitioned asset definitions: the steward path.

A data steward re-runs one chunk from the UI, or ``museum-sync quarantine replay`` launches one run per
partition key of ``chunk_job`` (``validated_chunk`` → ``catalog_chunk``); ``published_export`` then
publishes the export once every chunk is loaded (the Launchpad's ``replay_quarantined`` job does both in one
run, ``defs.replay``). A chunk held back at its checks materializes nothing and shows failed (``defs.checks``).
The nightly bulk path (``jobs.sync_export_job``)
records materializations of these same asset keys, so lineage shows one history whichever path ran.
The bodies are ``defs.steps``', shared with the bulk path's ops.

Partition keys come from the UI too, where anyone can add a key to a dynamic partition: every body checks
its key's shape (``core.keys``) before it reads a file or a table, and fails with one ``dg.Failure`` naming
the key and the shape expected.

``published_export`` (``exports`` partitions) depends on ``catalog_chunk`` and ``search_chunk`` (``chunks``
partitions) through ``SpecificPartitionsPartitionMapping([])``: the edge stays in the asset graph (lineage,
"upstream" in the UI) but no export partition depends on any chunk partition. The default for two dynamic
definitions, ``AllPartitionMapping``, made every export depend on every chunk of every export (~180k after a
year) for anything walking the graph by partition (staleness, backfill and run-request checks, the daemon). A
mapping to "the chunks named ``<export_id>/*``" would need a custom ``PartitionMapping`` subclass: Dagster
deprecates those, and does not serialize them into the snapshot the webserver and daemon read (they would
fall back to ``AllPartitionMapping`` there, where it matters). The publication gate checks the export's own
chunks anyway (every one loaded, none quarantined), and the materialization names them (``chunk_partitions``).
"""

from collections.abc import Callable

import dagster as dg

from museum_sync.core.keys import EXPORT_ID_SHAPE, InvalidKey, check_export_id, split_partition_key
from museum_sync.defs import checks, steps
from museum_sync.defs.asset_keys import (
    CATALOG_CHUNK,
    EXPORT_SNAPSHOT,
    PUBLISHED_EXPORT,
    SEARCH_CHUNK,
    VALIDATED_CHUNK,
)
from museum_sync.defs.celery_config import INGESTION_QUEUE, QUEUE_TAG
from museum_sync.defs.partitions import chunk_partitions, export_partitions
from museum_sync.defs.resources import ArtifactStoreResource, CatalogResource, SearchResource
from museum_sync.defs.retries import CONNECTION_RETRY
from museum_sync.defs.run_config import SnapshotConfig

__all__ = [
    "catalog_chunk",
    "chunk_key",
    "export_key",
    "export_snapshot",
    "published_export",
    "search_chunk",
    "validated_chunk",
]

OWNERS = ["team:collections-data"]
# published_export's partitions depend on no chunk partition (module doc): the edge is lineage only.
NO_CHUNK_PARTITIONS = dg.SpecificPartitionsPartitionMapping([])


def _checked_key(context: dg.AssetExecutionContext, check: Callable[[str], object], shape: str, example: str) -> str:
    key = context.partition_key
    try:
        check(key)
    except InvalidKey as exc:
        raise dg.Failure(
            description=f"partition key {key!r} is not {shape}, e.g. {example} (was it added by hand in the UI?)",
            allow_retries=False,
        ) from exc
    return key


def chunk_key(context: dg.AssetExecutionContext) -> str:
    """The run's chunk partition key, checked (``<export_id>/<nnnn>``) before anything reads it."""
    return _checked_key(
        context,
        split_partition_key,
        "a chunk partition key: expected <export_id>/<nnnn>",
        "tate-1a2b3c4-20261125/0003",
    )


def export_key(context: dg.AssetExecutionContext) -> str:
    """The run's export partition key, checked (``core.keys.EXPORT_ID_SHAPE``) before anything reads it."""
    return _checked_key(context, check_export_id, f"an export id: expected {EXPORT_ID_SHAPE}", "tate-1a2b3c4-20261125")


@dg.asset(
    key=EXPORT_SNAPSHOT,
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
    _, metadata = steps.snapshot(context, config, artifacts, catalog)
    return dg.MaterializeResult(metadata=metadata)  # type: ignore[arg-type]


@dg.asset(
    key=VALIDATED_CHUNK,
    partitions_def=chunk_partitions,
    deps=[EXPORT_SNAPSHOT],
    check_specs=checks.CHECK_SPECS,
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
    key = chunk_key(context)
    report = steps.run_validation(context, artifacts, catalog, key)
    problems = checks.problems_found(artifacts.store(), report)
    results = checks.check_results(report, problems)
    if not report.passed:
        # No materialization for a held-back chunk: the run's planned one stays unmet, so Dagster shows this
        # partition (and catalog_chunk's, search_chunk's) failed, with the checks' verdicts beside it.
        for evaluation in checks.check_evaluations(results, key):
            context.log_event(evaluation)
        context.instance.add_run_tags(context.run_id, checks.quarantine_tags(report))
        raise checks.quarantine_failure(report, problems)
    return dg.MaterializeResult(metadata=checks.validated_metadata(report, problems), check_results=results)


@dg.asset(
    key=CATALOG_CHUNK,
    partitions_def=chunk_partitions,
    deps=[VALIDATED_CHUNK],
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
    return dg.MaterializeResult(metadata=steps.run_load(context, artifacts, catalog, chunk_key(context)))  # type: ignore[arg-type]


@dg.asset(
    key=SEARCH_CHUNK,
    partitions_def=chunk_partitions,
    deps=[CATALOG_CHUNK],
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
    key = chunk_key(context)
    return dg.MaterializeResult(metadata=steps.run_index(context, artifacts, catalog, search, key))  # type: ignore[arg-type]


@dg.asset(
    key=PUBLISHED_EXPORT,
    partitions_def=export_partitions,
    deps=[
        dg.AssetDep(CATALOG_CHUNK, partition_mapping=NO_CHUNK_PARTITIONS),
        dg.AssetDep(SEARCH_CHUNK, partition_mapping=NO_CHUNK_PARTITIONS),
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
    key = export_key(context)
    return dg.MaterializeResult(metadata=steps.publish(context, artifacts, catalog, search, key))  # type: ignore[arg-type]
