"""pytest plugin: PostgreSQL and Redis for tests, embedded unless MUSEUM_SYNC_PG_URL / MUSEUM_SYNC_REDIS_URL.

``services`` starts them once per session (embedded ones in a short scratch dir on tmpfs or /tmp, so unix
socket paths stay short; removed at the end). ``fresh_db`` and ``fresh_redis_db`` give each test its own database / db
number on those servers, so tests never see each other's tables or keys.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from museum_sync.services import ServiceUrls, start_services
from museum_sync.services.postgres import create_database, drop_database, with_database

__all__ = ["FreshRedisDb", "fresh_db", "fresh_redis_db", "services"]


@dataclass(frozen=True)
class FreshRedisDb:
    """A Redis db number no other test uses at the same time, flushed before and after the test."""

    db: int
    url: str  # Celery/kombu form
    redis_py_url: str


@pytest.fixture(scope="session")
def services() -> Iterator[ServiceUrls]:
    with start_services() as urls:
        yield urls


@pytest.fixture
def fresh_db(services: ServiceUrls, request: pytest.FixtureRequest) -> Iterator[str]:
    """psycopg URL of a new, empty database named after the test; dropped afterwards."""
    stem = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:40]
    name = f"t_{stem}_{uuid.uuid4().hex[:8]}"
    create_database(services.pg_url, name)
    try:
        yield with_database(services.pg_url, name)
    finally:
        try:
            drop_database(services.pg_url, name)
        except psycopg.OperationalError:  # server down after a fault test: its files go with the session
            pass


class _RedisDbPool:
    """Hands out db numbers other than the broker's and result backend's, one test at a time each."""

    def __init__(self, services: ServiceUrls) -> None:
        import redis

        client = redis.Redis.from_url(services.redis_py_url)
        try:
            try:
                count = int(client.config_get("databases").get("databases", 16))
            except redis.ResponseError:  # CONFIG disabled on managed servers
                count = 16
        finally:
            client.close()
        reserved = {_db_of(services.broker_url), _db_of(services.result_backend_url)}
        self.free = [n for n in range(count) if n not in reserved]

    def take(self) -> int:
        if not self.free:
            raise RuntimeError("every Redis db number is in use by a test; release some")
        return self.free.pop(0)

    def give_back(self, db: int) -> None:
        self.free.append(db)


def _db_of(kombu_url: str) -> int:
    match = re.search(r"virtual_host=(\d+)", kombu_url) or re.search(r"/(\d+)(?:\?|$)", kombu_url)
    return int(match.group(1)) if match else 0


@pytest.fixture(scope="session")
def _redis_db_pool(services: ServiceUrls) -> _RedisDbPool:
    return _RedisDbPool(services)


@pytest.fixture
def fresh_redis_db(services: ServiceUrls, _redis_db_pool: _RedisDbPool) -> Iterator[FreshRedisDb]:
    import redis

    db = _redis_db_pool.take()
    fresh = FreshRedisDb(db=db, url=services.broker_url_for(db), redis_py_url=services.redis_py_url_for(db))

    def flush() -> None:
        client = redis.Redis.from_url(fresh.redis_py_url)
        try:
            client.flushdb()
        finally:
            client.close()

    flush()
    try:
        yield fresh
    finally:
        try:
            flush()  # Redis may be down after a fault test; nothing to clean then
        except redis.ConnectionError:
            pass
        _redis_db_pool.give_back(db)
