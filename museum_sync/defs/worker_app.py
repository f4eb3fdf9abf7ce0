"""The Celery app that ``museum-sync worker`` runs: built from the executor's own config dict.

``celery -A museum_sync.defs.worker_app worker -Q ingestion_high,iiif,dagster`` is what the CLI starts.
"""

from __future__ import annotations

from museum_sync.defs import dagster_internals, worker_instance, worker_internals
from museum_sync.defs.celery_config import celery_config, use_queues
from museum_sync.defs.dagster_internals import CeleryExecutor, celery_app
from museum_sync.defs.worker_telemetry import connect as connect_telemetry

# The code location, Dagster's storage classes and the PostgreSQL drivers, imported here in the worker's parent:
# prefork children inherit them instead of importing them on their first step (issue #18).
worker_internals.import_step_code()

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
