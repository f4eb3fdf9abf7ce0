"""The work of each pipeline stage, free of Dagster so it runs the same in a Celery step, a test or a
benchmark: extract → validate chunk → load chunk → publish.

Dagster code (``museum_sync.defs``) only wires these functions into ops and assets and turns their
results into materializations and check evaluations. Every stage is idempotent: it reads its inputs
from the artifact store or the catalogue and writes its outputs atomically, so a redelivered Celery
task (late ack, lost worker, visibility timeout) repeats the same work and leaves the same state.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from museum_sync import publication
from museum_sync.clients.artifacts import ArtifactStore, atomic_writer, file_sha256
from museum_sync.core import chunking, sources
from museum_sync.core.drift import DriftReport, FingerprintBuilder, compare
from museum_sync.core.exceptions import ChunkPlanError, EmptySource, SourceError, SourceNotFound
from museum_sync.core.locator import Locator
from museum_sync.core.models import MuseumRecord
from museum_sync.core.profiles import Profile, load_profile
from museum_sync.core.source_locators import ENTRIES, INDEX, LocatorWriter, SourceLocators
from museum_sync.core.validation import ChunkValidator, Problem, Reason, Rejected, Valid

__all__ = [
    "FAILPOINTS_ENV",
    "ChunkReport",
    "ExportRef",
    "SAMPLE_REJECTS",
    "extract",
    "iter_valid_records",
    "source_locators",
    "validate_chunk",
]

SAMPLE_REJECTS = 20  # rejects shown in check metadata; all of them are in quarantine

_COPIED = ("csv", "jsonl")  # profile formats snapshotted byte for byte: their own locators hold
_SNAPSHOT_FORMAT = {"csv": "csv", "jsonl": "jsonl", "json": "jsonl", "lido": "xmllines", "oai_dc": "xmllines"}
_SUFFIX = {"csv": "csv", "jsonl": "jsonl", "xmllines": "xmll"}


@dataclass(frozen=True)
class ExportRef:
    """A reference to an immutable snapshot: what broker messages and run config carry."""

    export_id: str
    profile: str
    snapshot: Path
    snapshot_format: str
    plan: chunking.ChunkPlan
    manifest: dict[str, Any]

    @property
    def partition_keys(self) -> list[str]:
        return self.plan.partition_keys(self.export_id)

    def partition_key(self, index: int) -> str:
        return f"{self.export_id}/{index:04d}"


FAILPOINTS_ENV = "MUSEUM_SYNC_FAILPOINTS"


def _failpoint(name: str) -> None:
    """Fault-suite hook: make a stage last long enough for a test to strike it (kill, restart) mid-way.

    It exists only for ``museum_sync_tests/faults``, which sets ``MUSEUM_SYNC_FAILPOINTS`` in its workers'
    environment, e.g. ``validate_chunk=sleep:3,load_chunk=sleep:2``. It must never be set in production.
    Unset (always, outside that suite) it is one dict lookup. An unknown action raises, so a typo in a
    test cannot silently disarm it.
    """
    spec = os.environ.get(FAILPOINTS_ENV)
    if not spec:
        return
    for item in spec.split(","):
        point, _, action = item.strip().partition("=")
        if point != name:
            continue
        verb, _, arg = action.partition(":")
        if verb != "sleep":
            raise ValueError(f"{FAILPOINTS_ENV}: unknown action {action!r} for {name} (only sleep:<seconds>)")
        time.sleep(float(arg))


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_") or "export"


class _HashedOut:
    """The snapshot being written: hashes and counts every byte on its way to the file."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.size += len(data)
        self.out.write(data)


def _write_snapshot(source_path: Path, profile: Profile, target: Path) -> tuple[str, int, int | None]:
    """Stream the source into the snapshot file; returns (sha256, bytes, records located). Memory stays flat.

    A rewritten export (JSON document, XML) gets its original locators in a sidecar beside the snapshot,
    in the same pass; a byte-for-byte copy needs none (records located: ``None``).
    """
    with atomic_writer(target) as handle:
        out = _HashedOut(handle)
        if profile.format in _COPIED:
            with source_path.open("rb") as src:
                for block in iter(lambda: src.read(1 << 20), b""):
                    out.write(block)
            located = None
        else:
            located = _write_rewritten(source_path, profile, out, target.parent)
    return out.digest.hexdigest(), out.size, located


