"""Streaming readers for export files: CSV, JSON Lines, one-XML-record-per-line, and JSON documents.

Every reader streams: memory stays flat whatever the file size (one record plus I/O buffers), and every
record comes with a ``Locator`` whose ``offset`` is the exact byte offset of its first byte, so that a
chunk plan (``chunking.py``) can later read one range of records by seeking, with the same locators as a
full read.

Bad *records* never raise; they are yielded with special keys that validation turns into an
``unparseable_record`` rejection (the raw text travels with them, so quarantine loses nothing):

=================  =====================================================================================
``__unparseable__``  the record's text; the record could not be parsed at all. ``__error__`` says why.
                     Used for a JSON line that is not a JSON object, a CSV record the csv module rejects
                     (e.g. a bare CR in an unquoted field), and a record holding NUL bytes.
``__extra__``        (CSV) the values beyond the header's width, in order; the header's fields are kept.
``__missing__``      (CSV) the header names a short row has no value for; those keys are absent.
=================  =====================================================================================

NUL bytes: Python's csv module accepts them, but PostgreSQL text cannot store them, so a record holding one
is yielded as ``__unparseable__`` with the byte offset of each NUL in ``__error__``. In that text the NULs
appear as U+FFFD, so the quarantine row can be stored anywhere; the exact bytes stay in the immutable
snapshot at the locator's offset. JSON Lines records with a ``\\u0000`` escape get the same treatment.

Whole-file problems raise (``exceptions.py``), always naming file, line and byte offset:
``SourceNotFound``; ``EmptySource`` when a CSV has no header at all or a JSON document is empty;
``SourceDecodeError`` for bytes the declared encoding cannot decode (it points at the exact byte: decoding
is per line, so the error names the bad byte's line and offset and the record it belongs to);
``SourceFormatError`` for an unterminated quoted field (it would swallow the rest of the file), a record
larger than ``max_record_bytes``, duplicate CSV header names (a dict would silently drop a column) and
invalid JSON documents. A file with a header but no records is *not* an error for the iterators (a chunk
read is never empty anyway); ``ensure_not_empty`` and ``chunking.plan_chunks`` raise ``EmptySource`` for
it, because an empty nightly dump is almost always a broken export job.

Line numbers count ``\\n``-terminated lines (CRLF counts once); blank lines are skipped but counted.
Encodings must be ASCII-compatible (``utf-8``, ``utf-8-sig``, ``latin-1``, ``cp1252``...): the readers
split on the byte ``\\n`` before decoding. A UTF-8 BOM is stripped (``csv_header`` reports it); a BOM in
a file declared as another encoding raises ``SourceDecodeError`` rather than leaking ``ï»¿`` into the
first column's name.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final, Literal, Protocol, TypeAlias

import ijson

from museum_sync.core.exceptions import (
    ChunkPlanError,
    EmptySource,
    ProfileError,
    SourceDecodeError,
    SourceError,
    SourceFormatError,
    SourceNotFound,
)
from museum_sync.core.locator import Locator

__all__ = [
    "ERROR",
    "EXTRA",
    "MAX_RECORD_BYTES",
    "MISSING",
    "UNPARSEABLE",
    "RawRecord",
    "SnapshotFormat",
    "csv_header",
    "ensure_not_empty",
    "iter_csv",
    "iter_json_items",
    "iter_jsonl",
    "iter_records",
    "iter_xmllines",
    "open_checked",
    "record_boundaries",
]

RawRecord: TypeAlias = dict[str, Any]
SnapshotFormat: TypeAlias = Literal["csv", "jsonl", "xmllines"]

UNPARSEABLE: Final = "__unparseable__"
ERROR: Final = "__error__"
EXTRA: Final = "__extra__"
MISSING: Final = "__missing__"

#: A record larger than this is almost certainly an unclosed quote swallowing the file; stop, don't OOM.
MAX_RECORD_BYTES: Final = 64 * 1024 * 1024
_BUFFER: Final = 256 * 1024
_BOM: Final = codecs.BOM_UTF8
_UTF16_BOMS: Final = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_REPARSE_LIMIT: Final = 8 * 1024 * 1024  # re-parse an invalid JSON document this small for an exact position
_SHOW_NULS: Final = 5


class _Stream(Protocol):
    """What the readers need of a binary file: ``io.BufferedReader`` over any raw file."""

    def read(self, size: int | None = -1, /) -> bytes: ...
    def readline(self, size: int | None = -1, /) -> bytes: ...
    def peek(self, size: int = 0, /) -> bytes: ...
    def seek(self, target: int, whence: int = 0, /) -> int: ...


# --------------------------------------------------------------------------------------------- helpers


def open_checked(path: Path, *, buffering: int = _BUFFER) -> io.BufferedReader:
    """Open an export for binary reading; a missing file is ``SourceNotFound``, not an ``OSError``."""
    try:
        raw = io.FileIO(path, "rb")
    except FileNotFoundError:
        raise SourceNotFound("file does not exist", file=str(path)) from None
    except IsADirectoryError:
        raise SourceError("is a directory, not an export file", file=str(path)) from None
    except PermissionError as exc:
        raise SourceError(f"cannot open: {exc.strerror}", file=str(path)) from None
    return io.BufferedReader(raw, buffering)


def _check_exists(path: Path) -> None:
    """Eager check, so that a missing file raises when the iterator is created, not on first ``next``."""
    if not path.exists():
        raise SourceNotFound("file does not exist", file=str(path))
    if path.is_dir():
        raise SourceError("is a directory, not an export file", file=str(path))


def _codec(encoding: str) -> str:
    """The codec used to decode each line; refuses encodings where ``\\n`` is not the byte 0x0A."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise ProfileError(f"unknown encoding {encoding!r}") from None
    if name == "utf-8-sig":
        name = "utf-8"  # the BOM is handled (and reported) by the reader itself
    probe = '\n\r,;\t|"'
    try:
        ascii_compatible = probe.encode(name) == probe.encode("ascii")
    except UnicodeError:
        ascii_compatible = False
    if not ascii_compatible:
        raise ProfileError(
            f"encoding {encoding!r} is not ASCII-compatible; exports must be UTF-8, Latin-1, cp1252 or similar"
        )
    return name


