"""Chunk plans: the byte range of every chunk of N records in a snapshot, so a worker reads only its own.

``plan_chunks`` scans a snapshot once, streaming, with the very readers a full read uses (so boundaries
are csv's own record boundaries) and hashes the bytes in the same pass. ``read_chunk`` seeks to one
span and yields exactly its records, with the same locators (line numbers, offsets) as a full read.

Spans are contiguous and cover ``[header_end, file size)``: a chunk ends where the next chunk's first
record begins, so blank lines between records belong to the chunk before them, and the last chunk runs
to the end of the file. ``ChunkSpan.first_line`` is the line number at ``start`` (the first record's line,
unless blank lines directly follow a CSV header). Same bytes and chunk size give the same plan, and the
same partition keys (``keys.partition_key``: ``<export_id>/<nnnn>``).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from museum_sync.core.exceptions import ChunkPlanError, EmptySource, SourceNotFound
from museum_sync.core.keys import partition_key
from museum_sync.core.locator import Locator
from museum_sync.core.sources import (
    MAX_RECORD_BYTES,
    RawRecord,
    SnapshotFormat,
    csv_header,
    iter_records,
    open_checked,
    record_boundaries,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["ChunkPlan", "ChunkSpan", "plan_chunks", "read_chunk", "verify_snapshot"]

_FORMATS: Final = ("csv", "jsonl", "xmllines")
_SHA256: Final = re.compile(r"^[0-9a-f]{64}$")
_BUFFER: Final = 256 * 1024


@dataclass(frozen=True)
class ChunkSpan:
    """Records ``[start, end)`` of the snapshot's bytes; ``first_line`` is the line number at ``start``."""

    index: int
    start: int
    end: int
    records: int
    first_line: int


