"""Service faults during a real sync run: the Redis broker restarts, PostgreSQL restarts mid-load.

Same export, same verdict as the worker faults: the run ends on its own (a Redis restart is absorbed by the
broker settings, a PostgreSQL restart by the steps' RetryPolicy), the export is published whole and
byte-identical to the clean reference run, and no reader ever sees a partial catalogue. The servers are the
session's embedded ones (``ServiceUrls.redis``/``.postgres``); with external servers these tests are skipped.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
import redis

from museum_sync.defs.asset_keys import chunk_mapping_key
from museum_sync.pipeline.failpoints import FAILPOINTS_ENV
from museum_sync.services import EmbeddedRedis
from museum_sync_tests.faults.conftest import CHUNKS, FaultStack, Reference, RunHandle, wait_for
from museum_sync_tests.faults.test_worker_faults import UNACKED_INDEX, _children, _running_chunk_steps

pytestmark = pytest.mark.integration

QUEUE = "ingestion_high"


def _broker_idle(stack: FaultStack) -> bool:
    client = redis.Redis.from_url(stack.env["MUSEUM_SYNC_REDIS_URL"])
    try:
        return client.llen(QUEUE) == 0 and client.zcard(UNACKED_INDEX) == 0
    except redis.ConnectionError:
        return False
    finally:
        client.close()


def _restart(server: EmbeddedRedis, *, keep_data: bool, down_s: float = 1.0) -> None:
    """``EmbeddedRedis.restart`` with the server down ``down_s`` seconds, as a real restart (loading its data,
    a container rescheduled) is: long enough that the run's result poll (every ``result_poll_s``, 0.1 s) and
    the worker's consumer meet the outage many times over."""
    if keep_data:
        assert server.command("SAVE").startswith(b"+OK")
    server.stop()
    time.sleep(down_s)  # the fault's duration, not a wait for something to happen
    server.start(keep_data=keep_data)


def _wait_done_or_stranded(stack: FaultStack, run: RunHandle, quiet: float = 5.0) -> bool:
    """Wait for the run to end; False if it is *stranded*: not done, nothing queued, delivered or running
    in the broker and workers for ``quiet`` seconds (so nothing can ever end it from within)."""
    idle_since: float | None = None
    deadline = run.started + 170
    while not run.done:
        steps_running = len(stack.step_starts(run.run_id)) > len(stack.step_ends(run.run_id))
        if not steps_running and _broker_idle(stack):
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > quiet:
                return False
        else:
            idle_since = None
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    run.wait()  # the watchdog: fails the test if the run is still going
    return True


def _end_as_run_monitoring_would(stack: FaultStack, run_id: str) -> None:
    """Dagster's own run-monitoring check (what the daemon runs every poll), once the run is past its
    ``dagster/max_runtime``: it cancels the run and marks it failed."""
    import logging

    from dagster._daemon.monitoring.run_monitoring import check_run_timeout

    record = stack.instance.get_run_record_by_id(run_id)
    max_runtime = float(record.dagster_run.tags["dagster/max_runtime"])
    wait_for(
        lambda: time.time() - (record.start_time or 0) > max_runtime + 0.5,
        max_runtime + 5,
        "the run to pass its max_runtime",
        interval=0.5,
    )
    check_run_timeout(stack.instance, stack.instance.get_run_record_by_id(run_id), logging.getLogger(__name__), 0)
    assert stack.instance.get_run_by_id(run_id).is_failure


