"""A real museum-sync stack for integration tests: Dagster instance on PostgreSQL, Redis broker, Celery workers.

One stack per test module (its own catalogue schema, artifact root and Dagster home on the session's
servers) so modules never see each other's exports; the Celery workers run as real processes started
from the executor's config, exactly as ``museum-sync worker`` starts them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from museum_sync.clients.catalog import Catalog
from museum_sync.runtime import WorkerPool, configure_environment, dagster_instance, run_job, runtime_env
from museum_sync.services import ServiceUrls
from museum_sync.settings import env_name


@dataclass
class SyncStack:
    env: dict[str, str]
    home: Path
    instance: Any
    catalog: Catalog
    workers: WorkerPool

    def sync(self, path: Path, profile: str, *, source: str | None = None, chunk_size: int | None = None) -> Any:
        from museum_sync.defs.run_config import sync_run_config

        config: dict[str, Any] = sync_run_config(path, profile, source)
        if chunk_size:
            config["ops"]["snapshot_and_plan"]["config"]["chunk_size"] = chunk_size
        return run_job("sync_export_job_def", instance=self.instance, run_config=config)

    def run_partition(self, job: str, partition_key: str, **kwargs: Any) -> Any:
        return run_job(job, instance=self.instance, tags={"dagster/partition": partition_key}, **kwargs)


@contextmanager
def build_stack(
    services: ServiceUrls, home: Path, extra_env: dict[str, str] | None = None, *, broker_url: str | None = None
) -> Iterator[SyncStack]:
    """A stack with its own catalogue schema, artifact root and Dagster home; ``extra_env`` reaches workers too.

    ``broker_url`` (e.g. ``amqp://...``) replaces the session's Redis as broker; results stay on its Redis.
    """
    schema = f"cat_{uuid.uuid4().hex[:10]}"
    env = {**runtime_env(services, home, catalog_schema=schema), **(extra_env or {})}
    if broker_url is not None:
        env[env_name("redis.broker_url")] = broker_url
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        configure_environment(env)
        catalog = Catalog(services.pg_url, schema=schema)
        catalog.migrate()
        pool = WorkerPool(env=env, log_dir=home / "logs", processes=1, concurrency=2)
        pool.start()
        try:
            yield SyncStack(env=env, home=home, instance=dagster_instance(), catalog=catalog, workers=pool)
        finally:
            pool.stop()


@pytest.fixture(scope="module")
def sync_stack(services: ServiceUrls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncStack]:
    with build_stack(services, tmp_path_factory.mktemp("home")) as stack:
        yield stack
