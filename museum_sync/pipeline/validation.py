"""Validate one chunk of a snapshot, and read back what validation wrote.

``validate_chunk`` maps and validates a chunk's records with its profile, writes the valid records, the
rejects and a ``ChunkReport`` atomically under ``chunks/<export_id>/<nnnn>/``, and decides both blocking
checks (schema drift, record validity). A redelivered step writes the same files again. No catalogue here:
what happens to the verdict is ``pipeline.loading``'s job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from museum_sync.clients.artifacts import ArtifactStore, atomic_writer, file_sha256
from museum_sync.core import chunking, sources
from museum_sync.core.drift import DriftReport, FingerprintBuilder, compare
from museum_sync.core.field_types import null_set
from museum_sync.core.locator import Locator, where
from museum_sync.core.models import MuseumRecord, StoredRecord
from museum_sync.core.profiles import Profile
from museum_sync.core.validation import ChunkValidator, Rejected, Valid
from museum_sync.pipeline.failpoints import failpoint
from museum_sync.pipeline.snapshot import ExportRef, copied_file_name, resolve_profile, source_locators

__all__ = [
    "SAMPLE_REJECTS",
    "ChunkReport",
    "iter_rejects",
    "iter_stored_records",
    "iter_valid_locators",
    "iter_valid_records",
    "read_report",
    "reject_row",
    "valid_digest_on_disk",
    "validate_chunk",
]

SAMPLE_REJECTS = 20  # rejects shown in check metadata; all of them are in quarantine


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


def reject_row(rejected: Rejected) -> dict[str, Any]:
    """A line of ``rejects.jsonl``: where the record is, its id, every problem, its raw text."""
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
    failpoint("validate_chunk")
    profile = profile or resolve_profile(export)
    out_dir = store.chunk_dir(export.export_id, index)
    # A profile's [lookups] files may sit beside the museum's export file.
    source_path = export.manifest.source_path
    side_dirs = (Path(source_path).parent,) if source_path else ()
    validator = ChunkValidator(profile=profile, export_id=export.export_id, side_dirs=side_dirs)
    header: tuple[str, ...] | None = None
    if export.snapshot_format == "csv":
        fields, _, _ = sources.csv_header(export.snapshot, encoding=profile.encoding, delimiter=profile.delimiter)
        header = tuple(fields)
    fingerprint = FingerprintBuilder(encoding=profile.encoding, header=header, nulls=null_set(profile.nulls))
    samples: list[dict[str, Any]] = []
    digest = hashlib.sha256()
    records = 0
    with (
        atomic_writer(out_dir / "valid.jsonl") as valid_out,
        atomic_writer(out_dir / "rejects.jsonl") as reject_out,
        atomic_writer(out_dir / "locators.jsonl") as locator_out,
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
                # Lineage beside the records, not in them: valid.jsonl, its digest and content hashes stay as they were.
                locator_out.write(json.dumps(where(locator.file, locator.line, locator.pointer)).encode() + b"\n")
            else:
                row = reject_row(result)
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
        if copied is None:
            return records
        # The constructor, not dataclasses.replace: it inspects the fields on every call, per record.
        return ((Locator(copied, loc.line, loc.offset, loc.pointer), raw) for loc, raw in records)
    located.check()
    return located.relocate(records, export.plan.first_record(index))


# -- what validation wrote ----------------------------------------------------------------------------------


def read_report(store: ArtifactStore, export_id: str, index: int) -> ChunkReport | None:
    path = store.chunk_dir(export_id, index) / "report.json"
    return ChunkReport.from_dict(store.read_json(path)) if path.is_file() else None


def iter_valid_records(store: ArtifactStore, export_id: str, index: int) -> Iterator[MuseumRecord]:
    """Stream a chunk's validated records back (strict JSON validation: what was written is what loads)."""
    with (store.chunk_dir(export_id, index) / "valid.jsonl").open("rb") as handle:
        for line in handle:
            yield MuseumRecord.model_validate_json(line)


def iter_stored_records(store: ArtifactStore, export_id: str, index: int) -> Iterator[StoredRecord]:
    """Stream a chunk's validated records as stored, without pydantic: what loading needs (``StoredRecord``)."""
    with (store.chunk_dir(export_id, index) / "valid.jsonl").open("rb") as handle:
        for line in handle:
            yield StoredRecord.from_line(line)


def iter_valid_locators(store: ArtifactStore, export_id: str, index: int) -> Iterator[str]:
    """Each validated record's ``file:line`` in the snapshot, in ``valid.jsonl`` order (none for a chunk
    validated before lineage: the catalogue then stores NULL)."""
    return _iter_json_lines(store.chunk_dir(export_id, index) / "locators.jsonl")


def iter_rejects(store: ArtifactStore, export_id: str, index: int) -> Iterator[dict[str, Any]]:
    return _iter_json_lines(store.chunk_dir(export_id, index) / "rejects.jsonl")


def _iter_json_lines(path: Path) -> Iterator[Any]:
    """One JSON value per line of ``path``; nothing when the file is absent."""
    if not path.is_file():
        return
    with path.open("rb") as handle:
        for line in handle:
            yield json.loads(line)


def valid_digest_on_disk(store: ArtifactStore, export_id: str, index: int) -> str:
    path = store.chunk_dir(export_id, index) / "valid.jsonl"
    return file_sha256(path) if path.is_file() else ""