def _write_rewritten(source_path: Path, profile: Profile, out: _HashedOut, folder: Path) -> int:
    """One record per snapshot line, its original locator as the same entry of the sidecar."""
    with atomic_writer(folder / ENTRIES) as entries, atomic_writer(folder / INDEX) as index:
        writer = LocatorWriter(entries, index)
        for locator, line in _record_lines(source_path, profile):
            writer.add(locator)
            out.write(line + b"\n")
    return writer.records


def _record_lines(source_path: Path, profile: Profile) -> Iterator[tuple[Locator, bytes]]:
    if profile.format == "json":
        assert profile.item_path is not None
        for locator, item in sources.iter_json_items(source_path, profile.item_path):
            line = json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            yield locator, line
    else:
        from museum_sync.core import lido_xml

        yield from lido_xml.iter_lido_elements(source_path)


def _source_error(exc: SourceError, source_path: Path, located: SourceLocators | None) -> SourceError:
    """A planning error, named in the operator's file rather than in the snapshot being built.

    A byte-for-byte copy keeps line and offset; a rewritten export names the record's original locator.
    """
    if located is None:
        return exc.at(str(source_path))
    if exc.line is None or not 1 <= exc.line <= located.records:
        return type(exc)(exc.reason, file=str(source_path))
    original = located.at(exc.line - 1)  # snapshot line n holds record n - 1
    return type(exc)(f"{exc.reason} (record {original.pointer})", file=str(source_path), line=original.line or None)


def extract(
    source_path: Path,
    profile: Profile,
    store: ArtifactStore,
    *,
    source: str | None = None,
    chunk_size: int | None = None,
    now: datetime | None = None,
) -> ExportRef:
    """Snapshot an export and plan its chunks. Same bytes, same export id, same plan: a rerun is a no-op."""
    source_path = Path(source_path)
    if not source_path.is_file():
        raise SourceNotFound("export file not found", file=str(source_path))
    if source_path.stat().st_size == 0:
        raise EmptySource("export file is empty (0 bytes)", file=str(source_path))
    source = _slug(source or profile.name)
    fmt = _SNAPSHOT_FORMAT[profile.format]
    staging = store.root / "snapshots" / f".incoming-{source}-{datetime.now(UTC).strftime('%H%M%S%f')}"
    staging.mkdir(parents=True, exist_ok=True)
    try:
        tmp_snapshot = staging / f"snapshot.{_SUFFIX[fmt]}"
        sha256, size, records_located = _write_snapshot(source_path, profile, tmp_snapshot)
        located = None if records_located is None else SourceLocators(staging, source_path.name, records_located)
        existing = store.find_snapshot(source, sha256[:8])
        if existing:
            return open_export(store, existing)
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%d")
        export_id = f"{source}-{stamp}-{sha256[:8]}"
        size_hint = chunk_size or profile.chunk_size
        try:
            plan = chunking.plan_chunks(
                tmp_snapshot, fmt, size_hint, encoding=profile.encoding, delimiter=profile.delimiter
            )
        except SourceError as exc:
            raise _source_error(exc, source_path, located) from exc
        if plan.total_records == 0:
            raise EmptySource("export has no records", file=str(source_path))
        manifest = {
            "export_id": export_id,
            "source": source,
            "source_path": str(source_path.resolve()),
            "profile": profile.name,
            "profile_origin": profile.origin,
            "format": fmt,
            "sha256": sha256,
            "bytes": size,
            "records": plan.total_records,
            "chunk_size": plan.chunk_size,
            "chunks": len(plan.chunks),
            "lido_schema_version": profile.lido_schema_version,
            "fetched_at": (now or datetime.now(UTC)).isoformat(),
            "kind": "full",
            "copied_verbatim": profile.format in ("csv", "jsonl"),  # same lines and offsets as the museum's file
        }
        if located is not None:
            manifest["source_locators"] = {"file": located.file, "records": located.records}
        store.write_json(staging / "manifest.json", manifest)
        with atomic_writer(staging / "plan.json") as handle:
            handle.write(plan.to_json().encode("utf-8"))
        final = store.snapshot_dir(export_id)
        if final.exists():  # a concurrent extract of the same bytes won the race
            return open_export(store, export_id)
        staging.rename(final)
        return open_export(store, export_id)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def open_export(store: ArtifactStore, export_id: str) -> ExportRef:
    """Re-open a snapshot by id (what every chunk step does first)."""
    folder = store.snapshot_dir(export_id)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise ChunkPlanError(f"no snapshot for export {export_id} under {folder}")
    manifest = store.read_json(manifest_path)
    plan = chunking.ChunkPlan.from_json((folder / "plan.json").read_text(encoding="utf-8"))
    fmt = manifest["format"]
    return ExportRef(
        export_id=export_id,
        profile=manifest["profile"],
        snapshot=folder / f"snapshot.{_SUFFIX[fmt]}",
        snapshot_format=fmt,
        plan=plan,
        manifest=manifest,
    )