def _ensure_field_limit(max_record_bytes: int) -> None:
    """Let csv accept fields as large as a record may be (the default limit is 128 KiB).

    The limit is process-wide: only ever raise it, and fall back to the C long maximum where
    ``sys.maxsize`` does not fit (Windows).
    """
    wanted = max_record_bytes + 1
    if csv.field_size_limit() < wanted:
        try:
            csv.field_size_limit(wanted)
        except OverflowError:
            csv.field_size_limit(2**31 - 1)


def _skip_bom(fh: _Stream, *, file: str, codec: str | None, encoding: str) -> int:
    """Consume a UTF-8 BOM at the start of ``fh``; return how many bytes were skipped (0 or 3).

    ``codec`` None means the caller does not decode (XML lines, JSON): only the UTF-8 BOM is skipped.
    """
    head = fh.peek(4)[:4]
    if head.startswith(_BOM):
        if codec is not None and codec != "utf-8":
            raise SourceDecodeError(
                f"file starts with a UTF-8 byte-order mark but the declared encoding is {encoding}; declare utf-8",
                file=file,
                line=1,
                offset=0,
            )
        fh.read(3)
        return 3
    if codec is not None and head.startswith(_UTF16_BOMS):
        raise SourceDecodeError(
            f"file starts with a UTF-16 byte-order mark (declared encoding {encoding}); re-export as UTF-8",
            file=file,
            line=1,
            offset=0,
        )
    return 0


def _check_boundary(fh: _Stream, start: int, *, file: str) -> None:
    """A range must begin at a line start; cheap guard against a plan that does not fit the file."""
    size = fh.seek(0, io.SEEK_END)
    if start > size:
        raise ChunkPlanError(f"{file}: range starts at byte {start} but the file has only {size} bytes")
    if start > 0:
        fh.seek(start - 1)
        if fh.read(1) != b"\n":
            raise ChunkPlanError(f"{file}: byte {start} is not the start of a line; the plan does not fit")
    fh.seek(start)


