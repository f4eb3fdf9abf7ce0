"""The cross-store publication's own state in PostgreSQL: its lock and its intent log.

``museum_sync.publication`` switches PostgreSQL and Elasticsearch together. It holds
``publication_lock`` for the whole switch (one cross-store publication at a time), and records each
switch in ``publication_attempts`` before either store changes: ``begin_publication_attempt`` ('pending'),
then ``finish_publication_attempt`` ('done', 'failed' or 'abandoned'). A run that dies between the two
stores leaves its attempt 'pending' (``pending_publication_attempt``), and the next run settles it by what
PostgreSQL says, its transaction being the commit point. The table is created by ``migrate``.

A publication that failed before it recorded an intent (PostgreSQL-only, a lock timeout, an error in the
gate's reads) is logged as a 'failed' row too (``record_failed_publication_attempt``), so
``publication_failures`` counts every failed try: the publication sensor keys its run requests on it, to
ask again after a failure and only then.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from museum_sync.clients.catalog.connection import CatalogConnection
from museum_sync.clients.catalog.types import CatalogError, PublicationAttempt
from museum_sync.redaction import scrub

__all__ = ["CatalogAttempts"]


class CatalogAttempts(CatalogConnection):
    """The publication lock and the ``publication_attempts`` log (at most one attempt is 'pending')."""

    @contextmanager
    def publication_lock(self, timeout_s: float = 600.0) -> Iterator[None]:
        """Hold the cross-store publication lock (a session advisory lock on a connection of its own).

        A dead holder's lock goes with its connection. Raises ``CatalogError`` after ``timeout_s``.
        """
        key = self._lock_key("cross-store-publication")
        conn = self._open(autocommit=True)
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

    def pending_publication_attempt(self) -> PublicationAttempt | None:
        """The attempt a run left 'pending' (crashed, or could not undo its switch), if any."""
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

    def record_failed_publication_attempt(
        self,
        export_id: str,
        action: Literal["publish", "rollback"],
        error: str,
        *,
        detail: dict[str, Any] | None = None,
    ) -> PublicationAttempt:
        """Log a try that failed before (or without) a 'pending' attempt of its own: one 'failed' row."""
        with self._connect() as conn, conn.cursor(row_factory=class_row(PublicationAttempt)) as cur:
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} (export_id, action, state, finished_at, error, detail)"
                    " VALUES (%s, %s, 'failed', now(), %s, %s) RETURNING *"
                ).format(self._ident("publication_attempts")),
                (export_id, action, error, Jsonb(detail or {})),
            )
            attempt = cur.fetchone()
        assert attempt is not None
        return attempt

    def record_failed_try(self, export_id: str, exc: BaseException) -> None:
        """Log ``exc`` as a failed publication of ``export_id``, unless an attempt of it is pending (a rerun
        continues that one) or ``exc`` names ``export_id`` as its own (``museum_sync.publication``'s
        ``PublicationFailed``: the protocol closed or left pending its attempt itself). Never raises: the
        catalogue may be what failed, and the caller raises ``exc``."""
        if getattr(exc, "export_id", None) == export_id:
            return
        try:
            pending = self.pending_publication_attempt()
            if pending is None or pending.export_id != export_id:
                error = scrub(f"{type(exc).__name__}: {exc}", self.conninfo)
                self.record_failed_publication_attempt(export_id, "publish", error)
        except Exception:  # noqa: BLE001 - see above
            pass

    def publication_failures(self, export_id: str) -> int:
        """How many publications of ``export_id`` failed or were abandoned (a rerun continues a pending one)."""
        with self._connect() as conn:
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*) FROM {} WHERE export_id = %s AND action = 'publish'"
                    " AND state IN ('failed', 'abandoned')"
                ).format(self._ident("publication_attempts")),
                (export_id,),
            ).fetchone()
        assert row is not None
        return int(row[0])

    def publication_attempts(self, limit: int = 20) -> list[PublicationAttempt]:
        """The latest cross-store publication attempts, newest first."""
        with self._connect() as conn, conn.cursor(row_factory=class_row(PublicationAttempt)) as cur:
            cur.execute(
                sql.SQL("SELECT * FROM {} ORDER BY id DESC LIMIT %s").format(self._ident("publication_attempts")),
                (limit,),
            )
            return cur.fetchall()

    def _pending_attempt(self, conn: psycopg.Connection[Any]) -> PublicationAttempt | None:
        with conn.cursor(row_factory=class_row(PublicationAttempt)) as cur:
            cur.execute(
                sql.SQL("SELECT * FROM {} WHERE state = 'pending' ORDER BY id DESC LIMIT 1").format(
                    self._ident("publication_attempts")
                )
            )
            return cur.fetchone()
