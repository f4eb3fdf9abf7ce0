"""Quarantine: the rejected records of each chunk, and the chunks held back until a steward replays them.

``quarantine`` keeps every rejected record with where it sits and why (replaced per partition on each
validation); ``quarantined_partitions`` has one row per chunk stopped at a blocking check, open until a
clean validation resolves it. Resolving never deletes the rejects: nothing is lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from museum_sync.clients.catalog.connection import CatalogConnection
from museum_sync.clients.catalog.types import QuarantinedPartition, QuarantineRow

__all__ = ["CatalogQuarantine"]

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


def _nul_safe(value: str | None) -> str | None:
    """Quarantine keeps broken input verbatim, except U+0000 (PostgreSQL text cannot hold it)."""
    return value.replace("\x00", "\\x00") if value is not None and "\x00" in value else value


class CatalogQuarantine(CatalogConnection):
    """Store, resolve and read quarantined records and partitions."""

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

    def resolve_partition(self, partition_key: str, run_id: str | None) -> bool:
        """Mark the partition's quarantine resolved (its rows are kept). False if nothing was open."""
        with self._connect() as conn:
            return self._resolve(conn, partition_key, run_id)

    def _resolve(self, conn: psycopg.Connection[Any], partition_key: str, run_id: str | None) -> bool:
        """Inside the caller's transaction (``record_validation`` resolves on a pass)."""
        cur = conn.execute(
            sql.SQL(
                "UPDATE {} SET resolved_at = now(), resolved_by_run_id = %s"
                " WHERE partition_key = %s AND resolved_at IS NULL"
            ).format(self._ident("quarantined_partitions")),
            (run_id, partition_key),
        )
        return cur.rowcount > 0

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