def _read_range(path: Path, start: int, stop: int) -> bytes:
    """Re-read one record's bytes (rare path: unparseable records) without moving the main handle.

    The record's final line ending is dropped: it separates records, it is not part of one.
    """
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(stop - start)
    if data.endswith(b"\n"):
        data = data[:-2] if data.endswith(b"\r\n") else data[:-1]
    return data


def _nul_record(data: bytes, *, codec: str, start: int, what: str) -> RawRecord:
    """The ``__unparseable__`` form of a record that holds NUL bytes (see the module docstring)."""
    where: list[str] = []
    i = data.find(b"\0")
    while i >= 0 and len(where) < _SHOW_NULS:
        where.append(str(start + i))
        i = data.find(b"\0", i + 1)
    total = data.count(b"\0")
    more = f" and {total - len(where)} more" if total > len(where) else ""
    text = data.decode(codec, errors="replace").replace("\0", "\ufffd")
    return {
        UNPARSEABLE: text,
        ERROR: f"{what} holds {total} NUL byte(s) (0x00) at byte {', '.join(where)}{more}; "
        "NUL cannot be stored as text: fix the export",
    }


def _decode_error(
    exc: UnicodeDecodeError, *, file: str, encoding: str, line: int, line_offset: int, record_line: int
) -> SourceDecodeError:
    bad = exc.object[exc.start : exc.end]
    record = "" if record_line == line else f" (in the record starting at line {record_line})"
    return SourceDecodeError(
        f"bytes {bytes(bad)!r} cannot be decoded as {encoding}: {exc.reason}{record}; "
        "the file is not in the declared encoding",
        file=file,
        line=line,
        offset=line_offset + exc.start,
    )


# ------------------------------------------------------------------------------------------------- CSV


class _CsvFeed:
    """Feeds decoded lines to ``csv.reader`` while counting bytes and lines.

    csv.reader pulls exactly the lines a record needs and never reads ahead, so the bytes consumed
    between two records are exactly the first record's bytes: exact offsets, with csv's own quoting rules
    and C speed, and no second parser to keep in step with it.
    """

    __slots__ = (
        "codec",
        "encoding",
        "end",
        "exhausted",
        "fh",
        "file",
        "limit",
        "line",
        "max_record",
        "nul",
        "pos",
        "record_line",
        "record_start",
    )

    def __init__(
        self,
        fh: _Stream,
        *,
        file: str,
        codec: str,
        encoding: str,
        pos: int,
        first_line: int,
        end: int | None,
        max_record: int,
    ) -> None:
        self.fh = fh
        self.file = file
        self.codec = codec
        self.encoding = encoding
        self.pos = pos
        self.line = first_line - 1  # the last line consumed
        self.end = end
        self.max_record = max_record
        self.limit = max_record + 1
        self.exhausted = False  # the input ended (EOF or ``end``) while csv asked for more
        self.nul = False  # the current record holds a NUL byte
        self.record_start = pos
        self.record_line = first_line

    def __iter__(self) -> _CsvFeed:
        return self

    def __next__(self) -> str:
        pos = self.pos
        end = self.end
        if end is not None and pos >= end:
            self.exhausted = True
            raise StopIteration
        raw = self.fh.readline(self.limit)
        if not raw:
            self.exhausted = True
            raise StopIteration
        new = pos + len(raw)
        if new - self.record_start > self.max_record:
            raise SourceFormatError(
                f"record is larger than {self.max_record} bytes; most likely a quoted field is never "
                "closed and swallows the rest of the file",
                file=self.file,
                line=self.record_line,
                offset=self.record_start,
            )
        if end is not None and new > end:
            raise ChunkPlanError(
                f"{self.file}: the record at line {self.record_line} (byte {self.record_start}) runs past "
                f"the end of its chunk (byte {end}); the plan does not fit this file"
            )
        self.pos = new
        self.line += 1
        if b"\0" in raw:
            self.nul = True
        try:
            return raw.decode(self.codec)
        except UnicodeDecodeError as exc:
            raise _decode_error(
                exc,
                file=self.file,
                encoding=self.encoding,
                line=self.line,
                line_offset=pos,
                record_line=self.record_line,
            ) from None


