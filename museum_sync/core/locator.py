"""Where a record came from: the file, line and byte offset a steward needs at 8 am."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Locator", "where"]


@dataclass(frozen=True, slots=True)
class Locator:
    """Position of one record in its source file.

    ``line`` is 1-based and points at the first line of the record (a CSV record with quoted newlines
    spans several lines), or 0 where the reader cannot tell (items of a JSON document). ``offset`` is
    the byte offset of the record's first byte, or ``None`` where the parser cannot tell (items inside a
    JSON document, elements of an XML file); ``pointer`` then says which item it is (a JSON pointer
    such as ``/data/3`` or an XPath-like ``/lidoWrap/lido[3]``).
    """

    file: str
    line: int
    offset: int | None = None
    pointer: str | None = None

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}" if self.line else self.file  # no ":0": the line is unknown
        if self.offset is not None:
            text += f" (byte {self.offset})"
        if self.pointer:
            text += f" {self.pointer}"
        return text

    def as_dict(self) -> dict[str, str | int | None]:
        return {"file": self.file, "line": self.line, "offset": self.offset, "pointer": self.pointer}


def where(file: str | None, line: int | None, pointer: str | None = None) -> str:
    """``file:line pointer`` as a steward reads it (reports, quarantine listings): no ``:0`` for an unknown line."""
    text = file or "(unknown file)"
    if line:
        text += f":{line}"
    if pointer:
        text += f" {pointer}"
    return text
