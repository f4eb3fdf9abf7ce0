"""The catalogue's tables, its staging tables' names and shape, and the public view that points at one of them.

Readers only ever query the view ``<schema>.objects``. Each export loads into its own staging table
``<schema>.objects__<slug>``; publication re-points the view (``_swap_view``). Before the first
publication the view reads the empty table ``objects__empty``. ``migrate`` creates everything, the
cross-store ``publication_attempts`` log included.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

import psycopg
from psycopg import sql

from museum_sync.clients.catalog.connection import MAX_IDENTIFIER, CatalogConnection

__all__ = [
    "CARRIED",
    "COLUMNS",
    "COLUMN_NAMES",
    "EMPTY_TABLE",
    "STAGING_PREFIX",
    "VIEW",
    "CatalogSchema",
    "staging_table_name",
]

VIEW = "objects"
EMPTY_TABLE = "objects__empty"
STAGING_PREFIX = "objects__"
# chunk_key of rows an incremental publication carries over from the export it is applied on.
CARRIED = "~carried"

# The staging columns, in view order. Every staging table and ``objects__empty`` has exactly these, so
# ``CREATE OR REPLACE VIEW`` can swap between any two of them.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("record_id", "text PRIMARY KEY"),
    ("chunk_key", "text NOT NULL"),
    ("content_hash", "text NOT NULL"),
    ("object_number", "text"),
    ("title", "text"),
    ("work_type", "text"),
    ("creators", "text"),
    ("date_display", "text"),
    ("date_earliest", "date"),
    ("date_latest", "date"),
    ("rights", "text"),
    ("institution", "text"),
    ("iiif_manifest", "text"),
    ("record", "jsonb NOT NULL"),
)
COLUMN_NAMES = tuple(name for name, _ in COLUMNS)


def staging_table_name(export_id: str) -> str:
    """``objects__<slug>``: lower-case, ``[a-z0-9_]`` only, at most 63 bytes.

    When the slug had to be truncated (or would be the reserved ``empty``), ``_<sha8 of export_id>``
    keeps the name unique.
    """
    if not export_id:
        raise ValueError("export_id must not be empty")
    slug = re.sub(r"[^a-z0-9]", "_", export_id.lower())
    name = STAGING_PREFIX + slug
    if len(name) <= MAX_IDENTIFIER and name != EMPTY_TABLE:
        return name
    sha8 = hashlib.sha256(export_id.encode("utf-8")).hexdigest()[:8]
    room = MAX_IDENTIFIER - len(STAGING_PREFIX) - len(sha8) - 1
    return f"{STAGING_PREFIX}{slug[:room]}_{sha8}"


class CatalogSchema(CatalogConnection):
    """DDL: ``migrate`` for the catalogue's own tables, plus creating a staging table and pointing the view."""

    def migrate(self) -> None:
        """Create the schema, tables, indexes and the view if missing. Idempotent and concurrency-safe.

        One call creates everything any role uses, ``publication_attempts`` (the cross-store intent log:
        at most one attempt is 'pending') included.
        """
        s = self._ident
        with self._connect() as conn:
            self._lock(conn, "migrate")
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            statements = [
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " export_id text PRIMARY KEY, source text NOT NULL, profile text NOT NULL,"
                    " manifest jsonb NOT NULL, staging_table text NOT NULL UNIQUE,"
                    " chunk_count int NOT NULL, total_records int,"
                    " kind text NOT NULL CHECK (kind IN ('full', 'incremental')),"
                    " registered_at timestamptz NOT NULL DEFAULT now(), dropped_at timestamptz)"
                ).format(s("exports")),
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " partition_key text PRIMARY KEY, export_id text NOT NULL, chunk_index int NOT NULL,"
                    " record_count int NOT NULL, content_digest text, loaded_at timestamptz NOT NULL)"
                ).format(s("chunk_loads")),
                sql.SQL("CREATE INDEX IF NOT EXISTS chunk_loads_export ON {} (export_id)").format(s("chunk_loads")),
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " partition_key text PRIMARY KEY, export_id text NOT NULL, chunk_index int NOT NULL,"
                    " state text NOT NULL CHECK (state IN ('validated', 'quarantined', 'loaded')),"
                    " validated_digest text, record_count int, reject_count int,"
                    " updated_at timestamptz NOT NULL, run_id text)"
                ).format(s("chunk_status")),
                sql.SQL("CREATE INDEX IF NOT EXISTS chunk_status_export ON {} (export_id)").format(s("chunk_status")),
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " id bigserial PRIMARY KEY, export_id text NOT NULL, partition_key text NOT NULL,"
                    " record_id text, file text, line int, byte_offset bigint, pointer text, field text,"
                    " reason text NOT NULL, message text NOT NULL, value text, raw text,"
                    " detected_at timestamptz NOT NULL DEFAULT now())"
                ).format(s("quarantine")),
                sql.SQL("CREATE INDEX IF NOT EXISTS quarantine_partition ON {} (partition_key)").format(
                    s("quarantine")
                ),
                sql.SQL("CREATE INDEX IF NOT EXISTS quarantine_export_reason ON {} (export_id, reason)").format(
                    s("quarantine")
                ),
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " partition_key text PRIMARY KEY, export_id text NOT NULL, check_name text NOT NULL,"
                    " reasons jsonb NOT NULL, reject_count int NOT NULL, detail jsonb NOT NULL,"
                    " first_seen timestamptz NOT NULL, last_seen timestamptz NOT NULL,"
                    " resolved_at timestamptz, run_id text, resolved_by_run_id text)"
                ).format(s("quarantined_partitions")),
                sql.SQL("CREATE INDEX IF NOT EXISTS quarantined_partitions_export ON {} (export_id)").format(
                    s("quarantined_partitions")
                ),
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " id bigserial PRIMARY KEY, export_id text NOT NULL, staging_table text NOT NULL,"
                    " kind text NOT NULL CHECK (kind IN ('publish', 'rollback')),"
                    " published_at timestamptz NOT NULL, record_count int NOT NULL,"
                    " withdrawn_count int NOT NULL, withdrawn_sample jsonb NOT NULL,"
                    " previous_export_id text, metadata jsonb NOT NULL)"
                ).format(s("publications")),
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " id bigserial PRIMARY KEY, export_id text NOT NULL,"
                    " action text NOT NULL CHECK (action IN ('publish', 'rollback')),"
                    " state text NOT NULL CHECK (state IN ('pending', 'done', 'failed', 'abandoned')),"
                    " previous_export_id text, search_previous_export_id text, search_index text,"
                    " started_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz, error text,"
                    " detail jsonb NOT NULL DEFAULT '{{}}')"
                ).format(s("publication_attempts")),
                sql.SQL(
                    "CREATE UNIQUE INDEX IF NOT EXISTS publication_attempts_one_pending ON {} ((true))"
                    " WHERE state = 'pending'"
                ).format(s("publication_attempts")),
            ]
            for statement in statements:
                conn.execute(statement)
            self._create_staging(conn, EMPTY_TABLE)
            if not self._relation_exists(conn, VIEW):
                self._point_view(conn, EMPTY_TABLE)

    def _create_staging(self, conn: psycopg.Connection[Any], name: str) -> None:
        """A staging table with ``COLUMNS`` and an index on ``chunk_key``, if missing."""
        columns = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(col), sql.SQL(decl))  # decl: constants above
            for col, decl in COLUMNS
        )
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(self._ident(name), columns))
        index = name[: MAX_IDENTIFIER - len("__chunk")] + "__chunk"
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (chunk_key)").format(sql.Identifier(index), self._ident(name))
        )

    def _point_view(self, conn: psycopg.Connection[Any], table: str) -> None:
        conn.execute(
            sql.SQL("CREATE OR REPLACE VIEW {} AS SELECT {} FROM {}").format(
                self._ident(VIEW),
                sql.SQL(", ").join(sql.Identifier(c) for c in COLUMN_NAMES),
                self._ident(table),
            )
        )

    def _swap_view(self, conn: psycopg.Connection[Any], table: str) -> None:
        """Re-point the view, waiting at most ``lock_timeout_s`` per attempt.

        ``CREATE OR REPLACE VIEW`` needs an exclusive lock on the view, and while it waits every new
        reader queues behind it: so each attempt gives up quickly (in a savepoint, keeping the rest of
        the transaction) and lets readers through before trying again, for up to ``swap_timeout_s``.
        """
        deadline = time.monotonic() + self.swap_timeout_s
        while True:
            try:
                with conn.transaction():
                    self._set_lock_timeout(conn)
                    self._point_view(conn, table)
                return
            except psycopg.errors.LockNotAvailable:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(min(0.5, self.lock_timeout_s))
