"""Celery's Redis result backend, read by polling only: no pub/sub subscription per step.

Celery's Redis backend subscribes the submitting process to every task's result channel, and the worker
PUBLISHes each result there as it stores it. dagster-celery never reads that subscription: it polls
``ready()`` (a GET) every second. So every chunk step's result (~24 KB of serialized events) piled up in
Redis's output buffer for the orchestrator's connection until the run ended: 9.3 MB at 500 chunks
(measured with ``CLIENT LIST``), growing with the export and cut off at Redis's 32 MB pub/sub limit.

Selected by the result backend URL ``museum_sync.defs.result_backend:PollingRedisBackend+redis://...``
(``celery_config``), the same for the executor and the workers. Behind Redis Sentinel it is
``PollingSentinelBackend+sentinel://...``: Celery's own Sentinel backend (it asks the sentinels for the
current master on every new connection, so a failover is followed by reconnecting), polled the same way.
"""

from __future__ import annotations

from typing import Any

from celery.backends.base import KeyValueStoreBackend
from celery.backends.redis import RedisBackend, SentinelBackend

__all__ = ["BACKEND_PREFIX", "SENTINEL_BACKEND_PREFIX", "PollingRedisBackend", "PollingSentinelBackend"]

BACKEND_PREFIX = "museum_sync.defs.result_backend:PollingRedisBackend+"
SENTINEL_BACKEND_PREFIX = "museum_sync.defs.result_backend:PollingSentinelBackend+"


class _Polling:
    """Results are stored (SET with expiry) and polled (GET), never published or subscribed to."""

    expires: Any
    client: Any

    def on_task_call(self, producer: Any, task_id: str) -> None:
        """No subscription: the result is read by polling."""

    def forget(self, task_id: str) -> None:
        KeyValueStoreBackend.forget(self, task_id)  # type: ignore[arg-type]  # delete the key; no subscription

    def _set(self, key: str, value: Any, expires: int | None = None) -> None:
        """Store without PUBLISH: nobody listens, and each message would cost a copy of the result."""
        expires = self.expires if expires is None else expires
        self.client.set(key, value, ex=max(1, int(expires)) if expires else None)


class PollingRedisBackend(_Polling, RedisBackend):  # type: ignore[misc]
    """Celery's Redis backend, polled (``_Polling``)."""


class PollingSentinelBackend(_Polling, SentinelBackend):  # type: ignore[misc]
    """Celery's Redis Sentinel backend (master found through the sentinels), polled (``_Polling``)."""
