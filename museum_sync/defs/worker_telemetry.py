"""What a Celery worker does for the on-call engineer: JSON logs, ``/metrics``, its announcement and heartbeats.

Wired by ``connect(app)`` (``defs.worker_app``) to Celery's signals, so it runs only in real worker processes:

===========================  ===============  ================================================================
signal                       process          what
===========================  ===============  ================================================================
``setup_logging``            main             ``telemetry.logs.configure`` (Celery then leaves logging alone)
``celeryd_init``             main             the worker's metric folder (before children fork); ``worker`` bound
``worker_ready``             main             record announced in Redis, heartbeat thread, ``/metrics`` served
``worker_process_init``      child            ``worker`` bound, RSS sampler thread started
``task_prerun/postrun``      child            ``task_id`` and ``run_id`` bound to every line of the task
``worker_process_shutdown``  child            sampler stopped, the child's live gauges removed
``worker_shutdown``          main             heartbeat stopped, record deleted (a drained worker is not stale)
===========================  ===============  ================================================================
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

from celery import signals

from museum_sync.defs.celery_config import QUEUES
from museum_sync.settings import get_settings
from museum_sync.telemetry import health, logs, metrics

__all__ = ["FleetCollector", "connect"]

_state: dict[str, Any] = {}


class FleetCollector:
    """Gauges read when Prometheus scrapes the worker: queue depth, publication age, open quarantines, and this
    worker's info, heartbeat and memory limit. Catalogue reads are cached for 15 s."""

    def __init__(self, app: Any, worker: str) -> None:
        self.app, self.worker = app, worker
        self._catalog_at, self._catalog_values = 0.0, (float("nan"), float("nan"))

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        depth = GaugeMetricFamily("museum_sync_queue_depth", "Messages waiting in a queue", labels=["queue"])
        for queue, count in self._queue_depths().items():
            depth.add_metric([queue], count)
        yield depth
        age, open_partitions = self._catalog()
        yield GaugeMetricFamily(
            "museum_sync_publication_age_seconds", "Age of the public export (NaN: none published)", value=age
        )
        yield GaugeMetricFamily(
            "museum_sync_quarantined_partitions_open", "Chunk partitions in quarantine", value=open_partitions
        )
        record = _state.get("record")
        if record is not None:
            info = GaugeMetricFamily(
                "museum_sync_worker_info",
                "A worker's code version, schema hash and queues",
                labels=["worker", "version", "schema_hash", "queues"],
            )
            info.add_metric([record.name, record.version, record.schema_hash, ",".join(record.queues)], 1)
            yield info
            yield GaugeMetricFamily(
                "museum_sync_worker_heartbeat_timestamp_seconds", "Last heartbeat", value=record.heartbeat_at
            )
            yield GaugeMetricFamily(
                "museum_sync_worker_memory_limit_bytes",
                "worker_max_memory_per_child, in bytes",
                value=record.limits["max_memory_per_child_kb"] * 1024,
            )

    def _queue_depths(self) -> dict[str, int]:
        depths: dict[str, int] = {}
        try:
            with self.app.connection_for_read() as conn, conn.channel() as channel:
                for queue in QUEUES:
                    try:
                        depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
                    except Exception:  # noqa: BLE001 - a queue not declared yet holds nothing
                        depths[queue] = 0
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail because the broker blinked
            logs.log().warning("queue_depth_unavailable", error=str(exc))
        return depths

    def _catalog(self) -> tuple[float, float]:
        if time.monotonic() - self._catalog_at < 15:
            return self._catalog_values
        from museum_sync.clients.catalog import Catalog

        try:
            settings = get_settings()
            catalog = Catalog(settings.pg_url, schema=settings.catalog_schema)
            current = catalog.current_publication()
            age = time.time() - current.published_at.timestamp() if current else float("nan")
            open_partitions = float(sum(count for _, _, count in catalog.exports_with_open_quarantines()))
            self._catalog_values = (age, open_partitions)
        except Exception as exc:  # noqa: BLE001 - the catalogue may not be migrated yet, or down
            logs.log().warning("catalog_metrics_unavailable", error=str(exc))
        self._catalog_at = time.monotonic()
        return self._catalog_values


