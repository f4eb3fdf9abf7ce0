"""Where each record of a rewritten snapshot was in the museum's own file.

JSON documents and XML files are rewritten one record per line so that they can be chunked; their
snapshot locators then name an internal artifact, not the file a steward can open. Extraction therefore
keeps each record's original locator beside the snapshot, written in the same streaming pass:

- ``locators.jsonl``: one entry per record, in snapshot order, ``[line, pointer]`` (``line`` is 0 where
  the reader cannot tell, as for the items of a JSON document read by ijson);
- ``locators.idx``: the byte offset of every entry as a little-endian uint64, so record ``n``'s entry is
  found at ``8 * n`` with one seek: a chunk reads only its own entries, whatever the export's size.

The file name is the same for every record and is stored once (the snapshot's manifest), not per entry.
The snapshot's bytes, and so its sha256 and export id, do not depend on the sidecar.
"""

from __future__ import annotations

import json
import json.encoder
import struct
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final, TypeVar

from museum_sync.core.exceptions import ChunkPlanError
from museum_sync.core.locator import Locator

__all__ = ["ENTRIES", "INDEX", "LocatorWriter", "SourceLocators"]

ENTRIES: Final = "locators.jsonl"
INDEX: Final = "locators.idx"
_OFFSET: Final = struct.Struct("<Q")
_QUOTE: Final = json.encoder.encode_basestring  # a JSON string literal, C-accelerated (hot: once per record)

T = TypeVar("T")


class LocatorWriter:
    """Appends each record's original locator to the two sidecar streams; holds no per-record state."""

    def __init__(self, entries: IO[bytes], index: IO[bytes]) -> None:
        self._entries = entries
        self._index = index
        self._position = 0
        self.records = 0

    def add(self, locator: Locator) -> None:
        pointer = "null" if locator.pointer is None else _QUOTE(locator.pointer)
        encoded = f"[{locator.line:d},{pointer}]\n".encode()
        self._index.write(_OFFSET.pack(self._position))
        self._entries.write(encoded)
        self._position += len(encoded)
        self.records += 1


@dataclass(frozen=True)
class SourceLocators:
    """The sidecar of one snapshot folder: ``records`` entries naming records of ``file``."""

    folder: Path
    file: str
    records: int

    def check(self) -> None:
        """Raise ``ChunkPlanError`` unless both files exist and the index holds one offset per record."""
        index = self.folder / INDEX
        try:
            size = index.stat().st_size
            (self.folder / ENTRIES).stat()
        except FileNotFoundError as exc:
            raise ChunkPlanError(f"{self.folder}: source locator sidecar missing ({exc.filename})") from None
        if size != self.records * _OFFSET.size:
            raise ChunkPlanError(
                f"{index}: {size} bytes, expected {self.records * _OFFSET.size} for {self.records} records"
            )

    def read(self, first: int, count: int) -> Generator[Locator, None, None]:
        """The original locators of records ``first`` to ``first + count - 1`` (0-based snapshot order)."""
        if first < 0 or count < 0 or first + count > self.records:
            raise ChunkPlanError(f"{self.folder}: records {first}+{count} are outside the {self.records} located")
        if count == 0:
            return
        with (self.folder / INDEX).open("rb") as index:
            index.seek(first * _OFFSET.size)
            (start,) = _OFFSET.unpack(index.read(_OFFSET.size))
        with (self.folder / ENTRIES).open("rb") as entries:
            entries.seek(start)
            for ordinal in range(first, first + count):
                yield self._parse(entries.readline(), ordinal)

    def at(self, ordinal: int) -> Locator:
        """The original locator of one record."""
        (locator,) = self.read(ordinal, 1)
        return locator

    def relocate(self, records: Iterable[tuple[Locator, T]], first: int) -> Iterator[tuple[Locator, T]]:
        """Swap the snapshot locators of consecutive records (from record ``first``) for the original ones.

        Snapshot line ``n`` holds record ``n - 1``; a record elsewhere means snapshot and sidecar disagree.
        """
        originals = self.read(first, self.records - first)
        try:
            for ordinal, (snapshot, raw) in enumerate(records, first):
                if snapshot.line != ordinal + 1:
                    raise ChunkPlanError(
                        f"{snapshot}: holds record {snapshot.line - 1} where the locator sidecar expects {ordinal}"
                    )
                original = next(originals, None)
                if original is None:
                    raise ChunkPlanError(f"{self.folder / ENTRIES}: no locator for record {ordinal}")
                yield original, raw
        finally:
            originals.close()

    def _parse(self, line: bytes, ordinal: int) -> Locator:
        try:
            number, pointer = json.loads(line)
        except (ValueError, TypeError):
            number = pointer = None
        if not isinstance(number, int) or not (pointer is None or isinstance(pointer, str)):
            raise ChunkPlanError(f"{self.folder / ENTRIES}: damaged entry for record {ordinal}: {line[:80]!r}")
        return Locator(self.file, number, None, pointer)
