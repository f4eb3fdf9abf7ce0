"""Where a record came from: the file, line and byte offset a steward needs at 8 am."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Locator"]


@dataclass(frozen=True, slots=True)
class Locator:
    """Position of one record in its source file.

    ``line`` is 1-based and points at the first line of the record (a CSV record with quoted newlines
    spans several lines). ``offset`` is the byte offset of the record's first byte, or ``None`` where the
    parser cannot tell (items inside a JSON document, elements of an XML file); ``pointer`` then says
    which item it is (a JSON pointer such as ``/data/3`` or an XPath-like ``/lidoWrap/lido[3]``).
    """

    file: str
    line: int
    offset: int | None = None
    pointer: str | None = None

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}"
        if self.offset is not None:
            text += f" (byte {self.offset})"
        if self.pointer:
            text += f" {self.pointer}"
        return text

    def as_dict(self) -> dict[str, str | int | None]:
        return {"file": self.file, "line": self.line, "offset": self.offset, "pointer": self.pointer}
