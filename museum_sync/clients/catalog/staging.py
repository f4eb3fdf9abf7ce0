"""Staging: register an export, COPY its chunks into its staging table, track each chunk's state, count.

``register_export``/``load_chunk`` take the export's advisory lock (``load_chunk`` shared, so chunks of
one export load in parallel, but never during its publication), and ``load_chunk``/``record_validation``
of one partition key are serialised: a redelivered Celery task running twice at once must not leave the
chunk half-counted.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from museum_sync.clients.catalog.quarantine import CatalogQuarantine
from museum_sync.clients.catalog.schema import (
    CARRIED,
    COLUMN_NAMES,
    COLUMNS,
    VIEW,
    CatalogSchema,
    staging_table_name,
)
from museum_sync.clients.catalog.types import CatalogError, ChunkState, ExportKind, LoadResult
from museum_sync.core.models import MuseumRecord, StoredRecord

__all__ = ["CatalogStaging", "holds_nul", "snapshot_at"]


def snapshot_at(alias: str) -> sql.Composed:
    """SQL for the snapshot time of the export row ``alias``: when its source gave us these bytes.

    The manifest's ``fetched_at`` (stored with the export at register time, so no column of its own), else
    the time the catalogue registered it (exports registered by hand, with a manifest that has no time).
    Publication order compares it: an export never goes public over a newer one of its source.
    """
    return sql.SQL("coalesce(({a}.manifest->>'fetched_at')::timestamptz, {a}.registered_at)").format(
        a=sql.Identifier(alias)
    )


def _staging_row(
    record: StoredRecord, chunk_key: str, content_hash: str, json_text: str, locator: str | None, run_id: str | None
) -> tuple[Any, ...]:
    """The record flattened into ``COLUMNS`` order (the whole record stays in the ``record`` column), then
    its lineage: where it sits in the snapshot and the run that loaded it."""
    data = record.data
    span = data.get("production_date") or {}
    work_type = data.get("work_type")
    creators = "; ".join(c["name"] for c in data.get("creators", ()))
    return (
        record.record_id,
        chunk_key,
        content_hash,
        data.get("object_number"),
        record.title,
        work_type["label"] if work_type else None,
        creators or None,
        span.get("display"),
        span.get("earliest"),  # ISO dates as validation wrote them; PostgreSQL parses them into ``date``
        span.get("latest"),
        data["rights"],
        data["provenance"]["institution"],
        data.get("iiif_manifest"),
        json_text,
        locator,
        run_id,
    )


def holds_nul(value: Any) -> bool:
    """Whether a value holds U+0000 anywhere: PostgreSQL cannot store it, so ``load_chunk`` rejects the record."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(holds_nul(v) for v in value)
    return False


