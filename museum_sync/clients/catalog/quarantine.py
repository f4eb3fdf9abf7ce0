"""Quarantine: the rejected records of each chunk, and the chunks held back until a steward replays them.

``quarantine`` keeps every rejected record with where it sits and why. Each write for a partition (its
validation, a load's duplicate ids, an index's refused documents, a replay of any of them) is a new
*attempt* of that partition, logged in ``quarantine_attempts`` with the check that wrote it, and holds the
partition's whole set of rejects as that check saw them. Nothing is deleted or rewritten: the current
quarantine of a partition is its latest attempt (``quarantine_rows``, ``quarantine_summary``, the CLI's
``quarantine show``), and ``quarantine_history`` keeps what a steward saw before a replay.

Attempts are numbered per partition rather than per (partition, check): every write carries the whole
set, so the latest write alone is the current state, including an empty one (a drift-only failure).
``quarantined_partitions`` has one row per chunk stopped at a blocking check, open until a clean
validation resolves it; resolving never deletes the rejects.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from museum_sync.clients.catalog.connection import CatalogConnection
from museum_sync.clients.catalog.types import QuarantineAttempt, QuarantinedPartition, QuarantineRow

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
    "attempt",
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
        """Store ``rejects`` as the partition's next attempt (its current quarantine); returns how many.

        Earlier attempts stay (``quarantine_history``). With ``blocking`` (the default) the partition is
        also opened, or refreshed, in ``quarantined_partitions`` (``first_seen`` kept, ``resolved_at``
        cleared). ``blocking=False`` stores the rejects of a chunk that passed its checks without
        quarantining the partition.
        """
        table = self._ident("quarantine")
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in _QUARANTINE_COLUMNS)
        count = 0
        with self._connect() as conn:
            self._lock(conn, "chunk", partition_key)
            row = conn.execute(
                sql.SQL("SELECT coalesce(max(attempt), 0) + 1 FROM {} WHERE partition_key = %s").format(
                    self._ident("quarantine_attempts")
                ),
                (partition_key,),
            ).fetchone()
            assert row is not None
            attempt = int(row[0])
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
                            attempt,
                        )
                    )
                    count += 1
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (partition_key, attempt, export_id, check_name, blocking, reject_count, run_id)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)"
                ).format(self._ident("quarantine_attempts")),
                (partition_key, attempt, export_id, check_name, blocking, count, run_id),
            )
            if blocking:
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {} AS q (partition_key, export_id, check_name, reasons, reject_count,"
                        " detail, first_seen, last_seen, resolved_at, run_id, attempt)"
                        " VALUES (%s, %s, %s, %s, %s, %s, now(), now(), NULL, %s, %s)"
                        " ON CONFLICT (partition_key) DO UPDATE SET export_id = EXCLUDED.export_id,"
                        " check_name = EXCLUDED.check_name, reasons = EXCLUDED.reasons,"
                        " reject_count = EXCLUDED.reject_count, detail = EXCLUDED.detail,"
                        " last_seen = EXCLUDED.last_seen, resolved_at = NULL, resolved_by_run_id = NULL,"
                        " run_id = EXCLUDED.run_id, attempt = EXCLUDED.attempt"
                    ).format(self._ident("quarantined_partitions")),
                    (partition_key, export_id, check_name, Jsonb(reasons), count, Jsonb(detail), run_id, attempt),
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
        """The partition's current quarantine: the rows of its latest attempt, in the order they were found."""
        with self._connect() as conn, conn.cursor(row_factory=class_row(QuarantineRow)) as cur:
            cur.execute(
                sql.SQL(
                    "SELECT * FROM {rows} WHERE partition_key = %(key)s AND attempt ="
                    " (SELECT max(attempt) FROM {attempts} WHERE partition_key = %(key)s)"
                    " ORDER BY id LIMIT %(limit)s OFFSET %(offset)s"
                ).format(rows=self._ident("quarantine"), attempts=self._ident("quarantine_attempts")),
                {"key": partition_key, "limit": limit, "offset": offset},
            )
            return cur.fetchall()

    def record_rejects(self, record_id: str, export_id: str | None = None) -> list[QuarantineRow]:
        """Where a record id sits in the current quarantine of its partitions (of one export, or of any, the
        newest first): each problem found, with the record's file:line (``museum-sync trace``)."""
        with self._connect() as conn, conn.cursor(row_factory=class_row(QuarantineRow)) as cur:
            cur.execute(
                sql.SQL(
                    "SELECT q.* FROM {rows} q WHERE q.record_id = %(id)s"
                    " AND (%(export)s::text IS NULL OR q.export_id = %(export)s) AND q.attempt ="
                    " (SELECT max(attempt) FROM {attempts} a WHERE a.partition_key = q.partition_key)"
                    " ORDER BY q.detected_at DESC, q.id"
                ).format(rows=self._ident("quarantine"), attempts=self._ident("quarantine_attempts")),
                {"id": record_id, "export": export_id},
            )
            return cur.fetchall()

    def quarantine_history(self, partition_key: str) -> list[QuarantineRow]:
        """Every row of every attempt of the partition, oldest attempt first (``row.attempt`` tells them apart)."""
        with self._connect() as conn, conn.cursor(row_factory=class_row(QuarantineRow)) as cur:
            cur.execute(
                sql.SQL("SELECT * FROM {} WHERE partition_key = %s ORDER BY attempt, id").format(
                    self._ident("quarantine")
                ),
                (partition_key,),
            )
            return cur.fetchall()

    def quarantine_attempts(self, partition_key: str) -> list[QuarantineAttempt]:
        """The partition's quarantine writes, oldest first: which check wrote each, when, and how many rows."""
        with self._connect() as conn, conn.cursor(row_factory=class_row(QuarantineAttempt)) as cur:
            cur.execute(
                sql.SQL("SELECT * FROM {} WHERE partition_key = %s ORDER BY attempt").format(
                    self._ident("quarantine_attempts")
                ),
                (partition_key,),
            )
            return cur.fetchall()

    def quarantine_summary(self, export_id: str) -> list[dict[str, Any]]:
        """Rejected records of an export, in each partition's current attempt, counted by reason (a record
        with two problems counts in both).

        A record is its chunk + line + pointer + id: items of a JSON document have no line, and an
        item without an id is told apart from the next one by its pointer alone.
        """
        query = sql.SQL(
            "SELECT q.reason, count(DISTINCT (q.partition_key, coalesce(q.line, 0), coalesce(q.pointer, ''),"
            " coalesce(q.record_id, ''))) "
            "FROM {rows} q JOIN (SELECT partition_key, max(attempt) AS attempt FROM {attempts}"
            " WHERE export_id = %(export)s GROUP BY partition_key) latest"
            " ON q.partition_key = latest.partition_key AND q.attempt = latest.attempt"
            " WHERE q.export_id = %(export)s GROUP BY q.reason ORDER BY q.reason"
        ).format(rows=self._ident("quarantine"), attempts=self._ident("quarantine_attempts"))
        with self._connect() as conn:
            return [{"reason": r[0], "count": int(r[1])} for r in conn.execute(query, {"export": export_id}).fetchall()]
