"""The per-child instance and the in-process compute log capture, each on its own (issue #18).

The end-to-end proof (a real worker, a real sync) is ``test_worker_steps.py``; these pin the pieces: the tee
copies everything written to the descriptor (Python, raw writes, child processes) to both places and does not
hang on a process that keeps the pipe open; one instance per child, pooled, rebuilt after a fork.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance

from museum_sync.defs.worker_instance import ChildInstances
from museum_sync_tests.pg_stats import sessions_opened

TEE_SCRIPT = """
import os, subprocess, sys, time
from museum_sync.defs import compute_logs
compute_logs.DRAIN_TIMEOUT_S = 1.0
original, step_log, mode = sys.argv[1], sys.argv[2], sys.argv[3]
fd = os.open(original, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
os.dup2(fd, 1)
print("before", flush=True)
started = time.monotonic()
with compute_logs.tee_output(sys.stdout, step_log):
    print("python print")
    os.write(1, b"raw write\\n")
    subprocess.run(["echo", "child process"], check=True)
    if mode == "linger":
        subprocess.Popen(["sleep", "20"])  # inherits the pipe and outlives the step
print("after", flush=True)
os.write(2, f"block took {time.monotonic() - started:.2f}\\n".encode())
"""


def _tee(tmp_path: Path, mode: str) -> tuple[str, str, str]:
    original, step_log = tmp_path / "worker.out", tmp_path / "step.out"
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(TEE_SCRIPT), str(original), str(step_log), mode],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return original.read_text(), step_log.read_text(), done.stderr


def test_tee_copies_every_writer_to_the_step_log_and_the_original_output(tmp_path: Path) -> None:
    original, step_log, _ = _tee(tmp_path, "plain")
    assert step_log.splitlines() == ["python print", "raw write", "child process"]
    assert original.splitlines() == ["before", "python print", "raw write", "child process", "after"]


def test_a_process_left_running_does_not_hold_the_step(tmp_path: Path) -> None:
    original, step_log, stderr = _tee(tmp_path, "linger")
    took = float(stderr.rsplit("block took ", 1)[1])
    assert 0.9 < took < 5.0, stderr  # waited DRAIN_TIMEOUT_S (1 s) for the pipe, not the process's 20 s
    assert "child process" in step_log and original.endswith("after\n")


@pytest.fixture
def instance_ref(fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    home = tmp_path / "dagster"
    home.mkdir()
    pg = fresh_db.replace("postgresql://", "postgresql+psycopg2://", 1)
    (home / "dagster.yaml").write_text(f"storage:\n  postgres:\n    postgres_url: {pg}\n", encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:
        return instance.get_ref()


def test_one_pooled_instance_per_child_and_a_new_one_after_fork(instance_ref: object, fresh_db: str) -> None:
    children = ChildInstances()
    instance = children.get(instance_ref)
    assert children.get(instance_ref) is instance and len(children) == 1
    before = sessions_opened(fresh_db)
    for _ in range(40):
        children.get(instance_ref).get_run_by_id("no-such-run")
        children.get(instance_ref).get_runs(limit=1)
    opened = sessions_opened(fresh_db) - before
    assert opened <= 3, opened  # NullPool: 80 calls, 80 connections

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a prefork child: its own instance, the parent's connections left alone
        os.close(read)
        same = children.get(instance_ref) is instance
        os.write(write, b"same" if same else b"new")
        children.close()
        os._exit(0)
    os.close(write)
    assert os.read(read, 16) == b"new"
    os.waitpid(pid, 0)
    assert instance.get_run_by_id("no-such-run") is None  # the parent's pool survived the child's exit
    children.close()
    assert len(children) == 0


def test_a_statement_killed_by_a_restart_is_retried_once_the_pool_reconnects(instance_ref: object) -> None:
    """What a PostgreSQL restart between a pooled connection's ping and its statement does (the fault suite's
    restart mid-load hit it in the task's run lookup): the statement fails as a disconnect; the retry runs on a new
    connection. Any other database error is not retried."""
    import sqlalchemy as sa

    from museum_sync.defs.worker_internals import retry_disconnects

    children = ChildInstances()
    instance = children.get(instance_ref)
    calls: list[int] = []

    def run_lookup() -> object:
        calls.append(1)
        if len(calls) == 1:  # the server ends this very backend mid-statement, as a restart does
            with instance.run_storage.connect() as conn:
                conn.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return instance.get_run_by_id("no-such-run")

    assert retry_disconnects(run_lookup, wait_s=0.01) is None
    assert len(calls) == 2

    def bad_sql() -> None:
        calls.append(1)
        with instance.run_storage.connect() as conn:
            conn.execute(sa.text("SELECT * FROM no_such_table"))

    calls.clear()
    with pytest.raises(sa.exc.ProgrammingError):
        retry_disconnects(bad_sql, wait_s=0.01)
    assert len(calls) == 1
    children.close()


def _end_other_sessions(db_url: str) -> int:
    """End every other session on the test's own database, as a PostgreSQL restart ends them all."""
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0


def test_pooled_connections_are_tested_only_when_idle_or_ended_by_the_server(fresh_db: str) -> None:
    """A connection returned moments ago and untouched by the server is handed out without a round trip; one the
    server ended (as a restart does), even a moment ago, or one left idle, is tested first and replaced if dead:
    a reconnect, not an error."""
    import sqlalchemy as sa

    from museum_sync.defs.worker_instance import ping_when_idle

    engine = sa.create_engine(fresh_db.replace("postgresql://", "postgresql+psycopg2://", 1), pool_size=1)
    pings = ping_when_idle(engine, idle_s=1.0)

    def lookup() -> int:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())

    first = lookup()
    assert [lookup() for _ in range(30)] == [first] * 30  # one connection, reused
    assert (pings.tested, pings.dead) == (0, 0)  # back to back: no round trip spent on a test

    assert _end_other_sessions(fresh_db) == 1
    time.sleep(0.1)  # the server's notice reaches the socket
    second = lookup()  # used at once, but the server spoke: tested, found dead, replaced
    assert second != first and (pings.tested, pings.dead) == (1, 1)

    time.sleep(1.2)
    assert lookup() == second and (pings.tested, pings.dead) == (2, 1)  # idle: tested, alive, kept
    engine.dispose()