@pytest.mark.parametrize(
    "keep_data",
    [
        pytest.param(True, id="broker-keeps-its-data"),
        pytest.param(False, id="broker-loses-its-data"),
    ],
)
def test_redis_restart_mid_run(fault_stack: FaultStack, fault_reference: Reference, keep_data: bool) -> None:
    stack = fault_stack
    if stack.services.redis is None:
        pytest.skip(reason="needs the embedded Redis to restart it (MUSEUM_SYNC_REDIS_URL names an external server)")
    # The orchestrator notices lost step messages after 1 s (production: 10 s) and submits them again.
    stack.setenv("MUSEUM_SYNC_LOST_STEP_CHECK_S", "1")
    pool = stack.start_pool(**{FAILPOINTS_ENV: "validate_chunk=sleep:2"})
    reader = stack.start_reader()
    # A short max_runtime: were the run stranded, run monitoring's check would end it 20 s after it started.
    run = stack.launch_sync(f"fault-redis-{'keep' if keep_data else 'lose'}", max_runtime=20)
    parent = pool.procs[0].pid

    # Strike with two chunks loaded, two running in the worker and two waiting in the broker's queue.
    def second_wave() -> bool:
        done = {key for key, _ in stack.step_ends(run.run_id)}
        return len(done) >= 2 and len(_running_chunk_steps(stack, run.run_id, _children(parent))) == 2

    wait_for(second_wave, 60, "two chunks done, two running, two queued")
    started = time.monotonic()
    _restart(stack.services.redis, keep_data=keep_data)
    restart_s = time.monotonic() - started
    export_id = stack.export_id_of(run.run_id)

    ended = _wait_done_or_stranded(stack, run, quiet=10.0)
    if not ended:  # end it as run monitoring would, so that the failure below is reported, not a hang
        _end_as_run_monitoring_would(stack, run.run_id)
    run_s = time.monotonic() - run.started
    resubmitted = [
        entry.message
        for entry in stack.instance.all_logs(run.run_id)
        if "submitted again" in (entry.message or "") or "submitted again" in (entry.user_message or "")
    ]
    # Either way the run must succeed on its own: the broker kept every message and the run does not even
    # notice (result_backend_always_retry), or it lost them and the orchestrator submits them again.
    assert ended and run.result.success, f"{stack.diagnostics(run.run_id)}; resubmitted: {resubmitted}"
    if keep_data:
        assert resubmitted == []
    else:
        assert resubmitted and all("Redis restarted without its data?" in m for m in resubmitted)
    assert pool.procs[0].poll() is None, "the worker survived the broker restart"
    stack.assert_like_reference(export_id, fault_reference, reader)
    print(
        f"\n[fault 3: Redis restart, keep_data={keep_data}] restart {restart_s:.2f} s; run succeeded after "
        f"{run_s:.1f} s; {len(resubmitted)} lost steps submitted again; {fault_reference.count} rows, "
        f"digest equal; reader {reader.polls} polls {dict(reader.seen)}"
    )


def _copy_in_progress(stack: FaultStack) -> bool:
    try:
        with psycopg.connect(stack.services.pg_url, autocommit=True, connect_timeout=2) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'museum-sync catalog'"
                " AND query LIKE 'COPY%%' AND state = 'active'"
            ).fetchone()
    except psycopg.OperationalError:
        return False
    return bool(row and row[0])


def _retried_steps(stack: FaultStack, run_id: str) -> dict[str, Any]:
    from dagster import DagsterEventType

    records = stack.instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY).records
    return {r.event_log_entry.step_key or "": r.event_log_entry.dagster_event.message for r in records}


def test_postgres_restart_mid_load(fault_stack: FaultStack, fault_reference: Reference) -> None:
    """A connection lost mid-load is what the RetryPolicy is for (``defs.retries``: retried with backoff): the
    interrupted chunk steps are retried by Dagster itself and the run succeeds on its own. No replay."""
    stack = fault_stack
    if stack.services.postgres is None:
        pytest.skip(reason="needs the embedded PostgreSQL to restart it (MUSEUM_SYNC_PG_URL names an external server)")
    # Each chunk load holds its transaction open 3 s after the COPY started: the restart lands inside it.
    stack.start_pool(**{FAILPOINTS_ENV: "load_chunk=sleep:3"})
    reader = stack.start_reader()
    run = stack.launch_sync("fault-pg-restart")
    export_id = stack.export_id_of(run.run_id)
    watcher = stack.start_staging_watcher(export_id, fault_reference)
    wait_for(lambda: _copy_in_progress(stack), 60, "a chunk load's COPY in progress")
    loading = [i for i in range(CHUNKS) if stack.load_open(f"{export_id}/{i:04d}")]
    loaded_before = len([s for s in stack.catalog.chunk_states(export_id) if s.state == "loaded"])
    started = time.monotonic()
    stack.services.postgres.restart()
    restart_s = time.monotonic() - started

    result = run.wait()
    retried = _retried_steps(stack, run.run_id)
    assert result.success, f"the run needed a replay: {stack.diagnostics(run.run_id)}"
    assert loading, "no chunk load was open when PostgreSQL restarted"
    interrupted = {f"sync_chunk[{chunk_mapping_key(i)}]" for i in loading}
    assert interrupted <= set(retried), f"interrupted {sorted(interrupted)}, retried by the policy {sorted(retried)}"
    assert all(key.startswith("sync_chunk[") for key in retried), sorted(retried)
    watcher.stop()
    stack.assert_like_reference(export_id, fault_reference, reader)
    print(
        f"\n[fault 4: PostgreSQL restart mid-load] {loaded_before} chunks loaded before, {len(loading)} loading; "
        f"restart {restart_s:.2f} s; run succeeded in {run.seconds:.1f} s; retried by RetryPolicy: "
        f"{sorted(retried)}; {fault_reference.count} rows, digest equal; staging watcher {watcher.polls} polls "
        f"({watcher.errors} errors), whole chunks only; reader {reader.polls} polls ({reader.errors} errors) "
        f"{dict(reader.seen)}"
    )
