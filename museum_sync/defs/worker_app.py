"""The Celery app that ``museum-sync worker`` runs: built from the executor's own config dict.

``celery -A museum_sync.defs.worker_app worker -Q ingestion_high,iiif,dagster`` is what the CLI starts.
"""

from __future__ import annotations

import importlib

from museum_sync.defs import dagster_internals, worker_instance, worker_internals
from museum_sync.defs.celery_config import celery_config, use_queues
from museum_sync.defs.dagster_internals import CeleryExecutor, celery_app
from museum_sync.defs.worker_telemetry import connect as connect_telemetry

# What a step imports on first use, imported here in the worker's parent so that every prefork child (and every
# child recycled after ``max_tasks_per_child``) inherits it: the code location, Dagster's storage classes, the
# PostgreSQL drivers. A child used to spend ~1 CPU s on these on its first step, 17 % of a 20k sync's worker CPU
# (py-spy, benchmarks/README.md, issue #18). Nothing here opens a connection or starts a thread (fork-safe).
_INHERITED_BY_CHILDREN = (
    "museum_sync.definitions",
    "dagster._core.storage.base_storage",
    "dagster._core.storage.runs.base",
    "dagster._core.storage.event_log.base",
    "dagster._core.storage.schedules.base",
    "dagster_postgres",
    "psycopg2",
    "psycopg2.extras",
    "sqlalchemy.dialects.postgresql.psycopg2",
)
for _module in _INHERITED_BY_CHILDREN:
    importlib.import_module(_module)

_config = celery_config()
app = celery_app(CeleryExecutor.for_cli(**_config).app_args())
# make_app declares only the "dagster" queue; declare ours too so `-Q` can select them (the executor
# declares the same set: RabbitMQ refuses a queue re-declared with other arguments).
use_queues(app, _config["broker"])

# Steps run with one Dagster instance per child, storage connections pooled (defs.worker_instance); the
# rollback MUSEUM_SYNC_WORKER_INSTANCE=per-step registers dagster-celery's own tasks (an instance per step).
if worker_instance.mode() == "per-child":
    execute_plan, execute_job, resume_job = worker_internals.register_worker_tasks(app, worker_instance.instances.get)
    worker_instance.connect()
else:
    execute_plan, execute_job, resume_job = dagster_internals.register_worker_tasks(app)
# JSON logs, /metrics, the worker's announcement and heartbeats (Celery signals: defs.worker_telemetry).
connect_telemetry(app)
# Soft shutdown (Celery 5.5+): on a cold shutdown too (SIGQUIT, a second SIGTERM from an impatient orchestrator),
# running steps get this long to finish before they are cut off (and redelivered: acks late). A rollout's single
# SIGTERM is a warm shutdown, which waits for them anyway (docs/operations.md).
app.conf.worker_soft_shutdown_timeout = 60.0
