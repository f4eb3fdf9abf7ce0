"""What every catalogue role stands on: settings, one connection and one transaction per call, names, advisory locks.

Every call runs in one transaction on a connection of its own: the idle one the last call of this process left
(``reuse``: healthy, idle briefly, the server silent since), else a new one. Connection failures surface as
``psycopg.OperationalError`` (retryable by Dagster's ``RetryPolicy``) with the connection string redacted
(``museum_sync.redaction.redact``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from museum_sync.clients.catalog.reuse import idle_connections
from museum_sync.redaction import redact

__all__ = ["MAX_IDENTIFIER", "CatalogConnection"]

MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1, in bytes


class CatalogConnection:
    """Settings only (no open connection), so an instance is safe to share between threads and to pickle
    into a Celery task. The role classes build on it; ``Catalog`` composes them.
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
        # Connections opened with these settings are interchangeable (``reuse``).
        self._reuse_key = (conninfo, tuple(sorted(self._connect_kwargs.items())))

    def _open(self, *, autocommit: bool = False) -> psycopg.Connection[Any]:
        """A new connection; a failure names the server with its password hidden."""
        try:
            # prepare_threshold=None: psycopg prepares a query server-side after five runs on one connection; on a
            # reused connection (``reuse``) a prepared ``SELECT *`` would fail once a migration changed its table.
            return psycopg.connect(self.conninfo, autocommit=autocommit, prepare_threshold=None, **self._connect_kwargs)
        except psycopg.OperationalError as exc:
            raise psycopg.OperationalError(
                f"cannot connect to the catalogue at {redact(self.conninfo)}: {exc}"
            ) from exc

    @contextmanager
    def _connect(self) -> Iterator[psycopg.Connection[Any]]:
        """One connection, one transaction: committed on success, then kept for the next call (``reuse``);
        rolled back and closed on any exception."""
        conn = idle_connections.take(self._reuse_key) or self._open()
        try:
            yield conn
        except BaseException:
            with suppress(psycopg.Error):
                conn.rollback()
            conn.close()
            raise
        try:
            conn.commit()
        except BaseException:
            conn.close()
            raise
        idle_connections.give(self._reuse_key, conn)

    def _ident(self, name: str) -> sql.Identifier:
        """``<schema>.<name>``, quoted."""
        return sql.Identifier(self.schema, name)

    def _lock_key(self, *parts: str) -> int:
        """The advisory lock key of ``parts`` in this schema (two schemas never share a lock)."""
        digest = hashlib.sha256("\x1f".join(("museum_sync.catalog", self.schema, *parts)).encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def _lock(self, conn: psycopg.Connection[Any], *parts: str, shared: bool = False) -> None:
        """Take the transaction-scoped advisory lock of ``parts`` (released at commit or rollback)."""
        fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        conn.execute(sql.SQL("SELECT {}(%s)").format(sql.Identifier(fn)), (self._lock_key(*parts),))

    def _set_lock_timeout(self, conn: psycopg.Connection[Any]) -> None:
        ms = max(1, int(self.lock_timeout_s * 1000))
        conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{ms}ms")))

    def _relation_exists(self, conn: psycopg.Connection[Any], name: str) -> bool:
        row = conn.execute(
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s",
            (self.schema, name),
        ).fetchone()
        return row is not None
