"""Side tables a profile joins records to (a constituents file keyed by id -> creators).

A table is read once per process into a dict keyed by one column (cached per file, modification time and
size, so a long-lived worker reads it for its first chunk and sees a replaced file; only the last few versions
are kept). It must fit the profile's bounds (``max_bytes``, ``max_rows``): a side table is reference data held
in every worker's memory, and a file past the bound is refused with one line naming it rather than growing
workers without limit.

The file is named relative to the profile file's folder, else the export file's folder (a museum delivers
its constituents next to its objects), else as given (absolute).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from museum_sync.core.exceptions import ProfileError

__all__ = ["SideTable", "load_side_table", "resolve_side_file"]

SideTable = Mapping[str, Mapping[str, Any]]
#: Tables (file versions) a process keeps: a replaced file's old version is dropped, not kept forever.
_TABLES_KEPT = 4


def resolve_side_file(file: str, folders: Sequence[Path]) -> Path:
    """The first existing ``folder / file``, else ``file`` itself; ProfileError naming where it looked."""
    for folder in folders:
        candidate = folder / file
        if candidate.is_file():
            return candidate
    path = Path(file)
    if path.is_file():
        return path
    looked = ", ".join(str(f) for f in folders) or "(no folders)"
    raise ProfileError(f"lookup file {file!r} not found (looked in {looked})")


def load_side_table(
    path: Path, *, key: str, delimiter: str = ",", encoding: str = "utf-8", max_rows: int, max_bytes: int
) -> SideTable:
    """The rows of a CSV side table keyed by ``key`` (first row wins on a repeated key), within the bounds."""
    stat = path.stat()
    if stat.st_size > max_bytes:
        raise ProfileError(
            f"lookup file {path} is {stat.st_size} bytes, over its max_bytes = {max_bytes}: raise the bound "
            "in the profile's [lookups] table if the workers have the memory"
        )
    return _load(path.resolve(), stat.st_mtime_ns, stat.st_size, key, delimiter, encoding, max_rows)


@lru_cache(maxsize=_TABLES_KEPT)
def _load(path: Path, _mtime: int, _size: int, key: str, delimiter: str, encoding: str, max_rows: int) -> SideTable:
    table: dict[str, dict[str, Any]] = {}
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        if reader.fieldnames is None or key not in reader.fieldnames:
            raise ProfileError(f"lookup file {path}: no column {key!r} (columns: {reader.fieldnames})")
        for count, row in enumerate(reader, start=1):
            if count > max_rows:
                raise ProfileError(f"lookup file {path} has more than its max_rows = {max_rows} rows")
            value = (row.get(key) or "").strip()
            if value and value not in table:
                table[value] = row
    return table
