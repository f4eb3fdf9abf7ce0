"""What every reader shares: the record shape, opening and positioning files, BOMs, encodings, errors.

The rules they implement (markers for bad records, NUL bytes, ASCII-compatible encodings, a BOM only in
UTF-8) are described once, in the package docstring.
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path
from typing import Any, Final, Protocol, TypeAlias

from museum_sync.core.exceptions import (
    ChunkPlanError,
    ProfileError,
    SourceDecodeError,
    SourceError,
    SourceNotFound,
)

__all__ = [
    "ERROR",
    "EXTRA",
    "MAX_RECORD_BYTES",
    "MISSING",
    "UNPARSEABLE",
    "RawRecord",
    "Stream",
    "check_boundary",
    "check_exists",
    "decode_error",
    "json_kind",
    "line_codec",
    "nul_record",
    "open_checked",
    "read_range",
    "skip_bom",
]

RawRecord: TypeAlias = dict[str, Any]

UNPARSEABLE: Final = "__unparseable__"
ERROR: Final = "__error__"
EXTRA: Final = "__extra__"
MISSING: Final = "__missing__"

#: A record larger than this is almost certainly an unclosed quote swallowing the file; stop, don't OOM.
MAX_RECORD_BYTES: Final = 64 * 1024 * 1024
_BUFFER: Final = 256 * 1024
_BOM: Final = codecs.BOM_UTF8
_UTF16_BOMS: Final = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_SHOW_NULS: Final = 5


class Stream(Protocol):
    """What the readers need of a binary file: ``io.BufferedReader`` over any raw file."""

    def read(self, size: int | None = -1, /) -> bytes: ...
    def readline(self, size: int | None = -1, /) -> bytes: ...
    def peek(self, size: int = 0, /) -> bytes: ...
    def seek(self, target: int, whence: int = 0, /) -> int: ...


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


def check_exists(path: Path) -> None:
    """Eager check, so that a missing file raises when the iterator is created, not on first ``next``."""
    if not path.exists():
        raise SourceNotFound("file does not exist", file=str(path))
    if path.is_dir():
        raise SourceError("is a directory, not an export file", file=str(path))


def line_codec(encoding: str) -> str:
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


def skip_bom(fh: Stream, *, file: str, codec: str | None, encoding: str) -> int:
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


def check_boundary(fh: Stream, start: int, *, file: str) -> None:
    """A range must begin at a line start; cheap guard against a plan that does not fit the file."""
    size = fh.seek(0, io.SEEK_END)
    if start > size:
        raise ChunkPlanError(f"{file}: range starts at byte {start} but the file has only {size} bytes")
    if start > 0:
        fh.seek(start - 1)
        if fh.read(1) != b"\n":
            raise ChunkPlanError(f"{file}: byte {start} is not the start of a line; the plan does not fit")
    fh.seek(start)


def read_range(path: Path, start: int, stop: int) -> bytes:
    """Re-read one record's bytes (rare path: unparseable records) without moving the main handle.

    The record's final line ending is dropped: it separates records, it is not part of one.
    """
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(stop - start)
    if data.endswith(b"\n"):
        data = data[:-2] if data.endswith(b"\r\n") else data[:-1]
    return data


def nul_record(data: bytes, *, codec: str, start: int, what: str) -> RawRecord:
    """The ``__unparseable__`` form of a record that holds NUL bytes (see the package docstring)."""
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


def decode_error(
    exc: UnicodeDecodeError, *, file: str, encoding: str, line: int, line_offset: int, record_line: int
) -> SourceDecodeError:
    """The error for bytes a line's codec rejects, naming the bad byte's line and offset (and its record's)."""
    bad = exc.object[exc.start : exc.end]
    record = "" if record_line == line else f" (in the record starting at line {record_line})"
    return SourceDecodeError(
        f"bytes {bytes(bad)!r} cannot be decoded as {encoding}: {exc.reason}{record}; "
        "the file is not in the declared encoding",
        file=file,
        line=line,
        offset=line_offset + exc.start,
    )


def json_kind(value: Any) -> str:
    """What a parsed JSON value is, for "expected a JSON object, got ..." (JSON Lines and JSON documents)."""
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