@dataclass(frozen=True)
class ChunkPlan:
    """Every chunk of a snapshot, tied to its bytes by ``snapshot_sha256``."""

    snapshot_sha256: str
    format: SnapshotFormat
    chunk_size: int
    header_end: int  # byte offset where records start (after the CSV header; 0 otherwise)
    total_records: int
    chunks: tuple[ChunkSpan, ...]

    @property
    def size(self) -> int:
        """The snapshot's size in bytes (the last span ends at the end of the file)."""
        return self.chunks[-1].end if self.chunks else self.header_end

    def first_record(self, index: int) -> int:
        """The 0-based ordinal of chunk ``index``'s first record: where its entries start in a sidecar."""
        return sum(span.records for span in self.chunks[:index])

    def partition_keys(self, export_id: str) -> list[str]:
        """Dagster partition keys, one per chunk: stable for the same bytes and chunk size."""
        return [partition_key(export_id, span.index) for span in self.chunks]

    def to_json(self) -> str:
        """Deterministic JSON (sorted keys, no whitespace variation): same plan, same bytes."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> ChunkPlan:
        """Parse and check a stored plan; anything inconsistent is a ``ChunkPlanError``."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise TypeError("a plan is a JSON object")
            spans = tuple(ChunkSpan(**span) for span in data.pop("chunks"))
            plan = cls(chunks=spans, **data)
        except (ValueError, TypeError, KeyError) as exc:
            raise ChunkPlanError(f"not a chunk plan: {exc}") from None
        plan.check()
        return plan

    def check(self) -> None:
        """Raise ``ChunkPlanError`` unless the plan is internally consistent."""
        problems: list[str] = []
        if not isinstance(self.snapshot_sha256, str) or not _SHA256.match(self.snapshot_sha256):
            problems.append("snapshot_sha256 is not a lowercase hex sha256")
        if self.format not in _FORMATS:
            problems.append(f"unknown format {self.format!r}")
        if not _is_int(self.chunk_size) or self.chunk_size < 1:
            problems.append(f"chunk_size {self.chunk_size!r} is not a positive integer")
        if not _is_int(self.header_end) or self.header_end < 0:
            problems.append(f"header_end {self.header_end!r} is not a byte offset")
        if not self.chunks:
            problems.append("no chunks")
        position = self.header_end
        for i, span in enumerate(self.chunks):
            fields = (span.index, span.start, span.end, span.records, span.first_line)
            if not all(_is_int(v) for v in fields):
                problems.append(f"chunk {i}: non-integer field")
                break
            if span.index != i:
                problems.append(f"chunk {i} has index {span.index}")
            if span.start != position:
                problems.append(f"chunk {i} starts at byte {span.start}, expected {position} (not contiguous)")
            if span.end <= span.start:
                problems.append(f"chunk {i} is empty or reversed ({span.start}-{span.end})")
            if not 1 <= span.records <= self.chunk_size:
                problems.append(f"chunk {i} has {span.records} records (chunk size {self.chunk_size})")
            if span.records != self.chunk_size and i != len(self.chunks) - 1:
                problems.append(f"chunk {i} has {span.records} records but is not the last")
            if span.first_line < 1:
                problems.append(f"chunk {i} first_line {span.first_line}")
            position = span.end
        if self.chunks and all(_is_int(s.records) for s in self.chunks):
            counted = sum(span.records for span in self.chunks)
            if counted != self.total_records:
                problems.append(f"chunks hold {counted} records, total_records says {self.total_records}")
        if problems:
            raise ChunkPlanError("invalid chunk plan: " + "; ".join(problems))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _HashingRaw(io.RawIOBase):
    """Raw file that hashes every byte read: the planning pass hashes in blocks, not per line."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._file = io.FileIO(path, "rb")
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        n = self._file.readinto(buffer)
        if n:
            with memoryview(buffer) as view:
                self.sha256.update(view[:n])
            self.size += n
        return n or 0

    def close(self) -> None:
        self._file.close()
        super().close()


def plan_chunks(
    path: Path,
    fmt: SnapshotFormat,
    chunk_size: int = 1000,
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> ChunkPlan:
    """Scan a snapshot once: chunk spans of ``chunk_size`` records plus the file's sha256.

    Raises ``EmptySource`` if the snapshot has no records, and whatever a full read would raise for a
    broken file (undecodable bytes, an unterminated quote), so a bad snapshot fails at indexing, before
    any chunk runs. JSON Lines are checked for decoding only; bad lines become rejects at read time.
    """
    if not _is_int(chunk_size) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if fmt not in _FORMATS:
        raise ValueError(f"unknown snapshot format {fmt!r}")
    if not path.exists():
        raise SourceNotFound("file does not exist", file=str(path))
    file = str(path)
    raw = _HashingRaw(path)
    with io.BufferedReader(raw, _BUFFER) as fh:
        header_end, line, locators = record_boundaries(
            fh, path, fmt, encoding=encoding, delimiter=delimiter, max_record_bytes=max_record_bytes
        )
        spans: list[ChunkSpan] = []
        start, first_line, count, total = header_end, line, 0, 0
        for locator in locators:
            if count == chunk_size:
                assert locator.offset is not None
                spans.append(ChunkSpan(len(spans), start, locator.offset, count, first_line))
                start, first_line, count = locator.offset, locator.line, 0
            count += 1
            total += 1
        while fh.read(_BUFFER):  # the readers stop at EOF; make sure every byte is hashed
            pass
    if total == 0:
        raise EmptySource("the snapshot holds no records", file=file)
    spans.append(ChunkSpan(len(spans), start, raw.size, count, first_line))
    plan = ChunkPlan(
        snapshot_sha256=raw.sha256.hexdigest(),
        format=fmt,
        chunk_size=chunk_size,
        header_end=header_end,
        total_records=total,
        chunks=tuple(spans),
    )
    plan.check()
    return plan


def read_chunk(
    path: Path,
    plan: ChunkPlan,
    index: int,
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> Iterator[tuple[Locator, RawRecord | bytes]]:
    """Yield exactly the records of chunk ``index``, reading only its byte range.

    Cheap checks run before anything is yielded (file size, CSV header end, range boundaries);
    a record count different from the plan's raises ``ChunkPlanError`` after the last record.
    ``verify_snapshot`` is the full (hashing) check.
    """
    if not 0 <= index < len(plan.chunks):
        raise ChunkPlanError(f"{path}: no chunk {index}; the plan has {len(plan.chunks)}")
    span = plan.chunks[index]
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise SourceNotFound("snapshot does not exist", file=str(path)) from None
    if size != plan.size:
        raise ChunkPlanError(f"{path}: snapshot is {size} bytes but its plan covers {plan.size}")
    header: list[str] | None = None
    if plan.format == "csv":
        header, header_end, _ = csv_header(
            path, encoding=encoding, delimiter=delimiter, max_record_bytes=max_record_bytes
        )
        if header_end != plan.header_end:
            raise ChunkPlanError(
                f"{path}: the CSV header ends at byte {header_end} but the plan says {plan.header_end}"
            )
    records = iter_records(
        path,
        plan.format,
        start=span.start,
        end=span.end,
        first_line=span.first_line,
        encoding=encoding,
        delimiter=delimiter,
        header=header,
        max_record_bytes=max_record_bytes,
    )
    return _counted(records, span, str(path))


def _counted(
    records: Iterator[tuple[Locator, RawRecord | bytes]], span: ChunkSpan, file: str
) -> Iterator[tuple[Locator, RawRecord | bytes]]:
    count = 0
    for item in records:
        count += 1
        if count > span.records:
            raise ChunkPlanError(f"{file}: chunk {span.index} holds more than the {span.records} planned records")
        yield item
    if count != span.records:
        raise ChunkPlanError(f"{file}: chunk {span.index} holds {count} records, the plan says {span.records}")


def verify_snapshot(path: Path, plan: ChunkPlan) -> None:
    """Recompute the snapshot's sha256 (streaming) and raise ``ChunkPlanError`` unless it matches."""
    digest = hashlib.sha256()
    size = 0
    with open_checked(path) as fh:
        while block := fh.read(1024 * 1024):
            digest.update(block)
            size += len(block)
    if size != plan.size:
        raise ChunkPlanError(f"{path}: snapshot is {size} bytes but its plan covers {plan.size}")
    actual = digest.hexdigest()
    if actual != plan.snapshot_sha256:
        raise ChunkPlanError(
            f"{path}: snapshot sha256 is {actual} but the plan was made for {plan.snapshot_sha256}: "
            "the bytes changed after indexing"
        )