def source_locators(export: ExportRef) -> SourceLocators | None:
    """Where the records of a rewritten export were in the museum's file (``None``: use the snapshot's own).

    ``None`` for CSV/JSONL copies (their snapshot locators are the file's), harvests, and snapshots
    extracted before the sidecar existed.
    """
    meta = export.manifest.get("source_locators")
    if not meta:
        return None
    return SourceLocators(export.snapshot.parent, str(meta["file"]), int(meta["records"]))


def publish(
    store: ArtifactStore, catalog: Any, search: Any, export_id: str, *, keep: int
) -> publication.PublicationOutcome:
    """Publish an extracted export in both stores (``search`` None: PostgreSQL only).

    Its plan says how many chunks the gate expects; an incremental export's manifest lists the records the
    source deleted. The one way the pipeline, the UI's publish job and ``museum-sync publish`` publish.
    """
    export = open_export(store, export_id)
    deleted = export.manifest.get("deleted_ids", []) if export.manifest.get("kind") == "incremental" else []
    return publication.publish_export(
        catalog, search, export_id, len(export.plan.chunks), keep=keep, deleted_record_ids=deleted
    )


def resolve_profile(export: ExportRef) -> Profile:
    origin = export.manifest.get("profile_origin")
    if origin and Path(origin).is_file():
        return load_profile(Path(origin))
    return load_profile(export.profile)


@dataclass
class ChunkReport:
    """Everything the checks, the catalogue and the steward need to know about one validated chunk."""

    export_id: str
    partition_key: str
    index: int
    records: int
    valid: int
    rejected: int
    reasons: dict[str, int]
    blocking_reasons: dict[str, int]
    reject_ratio: float
    validity_passed: bool
    drift_passed: bool
    drift: dict[str, Any]
    drift_diff: str
    valid_digest: str
    sample_rejects: list[dict[str, Any]] = field(default_factory=list)
    profile: str = ""

    @property
    def passed(self) -> bool:
        return self.validity_passed and self.drift_passed

    @property
    def failed_checks(self) -> list[str]:
        return [
            name
            for name, ok in (("schema_drift", self.drift_passed), ("record_validity", self.validity_passed))
            if not ok
        ]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChunkReport:
        data = {k: v for k, v in data.items() if k != "passed"}
        return cls(**data)


def _reject_row(rejected: Rejected) -> dict[str, Any]:
    return {
        "locator": rejected.locator.as_dict(),
        "record_id": rejected.record_id,
        "problems": [
            {"field": p.field, "reason": p.reason.value, "message": p.message, "value": p.value}
            for p in rejected.problems
        ],
        "raw": rejected.raw,
    }


