"""The names of exports and chunks: one place that writes, parses and checks them.

An export id is ``<source slug>-<YYYYMMDD>-<first 8 hex of the snapshot's sha256>``; a chunk's partition key
is ``<export_id>/<nnnn>``. Both end up in file paths, SQL identifiers, index names and Dagster partition
keys, so every place they enter (CLI, UI, run config, broker message) checks them against these patterns.
"""

from __future__ import annotations

import re
from datetime import datetime

from museum_sync.core.exceptions import MuseumSyncError

__all__ = [
    "EXPORT_ID_PATTERN",
    "PARTITION_KEY_PATTERN",
    "InvalidKey",
    "check_export_id",
    "export_id_for",
    "partition_key",
    "slug",
    "split_partition_key",
]

# A slug is lower-case letters, digits and underscores (no leading/trailing underscore); the date and the
# hash follow. Nothing here may contain "/", "..", whitespace or a quote.
EXPORT_ID_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9_]{0,62}[a-z0-9])?-[0-9]{8}-[0-9a-f]{8}$")
PARTITION_KEY_PATTERN = re.compile(r"^(?P<export_id>[a-z0-9_]+-[0-9]{8}-[0-9a-f]{8})/(?P<index>[0-9]{4,6})$")
_MAX_SLUG = 64


class InvalidKey(MuseumSyncError, ValueError):
    """An export id or partition key that does not have the one shape museum-sync writes."""


def slug(text: str) -> str:
    """A source name as it appears in export ids: lower-case ASCII letters and digits, every other character ``_``."""
    cleaned = "".join(c if c.isascii() and c.isalnum() else "_" for c in text.lower())
    cleaned = cleaned.strip("_")[:_MAX_SLUG].strip("_")
    return cleaned or "export"


def export_id_for(source: str, sha256: str, fetched_at: datetime) -> str:
    """The export id of a snapshot: same source, same day, same bytes -> same id."""
    return f"{slug(source)}-{fetched_at.strftime('%Y%m%d')}-{sha256[:8]}"


def check_export_id(export_id: str) -> str:
    """``export_id`` itself when it has the shape museum-sync writes; else :class:`InvalidKey`."""
    if not isinstance(export_id, str) or not EXPORT_ID_PATTERN.fullmatch(export_id):
        raise InvalidKey(f"not an export id: {export_id!r} (expected <source>-<YYYYMMDD>-<8 hex>)")
    return export_id


def partition_key(export_id: str, index: int) -> str:
    """``tate-20261125-1a2b3c4d``, 3 -> ``tate-20261125-1a2b3c4d/0003``."""
    if index < 0:
        raise InvalidKey(f"chunk index must be >= 0, got {index}")
    return f"{export_id}/{index:04d}"


def split_partition_key(key: str) -> tuple[str, int]:
    """``tate-20261125-1a2b3c4d/0003`` -> (``tate-20261125-1a2b3c4d``, 3); anything else: :class:`InvalidKey`."""
    match = PARTITION_KEY_PATTERN.fullmatch(key) if isinstance(key, str) else None
    if match is None:
        raise InvalidKey(f"not a chunk partition key: {key!r} (expected <export_id>/<nnnn>)")
    return match["export_id"], int(match["index"])
