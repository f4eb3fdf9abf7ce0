"""IIIF manifests on their own queue: the ``iiif_chunk`` asset, its check, and the bulk path's two ops.

Every step here is tagged for the Celery queue ``iiif`` (``museum-sync worker --queues iiif``), so
fetching thousands of manifests never takes an ingestion worker, and the executor bounds in-flight iiif
steps separately from ingestion ones (``defs.executor``): a saturated iiif pool cannot hold the slots
``ingestion_high`` steps need. The work is ``pipeline.iiif.check_chunk_manifests``.

Bulk path: ``plan_iiif`` takes the loaded chunks (``sync_chunk``'s outputs, collected) and fans out one
``check_iiif_chunk`` step per chunk that has manifest links (none when the source's policy is ``off`` or
``MUSEUM_SYNC_IIIF_ENABLED=false``). Publication does not wait for it: ``publish_synced_export`` takes the
same collected outputs and runs beside it. Steward path: the ``iiif_chunk`` asset after ``catalog_chunk``
(it edits loaded rows: the chunk must be loaded first).

The check ``iiif_manifests`` is not blocking: a broken manifest is the source policy's business (drop the
link or withhold the record), never a reason to hold the chunk's metadata back. Its metadata is the counts
and a findings table (record, URL, severity, JSON pointer, message).
"""

from typing import Any

import dagster as dg

from museum_sync.clients.iiif import get_fetcher
from museum_sync.core.keys import split_partition_key
from museum_sync.defs.asset_keys import (
    CATALOG_CHUNK,
    IIIF_CHUNK,
    IIIF_MANIFESTS,
    IIIF_STEP,
    PLAN_IIIF,
    chunk_mapping_key,
)
from museum_sync.defs.assets import OWNERS, chunk_key
from museum_sync.defs.celery_config import IIIF_QUEUE, QUEUE_TAG
from museum_sync.defs.checks import _md_cell, check_evaluations, latest_materialization_target
from museum_sync.defs.partitions import chunk_partitions
from museum_sync.defs.resources import ArtifactStoreResource, CatalogResource, SearchResource
from museum_sync.defs.retries import CONNECTION_RETRY, retry_only_connection_errors
from museum_sync.defs.steps import Context
from museum_sync.pipeline.iiif import IiifChunkResult, check_chunk_manifests, chunk_has_manifests
from museum_sync.pipeline.snapshot import open_export, resolve_profile
from museum_sync.settings import get_settings

__all__ = ["IIIF_CHECK_SPEC", "check_iiif_chunk", "iiif_check_result", "iiif_chunk", "iiif_metadata", "plan_iiif"]

_TAGS = {QUEUE_TAG: IIIF_QUEUE}

IIIF_CHECK_SPEC = dg.AssetCheckSpec(
    IIIF_MANIFESTS,
    asset=IIIF_CHUNK,
    blocking=False,
    partitions_def=chunk_partitions,
    description="Every IIIF manifest the chunk's records link to passes the IIIF Presentation 3.0 schema and "
    "rules (core.iiif). Not blocking: the source's policy drops the broken link (warn) or withholds the record.",
)


def findings_markdown(sample: list[dict[str, str]]) -> str:
    """The findings of the chunk's manifests as a Markdown table (a sample: 20 rows at most)."""
    if not sample:
        return "No findings."
    lines = [
        "| record id | manifest | outcome | severity | pointer | rule | message |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in sample:
        cells = (row.get(k, "") for k in ("record_id", "url", "outcome", "severity", "pointer", "rule", "message"))
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def iiif_metadata(result: IiifChunkResult) -> dict[str, Any]:
    """The materialization's (and the check's) metadata: counts, then the findings table."""
    return {
        "policy": result.policy,
        "records_with_manifest": dg.MetadataValue.int(result.records),
        "manifests": dg.MetadataValue.int(result.manifests),
        "validated": dg.MetadataValue.int(result.validated),
        "not_modified": dg.MetadataValue.int(result.not_modified),
        "unchanged": dg.MetadataValue.int(result.unchanged),
        "conditional_requests": dg.MetadataValue.int(result.requests_conditional),
        "outcomes": dg.MetadataValue.json(result.outcomes),
        "links_dropped": dg.MetadataValue.int(result.links_dropped),
        "withheld": dg.MetadataValue.int(result.withheld),
        "findings_by_rule": dg.MetadataValue.json(result.findings_by_rule),
        "findings": dg.MetadataValue.md(findings_markdown(result.sample)),
        "seconds": dg.MetadataValue.float(result.seconds),
        **({"skipped": result.skipped} if result.skipped else {}),
    }


def iiif_check_result(result: IiifChunkResult) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=IIIF_MANIFESTS,
        asset_key=IIIF_CHUNK,
        passed=result.broken == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=iiif_metadata(result),
        description=f"{result.broken} of {result.manifests} manifests broken; policy {result.policy}: "
        f"{result.links_dropped} links dropped, {result.withheld} records withheld",
    )


