"""The check that an export holds at least one record: an empty nightly dump is almost always a broken job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from museum_sync.core.exceptions import EmptySource
from museum_sync.core.locator import Locator
from museum_sync.core.sources.json_documents import iter_json_items
from museum_sync.core.sources.snapshot_records import SnapshotFormat, iter_records

__all__ = ["ensure_not_empty"]


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