def _read_header(
    fh: _Stream,
    *,
    file: str,
    codec: str,
    encoding: str,
    delimiter: str,
    max_record: int,
) -> tuple[list[str], int, bool, int]:
    """Header fields, byte offset where data starts, BOM seen, line number where data starts."""
    if not fh.peek(1):
        raise EmptySource("file is empty (0 bytes): not even a header", file=file)
    bom = _skip_bom(fh, file=file, codec=codec, encoding=encoding)
    feed = _CsvFeed(
        fh, file=file, codec=codec, encoding=encoding, pos=bom, first_line=1, end=None, max_record=max_record
    )
    reader = csv.reader(feed, delimiter=delimiter)
    while True:
        feed.record_start = feed.pos
        feed.record_line = feed.line + 1
        try:
            row = next(reader)
        except StopIteration:
            raise EmptySource("file has only blank lines: no header", file=file) from None
        except csv.Error as exc:
            raise SourceFormatError(
                f"cannot parse the header: {exc}", file=file, line=feed.record_line, offset=feed.record_start
            ) from None
        if row:
            break
    line, offset = feed.record_line, feed.record_start
    if feed.exhausted:
        raise SourceFormatError(
            "the header has a quoted field that is never closed", file=file, line=line, offset=offset
        )
    if feed.nul:
        raise SourceFormatError("the header holds a NUL byte", file=file, line=line, offset=offset)
    seen: set[str] = set()
    dupes: list[str] = []
    for name in row:
        if name in seen:
            dupes.append(name)
        seen.add(name)
    if dupes:
        raise SourceFormatError(
            f"duplicate header names {sorted(set(dupes))}: a record would silently keep only one of each",
            file=file,
            line=line,
            offset=offset,
        )
    return row, feed.pos, bom == 3, feed.line + 1


def csv_header(
    path: Path, *, encoding: str = "utf-8", delimiter: str = ",", max_record_bytes: int = MAX_RECORD_BYTES
) -> tuple[list[str], int, bool]:
    """The header fields, the byte offset where data starts, and whether the file has a UTF-8 BOM."""
    codec = _codec(encoding)
    _ensure_field_limit(max_record_bytes)
    with open_checked(path) as fh:
        fields, data_start, bom, _ = _read_header(
            fh,
            file=str(path),
            codec=codec,
            encoding=encoding,
            delimiter=delimiter,
            max_record=max_record_bytes,
        )
    return fields, data_start, bom


def _csv_records(
    fh: _Stream,
    *,
    path: Path,
    header: Sequence[str],
    codec: str,
    encoding: str,
    delimiter: str,
    pos: int,
    first_line: int,
    end: int | None,
    max_record: int,
) -> Iterator[tuple[Locator, RawRecord]]:
    """Records of an open CSV positioned at ``pos`` (a record start) up to ``end`` (or EOF)."""
    file = str(path)
    names = list(header)
    width = len(names)
    feed = _CsvFeed(
        fh,
        file=file,
        codec=codec,
        encoding=encoding,
        pos=pos,
        first_line=first_line,
        end=end,
        max_record=max_record,
    )
    reader = csv.reader(feed, delimiter=delimiter)
    while True:
        start = feed.record_start = feed.pos
        line = feed.record_line = feed.line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # csv gives up on the rest of the line; the next record starts on the next line.
            data = _read_range(path, start, feed.pos)
            if feed.nul:
                record = _nul_record(data, codec=codec, start=start, what="CSV record")
                record[ERROR] += f"; CSV error: {exc}"
            else:
                record = {UNPARSEABLE: data.decode(codec, errors="replace"), ERROR: f"CSV error: {exc}"}
            feed.nul = False
            yield Locator(file, line, start), record
            continue
        if not row:
            continue  # blank line
        if feed.exhausted:
            # csv returned a record only because its input ended: a quoted field was still open.
            if end is not None:
                raise ChunkPlanError(
                    f"{file}: the record at line {line} (byte {start}) is still inside a quoted field at "
                    f"the end of its chunk (byte {end}); the plan does not fit this file"
                )
            raise SourceFormatError(
                "a quoted field opened in this record is never closed: the rest of the file would be one record",
                file=file,
                line=line,
                offset=start,
            )
        if feed.nul:
            feed.nul = False
            yield (
                Locator(file, line, start),
                _nul_record(_read_range(path, start, feed.pos), codec=codec, start=start, what="CSV record"),
            )
            continue
        n = len(row)
        record = dict(zip(names, row, strict=False))
        if n > width:
            record[EXTRA] = row[width:]
        elif n < width:
            record[MISSING] = names[n:]
        yield Locator(file, line, start), record


