"""PostgreSQL catalogue: one staging table per export, quarantine, and all-or-nothing publication.

Readers only ever query the view ``<schema>.objects``. Each export loads chunk by chunk into its own
staging table ``<schema>.objects__<slug>``; publication re-points the view at that table and writes the
``publications`` row in one transaction, so a reader sees the old export or the new one, never a mix.
Before the first publication the view reads the empty table ``objects__empty``.

Every method opens one short connection (a connection per call: a chunk step makes two or three calls,
so a pool would save milliseconds and add a dependency) and runs in one transaction. Connection
failures surface as ``psycopg.OperationalError`` (retryable by Dagster's ``RetryPolicy``) with the
connection string redacted; refusals of the publication gate raise ``PublicationRefused``.

Concurrency, with transaction-scoped advisory locks keyed on the schema:

- ``migrate`` serialises DDL, so several workers may call it at start;
- ``register_export``/``publish``/``drop_old_exports`` take the export's lock exclusively and
  ``load_chunk`` takes it shared: chunks of one export load in parallel, but never during its publication;
- ``load_chunk``/``record_validation`` of one partition key are serialised (a redelivered Celery task
  running twice at once must not leave the chunk half-counted);
- publications and rollbacks are serialised on one catalogue-wide lock.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from museum_sync.core.exceptions import MuseumSyncError
from museum_sync.core.models import MuseumRecord

__all__ = [
    "Catalog",
    "CatalogError",
    "ChunkState",
    "ChunkStateName",
    "ExportKind",
    "LoadResult",
    "Publication",
    "PublicationRefused",
    "PublicationResult",
    "QuarantineRow",
    "QuarantinedPartition",
    "redact",
    "staging_table_name",
]

ChunkStateName = Literal["validated", "quarantined", "loaded"]
ExportKind = Literal["full", "incremental"]

VIEW = "objects"
EMPTY_TABLE = "objects__empty"
STAGING_PREFIX = "objects__"
MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1, in bytes
# chunk_key of rows an incremental publication carries over from the export it is applied on.
CARRIED = "~carried"
WITHDRAWN_SAMPLE = 100
_MAX_KEYS_IN_MESSAGE = 20

# The staging columns, in view order. Every staging table and ``objects__empty`` has exactly these, so
# ``CREATE OR REPLACE VIEW`` can swap between any two of them.
_COLUMNS: tuple[tuple[str, str], ...] = (
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
_COLUMN_NAMES = tuple(name for name, _ in _COLUMNS)

_QUARANTINE_COLUMNS = (
    "export_id",
    "partition_key",
    "record_id",
    "file",
    "line",
    "byte_offset",
    "pointer",
    "field",
    "reason",
    "message",
    "value",
    "raw",
)


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


@dataclass(frozen=True, kw_only=True)
class QuarantineRow:
    """One rejected record, with where it sits in the snapshot and why it was rejected.

    ``id`` and ``detected_at`` are filled when read back from the database.
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
    partition_key: str
    export_id: str
    chunk_index: int
    state: ChunkStateName
    validated_digest: str | None
    record_count: int | None
    reject_count: int | None
    updated_at: datetime
    run_id: str | None


@dataclass(frozen=True)
class QuarantinedPartition:
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


@dataclass(frozen=True)
class Publication:
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


# ---------------------------------------------------------------------------------------------------
# Helpers


_URL_SCHEME = re.compile(r"^postgres(?:ql)?://", re.IGNORECASE)
_KV_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"^password=", re.IGNORECASE)


def redact(conninfo: str) -> str:
    """The connection string with any password replaced by ``***``, safe for messages and logs."""
    if not _URL_SCHEME.match(conninfo):
        return _KV_PASSWORD.sub(r"\1***", conninfo)
    parts = urlsplit(conninfo)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hosts = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:***@{hosts}" if colon else netloc
    query = "&".join("password=***" if _QUERY_PASSWORD.match(item) else item for item in parts.query.split("&"))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


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


_HASH_KEY = '"content_hash":"'


def _content_hash(record: MuseumRecord, json_text: str) -> str:
    """The hash ``model_dump_json`` already computed (a computed field, serialised last).

    Hashing is half the cost of a row, so it is read back from the JSON rather than computed twice.
    Only the real key can match: inside a JSON string the quotes would be escaped.
    """
    at = json_text.rfind(_HASH_KEY) + len(_HASH_KEY)
    value = json_text[at : at + 64]
    if at >= len(_HASH_KEY) and json_text[at + 64 : at + 65] == '"' and len(value) == 64:
        return value
    return record.content_hash


def _staging_row(record: MuseumRecord, chunk_key: str, json_text: str) -> tuple[Any, ...]:
    span = record.production_date
    creators = "; ".join(c.name for c in record.creators)
    return (
        record.record_id,
        chunk_key,
        _content_hash(record, json_text),
        record.object_number,
        record.title,
        record.work_type.label if record.work_type else None,
        creators or None,
        span.display if span else None,
        span.earliest if span else None,
        span.latest if span else None,
        record.rights,
        record.provenance.institution,
        record.iiif_manifest,
        json_text,
    )


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def _nul_safe(value: str | None) -> str | None:
    """Quarantine keeps broken input verbatim, except U+0000 (PostgreSQL text cannot hold it)."""
    return value.replace("\x00", "\\x00") if value is not None and "\x00" in value else value


def _keys_text(keys: Sequence[str]) -> str:
    shown = ", ".join(keys[:_MAX_KEYS_IN_MESSAGE])
    more = len(keys) - _MAX_KEYS_IN_MESSAGE
    return f"{shown} and {more} more" if more > 0 else shown


# ---------------------------------------------------------------------------------------------------
# The adapter