@retry_only_connection_errors
def run_iiif(
    context: Context, artifacts: ArtifactStoreResource, catalog: CatalogResource, search: SearchResource, key: str
) -> IiifChunkResult:
    export_id, index = split_partition_key(key)
    result = check_chunk_manifests(
        catalog.client(), artifacts.store(), export_id, index, get_fetcher(), search=search.client()
    )
    context.log.info(
        f"{key}: {result.manifests} manifests ({result.validated} validated, {result.not_modified} not modified, "
        f"{result.unchanged} unchanged) {result.outcomes}; policy {result.policy}: {result.links_dropped} links "
        f"dropped, {result.withheld} withheld" + (f" - skipped: {result.skipped}" if result.skipped else "")
    )
    return result


@dg.asset(
    key=IIIF_CHUNK,
    partitions_def=chunk_partitions,
    deps=[CATALOG_CHUNK],
    check_specs=[IIIF_CHECK_SPEC],
    description="The chunk's IIIF manifests fetched (conditionally, SSRF-guarded) on the iiif queue and validated "
    "against IIIF Presentation 3.0; the source's policy applied to records whose manifest is broken.",
    owners=OWNERS,
    kinds={"python", "iiif"},
    group_name="museum_sync",
    op_tags=_TAGS,
    retry_policy=CONNECTION_RETRY,
)
def iiif_chunk(
    context: dg.AssetExecutionContext,
    artifacts: ArtifactStoreResource,
    catalog: CatalogResource,
    search: SearchResource,
) -> dg.MaterializeResult:
    result = run_iiif(context, artifacts, catalog, search, chunk_key(context))
    return dg.MaterializeResult(metadata=iiif_metadata(result), check_results=[iiif_check_result(result)])


@dg.op(
    name=PLAN_IIIF,
    out=dg.DynamicOut(dict),
    tags=_TAGS,
    retry_policy=CONNECTION_RETRY,
    description="After the chunks are loaded: one IIIF step per chunk whose records link to manifests.",
)
def plan_iiif(context: dg.OpExecutionContext, chunks: list[dict[str, Any]], artifacts: ArtifactStoreResource) -> Any:
    if not chunks or not get_settings().iiif.enabled:
        return
    store = artifacts.store()
    export_id = chunks[0]["export_id"]
    if resolve_profile(open_export(store, export_id)).policy.iiif == "off":
        context.log.info(f"{export_id}: IIIF policy off, no manifest fetched")
        return
    for chunk in chunks:
        _, index = split_partition_key(chunk["partition_key"])
        if chunk_has_manifests(store, export_id, index):
            yield dg.DynamicOutput(chunk, mapping_key=chunk_mapping_key(index))


@dg.op(
    name=IIIF_STEP,
    tags=_TAGS,
    retry_policy=CONNECTION_RETRY,
    description="Fetch and validate one chunk's IIIF manifests; apply the source's policy.",
)
def check_iiif_chunk(
    context: dg.OpExecutionContext,
    chunk: dict[str, Any],
    artifacts: ArtifactStoreResource,
    catalog: CatalogResource,
    search: SearchResource,
) -> Any:
    key = chunk["partition_key"]
    result = run_iiif(context, artifacts, catalog, search, key)
    yield dg.AssetMaterialization(asset_key=IIIF_CHUNK, partition=key, metadata=iiif_metadata(result))
    target = latest_materialization_target(context.instance, IIIF_CHUNK, key)
    for evaluation in check_evaluations([iiif_check_result(result)], key, target, asset_key=IIIF_CHUNK, blocking=False):
        context.log_event(evaluation)
    yield dg.Output(None)
