"""Every name Dagster stores, spelled once: asset keys, check names, op names, job names, step mapping keys.

Dagster's run storage, the UI's history and the tests refer to runs, steps and materializations by these
names, so they only change together with a migration note. Everything else (ops, assets, jobs, run config
built for the CLI, sensors and schedules) takes them from here.
"""

from __future__ import annotations

import dagster as dg

__all__ = [
    "CATALOG_CHUNK",
    "CHUNK_JOB",
    "EXPORT_SNAPSHOT",
    "HARVEST_AND_PLAN",
    "HARVEST_EXPORT_JOB",
    "IIIF_CHUNK",
    "IIIF_MANIFESTS",
    "IIIF_STEP",
    "PLAN_IIIF",
    "PUBLISHED_EXPORT",
    "PUBLISH_JOB",
    "PLAN_REPLAY",
    "PUBLISH_REPLAYED",
    "PUBLISH_SYNCED_EXPORT",
    "RECORD_VALIDITY",
    "REPLAY_QUARANTINED_JOB",
    "SCHEMA_DRIFT",
    "SEARCH_CHUNK",
    "SNAPSHOT_AND_PLAN",
    "SYNC_CHUNK",
    "SYNC_EXPORT_JOB",
    "VALIDATED_CHUNK",
    "chunk_mapping_key",
]

# Assets: the snapshot, the three chunk partitions' stages, the publication.
EXPORT_SNAPSHOT = dg.AssetKey("export_snapshot")
VALIDATED_CHUNK = dg.AssetKey("validated_chunk")
CATALOG_CHUNK = dg.AssetKey("catalog_chunk")
SEARCH_CHUNK = dg.AssetKey("search_chunk")
PUBLISHED_EXPORT = dg.AssetKey("published_export")
# The chunk's IIIF manifests checked on the iiif queue (defs.iiif), its non-blocking check, its two bulk-path ops.
IIIF_CHUNK = dg.AssetKey("iiif_chunk")
IIIF_MANIFESTS = "iiif_manifests"
PLAN_IIIF = "plan_iiif"
IIIF_STEP = "check_iiif_chunk"

# The blocking checks on validated_chunk.
SCHEMA_DRIFT = "schema_drift"
RECORD_VALIDITY = "record_validity"

# Ops of the bulk path (step keys: ``sync_chunk[c0042]``; run config: ``{"ops": {SNAPSHOT_AND_PLAN: ...}}``).
SNAPSHOT_AND_PLAN = "snapshot_and_plan"
HARVEST_AND_PLAN = "harvest_and_plan"
SYNC_CHUNK = "sync_chunk"
# Not "publish_export": that is museum_sync.publication's function, which this op reaches through the pipeline.
PUBLISH_SYNCED_EXPORT = "publish_synced_export"
# Ops of the steward's replay job (its chunk steps are ``sync_chunk``, the bulk path's).
PLAN_REPLAY = "plan_replay"
PUBLISH_REPLAYED = "publish_replayed"

# Jobs.
SYNC_EXPORT_JOB = "sync_export_job"
HARVEST_EXPORT_JOB = "harvest_export_job"
CHUNK_JOB = "chunk_job"
PUBLISH_JOB = "publish_job"
REPLAY_QUARANTINED_JOB = "replay_quarantined"


def chunk_mapping_key(index: int) -> str:
    """The dynamic mapping key of chunk ``index`` in a bulk run: ``c0042`` (step key ``sync_chunk[c0042]``)."""
    return f"c{index:04d}"
