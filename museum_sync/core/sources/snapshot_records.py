"""A snapshot's records in any of its three formats: one entry point for reading and one for chunk planning."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, TypeAlias

from museum_sync.core.locator import Locator
from museum_sync.core.sources.csv_files import csv_boundaries, iter_csv
from museum_sync.core.sources.line_files import iter_jsonl, iter_xmllines, jsonl_boundaries, xmllines_boundaries
from museum_sync.core.sources.reading import MAX_RECORD_BYTES, RawRecord

__all__ = ["SnapshotFormat", "iter_records", "record_boundaries"]

SnapshotFormat: TypeAlias = Literal["csv", "jsonl", "xmllines"]


def iter_records(
    path: Path,
    fmt: SnapshotFormat,
    *,
    start: int | None = None,
    end: int | None = None,
    first_line: int | None = None,
    encoding: str = "utf-8",
    delimiter: str = ",",
    header: list[str] | None = None,
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> Iterator[tuple[Locator, RawRecord | bytes]]:
    """The records of a snapshot in any of its three formats (see the format-specific readers)."""
    if fmt == "csv":
        return iter_csv(
            path,
            encoding=encoding,
            delimiter=delimiter,
            start=start,
            end=end,
            header=header,
            first_line=2 if first_line is None else first_line,
            max_record_bytes=max_record_bytes,
        )
    line = 1 if first_line is None else first_line
    if fmt == "jsonl":
        return iter_jsonl(path, start=start, end=end, first_line=line, max_record_bytes=max_record_bytes)
    if fmt == "xmllines":
        return iter_xmllines(path, start=start, end=end, first_line=line, max_record_bytes=max_record_bytes)
    raise ValueError(f"unknown snapshot format {fmt!r}")


def record_boundaries(
    fh: io.BufferedReader[Any],
    path: Path,
    fmt: SnapshotFormat,
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> tuple[int, int, Iterator[Locator]]:
    """Where a snapshot's records start, and every record's locator, read from ``fh`` open at byte 0.

    For chunk planning (``chunking.plan_chunks``, which hashes the bytes as they pass): the very readers a
    full read uses, so the boundaries are theirs. Returns the byte offset and line number where records
    start (after the CSV header; 0 and 1 otherwise) and the records' locators. The CSV header is read and
    checked before this returns; JSON Lines are checked for decoding only (bad lines are read-time rejects).
    """
    if fmt == "csv":
        return csv_boundaries(fh, path, encoding=encoding, delimiter=delimiter, max_record_bytes=max_record_bytes)
    file = str(path)
    if fmt == "jsonl":
        return 0, 1, jsonl_boundaries(fh, file, max_record_bytes=max_record_bytes)
    if fmt == "xmllines":
        return 0, 1, xmllines_boundaries(fh, file, max_record_bytes=max_record_bytes)
    raise ValueError(f"unknown snapshot format {fmt!r}")
