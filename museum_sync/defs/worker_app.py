"""The Celery app that ``museum-sync worker`` runs: built from the executor's own config dict.

``celery -A museum_sync.defs.worker_app worker -Q ingestion_high,iiif,dagster`` is what the CLI starts.
"""

from __future__ import annotations

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task, create_task
from kombu import Queue

from museum_sync.defs.executor import DEFAULT_QUEUE, IIIF_QUEUE, INGESTION_QUEUE, celery_config

app = make_app(CeleryExecutor.for_cli(**celery_config()).app_args())
# make_app declares only the "dagster" queue; declare ours too so `-Q` can select them.
app.conf.task_queues = [Queue(name, routing_key=f"{name}.#") for name in (INGESTION_QUEUE, IIIF_QUEUE, DEFAULT_QUEUE)]

execute_plan = create_task(app)
execute_job = create_execute_job_task(app)
resume_job = create_resume_job_task(app)
