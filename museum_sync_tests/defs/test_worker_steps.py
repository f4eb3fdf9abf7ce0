"""A real worker runs a sync's steps without helper processes and with one pooled instance per child (#18).

Two stacks on their own Dagster database (so ``pg_stat_database`` counts only this test's connections): the
rollback mode (``MUSEUM_SYNC_WORKER_INSTANCE=per-step``, dagster-celery's task) and the default
(``per-child``). Both use the packaged instance config, so both capture step output in-process
(``defs.compute_logs``); the benchmark (``benchmarks/bench_worker_side.py``) compares with Dagster's default
manager, which starts a ``tail`` and a ``watch_orphans.py`` per stream per step.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from dagster import DagsterEventType

from museum_sync.services import ServiceUrls
from museum_sync.settings import env_name
from museum_sync_tests.integration.conftest import SyncStack, build_stack
from museum_sync_tests.pg_stats import sessions_opened

SAMPLE = Path(__file__).resolve().parents[2] / "museum_sync" / "samples" / "tate_artwork_data_first52rows.csv"
CHUNK = 10  # 52 records -> 6 chunk steps


class ProcessWatch(threading.Thread):
    """Every process seen below ``root`` while running (psutil every 10 ms; a ``tail`` lives for a whole step)."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.done, self.seen = root, threading.Event(), dict[int, str]()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                for proc in psutil.Process(self.root).children(recursive=True):
                    if proc.pid not in self.seen:
                        try:
                            self.seen[proc.pid] = " ".join(proc.cmdline())
                        except psutil.Error:
                            self.seen[proc.pid] = "?"
            except psutil.Error:
                pass
            self.done.wait(0.01)

    def __enter__(self) -> ProcessWatch:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.join()


@pytest.fixture
def dagster_db(fresh_db: str) -> str:
    return fresh_db


def _stack(services: ServiceUrls, home: Path, dagster_db: str, mode: str) -> Iterator[SyncStack]:
    extra = {
        env_name("postgres.dagster_pg_url"): dagster_db.replace("postgresql://", "postgresql+psycopg2://", 1),
        "MUSEUM_SYNC_WORKER_INSTANCE": mode,
    }
    with build_stack(services, home, extra) as stack:
        yield stack


def _sync(stack: SyncStack, dagster_db: str, source: str) -> tuple[Any, int, dict[int, str]]:
    before = sessions_opened(dagster_db)
    with ProcessWatch(stack.workers.procs[0].pid) as watch:
        result = stack.sync(SAMPLE, "tate_artworks_csv", source=source, chunk_size=CHUNK)
    return result, sessions_opened(dagster_db) - before, watch.seen


def _chunk_steps(stack: SyncStack, result: Any) -> list[str]:
    """The chunk steps that started, from the run's event log (a step's Celery result no longer lists them)."""
    starts = stack.instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_START)
    return [e.step_key for e in starts if "chunk" in (e.step_key or "")]


def test_steps_spawn_no_process_keep_their_logs_and_reuse_connections(
    services: ServiceUrls, tmp_path: Path, dagster_db: str
) -> None:
    for_stack = iter(_stack(services, tmp_path / "per-step", dagster_db, "per-step"))
    stack = next(for_stack)
    try:
        stock, stock_sessions, _ = _sync(stack, dagster_db, "per-step")
        stock_steps = _chunk_steps(stack, stock)
    finally:
        next(for_stack, None)
    for_stack = iter(_stack(services, tmp_path / "per-child", dagster_db, "per-child"))
    stack = next(for_stack)
    try:
        pooled, pooled_sessions, spawned = _sync(stack, dagster_db, "per-child")
        pooled_steps = _chunk_steps(stack, pooled)
        instance, worker_log = stack.instance, stack.workers.logs[0].read_text(encoding="utf-8")
        manager = instance.compute_log_manager  # built from DAGSTER_HOME, as the webserver builds it
    finally:
        next(for_stack, None)

    assert stock.success and pooled.success
    steps = len(pooled_steps)
    assert steps == len(stock_steps) >= 6

    # No helper process per step: the worker's tree only ever held its pool children.
    helpers = [cmd for cmd in spawned.values() if "celery" not in cmd]
    assert helpers == []
    assert len(spawned) >= 2  # the watch saw the pool children: it was looking

    # A chunk step's output is readable where the UI reads it, complete, and also reached the worker's own log.
    captured = {
        e.dagster_event.logs_captured_data.file_key: e.dagster_event.logs_captured_data.step_keys
        for e in instance.all_logs(pooled.run_id)
        if e.dagster_event and e.dagster_event_type.value == "LOGS_CAPTURED"
    }
    chunk_keys = [key for key, step_keys in captured.items() if any("chunk" in s for s in step_keys)]
    assert len(chunk_keys) == steps
    for file_key in chunk_keys:
        log_key = manager.build_log_key_for_run(pooled.run_id, file_key)
        data = manager.get_log_data(log_key)
        text = (data.stdout or b"").decode() + (data.stderr or b"").decode()
        assert pooled.run_id[:8] in text or captured[file_key][0] in text, text[:500]
        assert manager.is_capture_complete(log_key)
        last_line = text.strip().splitlines()[-1]
        assert last_line in worker_log

    # Connections: a new one per storage call per step before; a few per child now.
    assert pooled_sessions * 4 < stock_sessions, (pooled_sessions, stock_sessions)
