"""High-water marks of incremental harvests: where the next one starts, kept per source.

A nightly harvest that asks for a fixed window ("the last 25 hours") loses a day of changes whenever a
night is missed. So every successful harvest records where the next one must start, and an incremental
harvest without an explicit ``since``/``from`` starts there:

- OAI-PMH: the first ListRecords page's ``responseDate`` (the repository's clock, not ours), in the
  repository's granularity (a day-granular repository gets the day, which repeats records, never misses);
- JSON APIs: the time the harvest started, less a clock-skew overlap (``since_overlap_s``).

The mark lives in ``<artifact root>/harvests/<source>.json`` (not the catalogue: the harvesters run without
a database, and the artifact root is what every worker mounts). It is replaced atomically, and only after
the harvest's snapshot is published (or the harvest found nothing): a failed or killed harvest leaves the
previous mark, so the next run asks for the same window again. A mark records the harvest's *scope*
(endpoint, metadata format, set): when the profile starts harvesting something else, the old mark does not
apply and the next incremental harvest is a full one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from museum_sync.clients.artifacts import ArtifactStore, atomic_writer
from museum_sync.harvest.snapshot import HarvestError

__all__ = ["Watermark", "covers", "read_watermark", "scope_of", "watermark_path", "write_watermark"]

_VERSION = 1


@dataclass(frozen=True)
class Watermark:
    """Where the next incremental harvest of ``source`` starts (``next_from``), and what it applies to."""

    source: str
    protocol: str
    scope: str
    next_from: str
    export_id: str | None
    window_from: str | None  # the from/since this harvest was asked for (None: a full harvest)
    written_at: str
    version: int = _VERSION


def scope_of(params: Mapping[str, Any]) -> str:
    """A stable hash of what a harvest covers (endpoint, format, set...): a mark applies only to its scope."""
    canonical = json.dumps(dict(params), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def watermark_path(store: ArtifactStore, source: str) -> Path:
    return store.root / "harvests" / f"{source}.json"


def read_watermark(store: ArtifactStore, source: str, scope: str) -> Watermark | None:
    """The mark of ``source`` for ``scope``; ``None`` when there is none or it is for another scope.

    A damaged file is an error naming it (a silent full harvest would hide the damage).
    """
    path = watermark_path(store, source)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
        mark = Watermark(**{k: data[k] for k in Watermark.__dataclass_fields__ if k in data})
        _parse(mark.next_from)
    except (ValueError, TypeError, KeyError) as exc:
        raise HarvestError(
            f"{source}: harvest mark {path} is damaged ({type(exc).__name__}); delete it to start over with "
            "a full harvest"
        ) from None
    if mark.scope != scope or mark.version != _VERSION:
        return None
    return mark


def covers(window_from: str | None, previous: Watermark | None) -> bool:
    """Whether a harvest from ``window_from`` reaches back to ``previous``'s mark, so it may replace it.

    A full harvest (``None``) always does. A window that starts after the previous mark (or any window when
    there is no mark) leaves a gap behind it that a later harvest from the new mark would never fetch.
    """
    if window_from is None:
        return True
    if previous is None:
        return False
    try:
        return _parse(window_from) <= _parse(previous.next_from)
    except ValueError:
        return False


def write_watermark(
    store: ArtifactStore,
    *,
    source: str,
    protocol: str,
    scope: str,
    next_from: str,
    export_id: str | None,
    window_from: str | None,
) -> Watermark:
    """Replace the mark of ``source`` atomically (call only once the harvest's snapshot is published)."""
    _parse(next_from)
    mark = Watermark(
        source=source,
        protocol=protocol,
        scope=scope,
        next_from=next_from,
        export_id=export_id,
        window_from=window_from,
        written_at=datetime.now(UTC).isoformat(),
    )
    data = json.dumps(asdict(mark), sort_keys=True, indent=1).encode("utf-8")
    with atomic_writer(watermark_path(store, source)) as handle:
        handle.write(data + b"\n")
    return mark


def _parse(value: str) -> datetime:
    """An OAI datestamp or ISO date/datetime as an aware UTC datetime (``ValueError`` otherwise)."""
    text = value.strip()
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
