"""The result backend against a real Redis: results are polled, never published to a subscriber that
does not read them (dagster-celery polls; a subscription only piled results up in Redis)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from celery import states
from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app

from museum_sync.defs.celery_config import celery_config, polling_backend_url
from museum_sync.defs.result_backend import BACKEND_PREFIX, PollingRedisBackend
from museum_sync_tests.services_fixtures import FreshRedisDb


@pytest.fixture
def app(fresh_redis_db: FreshRedisDb, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("MUSEUM_SYNC_BROKER_URL", fresh_redis_db.url)
    monkeypatch.setenv("MUSEUM_SYNC_RESULT_BACKEND", fresh_redis_db.url)
    yield make_app(CeleryExecutor.for_cli(**celery_config()).app_args())


def test_submitting_subscribes_nothing_and_a_stored_result_is_read_by_polling(app, fresh_redis_db) -> None:
    client = redis.Redis.from_url(fresh_redis_db.redis_py_url)
    assert isinstance(app.backend, PollingRedisBackend)
    result = app.send_task("museum_sync.test.step", queue="ingestion_high")
    key = f"celery-task-meta-{result.id}"
    assert client.pubsub_numsub(key) == [(key.encode(), 0)] and client.pubsub_channels() == []
    assert not result.ready()

    app.backend.store_result(result.id, ["event-1", "event-2"], states.SUCCESS)  # what the worker does
    assert client.exists(key) == 1 and client.ttl(key) > 0  # stored with result_expires
    assert result.ready() and result.get(timeout=1) == ["event-1", "event-2"]
    result.forget()
    assert client.exists(key) == 0


def test_backend_urls_of_every_form_select_the_polling_backend() -> None:
    assert polling_backend_url("redis://h:6379/1") == BACKEND_PREFIX + "redis://h:6379/1"
    assert polling_backend_url("redis+socket:///tmp/r.sock?virtual_host=3") == (
        BACKEND_PREFIX + "socket:///tmp/r.sock?virtual_host=3"
    )
    assert polling_backend_url(BACKEND_PREFIX + "redis://h/1") == BACKEND_PREFIX + "redis://h/1"
    assert polling_backend_url("db+postgresql://h/x") == "db+postgresql://h/x"  # not Redis: left alone
