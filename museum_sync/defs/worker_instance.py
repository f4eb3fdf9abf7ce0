"""One Dagster instance per worker child, its storage connections pooled (issue #18).

dagster-celery's ``execute_plan`` task builds ``DagsterInstance.from_ref`` for every step (six connections
and table reflection, ~56 ms), and dagster-postgres opens a new PostgreSQL connection for every storage call
(``NullPool``): ~27 connections per step, ~120 ms (``benchmarks/README.md``, "Orchestration speed, worker
side"). Here a worker child builds the instance once per instance ref (the orchestrator's ``dagster.yaml``:
one in practice) on its first step, after the fork, and keeps it with one pooled connection per storage (tested
before use when idle or ended by the server, ``ping_when_idle``) until the child exits
(``worker_process_shutdown``: Celery recycles children after
``worker_max_tasks_per_child`` / ``worker_max_memory_per_child``, so nothing outlives its process).

``MUSEUM_SYNC_WORKER_INSTANCE=per-step`` brings back dagster-celery's own task (a rollback, and the
benchmark's baseline); the default is ``per-child``.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from celery import signals
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError

from museum_sync.clients.catalog.reuse import idle_connections as catalog_idle_connections
from museum_sync.clients.catalog.reuse import server_spoke
from museum_sync.defs.worker_internals import pool_storage_connections
from museum_sync.settings import get_settings

__all__ = ["ChildInstances", "IdlePings", "connect", "instances", "mode", "ping_when_idle", "pool_connections"]

# Connections a child may open beyond the one kept per storage, while storage calls nest (an event write that
# also updates the asset index): 2 covers what was seen; more only queue briefly.
MAX_OVERFLOW = 2
# Reconnect a pooled connection after this long, so idle connections do not live for days behind a proxy.
RECYCLE_S = 600
# Test a pooled connection with a round trip before use only when it sat idle this long, or when the server has
# sent something on it since (``ping_when_idle``). A step checks out ~40 connections a few ms apart: SQLAlchemy's
# ``pool_pre_ping`` spent a round trip on each, 6.6 % of a chunk step's CPU (py-spy, 20k, issue #18) plus
# PostgreSQL's side of it.
PING_AFTER_IDLE_S = 2.0
# Distinct instance refs kept per child (an orchestrator with another dagster.yaml during a rollout): the
# oldest is closed beyond this.
MAX_INSTANCES = 2


def mode() -> str:
    """``MUSEUM_SYNC_WORKER_INSTANCE``: ``per-child`` (default) or ``per-step`` (dagster-celery's own task)."""
    return get_settings().celery.worker_instance


class ChildInstances:
    """The instances of this process, by instance ref; dropped without closing in a forked copy (the parent's
    connections are not ours to close: SQLAlchemy's advice for engines inherited through fork)."""

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._by_ref: OrderedDict[str, tuple[Any, list[Any]]] = OrderedDict()

    def get(self, instance_ref: Any) -> Any:
        from dagster import DagsterInstance
        from dagster_shared.serdes import serialize_value

        self._forget_if_forked()
        key = serialize_value(instance_ref)
        if key in self._by_ref:
            self._by_ref.move_to_end(key)
            return self._by_ref[key][0]
        instance = DagsterInstance.from_ref(instance_ref)
        self._by_ref[key] = (instance, pool_connections(instance))
        while len(self._by_ref) > MAX_INSTANCES:
            self._close(*self._by_ref.popitem(last=False)[1])
        return instance

    def close(self) -> None:
        """Close every instance and its pooled connections (the child is exiting)."""
        self._forget_if_forked()
        while self._by_ref:
            self._close(*self._by_ref.popitem()[1])

    def __len__(self) -> int:
        return len(self._by_ref)

    def _forget_if_forked(self) -> None:
        if os.getpid() != self._pid:
            for _, engines in self._by_ref.values():
                for engine in engines:
                    engine.dispose(close=False)
            self._by_ref.clear()
            self._pid = os.getpid()

    @staticmethod
    def _close(instance: Any, engines: list[Any]) -> None:
        instance.dispose()
        for engine in engines:
            engine.dispose()


def pool_connections(instance: Any, max_overflow: int = MAX_OVERFLOW) -> list[Any]:
    """Pool ``instance``'s dagster-postgres connections (one kept per storage, up to ``max_overflow`` more while
    calls nest), tested only when idle or ended by the server; returns the engines, to dispose of when done."""
    engines = pool_storage_connections(instance, max_overflow=max_overflow, recycle_s=RECYCLE_S)
    for engine in engines:
        ping_when_idle(engine, PING_AFTER_IDLE_S)
    return engines


@dataclass
class IdlePings:
    """How many checkouts ``ping_when_idle`` tested with a round trip, and how many of those found it dead."""

    tested: int = 0
    dead: int = 0


def ping_when_idle(engine: Any, idle_s: float) -> IdlePings:
    """Test a pooled connection with ``SELECT 1`` before handing it out only if it was returned more than
    ``idle_s`` ago or its socket has something to read. A connection that fails the test is discarded and the pool
    opens a new one (SQLAlchemy's documented answer to a ``DisconnectionError`` raised at checkout; dagster-postgres
    retries that connect while the server is down).

    An idle connection has nothing to read unless the server spoke: a restart or ``pg_terminate_backend`` sends
    its FATAL notice and closes the socket, a killed server's socket reads EOF. So a connection the server ended,
    even milliseconds ago, is still tested, and a healthy one just used costs one ``select`` instead of a round trip.
    """
    pings = IdlePings()

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        returned_at = record.info.pop("returned_at", None)
        if returned_at is None:  # just opened
            return
        if time.monotonic() - returned_at < idle_s and not server_spoke(dbapi_connection):
            return
        pings.tested += 1
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
        except Exception as exc:  # noqa: BLE001 - whatever the driver raises, this connection is unusable
            pings.dead += 1
            raise DisconnectionError(f"pooled connection failed its test: {exc}") from exc

    return pings


instances = ChildInstances()


def connect() -> None:
    """Start each worker child with no instance (built on its first step); close it, and the catalogue's idle
    connections, when the child exits."""
    signals.worker_process_init.connect(_child_started, weak=False)
    signals.worker_process_shutdown.connect(_child_exiting, weak=False)


def _child_started(**_: Any) -> None:
    instances._forget_if_forked()


def _child_exiting(**_: Any) -> None:
    instances.close()
    catalog_idle_connections.close()  # the catalogue's idle connections (clients.catalog.reuse)
