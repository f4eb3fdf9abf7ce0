"""``replay_quarantined``: the steward's replay, launchable from the Launchpad, in one run.

Config: ``partition_keys`` (chunks to replay), or ``export_id`` (all its open quarantines), or neither (the
open quarantines of the newest export that has any: ``defs.quarantine_selection``, the CLI's rule). Each chunk
replays its whole chain in one Celery step, the bulk path's ``sync_chunk``: validation with the profile as it
is now, both checks, load, index. Those steps plan and record the same materializations as a nightly run,
so each partition turns green (or stays red, with the new reason) in the Partitions tab. Then every export
whose chunks are now all loaded is published (``published_export``), unless a newer export of its source is
in force (said, not forced: ``museum-sync rollback`` does that on purpose).

Who launched a replay is the run's ``museum-sync/launched-by`` tag (the CLI sets it) or ``dagster/user``;
a run launched from the Launchpad without either is "the Dagster UI". ``quarantine_report`` reads it.
"""

import re
from typing import Any

import dagster as dg
from pydantic import Field

import museum_sync.defs.library_warnings  # noqa: F401 - before the check specs are built (see there)
from museum_sync.core.keys import InvalidKey, check_export_id, split_partition_key
from museum_sync.defs import steps
from museum_sync.defs.asset_keys import PLAN_REPLAY, PUBLISH_REPLAYED, PUBLISHED_EXPORT, REPLAY_QUARANTINED_JOB
from museum_sync.defs.celery_config import INGESTION_QUEUE, QUEUE_TAG
from museum_sync.defs.checks import export_label
from museum_sync.defs.jobs import MAX_RUNTIME_TAG, sync_chunk
from museum_sync.defs.quarantine_report import quarantine_report, report_markdown
from museum_sync.defs.quarantine_selection import replay_selection
from museum_sync.defs.resources import ArtifactStoreResource, CatalogResource, SearchResource, default_resources
from museum_sync.defs.retries import CONNECTION_RETRY

__all__ = ["ReplayConfig", "launched_by", "replay_quarantined_job"]

LAUNCHED_BY_TAG = "museum-sync/launched-by"


class ReplayConfig(dg.Config):
    """Which quarantined chunks to replay. Leave both empty for the newest export's open quarantines."""

    partition_keys: list[str] = Field(
        default_factory=list, description="Chunk partition keys, e.g. tate-1a2b3c4-20261125/0003 (or use export_id)."
    )
    export_id: str = Field(
        default="", description="Replay every open quarantine of this export, e.g. tate-1a2b3c4-20261125."
    )


def launched_by(tags: dict[str, str]) -> str:
    """Who launched a run, as far as the run says: the CLI's user, Dagster's user, else the UI."""
    return tags.get(LAUNCHED_BY_TAG) or tags.get("dagster/user") or "the Dagster UI (Launchpad)"


def _mapping_key(partition_key: str) -> str:
    """``tate-1a2b3c4-20261125/0003`` -> ``tate_1a2b3c4_20261125_0003``: unique across exports."""
    return re.sub(r"[^A-Za-z0-9_]", "_", partition_key)


def _selected(config: ReplayConfig, catalog: Any) -> tuple[list[str], list[str]]:
    if config.partition_keys and config.export_id:
        raise dg.Failure("replay_quarantined: give partition_keys or export_id, not both", allow_retries=False)
    try:
        keys = [k for k in config.partition_keys if split_partition_key(k)]
        exports = [check_export_id(config.export_id)] if config.export_id else []
    except InvalidKey as exc:
        raise dg.Failure(f"replay_quarantined: {exc}", allow_retries=False) from None
    unknown = [k for k in keys if catalog.chunk_state(k) is None]
    if unknown:
        raise dg.Failure(
            f"replay_quarantined: never validated, so nothing to replay: {', '.join(unknown[:20])}",
            allow_retries=False,
        )
    return replay_selection(catalog, keys, everything=not keys and not exports, exports=exports)


@dg.op(
    name=PLAN_REPLAY,
    out=dg.DynamicOut(dict),
    tags={QUEUE_TAG: INGESTION_QUEUE},
    retry_policy=CONNECTION_RETRY,
    description="Choose the quarantined chunks to replay (config) and fan out one step per chunk.",
)
def plan_replay(context: dg.OpExecutionContext, config: ReplayConfig, catalog: CatalogResource) -> Any:
    keys, lines = _selected(config, catalog.client())
    for line in lines:
        context.log.info(line)
    context.instance.add_run_tags(
        context.run_id,
        {"museum-sync/replayed-by": launched_by(dict(context.run.tags)), "museum-sync/chunks": str(len(keys))},
    )
    for key in keys:
        export_id, index = split_partition_key(key)
        yield dg.DynamicOutput(
            {"export_id": export_id, "index": index, "partition_key": key}, mapping_key=_mapping_key(key)
        )


@dg.op(
    name=PUBLISH_REPLAYED,
    tags={QUEUE_TAG: INGESTION_QUEUE},
    retry_policy=CONNECTION_RETRY,
    description="Publish every replayed export whose chunks are now all loaded (not one a newer export replaced).",
)
def publish_replayed(
    context: dg.OpExecutionContext,
    chunks: list[dict[str, Any]],
    artifacts: ArtifactStoreResource,
    catalog: CatalogResource,
    search: SearchResource,
) -> Any:
    client = catalog.client()
    outcome: dict[str, str] = {}
    for export_id in sorted({c["export_id"] for c in chunks}):
        if export_id in client.exports_ready_to_publish():
            metadata = steps.publish(context, artifacts, catalog, search, export_id)
            yield dg.AssetMaterialization(asset_key=PUBLISHED_EXPORT, partition=export_id, metadata=metadata)  # type: ignore[arg-type]
            outcome[export_id] = f"published: {export_label(export_id)}"
        elif (superseded := client.superseded_by(export_id)) is not None:
            outcome[export_id] = f"not published: {superseded.describe()}"
        else:
            open_keys = [q.partition_key for q in client.list_quarantined(export_id=export_id)]
            outcome[export_id] = "not published yet: " + (
                f"open quarantines remain: {', '.join(open_keys[:20])}" if open_keys else "some chunks are not loaded"
            )
        context.log.info(f"{export_id}: {outcome[export_id]}")
        report = quarantine_report(client, context.instance, export_id)
        yield dg.AssetObservation(
            asset_key=PUBLISHED_EXPORT,
            partition=export_id,
            metadata={
                "export": export_label(export_id),
                "quarantine_report": dg.MetadataValue.md(report_markdown(report)),
                "outcome": outcome[export_id],
            },
        )
    yield dg.Output(None, metadata={"exports": dg.MetadataValue.json(outcome)})


@dg.job(
    name=REPLAY_QUARANTINED_JOB,
    description="Steward: replay quarantined chunks (config: partition_keys, or export_id for all its open "
    "quarantines; empty: the newest export's), each through its whole chain, then publish what is complete.",
    tags={**MAX_RUNTIME_TAG, "museum-sync/kind": "replay"},
    resource_defs=default_resources(),
)
def replay_quarantined_job() -> None:
    publish_replayed(plan_replay().map(sync_chunk).collect())
