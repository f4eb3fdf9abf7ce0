"""This process's idle catalogue connections, handed to the next call instead of opening a new one (issue #18).

A chunk step makes about four catalogue calls; a new connection for each cost ~2.5 ms of PostgreSQL CPU (a
backend fork) and ~0.5 ms here, ~6 % of a 50k sync's CPU with Dagster's own (``benchmarks/README.md``). A call
returns its connection here once it committed and the connection is healthy and idle; the next call with the
same settings takes it back, unless:

- it sat idle longer than ``MAX_IDLE_S`` (a worker that waited all night opens a fresh one: no keepalive
  assumptions about firewalls or proxies), or
- its socket is readable: an idle connection has nothing to read unless the server spoke, and a restart,
  ``pg_terminate_backend`` or a crash sends a notice or closes the socket. Such a connection is closed and a
  new one opened, so a call after a PostgreSQL restart does not fail on a dead connection.

After a fork (Celery's prefork children) the parent's connections are kept referenced and never used or
closed: freeing one would send PostgreSQL a Terminate message on the socket the parent still uses.

A call that raises closes its connection: what state it was left in does not matter then.
"""

from __future__ import annotations

import os
import select
import threading
import time
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

__all__ = ["MAX_IDLE", "MAX_IDLE_S", "IdleConnections", "idle_connections", "server_spoke"]

# A connection idle longer than this is closed rather than reused (a busy worker's steps are well under it apart).
MAX_IDLE_S = 2.0
# Idle connections kept per process, whatever their settings (one per thread calling at once is what is reused;
# a process that touched many databases, a test session, keeps only the latest few): the oldest is closed.
MAX_IDLE = 4


class IdleConnections:
    """Healthy idle connections of this process, newest last, with their settings; safe across threads and fork."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._idle: list[tuple[tuple[Any, ...], psycopg.Connection[Any], float]] = []
        # The parent's connections after a fork: referenced so they are never freed (see the module docstring).
        self._inherited: list[psycopg.Connection[Any]] = []

    def take(self, key: tuple[Any, ...]) -> psycopg.Connection[Any] | None:
        """The newest idle connection opened with ``key``'s settings that is still usable, or None."""
        stale: list[psycopg.Connection[Any]] = []
        found = None
        now = time.monotonic()
        with self._lock:
            self._forget_if_forked()
            for i in range(len(self._idle) - 1, -1, -1):
                held_key, conn, returned_at = self._idle[i]
                if now - returned_at > MAX_IDLE_S:
                    stale.append(conn)
                    del self._idle[i]
                elif held_key == key and found is None:
                    del self._idle[i]
                    if server_spoke(conn):
                        stale.append(conn)
                    else:
                        found = conn
        for conn in stale:
            _close_quietly(conn)
        return found

    def give(self, key: tuple[Any, ...], conn: psycopg.Connection[Any]) -> None:
        """Keep ``conn`` for the next call if it is idle outside a transaction; close it otherwise."""
        if conn.closed or conn.broken or conn.info.transaction_status != TransactionStatus.IDLE:
            _close_quietly(conn)
            return
        with self._lock:
            self._forget_if_forked()
            self._idle.append((key, conn, time.monotonic()))
            evicted = self._idle[: max(0, len(self._idle) - MAX_IDLE)]
            del self._idle[: len(evicted)]
        for _, old, _ in evicted:
            _close_quietly(old)

    def close(self) -> int:
        """Close every idle connection (a worker child exiting); returns how many."""
        with self._lock:
            self._forget_if_forked()
            conns = [conn for _, conn, _ in self._idle]
            self._idle.clear()
        for conn in conns:
            _close_quietly(conn)
        return len(conns)

    def __len__(self) -> int:
        with self._lock:
            self._forget_if_forked()
            return len(self._idle)

    def _forget_if_forked(self) -> None:
        if os.getpid() != self._pid:
            self._inherited.extend(conn for _, conn, _ in self._idle)
            self._idle.clear()
            self._pid = os.getpid()

    def after_fork_in_child(self) -> None:
        """A new lock (the parent's may have been held by a thread that does not exist here), then forget."""
        self._lock = threading.Lock()
        self._forget_if_forked()


def server_spoke(conn: Any) -> bool:
    """Whether an idle connection's socket is readable (the server sent a notice or closed it), without blocking.

    Any DB-API connection with ``fileno()``: the catalogue's psycopg ones here, the worker's pooled Dagster ones
    (psycopg2) in ``defs.worker_instance.ping_when_idle``.
    """
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError, AttributeError, psycopg.Error):  # closed, or a driver without a socket: test it
        return True
    return bool(readable)


def _close_quietly(conn: psycopg.Connection[Any]) -> None:
    try:
        conn.close()
    except psycopg.Error:
        pass


idle_connections = IdleConnections()
os.register_at_fork(after_in_child=idle_connections.after_fork_in_child)