class Catalog:
    """The catalogue in one PostgreSQL schema. Call ``migrate()`` once before anything else.

    An instance holds settings only (no connection), so it is safe to share between threads and to
    pickle into a Celery task.
    """

    def __init__(
        self,
        conninfo: str,
        schema: str = "catalog",
        *,
        lock_timeout_s: float = 2.0,
        swap_timeout_s: float = 120.0,
        connect_timeout_s: int = 10,
    ) -> None:
        if not schema or len(schema.encode("utf-8")) > MAX_IDENTIFIER:
            raise ValueError(f"schema name must be 1-{MAX_IDENTIFIER} bytes: {schema!r}")
        self.conninfo = conninfo
        self.schema = schema
        self.lock_timeout_s = lock_timeout_s
        self.swap_timeout_s = swap_timeout_s
        given = conninfo_to_dict(conninfo)
        self._connect_kwargs: dict[str, Any] = {}
        if "connect_timeout" not in given:
            self._connect_kwargs["connect_timeout"] = connect_timeout_s
        if "application_name" not in given:
            self._connect_kwargs["application_name"] = "museum-sync catalog"

    def __repr__(self) -> str:
        return f"Catalog({redact(self.conninfo)!r}, schema={self.schema!r})"

    # -- plumbing ------------------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[psycopg.Connection[Any]]:
        """One connection, one transaction: committed on success, rolled back on any exception."""
        try:
            conn = psycopg.connect(self.conninfo, **self._connect_kwargs)
        except psycopg.OperationalError as exc:
            raise psycopg.OperationalError(
                f"cannot connect to the catalogue at {redact(self.conninfo)}: {exc}"
            ) from exc
        with conn:
            yield conn

    def _ident(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)

    def _lock_key(self, *parts: str) -> int:
        digest = hashlib.sha256("\x1f".join(("museum_sync.catalog", self.schema, *parts)).encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def _lock(self, conn: psycopg.Connection[Any], *parts: str, shared: bool = False) -> None:
        fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        conn.execute(sql.SQL("SELECT {}(%s)").format(sql.Identifier(fn)), (self._lock_key(*parts),))

    def _set_lock_timeout(self, conn: psycopg.Connection[Any]) -> None:
        ms = max(1, int(self.lock_timeout_s * 1000))
        conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{ms}ms")))

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

    def _relation_exists(self, conn: psycopg.Connection[Any], name: str) -> bool:
        row = conn.execute(
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s",
            (self.schema, name),
        ).fetchone()
        return row is not None

    def _create_staging(self, conn: psycopg.Connection[Any], name: str) -> None:
        columns = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(col), sql.SQL(decl))  # decl: constants above
            for col, decl in _COLUMNS
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
                sql.SQL(", ").join(sql.Identifier(c) for c in _COLUMN_NAMES),
                self._ident(table),
            )
        )

    def _export_row(
        self, conn: psycopg.Connection[Any], export_id: str
    ) -> tuple[str, str, int, datetime | None] | None:
        row = conn.execute(
            sql.SQL("SELECT staging_table, kind, chunk_count, dropped_at FROM {} WHERE export_id = %s").format(
                self._ident("exports")
            ),
            (export_id,),
        ).fetchone()
        return (row[0], row[1], row[2], row[3]) if row else None

    def _current(self, conn: psycopg.Connection[Any]) -> Publication | None:
        with conn.cursor(row_factory=class_row(Publication)) as cur:
            cur.execute(sql.SQL("SELECT * FROM {} ORDER BY id DESC LIMIT 1").format(self._ident("publications")))
            return cur.fetchone()

    def _withdrawn(self, conn: psycopg.Connection[Any], old: str, new: str) -> tuple[int, list[str]]:
        """Ids in ``old`` that ``new`` lacks: the count and the first ``WITHDRAWN_SAMPLE`` (byte order)."""
        row = conn.execute(
            sql.SQL(
                "WITH w AS MATERIALIZED (SELECT o.record_id FROM {old} o"
                " WHERE NOT EXISTS (SELECT 1 FROM {new} n WHERE n.record_id = o.record_id))"
                " SELECT (SELECT count(*) FROM w),"
                " (SELECT coalesce(array_agg(record_id), '{{}}') FROM"
                '  (SELECT record_id FROM w ORDER BY record_id COLLATE "C" LIMIT %s) s)'
            ).format(old=self._ident(old), new=self._ident(new)),
            (WITHDRAWN_SAMPLE,),
        ).fetchone()
        assert row is not None
        return int(row[0]), list(row[1])

    def _record_publication(
        self,
        conn: psycopg.Connection[Any],
        *,
        export_id: str,
        staging_table: str,
        kind: str,
        record_count: int,
        withdrawn: tuple[int, list[str]],
        previous: Publication | None,
        metadata: dict[str, Any],
    ) -> Publication:
        with conn.cursor(row_factory=class_row(Publication)) as cur:
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} (export_id, staging_table, kind, published_at, record_count,"
                    " withdrawn_count, withdrawn_sample, previous_export_id, metadata)"
                    " VALUES (%s, %s, %s, now(), %s, %s, %s, %s, %s) RETURNING *"
                ).format(self._ident("publications")),
                (
                    export_id,
                    staging_table,
                    kind,
                    record_count,
                    withdrawn[0],
                    Jsonb(withdrawn[1]),
                    previous.export_id if previous else None,
                    Jsonb(metadata),
                ),
            )
            publication = cur.fetchone()
        assert publication is not None
        return publication

    # -- schema --------------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Create the schema, tables, indexes and the view if missing. Idempotent and concurrency-safe."""
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
            ]
            for statement in statements:
                conn.execute(statement)
            self._create_staging(conn, EMPTY_TABLE)
            if not self._relation_exists(conn, VIEW):
                self._point_view(conn, EMPTY_TABLE)

    # -- exports and chunks --------------------------------------------------------------------------

    def register_export(
        self,
        export_id: str,
        source: str,
        profile: str,
        manifest: dict[str, Any],
        chunk_count: int,
        total_records: int | None,
        kind: ExportKind = "full",
    ) -> str:
        """Record the export and create its staging table; returns the table name. Idempotent.

        Re-registering with a different chunk count, record count or kind raises: an export id names
        immutable bytes, so a different plan means a bug upstream.
        """
        if kind not in ("full", "incremental"):
            raise ValueError(f"kind must be 'full' or 'incremental', not {kind!r}")
        table = staging_table_name(export_id)
        exports = self._ident("exports")
        with self._connect() as conn:
            self._lock(conn, "export", export_id)
            clash = conn.execute(
                sql.SQL("SELECT export_id FROM {} WHERE staging_table = %s AND export_id <> %s").format(exports),
                (table, export_id),
            ).fetchone()
            if clash:
                raise CatalogError(
                    f"export {export_id!r} maps to staging table {table}, already used by export {clash[0]!r}"
                )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (export_id, source, profile, manifest, staging_table, chunk_count,"
                    " total_records, kind, registered_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now())"
                    " ON CONFLICT (export_id) DO NOTHING"
                ).format(exports),
                (export_id, source, profile, Jsonb(manifest), table, chunk_count, total_records, kind),
            )
            row = conn.execute(
                sql.SQL("SELECT chunk_count, total_records, kind FROM {} WHERE export_id = %s").format(exports),
                (export_id,),
            ).fetchone()
            assert row is not None
            if tuple(row) != (chunk_count, total_records, kind):
                raise CatalogError(
                    f"export {export_id!r} is registered with chunk_count={row[0]}, total_records={row[1]},"
                    f" kind={row[2]}; asked to register it with chunk_count={chunk_count},"
                    f" total_records={total_records}, kind={kind}"
                )
            self._create_staging(conn, table)
            conn.execute(
                sql.SQL("UPDATE {} SET dropped_at = NULL WHERE export_id = %s AND dropped_at IS NOT NULL").format(
                    exports
                ),
                (export_id,),
            )
        return table

    def load_chunk(
        self,
        export_id: str,
        partition_key: str,
        chunk_index: int,
        records: Iterable[MuseumRecord],
        content_digest: str,
        *,
        run_id: str | None = None,
    ) -> LoadResult:
        """Replace the chunk's rows in the export's staging table with ``records``, in one transaction.

        Idempotent: loading the same chunk again leaves the same rows. A record id already held by
        another chunk is not overwritten but reported in ``LoadResult.duplicates`` (for quarantine as
        ``duplicate_id``); within the chunk the first occurrence wins.
        """
        if partition_key == CARRIED:
            raise ValueError(f"{CARRIED!r} is reserved")
        temp = sql.Identifier("_museum_sync_load")
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in _COLUMN_NAMES)
        with self._connect() as conn:
            self._lock(conn, "export", export_id, shared=True)
            self._lock(conn, "chunk", partition_key)
            export = self._export_row(conn, export_id)
            if export is None:
                raise CatalogError(f"export {export_id!r} is not registered: call register_export first")
            if export[3] is not None:
                raise CatalogError(
                    f"export {export_id!r}: staging table {export[0]} was dropped at"
                    f" {export[3]:%Y-%m-%d %H:%M %Z}; call register_export again to reload it"
                )
            table = self._ident(export[0])
            state = conn.execute(
                sql.SQL("SELECT state FROM {} WHERE partition_key = %s").format(self._ident("chunk_status")),
                (partition_key,),
            ).fetchone()
            if state and state[0] == "quarantined":
                raise CatalogError(f"chunk {partition_key} is quarantined: it must validate clean before it is loaded")
            conn.execute(
                sql.SQL("CREATE TEMP TABLE {} (ord int NOT NULL, {}) ON COMMIT DROP").format(
                    temp,
                    sql.SQL(", ").join(
                        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(d.replace(" PRIMARY KEY", "")))
                        for c, d in _COLUMNS
                    ),
                )
            )
            ids: list[str] = []
            unstorable: list[str] = []
            with conn.cursor() as cur:
                with cur.copy(sql.SQL("COPY {} (ord, {}) FROM STDIN").format(temp, columns)) as copy:
                    for record in records:
                        if record.export_id != export_id:
                            raise ValueError(
                                f"record {record.record_id} belongs to export {record.export_id}, not {export_id}"
                            )
                        text = record.model_dump_json()
                        if "\\u0000" in text and _has_nul(record.model_dump()):
                            unstorable.append(record.record_id)
                            continue
                        copy.write_row((len(ids), *_staging_row(record, partition_key, text)))
                        ids.append(record.record_id)
                conn.execute(sql.SQL("DELETE FROM {} WHERE chunk_key = %s").format(table), (partition_key,))
                # Sorted inserts: two chunks sharing ids lock them in the same order (no deadlock), and
                # within the chunk ``ord`` makes the first occurrence of a repeated id the one kept.
                cur.execute(
                    sql.SQL(
                        "INSERT INTO {table} ({cols}) SELECT {cols} FROM {temp}"
                        ' ORDER BY record_id COLLATE "C", ord'
                        " ON CONFLICT (record_id) DO NOTHING RETURNING record_id"
                    ).format(table=table, cols=columns, temp=temp)
                )
                inserted = Counter(row[0] for row in cur.fetchall())
            loaded = sum(inserted.values())
            duplicates: list[str] = []
            for rid in ids:
                if inserted[rid]:
                    inserted[rid] -= 1
                else:
                    duplicates.append(rid)
            conflicts: dict[str, str] = {}
            if duplicates:
                rows = conn.execute(
                    sql.SQL("SELECT record_id, chunk_key FROM {} WHERE record_id = ANY(%s)").format(table),
                    (sorted(set(duplicates)),),
                ).fetchall()
                conflicts = {rid: key for rid, key in rows}
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (partition_key, export_id, chunk_index, record_count, content_digest,"
                    " loaded_at) VALUES (%s, %s, %s, %s, %s, now()) ON CONFLICT (partition_key) DO UPDATE"
                    " SET export_id = EXCLUDED.export_id, chunk_index = EXCLUDED.chunk_index,"
                    " record_count = EXCLUDED.record_count, content_digest = EXCLUDED.content_digest,"
                    " loaded_at = EXCLUDED.loaded_at"
                ).format(self._ident("chunk_loads")),
                (partition_key, export_id, chunk_index, loaded, content_digest),
            )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} AS s (partition_key, export_id, chunk_index, state, record_count,"
                    " updated_at, run_id) VALUES (%s, %s, %s, 'loaded', %s, now(), %s)"
                    " ON CONFLICT (partition_key) DO UPDATE SET state = 'loaded',"
                    " export_id = EXCLUDED.export_id, chunk_index = EXCLUDED.chunk_index,"
                    " record_count = coalesce(s.record_count, EXCLUDED.record_count),"
                    " updated_at = EXCLUDED.updated_at, run_id = coalesce(EXCLUDED.run_id, s.run_id)"
                ).format(self._ident("chunk_status")),
                (partition_key, export_id, chunk_index, loaded, run_id),
            )
        return LoadResult(loaded=loaded, duplicates=duplicates, conflicts=conflicts, unstorable=unstorable)

    def record_validation(
        self,
        export_id: str,
        partition_key: str,
        chunk_index: int,
        passed: bool,
        validated_digest: str | None,
        record_count: int,
        reject_count: int,
        run_id: str | None,
    ) -> ChunkState:
        """Record the chunk's check outcome: 'validated' or 'quarantined'.

        A pass resolves the partition's open quarantine entry (its rows stay: nothing is lost). A pass
        with the same digest as an already loaded chunk keeps it 'loaded', so re-running validation
        alone does not force a reload.
        """
        with self._connect() as conn:
            self._lock(conn, "chunk", partition_key)
            with conn.cursor(row_factory=class_row(ChunkState)) as cur:
                cur.execute(
                    sql.SQL(
                        "INSERT INTO {} AS s (partition_key, export_id, chunk_index, state, validated_digest,"
                        " record_count, reject_count, updated_at, run_id)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s, now(), %s)"
                        " ON CONFLICT (partition_key) DO UPDATE SET"
                        " state = CASE WHEN EXCLUDED.state = 'validated' AND s.state = 'loaded'"
                        "  AND s.validated_digest IS NOT DISTINCT FROM EXCLUDED.validated_digest"
                        "  THEN 'loaded' ELSE EXCLUDED.state END,"
                        " export_id = EXCLUDED.export_id, chunk_index = EXCLUDED.chunk_index,"
                        " validated_digest = EXCLUDED.validated_digest, record_count = EXCLUDED.record_count,"
                        " reject_count = EXCLUDED.reject_count, updated_at = EXCLUDED.updated_at,"
                        " run_id = EXCLUDED.run_id RETURNING *"
                    ).format(self._ident("chunk_status")),
                    (
                        partition_key,
                        export_id,
                        chunk_index,
                        "validated" if passed else "quarantined",
                        validated_digest,
                        record_count,
                        reject_count,
                        run_id,
                    ),
                )
                state = cur.fetchone()
            if passed:
                self._resolve(conn, partition_key, run_id)
        assert state is not None
        return state

    def chunk_state(self, partition_key: str) -> ChunkState | None:
        with self._connect() as conn, conn.cursor(row_factory=class_row(ChunkState)) as cur:
            cur.execute(
                sql.SQL("SELECT * FROM {} WHERE partition_key = %s").format(self._ident("chunk_status")),
                (partition_key,),
            )
            return cur.fetchone()

    def chunk_states(self, export_id: str) -> list[ChunkState]:
        with self._connect() as conn, conn.cursor(row_factory=class_row(ChunkState)) as cur:
            cur.execute(
                sql.SQL("SELECT * FROM {} WHERE export_id = %s ORDER BY chunk_index, partition_key").format(
                    self._ident("chunk_status")
                ),
                (export_id,),
            )
            return cur.fetchall()

    # -- quarantine ----------------------------------------------------------------------------------

    def quarantine_records(
        self,
        export_id: str,
        partition_key: str,
        rejects: Iterable[QuarantineRow],
        check_name: str,
        reasons: dict[str, int],
        detail: dict[str, Any],
        run_id: str | None,
        *,
        blocking: bool = True,
    ) -> int:
        """Replace the partition's quarantine rows with ``rejects``; returns how many were stored.

        With ``blocking`` (the default) the partition is also opened, or refreshed, in
        ``quarantined_partitions`` (``first_seen`` kept, ``resolved_at`` cleared). ``blocking=False``
        stores the rejects of a chunk that passed its checks without quarantining the partition.
        """
        table = self._ident("quarantine")
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in _QUARANTINE_COLUMNS)
        count = 0
        with self._connect() as conn:
            self._lock(conn, "chunk", partition_key)
            conn.execute(sql.SQL("DELETE FROM {} WHERE partition_key = %s").format(table), (partition_key,))
            with (
                conn.cursor() as cur,
                cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(table, columns)) as copy,
            ):
                for row in rejects:
                    if row.partition_key != partition_key or row.export_id != export_id:
                        raise ValueError(
                            f"quarantine row for {row.export_id} {row.partition_key} passed with"
                            f" {export_id} {partition_key}"
                        )
                    copy.write_row(
                        (
                            row.export_id,
                            row.partition_key,
                            _nul_safe(row.record_id),
                            _nul_safe(row.file),
                            row.line,
                            row.byte_offset,
                            _nul_safe(row.pointer),
                            _nul_safe(row.field),
                            _nul_safe(row.reason),
                            _nul_safe(row.message),
                            _nul_safe(row.value),
                            _nul_safe(row.raw),
                        )
                    )
                    count += 1
            if blocking:
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {} AS q (partition_key, export_id, check_name, reasons, reject_count,"
                        " detail, first_seen, last_seen, resolved_at, run_id)"
                        " VALUES (%s, %s, %s, %s, %s, %s, now(), now(), NULL, %s)"
                        " ON CONFLICT (partition_key) DO UPDATE SET export_id = EXCLUDED.export_id,"
                        " check_name = EXCLUDED.check_name, reasons = EXCLUDED.reasons,"
                        " reject_count = EXCLUDED.reject_count, detail = EXCLUDED.detail,"
                        " last_seen = EXCLUDED.last_seen, resolved_at = NULL, resolved_by_run_id = NULL,"
                        " run_id = EXCLUDED.run_id"
                    ).format(self._ident("quarantined_partitions")),
                    (partition_key, export_id, check_name, Jsonb(reasons), count, Jsonb(detail), run_id),
                )
        return count

    def _resolve(self, conn: psycopg.Connection[Any], partition_key: str, run_id: str | None) -> bool:
        cur = conn.execute(
            sql.SQL(
                "UPDATE {} SET resolved_at = now(), resolved_by_run_id = %s"
                " WHERE partition_key = %s AND resolved_at IS NULL"
            ).format(self._ident("quarantined_partitions")),
            (run_id, partition_key),
        )
        return cur.rowcount > 0

    def resolve_partition(self, partition_key: str, run_id: str | None) -> bool:
        """Mark the partition's quarantine resolved (its rows are kept). False if nothing was open."""
        with self._connect() as conn:
            return self._resolve(conn, partition_key, run_id)

    def list_quarantined(
        self, export_id: str | None = None, include_resolved: bool = False
    ) -> list[QuarantinedPartition]:
        query = sql.SQL("SELECT * FROM {} WHERE (%(export_id)s::text IS NULL OR export_id = %(export_id)s)").format(
            self._ident("quarantined_partitions")
        )
        if not include_resolved:
            query += sql.SQL(" AND resolved_at IS NULL")
        query += sql.SQL(" ORDER BY partition_key")
        with self._connect() as conn, conn.cursor(row_factory=class_row(QuarantinedPartition)) as cur:
            cur.execute(query, {"export_id": export_id})
            return cur.fetchall()

    def quarantine_rows(self, partition_key: str, limit: int = 100, offset: int = 0) -> list[QuarantineRow]:
        with self._connect() as conn, conn.cursor(row_factory=class_row(QuarantineRow)) as cur:
            cur.execute(
                sql.SQL("SELECT * FROM {} WHERE partition_key = %s ORDER BY id LIMIT %s OFFSET %s").format(
                    self._ident("quarantine")
                ),
                (partition_key, limit, offset),
            )
            return cur.fetchall()

    # -- publication ---------------------------------------------------------------------------------

    def publish(
        self,
        export_id: str,
        expected_chunks: int,
        expected_records: int | None = None,
        *,
        deleted_record_ids: Iterable[str] = (),
        metadata: dict[str, Any] | None = None,
        carry: CarryOver | None = None,
        analyze: bool = True,
    ) -> PublicationResult:
        """Point ``objects`` at the export's staging table, gated, in one transaction.

        Refused (``PublicationRefused``) unless every one of ``expected_chunks`` chunks is 'loaded'
        and none is quarantined, and the staging table holds exactly the rows the chunk loads counted
        (and ``expected_records``, when given). Publishing the export already in force is a no-op.

        A full export replaces the catalogue: ids it lacks are withdrawn (counted, first 100 listed).
        An incremental export is applied on the publication in force: its staging table receives the
        current rows it does not replace, except ``deleted_record_ids`` (those are withdrawn). With
        ``carry`` (what Elasticsearch's copy was completed from), the carry-over must come out the same:
        same base export, same total; else ``PublicationRefused`` and nothing changes. ``analyze=False``:
        the caller ran ``analyze_export`` before (keeps the statistics pass out of the transaction).
        """
        deleted = sorted(set(deleted_record_ids if carry is None else carry.deleted))
        with self._connect() as conn:
            table, kind, chunk_count, _dropped = self._lock_for_publishing(conn, export_id)
            if deleted and kind != "incremental":
                raise ValueError("deleted_record_ids apply to incremental exports only")
            current = self._current(conn)
            if current is not None and current.export_id == export_id:
                return PublicationResult(current, already_published=True)
            staged, _counted = self._checked_staging(conn, export_id, table, chunk_count, expected_chunks)
            if expected_records is not None and staged != expected_records:
                raise PublicationRefused(
                    f"export {export_id!r}: staging table {table} holds {staged} rows, expected {expected_records}"
                )
            details: dict[str, Any] = {
                "kind": kind,
                "expected_chunks": expected_chunks,
                "loaded_records": staged,
            }
            old = current.staging_table if current is not None else None
            if old is not None and not self._relation_exists(conn, old):
                details["previous_table_missing"] = old
                old = None
            if kind == "incremental":
                details.update(self._carry_over(conn, table, old, deleted))
                if carry is not None:
                    self._check_carry(conn, table, carry, current.export_id if old is not None and current else None)
            if analyze:
                conn.execute(sql.SQL("ANALYZE {}").format(self._ident(table)))
            publication = self._make_public(
                conn, export_id, table, old, "publish", current, {**(metadata or {}), **details}
            )
        return PublicationResult(publication)

    def _lock_for_publishing(
        self, conn: psycopg.Connection[Any], export_id: str
    ) -> tuple[str, str, int, datetime | None]:
        """Inside the caller's transaction: no other publication, no load of this export; its row."""
        self._lock(conn, "publish")
        self._lock(conn, "export", export_id)
        export = self._export_row(conn, export_id)
        if export is None:
            raise PublicationRefused(f"export {export_id!r} is not registered")
        return export

    def _make_public(
        self,
        conn: psycopg.Connection[Any],
        export_id: str,
        table: str,
        old: str | None,
        kind: Literal["publish", "rollback"],
        current: Publication | None,
        metadata: dict[str, Any],
    ) -> Publication:
        """Inside the caller's transaction: count, list what leaves, point the view at ``table``, record it."""
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._ident(table))).fetchone()
        assert row is not None
        withdrawn = self._withdrawn(conn, old, table) if old is not None else (0, [])
        self._swap_view(conn, table)
        return self._record_publication(
            conn,
            export_id=export_id,
            staging_table=table,
            kind=kind,
            record_count=int(row[0]),
            withdrawn=withdrawn,
            previous=current,
            metadata=metadata,
        )

    def _checked_staging(
        self, conn: psycopg.Connection[Any], export_id: str, table: str, chunk_count: int, expected_chunks: int
    ) -> tuple[int, int]:
        """The publication gate on one export: table kept, plan as registered, every chunk loaded, rows =
        chunk loads. Returns (staged rows, rows the chunk loads count); raises PublicationRefused."""
        if not self._relation_exists(conn, table):
            raise PublicationRefused(f"export {export_id!r}: staging table {table} has been dropped")
        if chunk_count != expected_chunks:
            raise PublicationRefused(
                f"export {export_id!r} was registered with {chunk_count} chunks, not {expected_chunks}"
            )
        self._gate(conn, export_id, expected_chunks)
        staged, counted = self._counts(conn, export_id, table)
        if staged != counted:
            raise PublicationRefused(
                f"export {export_id!r}: staging table {table} holds {staged} rows but its chunk loads count {counted}"
            )
        return staged, counted

    def _gate(self, conn: psycopg.Connection[Any], export_id: str, expected_chunks: int) -> None:
        rows = conn.execute(
            sql.SQL("SELECT chunk_index, partition_key, state FROM {} WHERE export_id = %s").format(
                self._ident("chunk_status")
            ),
            (export_id,),
        ).fetchall()
        by_index: dict[int, list[tuple[str, str]]] = {}
        for index, key, state in rows:
            by_index.setdefault(index, []).append((key, state))
        quarantined = sorted(key for _, key, state in rows if state == "quarantined")
        missing: list[str] = []
        for index in range(expected_chunks):
            states = by_index.get(index)
            if not states:
                missing.append(f"{export_id}/{index:04d}")
            else:
                missing.extend(key for key, state in states if state == "validated")
        unexpected = sorted(key for index, key, _ in rows if not 0 <= index < expected_chunks)
        problems = []
        if quarantined:
            problems.append(f"{len(quarantined)} quarantined: {_keys_text(quarantined)}")
        if missing:
            problems.append(f"{len(missing)} not loaded: {_keys_text(missing)}")
        if unexpected:
            problems.append(f"{len(unexpected)} outside the {expected_chunks} expected: {_keys_text(unexpected)}")
        if problems:
            raise PublicationRefused(
                f"export {export_id!r} cannot be published, chunks " + "; ".join(problems),
                missing=missing,
                quarantined=quarantined,
            )

    def _counts(self, conn: psycopg.Connection[Any], export_id: str, table: str) -> tuple[int, int]:
        # One statement, one snapshot: the two counts cannot straddle a concurrent load.
        row = conn.execute(
            sql.SQL(
                "SELECT (SELECT count(*) FROM {table} WHERE chunk_key <> %s),"
                " (SELECT coalesce(sum(record_count), 0) FROM {loads} WHERE export_id = %s)"
            ).format(table=self._ident(table), loads=self._ident("chunk_loads")),
            (CARRIED, export_id),
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def _carry_selection(self, table: str, base: str) -> sql.Composed:
        """``FROM base o WHERE ...``: the rows of the base an incremental export carries over.

        Those it does not replace (no row of its own, carried rows aside) and the source did not delete
        (``%s``: the deleted ids). One definition for PostgreSQL's carry-over and Elasticsearch's.
        """
        return sql.SQL(
            "FROM {base} o WHERE NOT EXISTS (SELECT 1 FROM {new} n WHERE n.record_id = o.record_id"
            " AND n.chunk_key <> {carried}) AND NOT (o.record_id = ANY(%s))"
        ).format(base=self._ident(base), new=self._ident(table), carried=sql.Literal(CARRIED))

    def _insert_carried(self, table: str, base: str, tail: sql.Composable) -> sql.Composed:
        """``INSERT`` of the base's carried-over rows into ``table`` as ``CARRIED`` rows, ended by ``tail``.

        Parameters: ``CARRIED``, the deleted ids, then ``tail``'s own.
        """
        select = sql.SQL(", ").join(
            sql.Placeholder() if c == "chunk_key" else sql.SQL("o.{}").format(sql.Identifier(c)) for c in _COLUMN_NAMES
        )
        return sql.SQL("INSERT INTO {new} AS n ({cols}) SELECT {select} {selection} {tail}").format(
            new=self._ident(table),
            cols=sql.SQL(", ").join(sql.Identifier(c) for c in _COLUMN_NAMES),
            select=select,
            selection=self._carry_selection(table, base),
            tail=tail,
        )

    def _carry_over(
        self, conn: psycopg.Connection[Any], table: str, base: str | None, deleted: list[str]
    ) -> dict[str, Any]:
        """Make the carried rows exactly the base's selection, touching only what differs.

        ``prepare_carry_over`` usually did the work already: then this is two anti-joins, so the
        publication transaction (during which the alias is ahead of the view) stays short.
        """
        new = self._ident(table)
        if base is None:
            conn.execute(sql.SQL("DELETE FROM {} WHERE chunk_key = %s").format(new), (CARRIED,))
            return {"carried_over": 0, "deleted_requested": len(deleted)}
        selection = self._carry_selection(table, base)
        conn.execute(
            sql.SQL(
                "DELETE FROM {new} c WHERE c.chunk_key = %s AND NOT EXISTS"
                " (SELECT 1 {selection} AND o.record_id = c.record_id AND o.content_hash = c.content_hash)"
            ).format(new=new, selection=selection),
            (CARRIED, deleted),
        )
        missing = sql.SQL("AND NOT EXISTS (SELECT 1 FROM {} x WHERE x.record_id = o.record_id)").format(new)
        conn.execute(self._insert_carried(table, base, missing), (CARRIED, deleted))
        row = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE chunk_key = %s").format(new), (CARRIED,)).fetchone()
        assert row is not None
        return {"carried_over": int(row[0]), "deleted_requested": len(deleted)}

    def _check_carry(
        self, conn: psycopg.Connection[Any], table: str, carry: CarryOver, base_export_id: str | None
    ) -> None:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._ident(table))).fetchone()
        assert row is not None
        total = int(row[0])
        if base_export_id != carry.base_export_id or total != carry.total:
            raise PublicationRefused(
                f"export {carry.export_id!r}: its carry-over changed since Elasticsearch's copy was made (base"
                f" {carry.base_export_id!r}, {carry.total} rows then; base {base_export_id!r}, {total} rows now)"
            )

    def prepare_carry_over(self, export_id: str, deleted_record_ids: Iterable[str] = ()) -> CarryOver:
        """Before an incremental export's Elasticsearch index is completed: what it must carry over.

        Adds the rows it will carry from the publication in force to its staging table (not public yet)
        and lists the ids carried by an earlier attempt that no longer are (``stale``: their documents
        must leave the index). Rows are only removed by ``publish``, which carries over again in its
        transaction: so every document an attempt may have copied into the index is still listed here
        after any crash, and a rerun can remove it.
        """
        deleted = sorted(set(deleted_record_ids))
        with self._connect() as conn:
            table, kind, _chunks, _dropped = self._lock_for_publishing(conn, export_id)
            if kind != "incremental":
                raise ValueError(f"export {export_id!r} is a full export: it carries nothing over")
            current = self._current(conn)
            base = current.staging_table if current is not None else None
            if base is not None and not self._relation_exists(conn, base):
                base = None
            new = self._ident(table)
            carried = 0
            stale: list[str] = []
            if base is not None:
                selection = self._carry_selection(table, base)
                stale = [
                    str(row[0])
                    for row in conn.execute(
                        sql.SQL(
                            "SELECT c.record_id FROM {new} c WHERE c.chunk_key = %s"
                            " AND NOT EXISTS (SELECT 1 {selection} AND o.record_id = c.record_id) ORDER BY 1"
                        ).format(new=new, selection=selection),
                        (CARRIED, deleted),
                    )
                ]
                updates = sql.SQL(", ").join(
                    sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in _COLUMN_NAMES if c != "record_id"
                )
                upsert = sql.SQL("ON CONFLICT (record_id) DO UPDATE SET {} WHERE n.chunk_key = %s").format(updates)
                cur = conn.execute(self._insert_carried(table, base, upsert), (CARRIED, deleted, CARRIED))
                carried = cur.rowcount
            else:
                stale = [
                    str(row[0])
                    for row in conn.execute(
                        sql.SQL("SELECT record_id FROM {} WHERE chunk_key = %s ORDER BY 1").format(new), (CARRIED,)
                    )
                ]
            staged, _counted = self._counts(conn, export_id, table)
        return CarryOver(
            export_id=export_id,
            base_export_id=current.export_id if current is not None and base is not None else None,
            staging_table=table,
            base_table=base,
            carried=carried,
            stale=stale,
            deleted=deleted,
            staged=staged,
        )

    def carried_records(self, carry: CarryOver, batch_size: int = 2000) -> Iterator[str]:
        """The stored JSON of each record ``carry`` carries over, streamed (a server-side cursor).

        Without the stored ``content_hash``: the record computes it again, so a stored row that no
        longer matches its record would show in the post-publish check, not be copied along.
        """
        if carry.base_table is None:
            return
        query = sql.SQL("SELECT (o.record - 'content_hash')::text {selection} ORDER BY o.record_id").format(
            selection=self._carry_selection(carry.staging_table, carry.base_table)
        )
        with self._connect() as conn, conn.cursor(name="carried_records") as cur:
            cur.itersize = batch_size
            cur.execute(query, (carry.deleted,))
            for (text,) in cur:
                yield str(text)

    def current_publication(self) -> Publication | None:
        with self._connect() as conn:
            return self._current(conn)

    def publications(self, limit: int = 20) -> list[Publication]:
        """The latest publications and rollbacks, newest first."""
        with self._connect() as conn, conn.cursor(row_factory=class_row(Publication)) as cur:
            cur.execute(
                sql.SQL("SELECT * FROM {} ORDER BY id DESC LIMIT %s").format(self._ident("publications")),
                (limit,),
            )
            return cur.fetchall()

    def rollback(self, export_id: str) -> PublicationResult:
        """Point ``objects`` back at an export published before, if its staging table still exists."""
        with self._connect() as conn:
            self._lock(conn, "publish")
            current = self._current(conn)
            if current is None:
                raise PublicationRefused("nothing has been published: there is nothing to roll back")
            if current.export_id == export_id:
                return PublicationResult(current, already_published=True)
            published = conn.execute(
                sql.SQL(
                    "SELECT staging_table FROM {} WHERE export_id = %s AND kind = 'publish' ORDER BY id DESC LIMIT 1"
                ).format(self._ident("publications")),
                (export_id,),
            ).fetchone()
            if published is None:
                raise PublicationRefused(f"export {export_id!r} was never published: publish it instead")
            table = str(published[0])
            if not self._relation_exists(conn, table):
                raise PublicationRefused(f"export {export_id!r}: staging table {table} has been dropped")
            old = current.staging_table if self._relation_exists(conn, current.staging_table) else None
            publication = self._make_public(
                conn, export_id, table, old, "rollback", current, {"rolled_back_from": current.export_id}
            )
        return PublicationResult(publication)

    def drop_old_exports(self, keep: int) -> list[str]:
        """Drop staging tables no rollback should need; returns the dropped table names.

        Kept: the export in force and the last ``keep`` distinct published exports. Dropped: older
        published exports, and unpublished exports registered before the oldest kept export was
        (superseded; newer ones may still be loading). Export, chunk and quarantine history rows stay;
        the dropped export's chunks go back from 'loaded' to 'validated'.
        """
        if keep < 0:
            raise ValueError("keep must be >= 0")
        dropped: list[str] = []
        with self._connect() as conn:
            self._lock(conn, "publish")
            current = self._current(conn)
            if current is None:
                return []
            self._set_lock_timeout(conn)  # DROP TABLE waits for readers of that table, but not forever
            last = conn.execute(
                sql.SQL(
                    "SELECT export_id, max(id) AS last_id, max(published_at) FROM {} WHERE kind = 'publish'"
                    " GROUP BY export_id ORDER BY last_id DESC"
                ).format(self._ident("publications"))
            ).fetchall()
            kept = {current.export_id, *(row[0] for row in last[:keep])}
            published = {row[0] for row in last}
            cutoff_row = conn.execute(
                sql.SQL("SELECT min(registered_at) FROM {} WHERE export_id = ANY(%s)").format(self._ident("exports")),
                (sorted(kept),),
            ).fetchone()
            cutoff = cutoff_row[0] if cutoff_row else None
            candidates = conn.execute(
                sql.SQL(
                    "SELECT export_id, staging_table, registered_at FROM {} WHERE dropped_at IS NULL"
                    " ORDER BY registered_at"
                ).format(self._ident("exports"))
            ).fetchall()
            for export_id, table, registered_at in candidates:
                if export_id in kept or table == current.staging_table:
                    continue
                if export_id not in published and (cutoff is None or registered_at >= cutoff):
                    continue
                self._lock(conn, "export", export_id)
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._ident(table)))
                conn.execute(
                    sql.SQL("UPDATE {} SET dropped_at = now() WHERE export_id = %s").format(self._ident("exports")),
                    (export_id,),
                )
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE export_id = %s").format(self._ident("chunk_loads")),
                    (export_id,),
                )
                conn.execute(
                    sql.SQL("UPDATE {} SET state = 'validated' WHERE export_id = %s AND state = 'loaded'").format(
                        self._ident("chunk_status")
                    ),
                    (export_id,),
                )
                dropped.append(table)
        return dropped

    def catalogue_digest(self, export_id: str | None = None) -> str:
        """sha256 over ``record_id TAB content_hash LF`` in byte order of ``record_id``.

        Of the published view, or of one export's staging table: equal digests mean the same records
        with the same content, whatever the chunk order or machine (the order ignores the collation).
        """
        with self._connect() as conn:
            if export_id is None:
                name = VIEW
            else:
                export = self._export_row(conn, export_id)
                if export is None:
                    raise CatalogError(f"export {export_id!r} is not registered")
                name = export[0]
            digest = hashlib.sha256()
            with conn.cursor(name="museum_sync_digest") as cur:
                cur.itersize = 10_000
                cur.execute(
                    sql.SQL('SELECT record_id, content_hash FROM {} ORDER BY record_id COLLATE "C"').format(
                        self._ident(name)
                    )
                )
                for record_id, content_hash in cur:
                    digest.update(f"{record_id}\t{content_hash}\n".encode())
        return digest.hexdigest()

    def count(self, export_id: str | None = None) -> int:
        """Rows in the published view, or in one export's staging table."""
        with self._connect() as conn:
            name = VIEW
            if export_id is not None:
                export = self._export_row(conn, export_id)
                if export is None:
                    raise CatalogError(f"export {export_id!r} is not registered")
                name = export[0]
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._ident(name))).fetchone()
        assert row is not None
        return int(row[0])

    # -- queries for the pipeline and the CLI ---------------------------------------------------------

    def exports_ready_to_publish(self) -> list[str]:
        """Exports whose every chunk is loaded, none quarantined, and which have never been published.

        The publication sensor and ``quarantine replay`` use it to publish an export once replays have
        loaded its last quarantined chunk; the bulk run publishes its own exports directly.
        """
        query = sql.SQL(
            """
            SELECT e.export_id FROM {exports} e
            WHERE e.dropped_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM {pubs} p WHERE p.export_id = e.export_id)
              AND e.chunk_count = (SELECT count(*) FROM {status} s
                                   WHERE s.export_id = e.export_id AND s.state = 'loaded')
            ORDER BY e.registered_at, e.export_id
            """
        ).format(exports=self._ident("exports"), pubs=self._ident("publications"), status=self._ident("chunk_status"))
        with self._connect() as conn:
            return [str(row[0]) for row in conn.execute(query).fetchall()]

    def quarantine_summary(self, export_id: str) -> list[dict[str, Any]]:
        """Rejected records of an export counted by reason (a record with two problems counts in both).

        A record is its chunk + line + pointer + id: items of a JSON document have no line, and an
        item without an id is told apart from the next one by its pointer alone.
        """
        query = sql.SQL(
            "SELECT reason, count(DISTINCT (partition_key, coalesce(line, 0), coalesce(pointer, ''),"
            " coalesce(record_id, ''))) "
            "FROM {} WHERE export_id = %s GROUP BY reason ORDER BY reason"
        ).format(self._ident("quarantine"))
        with self._connect() as conn:
            return [{"reason": r[0], "count": int(r[1])} for r in conn.execute(query, (export_id,)).fetchall()]

    # -- reader role -----------------------------------------------------------------------------------
    # Appended for the proof suites (museum_sync_tests/integration/test_security.py); nothing above changes.

    def grant_reader(self, role: str) -> None:
        """Let ``role`` read the public catalogue and nothing else: the ``objects`` view and ``publications``.

        Creates ``role`` (NOLOGIN: grant it to the login roles of the readers) when it does not exist, grants
        USAGE on the schema and SELECT on those two relations, and takes back anything else it holds in the
        schema (staging tables, ``quarantine``, ``quarantined_partitions``, ``chunk_status``...), together
        with default privileges that would hand it tables created later, such as the next export's staging
        table (schema-wide ones for this schema and database-wide ones, whoever granted them; revoking
        another role's defaults needs membership in it). A view reads with its owner's privileges, so
        SELECT on ``objects`` is enough to read whichever staging table it points at, and ``CREATE OR
        REPLACE VIEW`` keeps the grant when publication re-points it. Idempotent.
        """
        if not role or len(role.encode("utf-8")) > MAX_IDENTIFIER:
            raise ValueError(f"role name must be 1-{MAX_IDENTIFIER} bytes: {role!r}")
        grantee = sql.Identifier(role)
        schema = sql.Identifier(self.schema)
        kinds = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES", "n": "SCHEMAS"}
        with self._connect() as conn:
            self._lock(conn, "migrate")
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(grantee))
            defaults = conn.execute(
                "SELECT DISTINCT pg_get_userbyid(d.defaclrole), n.nspname, d.defaclobjtype"
                " FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace,"
                " aclexplode(d.defaclacl) a"
                " WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %s)"
                " AND (d.defaclnamespace = 0 OR n.nspname = %s)",
                (role, self.schema),
            ).fetchall()
            for owner, namespace, objtype in defaults:
                where = sql.SQL(" IN SCHEMA {}").format(sql.Identifier(namespace)) if namespace else sql.SQL("")
                conn.execute(
                    sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {}{} REVOKE ALL ON {} FROM {}").format(
                        sql.Identifier(owner), where, sql.SQL(kinds[objtype]), grantee
                    )
                )
            for what in ("TABLES", "SEQUENCES", "FUNCTIONS"):
                conn.execute(
                    sql.SQL("REVOKE ALL ON ALL {} IN SCHEMA {} FROM {}").format(sql.SQL(what), schema, grantee)
                )
            conn.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(schema, grantee))
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, grantee))
            conn.execute(
                sql.SQL("GRANT SELECT ON {}, {} TO {}").format(self._ident(VIEW), self._ident("publications"), grantee)
            )

    # -- cross-store publication (museum_sync.publication) ---------------------------------------------
    # Appended for publishing to PostgreSQL and Elasticsearch together; nothing above changes. The intent
    # log ``publication_attempts`` records each switch before it starts, so a run that dies between the
    # two stores is settled by the next one (PostgreSQL's transaction is the commit point).

    def migrate_publication_attempts(self) -> None:
        """Create ``publication_attempts`` if missing (idempotent). At most one attempt is 'pending'."""
        with self._connect() as conn:
            self._lock(conn, "migrate")
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " id bigserial PRIMARY KEY, export_id text NOT NULL,"
                    " action text NOT NULL CHECK (action IN ('publish', 'rollback')),"
                    " state text NOT NULL CHECK (state IN ('pending', 'done', 'failed', 'abandoned')),"
                    " previous_export_id text, search_previous_export_id text, search_index text,"
                    " started_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz, error text,"
                    " detail jsonb NOT NULL DEFAULT '{{}}')"
                ).format(self._ident("publication_attempts"))
            )
            conn.execute(
                sql.SQL(
                    "CREATE UNIQUE INDEX IF NOT EXISTS publication_attempts_one_pending ON {} ((true))"
                    " WHERE state = 'pending'"
                ).format(self._ident("publication_attempts"))
            )

    def begin_publication_attempt(
        self,
        export_id: str,
        action: Literal["publish", "rollback"],
        *,
        previous_export_id: str | None,
        search_previous_export_id: str | None,
        search_index: str | None,
        detail: dict[str, Any] | None = None,
    ) -> PublicationAttempt:
        """Record the intent to switch both stores to ``export_id``; refuses while another is pending."""
        table = self._ident("publication_attempts")
        with self._connect() as conn:
            pending = self._pending_attempt(conn)
            if pending is not None:
                raise CatalogError(
                    f"publication attempt {pending.id} ({pending.action} {pending.export_id!r}) is still pending:"
                    " settle it first"
                )
            with conn.cursor(row_factory=class_row(PublicationAttempt)) as cur:
                cur.execute(
                    sql.SQL(
                        "INSERT INTO {} (export_id, action, state, previous_export_id, search_previous_export_id,"
                        " search_index, detail) VALUES (%s, %s, 'pending', %s, %s, %s, %s) RETURNING *"
                    ).format(table),
                    (
                        export_id,
                        action,
                        previous_export_id,
                        search_previous_export_id,
                        search_index,
                        Jsonb(detail or {}),
                    ),
                )
                attempt = cur.fetchone()
        assert attempt is not None
        return attempt

    def _pending_attempt(self, conn: psycopg.Connection[Any]) -> PublicationAttempt | None:
        with conn.cursor(row_factory=class_row(PublicationAttempt)) as cur:
            cur.execute(
                sql.SQL("SELECT * FROM {} WHERE state = 'pending' ORDER BY id DESC LIMIT 1").format(
                    self._ident("publication_attempts")
                )
            )
            return cur.fetchone()

    def pending_publication_attempt(self) -> PublicationAttempt | None:
        with self._connect() as conn:
            return self._pending_attempt(conn)

    def finish_publication_attempt(
        self,
        attempt_id: int,
        state: Literal["done", "failed", "abandoned"],
        *,
        error: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> bool:
        """Close a pending attempt (``detail`` is merged in); False if it was no longer pending."""
        with self._connect() as conn:
            cur = conn.execute(
                sql.SQL(
                    "UPDATE {} SET state = %s, finished_at = now(), error = %s, detail = detail || %s"
                    " WHERE id = %s AND state = 'pending'"
                ).format(self._ident("publication_attempts")),
                (state, error, Jsonb(detail or {}), attempt_id),
            )
            return cur.rowcount > 0

    def publication_attempts(self, limit: int = 20) -> list[PublicationAttempt]:
        """The latest cross-store publication attempts, newest first."""
        with self._connect() as conn, conn.cursor(row_factory=class_row(PublicationAttempt)) as cur:
            cur.execute(
                sql.SQL("SELECT * FROM {} ORDER BY id DESC LIMIT %s").format(self._ident("publication_attempts")),
                (limit,),
            )
            return cur.fetchall()

    @contextmanager
    def publication_lock(self, timeout_s: float = 600.0) -> Iterator[None]:
        """Hold the cross-store publication lock (a session advisory lock on a connection of its own).

        A dead holder's lock goes with its connection. Raises ``CatalogError`` after ``timeout_s``.
        """
        key = self._lock_key("cross-store-publication")
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True, **self._connect_kwargs)
        except psycopg.OperationalError as exc:
            raise psycopg.OperationalError(
                f"cannot connect to the catalogue at {redact(self.conninfo)}: {exc}"
            ) from exc
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                if row is not None and row[0]:
                    break
                if time.monotonic() >= deadline:
                    raise CatalogError(f"another publication has held the publication lock for over {timeout_s:.0f} s")
                time.sleep(0.1)
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        finally:
            conn.close()

    def settled_publication(self) -> Publication | None:
        """The publication in force once any publish/rollback transaction in flight has ended.

        Waits on the lock ``publish``/``rollback`` hold for their whole transaction: after a failed call
        this tells for certain whether its transaction committed.
        """
        with self._connect() as conn:
            self._lock(conn, "publish")
            return self._current(conn)

    def analyze_export(self, export_id: str) -> None:
        """Planner statistics for the export's staging table, before it goes public (a fresh table has none)."""
        with self._connect() as conn:
            export = self._export_row(conn, export_id)
            if export is not None and self._relation_exists(conn, export[0]):
                conn.execute(sql.SQL("ANALYZE {}").format(self._ident(export[0])))

    def check_publishable(self, export_id: str, expected_chunks: int) -> PublishCheck:
        """Run ``publish``'s gate without publishing: raises ``PublicationRefused`` as ``publish`` would.

        Lets a caller refuse before touching another store; ``publish`` checks again under its lock.
        """
        with self._connect() as conn:
            export = self._export_row(conn, export_id)
            if export is None:
                raise PublicationRefused(f"export {export_id!r} is not registered")
            table, kind, chunk_count, _dropped = export
            staged, counted = self._checked_staging(conn, export_id, table, chunk_count, expected_chunks)
        export_kind: ExportKind = "incremental" if kind == "incremental" else "full"
        return PublishCheck(export_id=export_id, staging_table=table, kind=export_kind, staged=staged, loaded=counted)

    def export_row_count(self, export_id: str) -> int | None:
        """Rows in the export's staging table; None when it is not registered or its table was dropped."""
        with self._connect() as conn:
            export = self._export_row(conn, export_id)
            if export is None or not self._relation_exists(conn, export[0]):
                return None
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._ident(export[0]))).fetchone()
        assert row is not None
        return int(row[0])

    def live_exports(self) -> list[str]:
        """Exports whose staging table has not been dropped (published, kept for rollback, or loading)."""
        with self._connect() as conn:
            rows = conn.execute(
                sql.SQL("SELECT export_id FROM {} WHERE dropped_at IS NULL ORDER BY registered_at").format(
                    self._ident("exports")
                )
            ).fetchall()
        return [str(row[0]) for row in rows]

    def published_exports(self) -> list[str]:
        """Exports that have been published at least once (rollback targets, if still kept), newest first."""
        with self._connect() as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT export_id FROM {} WHERE kind = 'publish' GROUP BY export_id ORDER BY max(id) DESC"
                ).format(self._ident("publications"))
            ).fetchall()
        return [str(row[0]) for row in rows]

    def sample_content_hashes(self, size: int, export_id: str | None = None) -> dict[str, str]:
        """``record_id -> content_hash`` for a random sample of the published view (or an export's table)."""
        with self._connect() as conn:
            name = VIEW
            if export_id is not None:
                export = self._export_row(conn, export_id)
                if export is None:
                    raise CatalogError(f"export {export_id!r} is not registered")
                name = export[0]
            rows = conn.execute(
                sql.SQL("SELECT record_id, content_hash FROM {} ORDER BY random() LIMIT %s").format(self._ident(name)),
                (size,),
            ).fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    def loaded_record_ids(self, export_id: str, partition_key: str) -> set[str]:
        """Ids the export's staging table holds under this chunk: exactly what its search index should get.

        A cross-chunk duplicate (kept under the chunk that loaded it first) and an unstorable record are
        not among them; indexing only these ids gives Elasticsearch the same version of each record as
        PostgreSQL, whatever order the chunks were loaded and indexed in.
        """
        with self._connect() as conn:
            export = self._export_row(conn, export_id)
            if export is None:
                raise CatalogError(f"export {export_id!r} is not registered")
            rows = conn.execute(
                sql.SQL("SELECT record_id FROM {} WHERE chunk_key = %s").format(self._ident(export[0])),
                (partition_key,),
            ).fetchall()
        return {str(row[0]) for row in rows}


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
class PublishCheck:
    """What ``check_publishable`` found: rows staged and rows the chunk loads counted (equal)."""

    export_id: str
    staging_table: str
    kind: ExportKind
    staged: int
    loaded: int


__all__ += ["CarryOver", "PublicationAttempt", "PublishCheck"]
