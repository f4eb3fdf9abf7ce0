"""JSON documents (e.g. a paged API response): the items of one array, streamed with ijson."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import ijson

from museum_sync.core.exceptions import EmptySource, SourceDecodeError, SourceFormatError
from museum_sync.core.locator import Locator
from museum_sync.core.sources.reading import (
    ERROR,
    UNPARSEABLE,
    RawRecord,
    Stream,
    check_exists,
    json_kind,
    open_checked,
    skip_bom,
)

__all__ = ["iter_json_items"]

_REPARSE_LIMIT: Final = 8 * 1024 * 1024  # re-parse an invalid JSON document this small for an exact position


class _JsonFeed:
    """File wrapper for ijson: counts bytes and lines read and checks UTF-8 as the bytes pass.

    ijson reports no positions, so a decode error found here is the only exact one; for syntax errors
    the byte range of the last block read is the best streaming can do.
    """

    def __init__(self, fh: Stream, *, file: str, pos: int) -> None:
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
    check_exists(path)
    return _iter_json_items(path, parts[:-1])


def _iter_json_items(path: Path, keys: list[str]) -> Iterator[tuple[Locator, RawRecord]]:
    file = str(path)
    base = _pointer(keys)
    prefix = ".".join([*keys, "item"])
    count = 0
    with open_checked(path) as fh:
        bom = skip_bom(fh, file=file, codec=None, encoding="utf-8")
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
                        {UNPARSEABLE: text, ERROR: f"expected a JSON object, got {json_kind(item)}"},
                    )
        except ijson.JSONError as exc:
            raise _json_syntax_error(path, exc, feed) from None
    if count == 0:
        _check_array_exists(path, keys, bom)


def _check_json_start(fh: Stream, *, file: str, bom: int) -> None:
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
            bom = 3 if data.startswith(codecs.BOM_UTF8) else 0
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
