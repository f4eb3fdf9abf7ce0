"""The Celery app that ``museum-sync worker`` runs: built from the executor's own config dict.

``celery -A museum_sync.defs.worker_app worker -Q ingestion_high,iiif,dagster`` is what the CLI starts.
"""

from __future__ import annotations

from kombu import Queue

from museum_sync.defs.celery_config import DEFAULT_QUEUE, IIIF_QUEUE, INGESTION_QUEUE, celery_config
from museum_sync.defs.dagster_internals import CeleryExecutor, celery_app, register_worker_tasks

app = celery_app(CeleryExecutor.for_cli(**celery_config()).app_args())
# make_app declares only the "dagster" queue; declare ours too so `-Q` can select them.
app.conf.task_queues = [Queue(name, routing_key=f"{name}.#") for name in (INGESTION_QUEUE, IIIF_QUEUE, DEFAULT_QUEUE)]

execute_plan, execute_job, resume_job = register_worker_tasks(app)