class CatalogStaging(CatalogSchema, CatalogQuarantine):
    """Exports, chunk loads and chunk states. Builds on the schema (it creates staging tables) and on
    quarantine (a chunk that validates clean resolves its quarantine)."""

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
        records: Iterable[MuseumRecord | StoredRecord],
        content_digest: str,
        *,
        run_id: str | None = None,
        locators: Iterable[str | None] = (),
    ) -> LoadResult:
        """Replace the chunk's rows in the export's staging table with ``records``, in one transaction.

        ``locators``: each record's ``file:line`` in the snapshot, in the order of ``records`` (shorter or
        empty: the rest have none); stored with ``run_id`` as the row's lineage.

        Idempotent: loading the same chunk again leaves the same rows. A record id already held by
        another chunk is not overwritten but reported in ``LoadResult.duplicates`` (for quarantine as
        ``duplicate_id``); within the chunk the first occurrence wins.
        """
        if partition_key == CARRIED:
            raise ValueError(f"{CARRIED!r} is reserved")
        temp = sql.Identifier("_museum_sync_load")
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMN_NAMES)
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
                        for c, d in COLUMNS
                    ),
                )
            )
            ids: list[str] = []
            unstorable: list[str] = []
            where = iter(locators)
            with conn.cursor() as cur:
                with cur.copy(sql.SQL("COPY {} (ord, {}) FROM STDIN").format(temp, columns)) as copy:
                    for item in records:
                        record = item if isinstance(item, StoredRecord) else StoredRecord.of(item)
                        if record.export_id != export_id:
                            raise ValueError(
                                f"record {record.record_id} belongs to export {record.export_id}, not {export_id}"
                            )
                        content_hash, text = record.catalog_json()
                        locator = next(where, None)
                        if "\\u0000" in text and holds_nul(record.data):
                            unstorable.append(record.record_id)
                            continue
                        row = _staging_row(record, partition_key, content_hash, text, locator, run_id)
                        copy.write_row((len(ids), *row))
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

    def chunk_lineage(self, export_id: str, partition_key: str) -> dict[str, dict[str, str | None]]:
        """``record_id -> {chunk_key, run_id, source_locator}`` of the rows the chunk holds (``loaded_record_ids``
        with their lineage): what its search documents carry, so both stores name the same origin."""
        with self._connect() as conn:
            export = self._export_row(conn, export_id)
            if export is None:
                raise CatalogError(f"export {export_id!r} is not registered")
            rows = conn.execute(
                sql.SQL("SELECT record_id, run_id, source_locator FROM {} WHERE chunk_key = %s").format(
                    self._ident(export[0])
                ),
                (partition_key,),
            ).fetchall()
        return {str(r[0]): {"chunk_key": partition_key, "run_id": r[1], "source_locator": r[2]} for r in rows}

    def staged_row(self, export_id: str, record_id: str) -> dict[str, Any] | None:
        """The export's staging row of one record (lineage and content hash, not the record), or None.

        None also when the export's table was dropped (retention): ``museum-sync trace`` says so.
        """
        with self._connect() as conn:
            export = self._export_row(conn, export_id)
            if export is None or not self._relation_exists(conn, export[0]):
                return None
            row = conn.execute(
                sql.SQL(
                    "SELECT record_id, chunk_key, content_hash, source_locator, run_id FROM {} WHERE record_id = %s"
                ).format(self._ident(export[0])),
                (record_id,),
            ).fetchone()
        if row is None:
            return None
        names = ("record_id", "chunk_key", "content_hash", "source_locator", "run_id")
        return dict(zip(names, row, strict=True)) | {"staging_table": export[0]}

    def live_exports(self) -> list[str]:
        """Exports whose staging table has not been dropped (published, kept for rollback, or loading)."""
        with self._connect() as conn:
            rows = conn.execute(
                sql.SQL("SELECT export_id FROM {} WHERE dropped_at IS NULL ORDER BY registered_at").format(
                    self._ident("exports")
                )
            ).fetchall()
        return [str(row[0]) for row in rows]

    def exports_with_open_quarantines(self) -> list[tuple[str, datetime, int]]:
        """``(export_id, snapshot time, open quarantined partitions)``, the newest snapshot first."""
        query = sql.SQL(
            "SELECT e.export_id, {at}, count(*) FROM {exports} e JOIN {parts} q ON q.export_id = e.export_id"
            " WHERE q.resolved_at IS NULL GROUP BY e.export_id ORDER BY 2 DESC, e.registered_at DESC, 1"
        ).format(at=snapshot_at("e"), exports=self._ident("exports"), parts=self._ident("quarantined_partitions"))
        with self._connect() as conn:
            return [(str(row[0]), row[1], int(row[2])) for row in conn.execute(query).fetchall()]

    # -- counts and digests, of the public view or of one export's staging table ------------------------

    def _table_of(self, conn: psycopg.Connection[Any], export_id: str | None) -> str:
        """The published view (``export_id`` None) or the export's staging table; an unknown export is an error."""
        if export_id is None:
            return VIEW
        export = self._export_row(conn, export_id)
        if export is None:
            raise CatalogError(f"export {export_id!r} is not registered")
        return str(export[0])

    def count(self, export_id: str | None = None) -> int:
        """Rows in the published view, or in one export's staging table."""
        with self._connect() as conn:
            name = self._table_of(conn, export_id)
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._ident(name))).fetchone()
        assert row is not None
        return int(row[0])

    def export_row_count(self, export_id: str) -> int | None:
        """Rows in the export's staging table; None when it is not registered or its table was dropped."""
        with self._connect() as conn:
            export = self._export_row(conn, export_id)
            if export is None or not self._relation_exists(conn, export[0]):
                return None
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._ident(export[0]))).fetchone()
        assert row is not None
        return int(row[0])

    def catalogue_digest(self, export_id: str | None = None) -> str:
        """sha256 over ``record_id TAB content_hash LF`` in byte order of ``record_id``.

        Of the published view, or of one export's staging table: equal digests mean the same records
        with the same content, whatever the chunk order or machine (the order ignores the collation).
        """
        with self._connect() as conn:
            name = self._table_of(conn, export_id)
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

    def sample_content_hashes(self, size: int, export_id: str | None = None) -> dict[str, str]:
        """``record_id -> content_hash`` for a random sample of the published view (or an export's table)."""
        with self._connect() as conn:
            name = self._table_of(conn, export_id)
            rows = conn.execute(
                sql.SQL("SELECT record_id, content_hash FROM {} ORDER BY random() LIMIT %s").format(self._ident(name)),
                (size,),
            ).fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    # -- inside the caller's transaction -----------------------------------------------------------------

    def _export_row(
        self, conn: psycopg.Connection[Any], export_id: str
    ) -> tuple[str, str, int, datetime | None] | None:
        """(staging table, kind, chunk count, dropped at) of a registered export, else None."""
        row = conn.execute(
            sql.SQL("SELECT staging_table, kind, chunk_count, dropped_at FROM {} WHERE export_id = %s").format(
                self._ident("exports")
            ),
            (export_id,),
        ).fetchone()
        return (row[0], row[1], row[2], row[3]) if row else None

    def _counts(self, conn: psycopg.Connection[Any], export_id: str, table: str) -> tuple[int, int]:
        """(rows the export loaded into ``table``, carried rows aside; rows its chunk loads count)."""
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