def iter_csv(
    path: Path,
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    start: int | None = None,
    end: int | None = None,
    header: list[str] | None = None,
    first_line: int = 2,
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> Iterator[tuple[Locator, RawRecord]]:
    """Stream a CSV's records as ``(Locator, {header name: value})``.

    Without ``start`` the header is read from the file and every record after it is yielded (``header``,
    if given, replaces the file's names). With ``start`` (a byte offset where a record begins, e.g. a
    chunk span) reading begins there, the record at ``start`` is on line ``first_line``, and reading stops
    before the first record at or after ``end``; the header is read from the file unless given. Quoting
    follows Python's csv module (Excel dialect) exactly, because csv itself parses every record.
    """
    _check_exists(path)
    codec = _codec(encoding)
    _ensure_field_limit(max_record_bytes)
    return _iter_csv(path, codec, encoding, delimiter, start, end, header, first_line, max_record_bytes)


def _iter_csv(
    path: Path,
    codec: str,
    encoding: str,
    delimiter: str,
    start: int | None,
    end: int | None,
    header: list[str] | None,
    first_line: int,
    max_record: int,
) -> Iterator[tuple[Locator, RawRecord]]:
    file = str(path)
    with open_checked(path) as fh:
        if start is None:
            names, pos, _, line = _read_header(
                fh, file=file, codec=codec, encoding=encoding, delimiter=delimiter, max_record=max_record
            )
            if header is not None:
                names = header
        else:
            if header is None:
                names, _, _ = csv_header(path, encoding=encoding, delimiter=delimiter, max_record_bytes=max_record)
            else:
                names = header
            _check_boundary(fh, start, file=file)
            pos, line = start, first_line
        yield from _csv_records(
            fh,
            path=path,
            header=names,
            codec=codec,
            encoding=encoding,
            delimiter=delimiter,
            pos=pos,
            first_line=line,
            end=end,
            max_record=max_record,
        )


# ------------------------------------------------------------------------------- line-oriented formats


def _lines(
    fh: _Stream, *, file: str, pos: int, first_line: int, end: int | None, max_record: int
) -> Iterator[tuple[int, int, bytes]]:
    """``(line number, byte offset, content without its line ending)`` of every non-blank line."""
    if pos == 0:
        pos = _skip_bom(fh, file=file, codec=None, encoding="utf-8")
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
        return {UNPARSEABLE: text, ERROR: f"expected a JSON object, got {_json_kind(value)}"}
    if "\\u0000" in text and _contains_nul(value):
        return {
            UNPARSEABLE: text,
            ERROR: f"JSON record at byte {offset} holds a \\u0000 (NUL) character; "
            "NUL cannot be stored as text: fix the export",
        }
    return value


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _jsonl_records(
    fh: _Stream,
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
            raise _decode_error(
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
    _check_exists(path)
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
    _check_exists(path)
    return _iter_xmllines(path, start, end, first_line, max_record_bytes)


def _iter_xmllines(
    path: Path, start: int | None, end: int | None, first_line: int, max_record: int
) -> Iterator[tuple[Locator, bytes]]:
    file = str(path)
    with open_checked(path) as fh:
        pos = 0
        if start is not None:
            _check_boundary(fh, start, file=file)
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
            _check_boundary(fh, start, file=file)
            pos = start
        yield from _jsonl_records(fh, file=file, pos=pos, first_line=first_line, end=end, max_record=max_record)


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
    file = str(path)
    if fmt == "csv":
        codec = _codec(encoding)
        _ensure_field_limit(max_record_bytes)
        header, header_end, _, line = _read_header(
            fh, file=file, codec=codec, encoding=encoding, delimiter=delimiter, max_record=max_record_bytes
        )
        records = _csv_records(
            fh,
            path=path,
            header=header,
            codec=codec,
            encoding=encoding,
            delimiter=delimiter,
            pos=header_end,
            first_line=line,
            end=None,
            max_record=max_record_bytes,
        )
        return header_end, line, (locator for locator, _ in records)
    if fmt == "jsonl":
        records = _jsonl_records(fh, file=file, pos=0, first_line=1, end=None, max_record=max_record_bytes, parse=False)
        return 0, 1, (locator for locator, _ in records)
    if fmt == "xmllines":
        lines = _lines(fh, file=file, pos=0, first_line=1, end=None, max_record=max_record_bytes)
        return 0, 1, (Locator(file, number, offset) for number, offset, _ in lines)
    raise ValueError(f"unknown snapshot format {fmt!r}")


# ------------------------------------------------------------------------------------- JSON documents


class _JsonFeed:
    """File wrapper for ijson: counts bytes and lines read and checks UTF-8 as the bytes pass.

    ijson reports no positions, so a decode error found here is the only exact one; for syntax errors
    the byte range of the last block read is the best streaming can do.
    """

    def __init__(self, fh: _Stream, *, file: str, pos: int) -> None:
        self.fh = fh
        self.file = file
        self.pos = pos
        self.block_start = pos
        self.line = 1
        self.block_line = 1
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.decoded_to = pos  # bytes before this offset decoded cleanly

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.block_start, self.block_line = self.pos, self.line
        try:
            self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            offset = self.decoded_to + exc.start
            line = self.line + data[: max(0, offset - self.pos)].count(b"\n")
            raise SourceDecodeError(
                f"bytes cannot be decoded as utf-8: {exc.reason}; JSON must be UTF-8",
                file=self.file,
                line=line,
                offset=offset,
            ) from None
        # bytes held back by the decoder (an incomplete sequence at the block end) are not yet checked
        self.decoded_to = self.pos + len(data) - len(self.decoder.getstate()[0])
        self.pos += len(data)
        self.line += data.count(b"\n")
        return data


def _pointer(keys: Sequence[str]) -> str:
    return "".join("/" + k.replace("~", "~0").replace("/", "~1") for k in keys)


def iter_json_items(path: Path, item_path: str = "item") -> Iterator[tuple[Locator, RawRecord]]:
    """Stream the items of an array inside a JSON document, e.g. a paged API response.

    ``item_path`` is ijson prefix syntax: ``"item"`` for a top-level array, ``"data.item"`` for
    ``{"data": [...]}``. Only one array level is supported (the last segment must be the only ``item``).
    ijson gives no positions, so each Locator has ``line=0``, ``offset=None`` and a JSON pointer such as
    ``/data/3``. Items that are not objects are yielded as ``__unparseable__``. A document that is not
    JSON at all (an HTML error page, say) or has no array at ``item_path`` raises ``SourceFormatError``
    saying what it found; an empty file raises ``EmptySource``. Numbers come back as int/float.
    """
    parts = item_path.split(".")
    if parts[-1] != "item" or "item" in parts[:-1] or "" in parts:
        raise ValueError(f"item_path {item_path!r} must name one array and end in 'item', e.g. 'data.item'")
    _check_exists(path)
    return _iter_json_items(path, parts[:-1])


def _iter_json_items(path: Path, keys: list[str]) -> Iterator[tuple[Locator, RawRecord]]:
    file = str(path)
    base = _pointer(keys)
    prefix = ".".join([*keys, "item"])
    count = 0
    with open_checked(path) as fh:
        bom = _skip_bom(fh, file=file, codec=None, encoding="utf-8")
        _check_json_start(fh, file=file, bom=bom)
        feed = _JsonFeed(fh, file=file, pos=bom)
        try:
            for item in ijson.items(feed, prefix, use_float=True):
                locator = Locator(file, 0, None, f"{base}/{count}")
                count += 1
                if isinstance(item, dict):
                    yield locator, item
                else:
                    text = json.dumps(item, ensure_ascii=False)
                    yield (
                        locator,
                        {UNPARSEABLE: text, ERROR: f"expected a JSON object, got {_json_kind(item)}"},
                    )
        except ijson.JSONError as exc:
            raise _json_syntax_error(path, exc, feed) from None
    if count == 0:
        _check_array_exists(path, keys, bom)


def _check_json_start(fh: _Stream, *, file: str, bom: int) -> None:
    head = fh.peek(512)[:512]
    stripped = head.lstrip()
    if not head:
        raise EmptySource("empty document (0 bytes)", file=file)
    if not stripped and len(head) < 512:
        raise EmptySource("document holds only whitespace", file=file)
    if stripped and stripped[:1] not in (b"{", b"["):
        snippet = stripped[:80].decode("utf-8", errors="replace")
        raise SourceFormatError(
            f"expected a JSON document but it starts with {snippet!r} (an error page?)",
            file=file,
            line=1 + head[: len(head) - len(stripped)].count(b"\n"),
            offset=bom + len(head) - len(stripped),
        )


def _json_syntax_error(path: Path, exc: Exception, feed: _JsonFeed) -> SourceFormatError:
    message = " ".join(str(exc).split())
    file = str(path)
    if feed.pos <= _REPARSE_LIMIT:
        # Small enough to re-parse whole with the json module, which knows the exact position.
        data = path.read_bytes()
        text = data.decode("utf-8-sig", errors="replace")
        try:
            json.loads(text)
        except json.JSONDecodeError as err:
            bom = 3 if data.startswith(_BOM) else 0
            offset = bom + len(text[: err.pos].encode("utf-8"))
            return SourceFormatError(
                f"invalid JSON: {err.msg} (column {err.colno})", file=file, line=err.lineno, offset=offset
            )
        except RecursionError:
            pass
    return SourceFormatError(
        f"invalid JSON somewhere in bytes {feed.block_start}-{feed.pos} "
        f"(lines {feed.block_line}-{feed.line}): {message}",
        file=file,
        line=feed.block_line,
        offset=feed.block_start,
    )


def _check_array_exists(path: Path, keys: list[str], bom: int) -> None:
    """No items: fine if the array exists and is empty, an error if the path is absent or not an array."""
    target = ".".join(keys)
    top_keys: list[str] = []
    with open_checked(path) as fh:
        fh.seek(bom)
        for prefix, event, value in ijson.parse(fh, use_float=True):
            if prefix == "" and event == "map_key" and len(top_keys) < 20:
                top_keys.append(str(value))
            if prefix == target and event in (
                "start_array",
                "start_map",
                "string",
                "number",
                "boolean",
                "null",
            ):
                if event == "start_array":
                    return
                kind = {"start_map": "an object"}.get(event, f"a {event}")
                raise SourceFormatError(
                    f"{_pointer(keys) or 'the document'} is {kind}, not an array of records",
                    file=str(path),
                )
    raise SourceFormatError(
        f"no {_pointer(keys)} in this document (top-level keys: {', '.join(top_keys) or 'none'})",
        file=str(path),
    )


# ----------------------------------------------------------------------------------------------- empty


def ensure_not_empty(
    path: Path,
    fmt: SnapshotFormat | Literal["json"],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    item_path: str = "item",
) -> None:
    """Raise ``EmptySource`` unless the export holds at least one record (reads only up to the first).

    Kept apart from the iterators on purpose: a chunk read never needs it, and an extract step wants the
    check before it writes a snapshot.
    """
    records: Iterator[tuple[Locator, Any]]
    if fmt == "json":
        records = iter_json_items(path, item_path)
    else:
        records = iter_records(path, fmt, encoding=encoding, delimiter=delimiter)
    try:
        first = next(records, None)
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()
    if first is None:
        what = "a header but no records" if fmt == "csv" else "no records"
        raise EmptySource(f"the export has {what}", file=str(path))
