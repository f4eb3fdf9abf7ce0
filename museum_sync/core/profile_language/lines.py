"""Where a ``[map]`` key sits in a profile file: ``tomllib`` keeps no positions, so the key is found by name.

A profile is small and hand-written, so a line scan that knows TOML's three spellings of a nested key
(``[map]`` + ``creators = {...}``, ``[map.creators]`` + ``name = ...``, ``[map]`` + ``creators.name = ...``)
finds the line a registrar must edit without a position-keeping TOML library.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["line_of"]

_HEADER = re.compile(r"^\s*\[\[?\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?$")


def _norm(name: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in name.split("."))


def _key_line(lines: Sequence[str], start: int, key: str) -> int | None:
    """The line (1-based) from ``start`` up to the next table header that assigns ``key`` (dotted allowed)."""
    parts = [rf"[\"']?{re.escape(k)}[\"']?" for k in key.split(".")]
    pattern = re.compile(r"^\s*" + r"\s*\.\s*".join(parts) + r"\s*=")
    for i in range(start, len(lines)):
        if _HEADER.match(lines[i]):
            return None
        if pattern.match(lines[i]):
            return i + 1
    return None


def line_of(text: str, keys: Sequence[str]) -> int | None:
    """The 1-based line of ``keys`` (e.g. ``("map", "creators", "name")``) in a TOML text, or None.

    Falls back to the line of the nearest enclosing key (``creators`` when ``creators.name`` is written
    inline), so an error always points at the entry to edit.
    """
    lines = text.splitlines()
    headers = {_norm(m.group(1)): i for i, line in enumerate(lines) if (m := _HEADER.match(line))}
    for depth in range(len(keys), 0, -1):
        for split in range(depth - 1, -1, -1):
            start = headers.get(".".join(keys[:split])) if split else -1
            if start is None:
                continue
            found = _key_line(lines, start + 1, ".".join(keys[split:depth]))
            if found:
                return found
        if ".".join(keys[:depth]) in headers:
            return headers[".".join(keys[:depth])] + 1
    return None
