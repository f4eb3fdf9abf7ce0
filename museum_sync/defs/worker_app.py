"""The Celery app that ``museum-sync worker`` runs: built from the executor's own config dict.

``celery -A museum_sync.defs.worker_app worker -Q ingestion_high,iiif,dagster`` is what the CLI starts.
"""

from __future__ import annotations

from museum_sync.defs.celery_config import celery_config, use_queues
from museum_sync.defs.dagster_internals import CeleryExecutor, celery_app, register_worker_tasks
from museum_sync.defs.worker_telemetry import connect as connect_telemetry

_config = celery_config()
app = celery_app(CeleryExecutor.for_cli(**_config).app_args())
# make_app declares only the "dagster" queue; declare ours too so `-Q` can select them (the executor
# declares the same set: RabbitMQ refuses a queue re-declared with other arguments).
use_queues(app, _config["broker"])

execute_plan, execute_job, resume_job = register_worker_tasks(app)
# JSON logs, /metrics, the worker's announcement and heartbeats (Celery signals: defs.worker_telemetry).
connect_telemetry(app)
# Soft shutdown (Celery 5.5+): on a cold shutdown too (SIGQUIT, a second SIGTERM from an impatient orchestrator),
# running steps get this long to finish before they are cut off (and redelivered: acks late). A rollout's single
# SIGTERM is a warm shutdown, which waits for them anyway (docs/operations.md).
app.conf.worker_soft_shutdown_timeout = 60.0
