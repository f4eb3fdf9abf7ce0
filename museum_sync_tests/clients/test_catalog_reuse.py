"""The catalogue's idle connections (``clients.catalog.reuse``) against a real PostgreSQL server.

A connection is reused only while it is healthy: these tests end it from the server's side, let it idle, fail
a call on it, and fork the process, and each time the next call still works on a live connection and nothing
a failed call wrote is kept.
"""

from __future__ import annotations

import os
import time
import uuid

import psycopg
import pytest
from psycopg import sql

from museum_sync.clients.catalog import Catalog, reuse
from museum_sync.clients.catalog.reuse import IdleConnections, idle_connections


@pytest.fixture
def catalog(fresh_db: str) -> Catalog:
    cat = Catalog(fresh_db, schema=f"reuse_{uuid.uuid4().hex[:8]}")
    cat.migrate()
    return cat


def backend_pid(catalog: Catalog) -> int:
    """The server process behind this process's next catalogue call."""
    with catalog._connect() as conn:
        return int(conn.info.backend_pid)


def terminate(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(100):  # the backend is gone once the server's process list no longer has it
            if admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() is None:
                return
            time.sleep(0.02)


def test_consecutive_calls_share_one_server_session(catalog: Catalog, fresh_db: str) -> None:
    first = backend_pid(catalog)
    assert [backend_pid(catalog) for _ in range(5)] == [first] * 5
    with psycopg.connect(fresh_db) as admin:
        (sessions,) = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'museum-sync catalog'"
        ).fetchone()  # type: ignore[misc]
    assert sessions == 1


def test_a_session_the_server_ended_is_replaced_before_the_next_call(catalog: Catalog, fresh_db: str) -> None:
    first = backend_pid(catalog)
    terminate(fresh_db, first)
    # The next call is a real one, not a probe: it must not fail on the dead connection.
    assert catalog.chunk_states("no-such-export") == []
    assert backend_pid(catalog) != first


def test_a_connection_idle_too_long_is_not_reused(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    first = backend_pid(catalog)
    monkeypatch.setattr(reuse, "MAX_IDLE_S", 0.05)
    time.sleep(0.1)
    assert backend_pid(catalog) != first


def test_a_failed_call_rolls_back_and_closes_its_connection(catalog: Catalog, fresh_db: str) -> None:
    table = sql.Identifier(catalog.schema, "reuse_probe")
    with catalog._connect() as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (n int)").format(table))
    first = backend_pid(catalog)
    with pytest.raises(RuntimeError, match="mid-call"), catalog._connect() as conn:
        conn.execute(sql.SQL("INSERT INTO {} VALUES (1)").format(table))
        raise RuntimeError("mid-call")
    with catalog._connect() as conn:
        assert conn.info.backend_pid != first
        assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone() == (0,)


def test_a_connection_left_in_a_transaction_is_closed_not_kept(fresh_db: str) -> None:
    idle = IdleConnections()
    conn = psycopg.connect(fresh_db)
    conn.execute("SELECT 1")  # opens a transaction (not autocommit)
    idle.give(("k",), conn)
    assert len(idle) == 0 and conn.closed


def test_at_most_max_idle_are_kept_the_oldest_closed(fresh_db: str) -> None:
    idle = IdleConnections()
    conns = [psycopg.connect(fresh_db, autocommit=True) for _ in range(reuse.MAX_IDLE + 2)]
    for i, conn in enumerate(conns):
        idle.give((f"db{i}",), conn)
    assert len(idle) == reuse.MAX_IDLE
    assert [c.closed for c in conns] == [True, True] + [False] * reuse.MAX_IDLE
    assert idle.take(("db0",)) is None
    assert idle.take((f"db{reuse.MAX_IDLE + 1}",)) is conns[-1]
    conns[-1].close()
    assert idle.close() == reuse.MAX_IDLE - 1
    assert all(c.closed for c in conns)


def test_a_forked_child_neither_uses_nor_closes_the_parents_connection(catalog: Catalog) -> None:
    parent = backend_pid(catalog)
    assert len(idle_connections) >= 1
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            code = 0 if backend_pid(catalog) != parent else 2
            import gc

            gc.collect()
        finally:
            os.write(write, bytes([code]))
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(child, 0)
    answer = os.read(read, 1)
    os.close(read)
    assert answer == b"\x00", f"child exit status {status}: it reused the parent's connection or failed"
    # The parent's session survived the child: the same server process answers the next call.
    assert backend_pid(catalog) == parent


def test_a_worker_child_closes_its_idle_connections_when_it_exits(catalog: Catalog, fresh_db: str) -> None:
    from museum_sync.defs import worker_instance

    pid = backend_pid(catalog)
    worker_instance._child_exiting()
    assert len(idle_connections) == 0
    with psycopg.connect(fresh_db, autocommit=True) as admin:
        for _ in range(100):
            if admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() is None:
                break
            time.sleep(0.02)
        else:
            pytest.fail(f"server session {pid} still open after the child's shutdown hook")
