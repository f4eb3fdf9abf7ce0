"""The names of exports and chunks: one place that writes, parses and checks them.

An export id is ``<source slug>-<first 7 hex of the snapshot's sha256>-<YYYYMMDD>``; a chunk's partition key
is ``<export_id>/<nnnn>``. Both end up in file paths, SQL identifiers, index names and Dagster partition
keys, so every place they enter (CLI, UI, run config, broker message) checks them against these patterns.

Why this order: the Dagster UI's partition lists shorten a key that does not fit **in the middle**, keeping
as many characters at each end as fit (``MiddleTruncate``: about 16 each side in the 292 px partition column).
A key must show a steward the source (its start), the night and the chunk (its end); the snapshot hash, which
tells apart only two different files of one source on one night, is what may go under the ellipsis:
``tate_steward-a2908cb-20261203/0000`` -> ``tate_steward-a29…-20261203/0000``.

Export ids written before (``<source slug>-<YYYYMMDD>-<first 8 hex>``, ``tate-20261125-1a2b3c4d``) are in
stored catalogues, quarantines and snapshot folders: they still parse and pass every check, nothing writes
them any more. The two shapes cannot be confused: the group before the date has 7 characters in the new
shape and the date (8) in the old one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from museum_sync.core.exceptions import MuseumSyncError

__all__ = [
    "EXPORT_ID_PATTERN",
    "EXPORT_ID_SHAPE",
    "PARTITION_KEY_PATTERN",
    "ExportName",
    "InvalidKey",
    "check_export_id",
    "export_id_for",
    "export_label",
    "export_tag",
    "is_snapshot_of",
    "parse_export_id",
    "partition_key",
    "slug",
    "split_partition_key",
]

# A slug is lower-case letters, digits and underscores (no leading/trailing underscore); the hash and the
# night follow (the old shape: the night, then the hash). Nothing here may contain "/", "..", whitespace or
# a quote.
_SLUG = r"(?P<source>[a-z0-9](?:[a-z0-9_]{0,62}[a-z0-9])?)"
_CURRENT = _SLUG + r"-(?P<snapshot>[0-9a-f]{7})-(?P<night>[0-9]{8})"
_LEGACY = _SLUG.replace("source", "legacy_source") + r"-(?P<legacy_night>[0-9]{8})-(?P<legacy_snapshot>[0-9a-f]{8})"
_EXPORT_ID = f"(?:{_CURRENT}|{_LEGACY})"
EXPORT_ID_PATTERN = re.compile(_EXPORT_ID)
PARTITION_KEY_PATTERN = re.compile(f"(?P<export_id>{_EXPORT_ID})/(?P<index>[0-9]{{4,6}})")
EXPORT_ID_SHAPE = "<source>-<7 hex>-<YYYYMMDD>"
_HASH_LENGTH = 7
_MAX_SLUG = 64


class InvalidKey(MuseumSyncError, ValueError):
    """An export id or partition key that does not have a shape museum-sync writes (or wrote)."""


@dataclass(frozen=True)
class ExportName:
    """An export id's parts: the source slug, the night (UTC date of the snapshot) and the hash prefix."""

    source: str
    night: date
    snapshot: str


def slug(text: str) -> str:
    """A source name as it appears in export ids: lower-case ASCII letters and digits, every other character ``_``."""
    cleaned = "".join(c if c.isascii() and c.isalnum() else "_" for c in text.lower())
    cleaned = cleaned.strip("_")[:_MAX_SLUG].strip("_")
    return cleaned or "export"


def export_id_for(source: str, sha256: str, fetched_at: datetime) -> str:
    """The export id of a snapshot: same source, same day, same bytes -> same id."""
    return f"{slug(source)}-{sha256[:_HASH_LENGTH]}-{fetched_at.strftime('%Y%m%d')}"


def check_export_id(export_id: str) -> str:
    """``export_id`` itself when it has a shape museum-sync writes (or wrote); else :class:`InvalidKey`."""
    if not isinstance(export_id, str) or not EXPORT_ID_PATTERN.fullmatch(export_id):
        raise InvalidKey(f"not an export id: {export_id!r} (expected {EXPORT_ID_SHAPE})")
    return export_id


def parse_export_id(export_id: str) -> ExportName:
    """``tate-1a2b3c4-20261125`` (or the old ``tate-20261125-1a2b3c4d``) -> its source, night and hash."""
    match = EXPORT_ID_PATTERN.fullmatch(check_export_id(export_id))
    assert match is not None  # check_export_id refused anything else
    if match["source"] is not None:
        source, night, snapshot = match["source"], match["night"], match["snapshot"]
    else:
        source, night, snapshot = match["legacy_source"], match["legacy_night"], match["legacy_snapshot"]
    try:
        day = datetime.strptime(night, "%Y%m%d").date()
    except ValueError:
        raise InvalidKey(f"not an export id: {export_id!r} ({night} is not a date)") from None
    return ExportName(source=source, night=day, snapshot=snapshot)


def export_label(export_id: str) -> str:
    """``tate_demo, night of 2026-11-25 (snapshot 1a2b3c4)``: the export as a person names it."""
    name = parse_export_id(export_id)
    return f"{name.source}, night of {name.night.isoformat()} (snapshot {name.snapshot})"


def export_tag(export_id: str) -> str:
    """``2026-11-25 · tate_demo · snapshot 1a2b3c4``: the export as a run tag, night first.

    The Runs list shows a run's tags as ``key: value`` cut at the end to the column's width (about 44
    characters by default, ``museum-sync/export: `` included): the night, which tells one night's run
    from the next, comes first; the source follows, the hash last."""
    name = parse_export_id(export_id)
    return f"{name.night.isoformat()} · {name.source} · snapshot {name.snapshot}"


def is_snapshot_of(export_id: str, source: str, sha256: str) -> bool:
    """Whether ``export_id`` (either shape) names a snapshot of ``source`` with these bytes (any night)."""
    try:
        name = parse_export_id(export_id)
    except InvalidKey:
        return False
    return name.source == slug(source) and sha256.startswith(name.snapshot)


def partition_key(export_id: str, index: int) -> str:
    """``tate-1a2b3c4-20261125``, 3 -> ``tate-1a2b3c4-20261125/0003``."""
    if index < 0:
        raise InvalidKey(f"chunk index must be >= 0, got {index}")
    return f"{export_id}/{index:04d}"


def split_partition_key(key: str) -> tuple[str, int]:
    """``tate-1a2b3c4-20261125/0003`` -> (``tate-1a2b3c4-20261125``, 3); anything else: :class:`InvalidKey`."""
    match = PARTITION_KEY_PATTERN.fullmatch(key) if isinstance(key, str) else None
    if match is None:
        raise InvalidKey(f"not a chunk partition key: {key!r} (expected <export_id>/<nnnn>)")
    return match["export_id"], int(match["index"])
