"""``museum-sync trace RECORD_ID [--export ID]``: follow one record from its source line to the public catalogue.

Every catalogue row and search document carries its lineage (chunk key, run id, ``file:line`` in the
snapshot, export id in the record); this reads it back, step by step, and says which step is missing and
why. ``lineage_steps`` is pure (plain values in, lines out) so its wording is tested without services.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from museum_sync.cli.stack import catalog, stack, state_dir
from museum_sync.core.locator import where

__all__ = ["TraceStep", "cmd_trace", "format_trace", "lineage_steps"]

_NOT_LOADED = "not loaded: the record is in quarantine"


@dataclass(frozen=True)
class TraceStep:
    """One hop of a record's path; ``found`` False: the path stops (or is missing) here, ``text`` says why."""

    name: str
    found: bool
    text: str


def lineage_steps(
    record_id: str,
    export_id: str,
    *,
    row: Mapping[str, Any] | None,
    chunk: Any | None,
    rejects: Sequence[Any],
    search: str | None,
    document: Mapping[str, Any] | None,
    publication: Any | None,
    public_export: str | None,
) -> list[TraceStep]:
    """The six hops: source -> chunk -> validation run -> catalogue row -> index document -> publication.

    ``row``: ``Catalog.staged_row``; ``chunk``: its ``ChunkState``; ``rejects``: ``Catalog.record_rejects``
    of this export; ``search``: the index name, None when search is not configured; ``publication``: the
    newest ``Publication`` of the export, if any; ``public_export``: the export in force now.
    """
    steps: list[TraceStep] = []
    reject = rejects[0] if rejects else None
    if row is not None and row.get("source_locator"):
        steps.append(TraceStep("source", True, str(row["source_locator"])))
    elif reject is not None:
        steps.append(TraceStep("source", True, where(reject.file, reject.line, reject.pointer)))
    elif row is not None:
        steps.append(TraceStep("source", False, "no file:line recorded (row loaded before lineage)"))
    else:
        steps.append(TraceStep("source", False, f"record {record_id} is not in export {export_id}"))
    key = row["chunk_key"] if row is not None else (reject.partition_key if reject is not None else None)
    state = f" ({chunk.state})" if chunk is not None and chunk.partition_key == key else ""
    steps.append(TraceStep("chunk", key is not None, f"{key}{state}" if key else "no chunk holds it"))
    if reject is not None and row is None:
        reasons = "; ".join(f"{r.reason} ({r.field}): {r.message}" for r in rejects)
        run = f"run {chunk.run_id}: " if chunk is not None and chunk.run_id else ""
        steps.append(TraceStep("validation", False, f"{run}rejected, in quarantine: {reasons}"))
        steps.append(TraceStep("catalogue", False, f"{_NOT_LOADED} (museum-sync quarantine show {key})"))
    else:
        from museum_sync.clients.catalog.schema import CARRIED  # here: ``--help`` must not load psycopg

        if key == CARRIED:  # an incremental export's copy of a row published before
            steps[-1] = TraceStep("chunk", True, f"{CARRIED}: carried over from the export published before it")
            steps.append(
                TraceStep("validation", True, f"with the export it was loaded in (run {row and row['run_id']})")
            )
        else:
            validated = chunk.run_id if chunk is not None and chunk.partition_key == key else None
            steps.append(
                TraceStep("validation", validated is not None, f"run {validated}" if validated else "no validation run")
            )
        if row is None:
            steps.append(TraceStep("catalogue", False, f"not in export {export_id}'s staging table"))
        else:
            loaded_by = f", loaded by run {row['run_id']}" if row.get("run_id") else ""
            steps.append(
                TraceStep(
                    "catalogue",
                    True,
                    f"{row['staging_table']} (export {export_id}), content hash {row['content_hash']}{loaded_by}",
                )
            )
    if search is None:
        steps.append(TraceStep("index", False, "index not configured (PostgreSQL-only publication)"))
    elif document is None:
        steps.append(TraceStep("index", False, f"no document in {search}"))
    else:
        same = "same content hash" if row and document.get("content_hash") == row["content_hash"] else "hash differs"
        steps.append(TraceStep("index", True, f"{search}: present ({same})"))
    if publication is None:
        steps.append(TraceStep("publication", False, f"export {export_id} was never published"))
    else:
        when = f"{publication.published_at:%Y-%m-%d %H:%M:%S %Z}".strip()
        now = "public now" if public_export == export_id else f"not public now (the public export is {public_export})"
        held = "" if row is not None else "; not in the published export"
        steps.append(
            TraceStep("publication", row is not None, f"{when}, {publication.kind} #{publication.id}; {now}{held}")
        )
    return steps


def format_trace(record_id: str, export_id: str, steps: Sequence[TraceStep]) -> str:
    """``record R in export E`` then one line per hop, ``->`` between them, ``MISSING`` where the path stops."""
    lines = [f"record {record_id} in export {export_id}"]
    for i, step in enumerate(steps):
        arrow = "   " if i == 0 else "-> "
        mark = "" if step.found else "MISSING  "
        lines.append(f"  {arrow}{step.name:<12} {mark}{step.text}")
    return "\n".join(lines)


def cmd_trace(args: argparse.Namespace) -> int:
    """Print the record's path; exit 1 when it does not reach the public catalogue (0 when it does)."""
    with stack(state_dir(args)):
        from museum_sync.clients.search import SearchClient

        client = catalog()
        public = client.current_publication()
        export_id = args.export or (public.export_id if public else None)
        row = client.staged_row(export_id, args.record_id) if export_id else None
        if row is None and not args.export:  # not public: the newest export that rejected it
            found = client.record_rejects(args.record_id)
            export_id = found[0].export_id if found else export_id
        if export_id is None:
            print(f"record {args.record_id}: nothing is published and no quarantine holds it; give --export ID")
            return 1
        rejects = client.record_rejects(args.record_id, export_id)
        key = row["chunk_key"] if row else (rejects[0].partition_key if rejects else None)
        search = SearchClient.from_env()
        index = search.index_name(export_id) if search is not None else None
        document = search.get_document(export_id, args.record_id) if search is not None else None
        published = [p for p in client.publications(limit=1000) if p.export_id == export_id]
        steps = lineage_steps(
            args.record_id,
            export_id,
            row=row,
            chunk=client.chunk_state(key) if key else None,
            rejects=rejects,
            search=index,
            document=document,
            publication=published[0] if published else None,
            public_export=public.export_id if public else None,
        )
        print(format_trace(args.record_id, export_id, steps))
    return 0 if all(s.found for s in steps if s.name != "index") else 1
