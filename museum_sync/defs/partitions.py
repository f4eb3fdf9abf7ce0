"""Dynamic partitions: one key per export, one key per chunk (``<export_id>/<nnnn>``, ``core.keys``), and their
retirement once retention has dropped the export.

Keys are added when an export is registered (``steps.register_export``) and, without retirement, never go:
a year of nightly 500-chunk exports is ~180k chunk keys that every partition status query, backfill dialog and
sensor tick of the UI and daemon walks. ``retire_partitions`` deletes the keys of exports retention dropped
(their staging table and index are gone, so nothing could run on those partitions any more), except those
with an open quarantine a steward may still inspect and replay. The materialization history stays in the
event log. It runs after every publication that applied retention (the publish step, ``museum-sync publish``).
"""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg

from museum_sync.clients.catalog import Catalog
from museum_sync.core.keys import partition_key
from museum_sync.defs.dagster_internals import delete_dynamic_partitions

__all__ = ["CHUNKS", "EXPORTS", "chunk_partitions", "export_partitions", "retire_partitions"]

EXPORTS = "exports"
CHUNKS = "chunks"
export_partitions = dg.DynamicPartitionsDefinition(name=EXPORTS)
chunk_partitions = dg.DynamicPartitionsDefinition(name=CHUNKS)


def retire_partitions(
    instance: dg.DagsterInstance, catalog: Catalog, log: Callable[[str], None] | None = None
) -> list[str]:
    """Delete the chunk and export partition keys of exports retention dropped; returns those export ids.

    Only exports the catalogue lists as dropped with no open quarantine (``Catalog.retired_exports``) and
    whose export key is still in the instance. Chunk keys go first and the export key last, so an
    interrupted retirement is finished by the next one. An export registered again meanwhile (its bytes
    synced anew: ``register_export`` makes it live again) gets its keys back at once.
    """
    present = set(instance.get_dynamic_partitions(EXPORTS))
    retired: list[str] = []
    chunk_counts: dict[str, int] = {}
    for export_id, chunk_count in catalog.retired_exports():
        if export_id not in present:
            continue
        delete_dynamic_partitions(instance, CHUNKS, [partition_key(export_id, index) for index in range(chunk_count)])
        delete_dynamic_partitions(instance, EXPORTS, [export_id])
        retired.append(export_id)
        chunk_counts[export_id] = chunk_count
    if retired:
        still_retired = {export_id for export_id, _ in catalog.retired_exports()}
        for export_id in [e for e in retired if e not in still_retired]:
            # Registered again while we deleted (its bytes synced anew): it is loading, give its keys back.
            instance.add_dynamic_partitions(EXPORTS, [export_id])
            instance.add_dynamic_partitions(
                CHUNKS, [partition_key(export_id, i) for i in range(chunk_counts[export_id])]
            )
            retired.remove(export_id)
    if retired and log is not None:
        log(
            f"retired the partition keys of {len(retired)} export(s) retention dropped: "
            + ", ".join(retired[:20])
            + (f" and {len(retired) - 20} more" if len(retired) > 20 else "")
        )
    return retired
