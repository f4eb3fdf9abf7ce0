"""PostgreSQL catalogue: one staging table per export, quarantine, and all-or-nothing publication.

``Catalog`` is the one client; each of its roles reads in a module of its own:

- ``connection``: settings, one connection and one transaction per call, advisory locks;
- ``reuse``: the connection a call left idle, handed to this process's next call (issue #18);
- ``schema``: ``migrate`` (every table, the publication attempts included), staging table names, the view,
  and the catalogue's identity (``deployment_id``: what owns its search indices);
- ``staging``: register an export, COPY its chunks in, chunk states, counts and digests;
- ``quarantine``: rejected records (every attempt kept, the latest current) and held-back chunks;
- ``publication``: the gate, the carry-over of incremental exports, publish, rollback, retention;
- ``attempts``: the cross-store publication's lock and intent log (``museum_sync.publication`` drives it);
- ``iiif_cache``: the IIIF header cache per manifest URL and the outcome per record (``core.iiif``);
- ``roles``: the reader role;
- ``types``: the dataclasses and exceptions the methods return and raise.

Concurrency, with transaction-scoped advisory locks keyed on the schema:

- ``migrate`` serialises DDL, so several workers may call it at start;
- ``register_export``/``publish``/``drop_old_exports`` take the export's lock exclusively and
  ``load_chunk`` takes it shared: chunks of one export load in parallel, but never during its publication;
- ``load_chunk``/``record_validation`` of one partition key are serialised (a redelivered Celery task
  running twice at once must not leave the chunk half-counted);
- publications and rollbacks are serialised on one catalogue-wide lock.
"""

from __future__ import annotations

from museum_sync.clients.catalog.attempts import CatalogAttempts
from museum_sync.clients.catalog.iiif_cache import CatalogIiif
from museum_sync.clients.catalog.publication import CatalogPublishing
from museum_sync.clients.catalog.quarantine import CatalogQuarantine
from museum_sync.clients.catalog.roles import CatalogGrants
from museum_sync.clients.catalog.schema import EMPTY_TABLE, VIEW, CatalogSchema, staging_table_name
from museum_sync.clients.catalog.staging import CatalogStaging, holds_nul
from museum_sync.clients.catalog.types import (
    CarryOver,
    CatalogError,
    ChunkState,
    ChunkStateName,
    ExportKind,
    LoadResult,
    Publication,
    PublicationAttempt,
    PublicationRefused,
    PublicationResult,
    PublishCheck,
    QuarantineAttempt,
    QuarantinedPartition,
    QuarantineRow,
)
from museum_sync.redaction import redact

__all__ = [
    "EMPTY_TABLE",
    "VIEW",
    "CarryOver",
    "Catalog",
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
    "holds_nul",
    "staging_table_name",
]


class Catalog(
    CatalogPublishing,
    CatalogStaging,
    CatalogSchema,
    CatalogQuarantine,
    CatalogAttempts,
    CatalogGrants,
    CatalogIiif,
):
    """The catalogue in one PostgreSQL schema. Call ``migrate()`` once before anything else.

    ``Catalog(conninfo, schema="catalog", *, lock_timeout_s=2.0, swap_timeout_s=120.0, connect_timeout_s=10)``.
    An instance holds settings only (no connection), so it is safe to share between threads and to
    pickle into a Celery task. Every method opens one short connection and runs in one transaction.
    """

    def __repr__(self) -> str:
        return f"Catalog({redact(self.conninfo)!r}, schema={self.schema!r})"
