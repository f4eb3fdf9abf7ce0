"""Behind the gate: a validated chunk into the catalogue and the search index, rejects into quarantine, and
an export's publication.

The gate holds whatever ran before: a chunk is loaded only if its validation passed and the validated
records on disk are the ones that passed (same digest), indexed only if it is loaded, and an export is
published only when every chunk is (``publication.publish_export`` checks). Every step is idempotent, so a
redelivered Celery task repeats the same work and leaves the same state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from museum_sync import publication
from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.clients.catalog import Catalog, LoadResult, QuarantineRow, holds_nul
from museum_sync.clients.search import IndexResult
from museum_sync.core.exceptions import ChunkPlanError
from museum_sync.core.keys import partition_key
from museum_sync.core.locator import Locator
from museum_sync.core.models import MuseumRecord
from museum_sync.core.validation import Problem, Reason, Rejected
from museum_sync.pipeline import failpoints
from museum_sync.pipeline.snapshot import ExportRef, copied_file_name, open_export, source_locators
from museum_sync.pipeline.validation import (
    ChunkReport,
    iter_rejects,
    iter_stored_records,
    iter_valid_locators,
    iter_valid_records,
    reject_row,
    valid_digest_on_disk,
)

if TYPE_CHECKING:  # the client imports elasticsearch; the search package loads it on first use
    from museum_sync.clients.search import SearchClient

__all__ = [
    "GateRefused",
    "duplicate_reject",
    "index_chunk",
    "load_chunk",
    "publish",
    "quarantine_unreadable_chunk",
    "reason_counts",
    "record_chunk_outcome",
    "unstorable_reject",
]


class GateRefused(Exception):
    """``load_chunk`` or ``index_chunk`` refused a partition: its validation failed, is missing, or is stale."""


def record_chunk_outcome(catalog: Catalog, store: ArtifactStore, report: ChunkReport, run_id: str | None) -> None:
    """Store the chunk's rejects in quarantine and its verdict in ``chunk_status`` (one place, two writes).

    Rejects of a passing chunk are quarantined too (nothing is lost) but do not open a quarantined
    partition; a failing chunk opens one, naming the failed checks and reasons.
    """
    check = ",".join(report.failed_checks) or "record_validity"
    detail = {
        "failed_checks": report.failed_checks,
        "drift": report.drift_diff,
        "reject_ratio": report.reject_ratio,
        "blocking_reasons": report.blocking_reasons,
    }
    rows = _quarantine_rows(report.export_id, report.partition_key, iter_rejects(store, report.export_id, report.index))
    if report.rejected or not report.passed:
        catalog.quarantine_records(
            report.export_id,
            report.partition_key,
            rows,
            check,
            report.reasons,
            detail,
            run_id,
            blocking=not report.passed,
        )
    catalog.record_validation(
        report.export_id,
        report.partition_key,
        report.index,
        report.passed,
        report.valid_digest if report.passed else None,
        report.valid,
        report.rejected,
        run_id,
    )


def load_chunk(catalog: Catalog, store: ArtifactStore, export_id: str, index: int, run_id: str | None) -> LoadResult:
    """COPY a validated chunk into the export's staging table, behind the gate.

    The gate holds even when a UI "re-execute from failure" skips the blocking checks: the chunk must
    have passed validation, and the validated records on disk must be the ones that passed (same digest).
    Duplicate ids across chunks are quarantined as ``duplicate_id`` beside the chunk's other rejects.
    """
    key = partition_key(export_id, index)
    state = catalog.chunk_state(key)
    if state is None:
        raise GateRefused(f"{key}: never validated; run validated_chunk for this partition first")
    if state.state == "quarantined":
        raise GateRefused(f"{key}: quarantined by its checks; fix the cause and replay the whole chain")
    on_disk = valid_digest_on_disk(store, export_id, index)
    if not state.validated_digest or state.validated_digest != on_disk:
        raise GateRefused(f"{key}: validated output changed since it passed its checks (stale); re-run validated_chunk")
    records = iter_stored_records(store, export_id, index)  # the digest above vouches for them: no re-validation
    if failpoints.armed():
        records = failpoints.failpoint_before_first("load_chunk", records)  # inside the COPY, locks held
    locators = iter_valid_locators(store, export_id, index)
    result = catalog.load_chunk(export_id, key, index, records, on_disk, run_id=run_id, locators=locators)
    extra = list(result.duplicates) + list(result.unstorable)
    if extra:
        by_id = {}
        for record in iter_valid_records(store, export_id, index):
            if record.record_id in extra:
                by_id[record.record_id] = record
        rows = list(iter_rejects(store, export_id, index))
        for rid in result.duplicates:
            rows.append(duplicate_reject(by_id[rid]))
        for rid in result.unstorable:
            rows.append(unstorable_reject(by_id[rid]))
        catalog.quarantine_records(
            export_id,
            key,
            _quarantine_rows(export_id, key, rows),
            "catalog_load",
            reason_counts(rows),
            {"duplicates": result.conflicts},
            run_id,
            blocking=False,
        )
    return result


def quarantine_unreadable_chunk(
    catalog: Catalog, export: ExportRef, index: int, exc: Exception, run_id: str | None
) -> None:
    """A chunk that cannot be parsed at all: one quarantine row naming file, line and offset; chunk blocked."""
    key = export.partition_key(index)
    span = export.plan.chunks[index]
    row = {
        "locator": _unreadable_locator(export, index, exc),
        "record_id": None,
        "problems": [{"field": "record", "reason": "unparseable_record", "message": str(exc), "value": None}],
        "raw": None,
    }
    catalog.quarantine_records(
        export.export_id,
        key,
        _quarantine_rows(export.export_id, key, [row]),
        "source_readable",
        {"unparseable_record": 1},
        {"error": str(exc), "byte_range": [span.start, span.end]},
        run_id,
        blocking=True,
    )
    catalog.record_validation(export.export_id, key, index, False, None, 0, span.records, run_id)


def index_chunk(
    search: SearchClient, catalog: Catalog, store: ArtifactStore, export_id: str, index: int, run_id: str | None
) -> IndexResult:
    """Index a loaded chunk into the export's Elasticsearch index, behind the same gate as the catalogue.

    Only the records PostgreSQL kept for this chunk are indexed, each in the version it kept (the first
    occurrence of an id repeated within the chunk; none held by another chunk; no unstorable one), so both
    stores hold the same version of every record. Document id = record id: re-indexing a chunk leaves the
    same index, created with this deployment's id (``Catalog.deployment_id``) so that retention knows it
    is ours. Documents Elasticsearch refuses are quarantined (``index_rejected``) as a new quarantine
    attempt holding the chunk's other rejects with their own reasons (``_not_loaded``: never relabelled),
    and the partition is held open: the publication gate then refuses the export because the index and
    the catalogue disagree. A request refused as a whole (credentials, a missing index, an outage) raises
    from the client and quarantines nothing: it says nothing about the records.
    """
    key = partition_key(export_id, index)
    state = catalog.chunk_state(key)
    on_disk = valid_digest_on_disk(store, export_id, index)
    if state is None or state.state != "loaded" or state.validated_digest != on_disk:
        raise GateRefused(f"{key}: not loaded into the catalogue (or stale); index it after catalog_chunk")
    lineage = catalog.chunk_lineage(export_id, key)  # the rows PostgreSQL kept, with the origin they record
    kept = set(lineage)
    search.ensure_index(export_id, deployment_id=catalog.deployment_id())
    not_loaded: list[dict[str, Any]] = []
    loaded = _as_loaded(iter_valid_records(store, export_id, index), kept, not_loaded)
    result = search.index_records(export_id, loaded, lineage=lineage)
    if result.errors:
        failed = {e.record_id: e for e in result.errors}
        rows = list(iter_rejects(store, export_id, index))
        rows.extend(not_loaded)  # what load_chunk quarantined, with the reasons it gave
        indexed = set(kept)
        for record in iter_valid_records(store, export_id, index):
            failure = failed.get(record.record_id)
            if failure is None or record.record_id not in indexed:
                continue
            indexed.discard(record.record_id)  # the version PostgreSQL kept: one row per refused document
            problem = Problem(
                "record",
                Reason.INDEX_REJECTED,
                f"Elasticsearch refused the document ({failure.status}): {failure.reason}",
                None,
            )
            loc = Locator(file="(validated chunk)", line=0)
            rows.append(reject_row(Rejected(loc, record.record_id, (problem,), record.model_dump_json())))
        catalog.quarantine_records(
            export_id,
            key,
            _quarantine_rows(export_id, key, rows),
            "search_index",
            reason_counts(rows),
            {"index_errors": len(result.errors)},
            run_id,
            blocking=True,
        )
    return result


def _as_loaded(
    records: Iterable[MuseumRecord], kept: set[str], not_loaded: list[dict[str, Any]]
) -> Iterator[MuseumRecord]:
    """The records ``Catalog.load_chunk`` stored, in its order and by its rules; the others, with the reason
    it quarantined them for, are appended to ``not_loaded``.

    The load skips a record holding U+0000 (``unstorable``), then keeps the first occurrence of each id
    the chunk holds in its staging table (``kept``); every other occurrence is a ``duplicate_id``.
    """
    seen: set[str] = set()
    for record in records:
        if holds_nul(record.model_dump()):
            not_loaded.append(unstorable_reject(record))
        elif record.record_id in kept and record.record_id not in seen:
            seen.add(record.record_id)
            yield record
        else:
            not_loaded.append(duplicate_reject(record))


def publish(
    store: ArtifactStore, catalog: Catalog, search: SearchClient | None, export_id: str, *, keep: int
) -> publication.PublicationOutcome:
    """Publish an extracted export in both stores (``search`` None: PostgreSQL only).

    Its plan says how many chunks the gate expects; an incremental export's manifest lists the records the
    source deleted. The one way the pipeline, the UI's publish job and ``museum-sync publish`` publish.
    """
    export = open_export(store, export_id)
    manifest = export.manifest
    deleted = (manifest.deleted_ids or ()) if manifest.kind == "incremental" else ()
    return publication.publish_export(
        catalog, search, export_id, len(export.plan.chunks), keep=keep, deleted_record_ids=deleted
    )


def duplicate_reject(record: MuseumRecord, locator: Locator | None = None) -> dict[str, Any]:
    """A reject row for a record whose id an earlier chunk of the export already loaded."""
    problem = Problem("record_id", Reason.DUPLICATE_ID, f"record id {record.record_id} already loaded by another chunk")
    loc = locator or Locator(file="(validated chunk)", line=0)
    return reject_row(Rejected(loc, record.record_id, (problem,), record.model_dump_json()))


def unstorable_reject(record: MuseumRecord, locator: Locator | None = None) -> dict[str, Any]:
    """A reject row for a record the catalogue cannot store: a value holds U+0000 (PostgreSQL text cannot)."""
    problem = Problem("record", Reason.INVALID_VALUE, "contains U+0000", None)
    loc = locator or Locator(file="(validated chunk)", line=0)
    return reject_row(Rejected(loc, record.record_id, (problem,), record.model_dump_json()))


def reason_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for row in rows:
        counts.update({p["reason"] for p in row["problems"]})
    return dict(sorted(counts.items()))


def _quarantine_rows(export_id: str, partition_key: str, rows: Iterable[dict[str, Any]]) -> Iterator[QuarantineRow]:
    for row in rows:
        loc = row["locator"]
        for problem in row["problems"]:
            yield QuarantineRow(
                export_id=export_id,
                partition_key=partition_key,
                record_id=row.get("record_id"),
                file=loc.get("file"),
                line=loc.get("line") or None,  # 0: the reader knows no line (JSON items); NULL in SQL
                byte_offset=loc.get("offset"),
                pointer=loc.get("pointer"),
                field=problem["field"],
                reason=problem["reason"],
                message=problem["message"],
                value=problem.get("value"),
                raw=row.get("raw"),
            )


def _unreadable_locator(export: ExportRef, index: int, exc: Exception) -> dict[str, Any]:
    """Where an unreadable chunk breaks: the failing line (else the chunk's first), in the museum's file if known."""
    span = export.plan.chunks[index]
    line = getattr(exc, "line", None) or span.first_line
    offset = getattr(exc, "offset", None)
    snapshot = Locator(copied_file_name(export) or export.snapshot.name, line, span.start if offset is None else offset)
    located = source_locators(export)
    if located is None:
        return snapshot.as_dict()
    first = export.plan.first_record(index)
    ordinal = line - 1 if first <= line - 1 < first + span.records else first  # snapshot line n: record n - 1
    try:
        return located.at(ordinal).as_dict()
    except (ChunkPlanError, OSError):  # the sidecar is damaged too: the snapshot is all there is
        return snapshot.as_dict()