def validate_chunk(store: ArtifactStore, export: ExportRef, index: int, profile: Profile | None = None) -> ChunkReport:
    """Validate one chunk: write valid records, rejects and the report atomically; decide both checks."""
    _failpoint("validate_chunk")
    profile = profile or resolve_profile(export)
    out_dir = store.chunk_dir(export.export_id, index)
    validator = ChunkValidator(profile=profile, export_id=export.export_id)
    header: tuple[str, ...] | None = None
    if export.snapshot_format == "csv":
        fields, _, _ = sources.csv_header(export.snapshot, encoding=profile.encoding, delimiter=profile.delimiter)
        header = tuple(fields)
    fingerprint = FingerprintBuilder(encoding=profile.encoding, header=header)
    samples: list[dict[str, Any]] = []
    digest = hashlib.sha256()
    records = 0
    with (
        atomic_writer(out_dir / "valid.jsonl") as valid_out,
        atomic_writer(out_dir / "rejects.jsonl") as reject_out,
    ):
        for locator, raw in _chunk_records(export, index, profile):
            records += 1
            result = validator.validate(locator, raw)
            version = result.record.lido_schema_version if isinstance(result, Valid) else None
            fingerprint.add(raw, lido_version=version if isinstance(raw, bytes) else None)
            if isinstance(result, Valid):
                line = result.record.storage_json() + b"\n"
                digest.update(line)
                valid_out.write(line)
            else:
                row = _reject_row(result)
                if len(samples) < SAMPLE_REJECTS:
                    samples.append(row | {"raw": row["raw"][:500]})
                reject_out.write(json.dumps(row, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n")
    drift: DriftReport = compare(fingerprint.finish(), profile)
    blocking = {r: n for r, n in validator.reasons.items() if r in profile.policy.blocking_reasons}
    ratio = validator.rejected / records if records else 0.0
    report = ChunkReport(
        export_id=export.export_id,
        partition_key=export.partition_key(index),
        index=index,
        records=records,
        valid=validator.valid,
        rejected=validator.rejected,
        reasons=dict(sorted(validator.reasons.items())),
        blocking_reasons=dict(sorted(blocking.items())),
        reject_ratio=round(ratio, 6),
        validity_passed=not blocking and ratio <= profile.policy.max_reject_ratio,
        drift_passed=not drift.blocks,
        drift=drift.to_dict(),
        drift_diff=drift.diff_text(),
        valid_digest=digest.hexdigest(),
        sample_rejects=samples,
        profile=profile.name,
    )
    store.write_json(out_dir / "report.json", report.to_dict())
    return report


def _chunk_records(export: ExportRef, index: int, profile: Profile) -> Iterator[tuple[Locator, Any]]:
    """The chunk's records, each with the locator a steward can open: the original one where there is one."""
    records = chunking.read_chunk(
        export.snapshot, export.plan, index, encoding=profile.encoding, delimiter=profile.delimiter
    )
    located = source_locators(export)
    if located is None:
        copied = copied_file_name(export)
        return records if copied is None else ((replace(loc, file=copied), raw) for loc, raw in records)
    located.check()
    return located.relocate(records, export.plan.first_record(index))


def copied_file_name(export: ExportRef) -> str | None:
    """The museum's file name for a CSV/JSONL export copied byte for byte (same lines, same offsets).

    A steward looks for ``artwork_data.csv:1234``, not the snapshot's internal name. None for harvests
    (no file), rewritten formats (``source_locators`` names theirs) and snapshots older than the flag.
    """
    path = export.manifest.get("source_path")
    if not path or not export.manifest.get("copied_verbatim"):
        return None
    return Path(str(path)).name


def read_report(store: ArtifactStore, export_id: str, index: int) -> ChunkReport | None:
    path = store.chunk_dir(export_id, index) / "report.json"
    return ChunkReport.from_dict(store.read_json(path)) if path.is_file() else None


def iter_valid_records(store: ArtifactStore, export_id: str, index: int) -> Iterator[MuseumRecord]:
    """Stream a chunk's validated records back (strict JSON validation: what was written is what loads)."""
    with (store.chunk_dir(export_id, index) / "valid.jsonl").open("rb") as handle:
        for line in handle:
            yield MuseumRecord.model_validate_json(line)


def iter_rejects(store: ArtifactStore, export_id: str, index: int) -> Iterator[dict[str, Any]]:
    path = store.chunk_dir(export_id, index) / "rejects.jsonl"
    if not path.is_file():
        return
    with path.open("rb") as handle:
        for line in handle:
            yield json.loads(line)


def valid_digest_on_disk(store: ArtifactStore, export_id: str, index: int) -> str:
    path = store.chunk_dir(export_id, index) / "valid.jsonl"
    return file_sha256(path) if path.is_file() else ""


def duplicate_reject(record: MuseumRecord, locator: Locator | None = None) -> dict[str, Any]:
    """A reject row for a record whose id an earlier chunk of the export already loaded."""
    problem = Problem("record_id", Reason.DUPLICATE_ID, f"record id {record.record_id} already loaded by another chunk")
    loc = locator or Locator(file="(validated chunk)", line=0)
    return _reject_row(Rejected(loc, record.record_id, (problem,), record.model_dump_json()))


def reason_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for row in rows:
        counts.update({p["reason"] for p in row["problems"]})
    return dict(sorted(counts.items()))


# -- catalogue-facing stages ---------------------------------------------------------------------------
# Imported lazily so that validate-only processes (benchmarks, `museum-sync validate`) need no psycopg.


class GateRefused(Exception):
    """``load_chunk`` refused a partition: its validation failed, is missing, or is stale."""


def _quarantine_rows(
    export_id: str, partition_key: str, rows: Iterator[dict[str, Any]] | list[dict[str, Any]]
) -> Iterator[Any]:
    from museum_sync.clients.catalog import QuarantineRow

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


def record_chunk_outcome(catalog: Any, store: ArtifactStore, report: ChunkReport, run_id: str | None) -> None:
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


def _after_failpoint(name: str, records: Iterator[MuseumRecord]) -> Iterator[MuseumRecord]:
    """Fire ``name`` when the catalogue's COPY pulls the first row: inside its transaction, locks held."""
    _failpoint(name)
    yield from records


def load_chunk(catalog: Any, store: ArtifactStore, export_id: str, index: int, run_id: str | None) -> Any:
    """COPY a validated chunk into the export's staging table, behind the gate.

    The gate holds even when a UI "re-execute from failure" skips the blocking checks: the chunk must
    have passed validation, and the validated records on disk must be the ones that passed (same digest).
    Duplicate ids across chunks are quarantined as ``duplicate_id`` beside the chunk's other rejects.
    """
    key = f"{export_id}/{index:04d}"
    state = catalog.chunk_state(key)
    if state is None:
        raise GateRefused(f"{key}: never validated; run validated_chunk for this partition first")
    if state.state == "quarantined":
        raise GateRefused(f"{key}: quarantined by its checks; fix the cause and replay the whole chain")
    on_disk = valid_digest_on_disk(store, export_id, index)
    if not state.validated_digest or state.validated_digest != on_disk:
        raise GateRefused(f"{key}: validated output changed since it passed its checks (stale); re-run validated_chunk")
    records = iter_valid_records(store, export_id, index)
    if os.environ.get(FAILPOINTS_ENV):
        records = _after_failpoint("load_chunk", records)
    result = catalog.load_chunk(export_id, key, index, records, on_disk, run_id=run_id)
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
            row = duplicate_reject(by_id[rid])
            row["problems"] = [
                {"field": "record", "reason": "invalid_value", "message": "contains U+0000", "value": None}
            ]
            rows.append(row)
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
    catalog: Any, export: ExportRef, index: int, exc: Exception, run_id: str | None
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


def index_chunk(search: Any, catalog: Any, store: ArtifactStore, export_id: str, index: int, run_id: str | None) -> Any:
    """Index a loaded chunk into the export's Elasticsearch index, behind the same gate as the catalogue.

    Only the records PostgreSQL kept for this chunk are indexed (a duplicate id loaded by another chunk is
    not), so both stores hold the same version of every record. Document id = record id: re-indexing a
    chunk leaves the same index. Documents Elasticsearch refuses are quarantined (``index_rejected``)
    beside the chunk's other rejects, and the partition is held open: the publication gate then refuses
    the export because the index and the catalogue disagree.
    """
    key = f"{export_id}/{index:04d}"
    state = catalog.chunk_state(key)
    on_disk = valid_digest_on_disk(store, export_id, index)
    if state is None or state.state != "loaded" or state.validated_digest != on_disk:
        raise GateRefused(f"{key}: not loaded into the catalogue (or stale); index it after catalog_chunk")
    kept = set(catalog.loaded_record_ids(export_id, key))
    search.ensure_index(export_id)
    result = search.index_records(
        export_id, (r for r in iter_valid_records(store, export_id, index) if r.record_id in kept)
    )
    if result.errors:
        failed = {e.record_id: e for e in result.errors}
        rows = list(iter_rejects(store, export_id, index))
        for record in iter_valid_records(store, export_id, index):
            if record.record_id not in kept:
                rows.append(duplicate_reject(record))  # what load_chunk quarantined: keep it
                continue
            failure = failed.get(record.record_id)
            if failure is not None:
                problem = Problem(
                    "record",
                    Reason.INDEX_REJECTED,
                    f"Elasticsearch refused the document ({failure.status}): {failure.reason}",
                    None,
                )
                loc = Locator(file="(validated chunk)", line=0)
                rows.append(_reject_row(Rejected(loc, record.record_id, (problem,), record.model_dump_json())))
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