def _announce(consumer: Any) -> health.WorkerRecord:
    settings = get_settings()
    controller = consumer.controller
    queues = sorted(q.name for q in consumer.task_consumer.queues) if consumer.task_consumer else []
    now = time.time()
    return health.WorkerRecord(
        name=controller.hostname,
        host=socket.gethostname(),
        pid=os.getpid(),
        version=health.code_version(),
        schema_versions=dict(health.SCHEMA_VERSIONS),
        schema_hash=health.schema_hash(),
        queues=queues,
        limits={
            "concurrency": int(controller.concurrency or 0),
            "max_tasks_per_child": settings.celery.max_tasks_per_child,
            "max_memory_per_child_kb": settings.celery.max_memory_per_child_kb,
            "visibility_timeout": settings.celery.visibility_timeout,
        },
        started_at=now,
        heartbeat_at=now,
    )


def _beat(record: health.WorkerRecord, client: Any) -> None:
    import psutil

    main = psutil.Process()
    record.heartbeat_at = time.time()
    children = [c for c in main.children() if c.is_running()]
    record.children_rss_bytes = [c.memory_info().rss for c in children]
    record.rss_bytes = main.memory_info().rss + sum(record.children_rss_bytes)
    health.write_record(client, record)
    path = health.heartbeat_file(record.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(record.heartbeat_at), encoding="utf-8")
    metrics.sweep_dead_children()


def _heartbeat_loop(record: health.WorkerRecord, stop: threading.Event) -> None:
    interval, client = get_settings().telemetry.heartbeat_s, health.redis_client()
    while not stop.is_set():
        try:
            _beat(record, client)
        except Exception as exc:  # noqa: BLE001 - Redis down: try again next beat, the worker keeps working
            logs.log().warning("heartbeat_failed", error=str(exc))
        stop.wait(interval)


def _on_setup_logging(**_: Any) -> None:
    logs.configure()


def _on_celeryd_init(sender: str, **_: Any) -> None:
    logs.bind(worker=sender)
    if metrics.enabled():
        metrics.use_multiprocess_dir(sender)


def _on_worker_ready(sender: Any, **_: Any) -> None:
    record = _announce(sender)
    stop = threading.Event()
    _state.update(record=record, stop=stop)
    threading.Thread(target=_heartbeat_loop, args=(record, stop), name="museum-sync-heartbeat", daemon=True).start()
    port = get_settings().telemetry.metrics_port
    if port:
        try:
            _state["server"] = metrics.serve(port, FleetCollector(sender.app, record.name))
        except OSError as exc:
            logs.log().warning("metrics_port_unavailable", port=port, error=str(exc))
    logs.log().info(
        "worker_announced",
        version=record.version,
        schema_hash=record.schema_hash,
        schema_versions=record.schema_versions,
        queues=record.queues,
        limits=record.limits,
        metrics_port=port,
    )


def _on_worker_shutdown(**_: Any) -> None:
    record = _state.get("record")
    if record is None:
        return
    _state["stop"].set()
    try:
        health.delete_record(health.redis_client(), record.name)
        health.heartbeat_file(record.name).unlink(missing_ok=True)
    except Exception as exc:  # noqa: BLE001 - it goes stale, then expires: doctor says so meanwhile
        logs.log().warning("worker_record_not_deleted", error=str(exc))
    logs.log().info("worker_stopped")


def _on_process_init(**_: Any) -> None:
    logs.bind(child_pid=os.getpid())
    if metrics.enabled():
        sampler = metrics.RssSampler(get_settings().telemetry.rss_sample_s)
        sampler.start()
        _state["sampler"] = sampler


def _on_process_shutdown(**_: Any) -> None:
    sampler = _state.pop("sampler", None)
    if sampler is not None:
        sampler.stop()
    metrics.child_exited(os.getpid())


def _on_task_prerun(task_id: str, args: Any = None, kwargs: Any = None, **_: Any) -> None:
    packed = (args or [None])[0] if args else (kwargs or {}).get("execute_step_args_packed")
    run_id = (packed.get("run_id") or packed.get("pipeline_run_id")) if isinstance(packed, dict) else None
    logs.bind(task_id=task_id, run_id=run_id)


def _on_task_postrun(**_: Any) -> None:
    logs.unbind("task_id", "run_id", "partition", "export_id")


_RECEIVERS = (
    (signals.setup_logging, _on_setup_logging),
    (signals.celeryd_init, _on_celeryd_init),
    (signals.worker_ready, _on_worker_ready),
    (signals.worker_shutdown, _on_worker_shutdown),
    (signals.worker_process_init, _on_process_init),
    (signals.worker_process_shutdown, _on_process_shutdown),
    (signals.task_prerun, _on_task_prerun),
    (signals.task_postrun, _on_task_postrun),
)


def connect(app: Any) -> None:
    """Connect the receivers (weakly held by Celery: they are module functions, so they live on)."""
    for signal, receiver in _RECEIVERS:
        signal.connect(receiver, weak=False)
