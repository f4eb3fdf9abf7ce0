"""One record per line: JSON Lines (parsed here) and one-XML-record-per-line files (bytes, parsed later)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from museum_sync.core.exceptions import ChunkPlanError, SourceFormatError
from museum_sync.core.locator import Locator
from museum_sync.core.sources.reading import (
    ERROR,
    MAX_RECORD_BYTES,
    UNPARSEABLE,
    RawRecord,
    Stream,
    check_boundary,
    check_exists,
    decode_error,
    json_kind,
    open_checked,
    skip_bom,
)

__all__ = ["iter_jsonl", "iter_xmllines", "jsonl_boundaries", "xmllines_boundaries"]


def _lines(
    fh: Stream, *, file: str, pos: int, first_line: int, end: int | None, max_record: int
) -> Iterator[tuple[int, int, bytes]]:
    """``(line number, byte offset, content without its line ending)`` of every non-blank line."""
    if pos == 0:
        pos = skip_bom(fh, file=file, codec=None, encoding="utf-8")
    limit = max_record + 2  # room for CRLF
    line = first_line
    while end is None or pos < end:
        raw = fh.readline(limit)
        if not raw:
            return
        n = len(raw)
        if n >= limit and not raw.endswith(b"\n"):
            raise SourceFormatError(
                f"line is longer than {max_record} bytes; is this really one record per line?",
                file=file,
                line=line,
                offset=pos,
            )
        if end is not None and pos + n > end:
            raise ChunkPlanError(
                f"{file}: line {line} (byte {pos}) runs past the end of its chunk (byte {end}); "
                "the plan does not fit this file"
            )
        content = raw
        if content.endswith(b"\n"):
            content = content[:-1]
            if content.endswith(b"\r"):
                content = content[:-1]
        if content and not content.isspace():
            yield line, pos, content
        pos += n
        line += 1


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\0" in value
    if isinstance(value, dict):
        return any("\0" in k or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


def _jsonl_record(text: str, offset: int) -> RawRecord:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return {UNPARSEABLE: text, ERROR: f"invalid JSON: {exc.msg} at column {exc.colno}"}
    except RecursionError:
        return {UNPARSEABLE: text, ERROR: "invalid JSON: nested too deeply"}
    if not isinstance(value, dict):
        return {UNPARSEABLE: text, ERROR: f"expected a JSON object, got {json_kind(value)}"}
    if "\\u0000" in text and _contains_nul(value):
        return {
            UNPARSEABLE: text,
            ERROR: f"JSON record at byte {offset} holds a \\u0000 (NUL) character; "
            "NUL cannot be stored as text: fix the export",
        }
    return value


def _jsonl_records(
    fh: Stream,
    *,
    file: str,
    pos: int,
    first_line: int,
    end: int | None,
    max_record: int,
    parse: bool = True,
) -> Iterator[tuple[Locator, RawRecord]]:
    """JSON Lines records; ``parse=False`` only checks decoding (chunk planning needs boundaries only)."""
    empty: RawRecord = {}
    for line, offset, content in _lines(fh, file=file, pos=pos, first_line=first_line, end=end, max_record=max_record):
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise decode_error(
                exc, file=file, encoding="utf-8", line=line, line_offset=offset, record_line=line
            ) from None
        yield Locator(file, line, offset), (_jsonl_record(text, offset) if parse else empty)


def iter_jsonl(
    path: Path,
    *,
    start: int | None = None,
    end: int | None = None,
    first_line: int = 1,
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> Iterator[tuple[Locator, RawRecord]]:
    """Stream JSON Lines: one JSON object per line; blank lines are skipped but counted.

    A line that is not a JSON object is yielded as ``{"__unparseable__": text, "__error__": why}``.
    Undecodable UTF-8 raises ``SourceDecodeError`` naming the line and byte.
    """
    check_exists(path)
    return _iter_lines_format(path, "jsonl", start, end, first_line, max_record_bytes)


def iter_xmllines(
    path: Path,
    *,
    start: int | None = None,
    end: int | None = None,
    first_line: int = 1,
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> Iterator[tuple[Locator, bytes]]:
    """Stream one-XML-record-per-line files: each non-blank line's raw bytes, without the line ending.

    Bytes, not text: the XML parser reads the encoding declaration itself.
    """
    check_exists(path)
    return _iter_xmllines(path, start, end, first_line, max_record_bytes)


def _iter_xmllines(
    path: Path, start: int | None, end: int | None, first_line: int, max_record: int
) -> Iterator[tuple[Locator, bytes]]:
    file = str(path)
    with open_checked(path) as fh:
        pos = 0
        if start is not None:
            check_boundary(fh, start, file=file)
            pos = start
        for line, offset, content in _lines(
            fh, file=file, pos=pos, first_line=first_line, end=end, max_record=max_record
        ):
            yield Locator(file, line, offset), content


def _iter_lines_format(
    path: Path, fmt: str, start: int | None, end: int | None, first_line: int, max_record: int
) -> Iterator[tuple[Locator, RawRecord]]:
    file = str(path)
    with open_checked(path) as fh:
        pos = 0
        if start is not None:
            check_boundary(fh, start, file=file)
            pos = start
        yield from _jsonl_records(fh, file=file, pos=pos, first_line=first_line, end=end, max_record=max_record)


def jsonl_boundaries(fh: Stream, file: str, *, max_record_bytes: int) -> Iterator[Locator]:
    """Every JSON Lines record's locator, from ``fh`` open at byte 0; lines are checked for decoding only."""
    records = _jsonl_records(fh, file=file, pos=0, first_line=1, end=None, max_record=max_record_bytes, parse=False)
    return (locator for locator, _ in records)


def xmllines_boundaries(fh: Stream, file: str, *, max_record_bytes: int) -> Iterator[Locator]:
    """Every XML line's locator, from ``fh`` open at byte 0."""
    lines = _lines(fh, file=file, pos=0, first_line=1, end=None, max_record=max_record_bytes)
    return (Locator(file, number, offset) for number, offset, _ in lines)
