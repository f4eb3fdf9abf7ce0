"""The work of each stage of a sync, free of Dagster, so it runs the same in a Celery step, a test or a
benchmark: extract -> validate chunk -> load (and index) chunk -> publish.

- ``snapshot``: the snapshot layout (``Manifest``, ``ExportRef``, ``open_export``, ``publish_snapshot``);
  file exports and harvests both publish through it.
- ``extraction``: a museum's export file -> snapshot + chunk plan.
- ``validation``: one chunk validated into valid records, rejects and a ``ChunkReport``; reads of them.
- ``loading``: behind the gate: catalogue, search index, quarantine and the publication entry point.
- ``profiles``: mapping profiles on the configured search path (``MUSEUM_SYNC_PROFILE_PATH``).
- ``failpoints``: a hook for the fault-injection tests only.

``museum_sync.defs`` only wires these functions into ops and assets. Every stage is idempotent: it reads its
inputs from the artifact store or the catalogue and writes its outputs atomically, so a redelivered Celery
task (late ack, lost worker, visibility timeout) repeats the same work and leaves the same state.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from museum_sync.pipeline.extraction import extract
    from museum_sync.pipeline.loading import (
        GateRefused,
        index_chunk,
        load_chunk,
        publish,
        quarantine_unreadable_chunk,
        record_chunk_outcome,
    )
    from museum_sync.pipeline.snapshot import ExportRef, Manifest, open_export, source_locators
    from museum_sync.pipeline.validation import (
        ChunkReport,
        iter_rejects,
        iter_valid_locators,
        iter_valid_records,
        read_report,
        validate_chunk,
    )

# Resolved lazily (PEP 562): `museum-sync validate` imports pipeline.validation, and must not pull in
# pipeline.loading (psycopg, elasticsearch) just because this package's __init__ runs first.
_HOMES = {
    "extract": "extraction",
    "GateRefused": "loading",
    "index_chunk": "loading",
    "load_chunk": "loading",
    "publish": "loading",
    "quarantine_unreadable_chunk": "loading",
    "record_chunk_outcome": "loading",
    "ExportRef": "snapshot",
    "Manifest": "snapshot",
    "open_export": "snapshot",
    "source_locators": "snapshot",
    "ChunkReport": "validation",
    "iter_rejects": "validation",
    "iter_valid_locators": "validation",
    "iter_valid_records": "validation",
    "read_report": "validation",
    "validate_chunk": "validation",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ChunkReport",
    "ExportRef",
    "GateRefused",
    "Manifest",
    "extract",
    "index_chunk",
    "iter_rejects",
    "iter_valid_locators",
    "iter_valid_records",
    "load_chunk",
    "open_export",
    "publish",
    "quarantine_unreadable_chunk",
    "read_report",
    "record_chunk_outcome",
    "source_locators",
    "validate_chunk",
]
