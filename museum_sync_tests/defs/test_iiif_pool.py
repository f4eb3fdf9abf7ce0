"""The iiif queue's own pool options and its own share of a run's in-flight steps."""

from __future__ import annotations

from typing import Any, NamedTuple

from museum_sync.defs.celery_config import iiif_pool_options
from museum_sync.defs.executor import _bounded_plan


class _Plan(NamedTuple):
    name: str

    def start(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return kwargs


def test_the_iiif_pool_gets_its_own_concurrency_and_recycling(monkeypatch) -> None:
    assert iiif_pool_options(("iiif",)) == (2, ["--max-tasks-per-child", "1000"])
    monkeypatch.setenv("MUSEUM_SYNC_IIIF_WORKER_CONCURRENCY", "6")
    monkeypatch.setenv("MUSEUM_SYNC_IIIF_WORKER_MAX_TASKS_PER_CHILD", "250")
    assert iiif_pool_options(("iiif",)) == (6, ["--max-tasks-per-child", "250"])
    # A pool that also serves ingestion keeps the common settings (celery_config: 100 steps per child).
    assert iiif_pool_options(("ingestion_high", "iiif", "dagster")) == (None, [])


def test_iiif_steps_have_their_own_share_of_in_flight_steps(monkeypatch) -> None:
    monkeypatch.setenv("MUSEUM_SYNC_IIIF_MAX_INFLIGHT_STEPS", "3")
    started = _bounded_plan(_Plan("p"), 8).start()
    assert started["max_concurrent"] == 11
    assert started["tag_concurrency_limits"] == [
        {"key": "dagster-celery/queue", "value": "iiif", "limit": 3},
        {"key": "dagster-celery/queue", "value": "ingestion_high", "limit": 8},
    ]
