"""What the catalogue hands back and raises: plain frozen dataclasses and two exceptions.

Kept apart from the SQL so a caller (the pipeline, the CLI, the publication protocol) can read the shapes
without reading the queries; rows read back from PostgreSQL are built with ``class_row`` from these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from museum_sync.core.exceptions import MuseumSyncError

__all__ = [
    "CarryOver",
    "CatalogError",
    "ChunkState",
    "ChunkStateName",
    "ExportKind",
    "LoadResult",
    "Publication",
    "PublicationAttempt",
    "PublicationRefused",
    "PublicationResult",
    "PublishCheck",
    "QuarantineAttempt",
    "QuarantineRow",
    "QuarantinedPartition",
]

ChunkStateName = Literal["validated", "quarantined", "loaded"]
ExportKind = Literal["full", "incremental"]


class CatalogError(MuseumSyncError):
    """The catalogue cannot do what was asked (unknown export, name clash, quarantined chunk...)."""


class PublicationRefused(CatalogError):
    """The publication gate said no: the export is incomplete, quarantined or inconsistent.

    ``missing`` and ``quarantined`` list the partition keys at fault, so the caller can name them.
    """

    def __init__(self, reason: str, *, missing: Sequence[str] = (), quarantined: Sequence[str] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = list(missing)
        self.quarantined = list(quarantined)


# -- staging and chunk status ------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    """What ``load_chunk`` stored.

    ``duplicates``: ids not loaded because another chunk (or an earlier line of this one) holds them,
    one entry per rejected occurrence; ``conflicts`` maps each to the chunk key that holds it.
    ``unstorable``: ids not loaded because a value contains U+0000, which PostgreSQL text cannot hold.
    The caller quarantines both.
    """

    loaded: int
    duplicates: list[str] = field(default_factory=list)
    conflicts: dict[str, str] = field(default_factory=dict)
    unstorable: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ChunkState:
    """One row of ``chunk_status``: where a chunk partition stands (validated, quarantined or loaded)."""

    partition_key: str
    export_id: str
    chunk_index: int
    state: ChunkStateName
    validated_digest: str | None
    record_count: int | None
    reject_count: int | None
    updated_at: datetime
    run_id: str | None


# -- quarantine --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class QuarantineRow:
    """One rejected record, with where it sits in the snapshot and why it was rejected.

    ``id``, ``detected_at`` and ``attempt`` (the quarantine write it belongs to, counted per partition)
    are filled when read back from the database.
    """

    export_id: str
    partition_key: str
    record_id: str | None = None
    file: str | None = None
    line: int | None = None
    byte_offset: int | None = None
    pointer: str | None = None
    field: str | None = None
    reason: str
    message: str
    value: str | None = None
    raw: str | None = None
    id: int | None = None
    detected_at: datetime | None = None
    attempt: int | None = None


@dataclass(frozen=True)
class QuarantineAttempt:
    """One quarantine write of a partition: every rejected record it stored, as the check then saw them.

    ``attempt`` counts the writes of the partition (1, 2, ...); the latest is what the partition's
    quarantine is now, the earlier ones are its history.
    """

    partition_key: str
    attempt: int
    export_id: str
    check_name: str
    blocking: bool
    reject_count: int
    run_id: str | None
    written_at: datetime


@dataclass(frozen=True)
class QuarantinedPartition:
    """One row of ``quarantined_partitions``: a chunk held back at a blocking check, open or resolved.

    ``attempt``: the quarantine write that last held it back (None in a row from before attempts).
    """

    partition_key: str
    export_id: str
    check_name: str
    reasons: dict[str, int]
    reject_count: int
    detail: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    run_id: str | None
    resolved_by_run_id: str | None
    attempt: int | None = None


# -- publication -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Publication:
    """One row of ``publications``: a publish or a rollback, and what it withdrew."""

    id: int
    export_id: str
    staging_table: str
    kind: Literal["publish", "rollback"]
    published_at: datetime
    record_count: int
    withdrawn_count: int
    withdrawn_sample: list[str]
    previous_export_id: str | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class PublicationResult:
    """The publication now in force; ``already_published`` when the call changed nothing."""

    publication: Publication
    already_published: bool = False


@dataclass(frozen=True)
class PublishCheck:
    """What ``check_publishable`` found: rows staged and rows the chunk loads counted (equal)."""

    export_id: str
    staging_table: str
    kind: ExportKind
    staged: int
    loaded: int


@dataclass(frozen=True)
class CarryOver:
    """What ``prepare_carry_over`` found for an incremental export (see there).

    ``carried``: rows of the base (``base_export_id``'s table) it takes over; ``stale``: ids an earlier
    attempt carried that it no longer does; ``staged``: its own rows. Public after: staged + carried.
    """

    export_id: str
    base_export_id: str | None
    staging_table: str
    base_table: str | None
    carried: int
    stale: list[str]
    deleted: list[str]
    staged: int

    @property
    def total(self) -> int:
        return self.staged + self.carried


@dataclass(frozen=True)
class PublicationAttempt:
    """One cross-store switch: recorded 'pending' before either store changes, then closed."""

    id: int
    export_id: str
    action: Literal["publish", "rollback"]
    state: Literal["pending", "done", "failed", "abandoned"]
    previous_export_id: str | None
    search_previous_export_id: str | None
    search_index: str | None
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    detail: dict[str, Any]
