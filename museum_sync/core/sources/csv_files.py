"""CSV exports: the header and the records, parsed by Python's csv module itself, with exact byte offsets."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path

from museum_sync.core.exceptions import ChunkPlanError, EmptySource, SourceFormatError
from museum_sync.core.locator import Locator
from museum_sync.core.sources.reading import (
    ERROR,
    EXTRA,
    MAX_RECORD_BYTES,
    MISSING,
    UNPARSEABLE,
    RawRecord,
    Stream,
    check_boundary,
    check_exists,
    decode_error,
    line_codec,
    nul_record,
    open_checked,
    read_range,
    skip_bom,
)

__all__ = ["csv_boundaries", "csv_header", "iter_csv"]


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
        fh: Stream,
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
            raise decode_error(
                exc,
                file=self.file,
                encoding=self.encoding,
                line=self.line,
                line_offset=pos,
                record_line=self.record_line,
            ) from None


def _read_header(
    fh: Stream,
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
    bom = skip_bom(fh, file=file, codec=codec, encoding=encoding)
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
    codec = line_codec(encoding)
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
    fh: Stream,
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
            data = read_range(path, start, feed.pos)
            if feed.nul:
                record = nul_record(data, codec=codec, start=start, what="CSV record")
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
                nul_record(read_range(path, start, feed.pos), codec=codec, start=start, what="CSV record"),
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
    check_exists(path)
    codec = line_codec(encoding)
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
            check_boundary(fh, start, file=file)
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


def csv_boundaries(
    fh: Stream, path: Path, *, encoding: str, delimiter: str, max_record_bytes: int
) -> tuple[int, int, Iterator[Locator]]:
    """Where a CSV's records start (byte offset and line, after the header) and every record's locator.

    For ``record_boundaries``: the header is read and checked before this returns, from ``fh`` open at byte 0.
    """
    file = str(path)
    codec = line_codec(encoding)
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
