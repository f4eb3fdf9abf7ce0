"""The executor's lost-step watch against a real Redis broker: real Celery messages, no worker consuming them.

Losing a message is done the way a Redis restarted without its data does it: the queue's key is gone.
The watch must submit the step again, only after two looks ``check_s`` apart, never while the message is
queued or delivered, and give up with the reason after ``max_resubmits``. A broker that is down is not a
lost message: the Redis-restart fault test (museum_sync_tests/faults) asserts nothing is resubmitted when
the restarted broker kept its data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app

from museum_sync.defs.celery_config import celery_config
from museum_sync.defs.executor import StepMessageLost, _LostSteps
from museum_sync_tests.services_fixtures import FreshRedisDb

QUEUE = "ingestion_high"


@pytest.fixture
def executor(fresh_redis_db: FreshRedisDb, monkeypatch: pytest.MonkeyPatch) -> Iterator[CeleryExecutor]:
    monkeypatch.setenv("MUSEUM_SYNC_BROKER_URL", fresh_redis_db.url)
    monkeypatch.setenv("MUSEUM_SYNC_RESULT_BACKEND", fresh_redis_db.url)
    yield CeleryExecutor.for_cli(**celery_config())


def _watch(executor: CeleryExecutor, caplog: pytest.LogCaptureFixture, **options: Any) -> tuple[_LostSteps, Any]:
    app = make_app(executor.app_args())

    def submit(app: Any, _context: Any, step: Any, queue: str, _priority: int, _state: Any) -> Any:
        return app.send_task("museum_sync.test.step", args=[step.key], queue=queue)

    log = logging.getLogger("museum_sync.test.lost_steps")
    watch = _LostSteps(executor, log, submit=submit, **{"check_s": 0.3, "max_resubmits": 2, **options})
    step = SimpleNamespace(key="sync_chunk[0001]")
    return watch, watch.submit(app, None, step, QUEUE, 0, None)


def _poll(tracked: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if tracked.ready():
            return True
        time.sleep(0.1)
    return False


def test_a_queued_step_is_left_alone(executor, fresh_redis_db, caplog) -> None:
    watch, tracked = _watch(executor, caplog)
    try:
        first = tracked.id
        assert not _poll(tracked, 1.5)  # queued, not lost: 5 looks and more than 2 * check_s
        assert tracked.id == first and "submitted again" not in caplog.text
        client = redis.Redis.from_url(fresh_redis_db.redis_py_url)
        assert client.llen(QUEUE) == 1
    finally:
        watch.close()


def test_a_lost_step_is_submitted_again_then_given_up_with_the_reason(executor, fresh_redis_db, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="museum_sync.test.lost_steps")
    client = redis.Redis.from_url(fresh_redis_db.redis_py_url)
    watch, tracked = _watch(executor, caplog)
    try:
        ids = [tracked.id]
        for attempt in (1, 2):
            client.delete(QUEUE)  # what a Redis restarted without its data leaves
            assert not _poll(tracked, 1.5)
            assert tracked.id not in ids and client.llen(QUEUE) == 1  # a new message, queued
            ids.append(tracked.id)
            assert f"({attempt} of 2)" in caplog.text
        assert (
            "sync_chunk[0001]: its Celery message" in caplog.text and "Redis restarted without its data?" in caplog.text
        )
        client.delete(QUEUE)
        assert _poll(tracked, 1.5)  # the third loss: given up, so the run fails instead of hanging
        with pytest.raises(StepMessageLost, match=r"sync_chunk\[0001\].*lost 3 times, the step is given up"):
            tracked.get()
    finally:
        watch.close()


def _record_step_success(instance: Any, run_id: str, step_key: str) -> None:
    """What a worker writes to the run's event log when a step ends (before it stores the result)."""
    from dagster import DagsterEvent, DagsterEventType
    from dagster._core.events import StepSuccessData
    from dagster._core.events.log import EventLogEntry

    event = DagsterEvent(
        DagsterEventType.STEP_SUCCESS.value, "sync_export_job", step_key=step_key,
        event_specific_data=StepSuccessData(duration_ms=1.0),
    )  # fmt: skip
    entry = EventLogEntry(
        error_info=None, level=logging.DEBUG, user_message="", run_id=run_id, timestamp=time.time(),
        step_key=step_key, job_name="sync_export_job", dagster_event=event,
    )  # fmt: skip
    instance.store_event(entry)


def test_a_step_that_ended_but_whose_result_a_failover_lost_is_submitted_again(
    executor, fresh_redis_db, caplog
) -> None:
    """After a Sentinel failover the new master may show a finished step still delivered, without its result
    (the old master had not replicated the result and the ack). The event log knows it ended: after the grace
    period the stale delivery is removed and the step submitted again; until it ended, it is left alone."""
    from dagster import DagsterInstance

    caplog.set_level(logging.WARNING, logger="museum_sync.test.lost_steps")
    client = redis.Redis.from_url(fresh_redis_db.redis_py_url)
    instance = DagsterInstance.ephemeral()
    run = SimpleNamespace(instance=instance, run_id="run-failover")
    app = make_app(executor.app_args())

    def submit(app: Any, _context: Any, step: Any, queue: str, _priority: int, _state: Any) -> Any:
        return app.send_task("museum_sync.test.step", args=[step.key], queue=queue)

    log = logging.getLogger("museum_sync.test.lost_steps")
    watch = _LostSteps(executor, log, submit=submit, check_s=0.3, max_resubmits=2, result_grace_s=0.6)
    step = SimpleNamespace(key="sync_chunk[0002]")
    tracked = watch.submit(app, run, step, QUEUE, 0, None)
    with app.connection_for_read() as consumer:
        delivered = consumer.SimpleQueue(QUEUE, no_ack=False).get(timeout=5)  # a worker took it, acks late
        assert client.hlen("unacked") == 1 and client.llen(QUEUE) == 0
        try:
            first = tracked.id
            assert not _poll(tracked, 1.5), "delivered and not ended: running, not lost"
            assert tracked.id == first and "submitted again" not in caplog.text

            _record_step_success(instance, run.run_id, step.key)  # it ended; its result never arrives
            assert not _poll(tracked, 2.0)
            assert tracked.id != first and client.llen(QUEUE) == 1, "submitted again: a new message, queued"
            assert client.hlen("unacked") == 0 and client.zcard("unacked_index") == 0, "the stale delivery removed"
            assert "sync_chunk[0002]: its execution ended (event log) but its result" in caplog.text
            assert "its stale delivery removed" in caplog.text and "(1 of 2)" in caplog.text
        finally:
            watch.close()
            del delivered
