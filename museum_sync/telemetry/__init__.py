"""Logs, metrics and worker health, usable from every floor above settings.

``logs`` (one structlog JSON/console format for the CLI, Dagster runs and Celery workers), ``metrics``
(prometheus-client, multiprocess across a worker's prefork children), ``health`` (what a worker announces, its
heartbeat record, and the verdict ``museum-sync doctor`` and the sync sensors act on). The Celery side (signals,
the sampler thread, the ``/metrics`` server) is wired in ``museum_sync.defs.worker_telemetry``.
"""
