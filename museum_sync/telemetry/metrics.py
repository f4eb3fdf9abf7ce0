"""Prometheus metrics: what the pipeline records (in worker children) and how a worker serves them.

Celery's prefork children each count in their own process, so prometheus-client runs in multiprocess mode: every
child writes its values to files in one folder per worker (``PROMETHEUS_MULTIPROC_DIR``, set from
``MUSEUM_SYNC_METRICS_DIR`` by ``use_multiprocess_dir`` in the worker's main process before any child starts), and
the main process serves their sum on ``/metrics`` (``serve``). A child that exits has its live gauges removed
(``child_exited``); a child killed outright (OOM) is swept by the heartbeat (``sweep_dead_children``).

With ``MUSEUM_SYNC_METRICS_PORT=0`` nothing is kept or served: every ``record_*`` call returns at once.

Families (all prefixed ``museum_sync_``): ``records_total{outcome}``, ``records_rejected_total{reason}``,
``chunks_quarantined_total{check}``, ``chunk_step_seconds{step}`` (histogram), ``worker_child_rss_bytes``
(per live child, sampled while it runs steps), ``tasks_retried_total{step}``; and, read when scraped by the
worker's own collector (``defs.worker_telemetry``): ``queue_depth{queue}``, ``publication_age_seconds``,
``quarantined_partitions_open``, ``worker_info``, ``worker_heartbeat_timestamp_seconds``,
``worker_memory_limit_bytes``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from museum_sync.settings import get_settings

__all__ = [
    "FAMILIES",
    "MULTIPROC_ENV",
    "RssSampler",
    "child_exited",
    "enabled",
    "metrics_root",
    "record_chunk",
    "record_retry",
    "serve",
    "sweep_dead_children",
    "timed_step",
    "use_multiprocess_dir",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "museum_sync_"
# Every family a worker's /metrics exposes (sample names; a histogram's _bucket/_sum/_count and a counter's _total
# follow from these): what the Grafana dashboard and the alert rules in deploy/ may use (museum_sync_tests checks).
FAMILIES = (
    "museum_sync_records_total",
    "museum_sync_records_rejected_total",
    "museum_sync_chunks_quarantined_total",
    "museum_sync_chunk_step_seconds",
    "museum_sync_worker_child_rss_bytes",
    "museum_sync_tasks_retried_total",
    "museum_sync_queue_depth",
    "museum_sync_publication_age_seconds",
    "museum_sync_quarantined_partitions_open",
    "museum_sync_worker_info",
    "museum_sync_worker_heartbeat_timestamp_seconds",
    "museum_sync_worker_memory_limit_bytes",
)
STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)


def enabled() -> bool:
    """Whether this process keeps metrics (a worker with a metrics port; ``MUSEUM_SYNC_METRICS_PORT=0``: no)."""
    return _enabled()


@cache
def _enabled() -> bool:
    return get_settings().telemetry.metrics_port != 0


def metrics_root() -> Path:
    """``MUSEUM_SYNC_METRICS_DIR``, else ``<temp dir>/museum-sync-metrics``: one subfolder per worker."""
    return get_settings().telemetry.metrics_dir or Path(tempfile.gettempdir()) / "museum-sync-metrics"


def use_multiprocess_dir(worker: str) -> Path:
    """Create (emptied) this worker's folder for its children's metric files and point prometheus-client at it.

    Called in a worker's main process before its children fork, so they inherit ``PROMETHEUS_MULTIPROC_DIR``;
    folders that dead workers of the same name left behind are removed (their counters would be added again).
    """
    import psutil

    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in worker)
    for old in metrics_root().glob(f"{name}-*"):  # earlier workers of this name that are gone
        pid = old.name.rsplit("-", 1)[1]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    # The pid keeps two workers of one name on one host (test suites side by side) out of each other's files.
    folder = metrics_root() / f"{name}-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(folder)
    from prometheus_client import values

    values.ValueClass = values.get_value_class()  # chosen at import: choose again now the folder is set
    _families.cache_clear()
    return folder


@cache
def _families() -> dict[str, Any]:
    from prometheus_client import Counter, Gauge, Histogram

    return {
        "records": Counter(f"{PREFIX}records", "Records validated, by outcome (valid, rejected)", ["outcome"]),
        "rejected": Counter(f"{PREFIX}records_rejected", "Rejected records by reason", ["reason"]),
        "quarantined": Counter(f"{PREFIX}chunks_quarantined", "Chunks stopped at a blocking check", ["check"]),
        "step": Histogram(f"{PREFIX}chunk_step_seconds", "Duration of one chunk step", ["step"], buckets=STEP_BUCKETS),
        "rss": Gauge(
            f"{PREFIX}worker_child_rss_bytes",
            "RSS of a worker child, sampled while it runs",
            multiprocess_mode="liveall",
        ),
        "retried": Counter(f"{PREFIX}tasks_retried", "Steps that failed and were retried", ["step"]),
    }


def record_chunk(valid: int, rejected_by_reason: Mapping[str, int], failed_checks: list[str] | tuple[str, ...]) -> None:
    """One validated chunk: its valid and rejected records (by reason), and the checks that stopped it."""
    if not enabled():
        return
    family = _families()
    family["records"].labels("valid").inc(valid)
    family["records"].labels("rejected").inc(sum(rejected_by_reason.values()))
    for reason, count in rejected_by_reason.items():
        family["rejected"].labels(reason).inc(count)
    for check in failed_checks:
        family["quarantined"].labels(check).inc()


def record_retry(step: str) -> None:
    if enabled():
        _families()["retried"].labels(step).inc()


def timed_step(step: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: the wrapped step's duration goes to ``chunk_step_seconds{step}`` (failures too)."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        import functools

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not enabled():
                return fn(*args, **kwargs)
            with _timer(step):
                return fn(*args, **kwargs)

        return timed

    return wrap


@contextmanager
def _timer(step: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        _families()["step"].labels(step).observe(time.perf_counter() - start)


class RssSampler(threading.Thread):
    """A daemon thread in a worker child: its RSS into ``worker_child_rss_bytes`` every ``interval`` seconds.

    Celery's ``worker_max_memory_per_child`` is only checked after a task ends; this shows the growth while a
    step runs, before the kernel's OOM killer does.
    """

    def __init__(self, interval: float) -> None:
        super().__init__(name="museum-sync-rss", daemon=True)
        self.interval = interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        import psutil

        process, gauge = psutil.Process(), _families()["rss"]
        while not self._stop_event.is_set():
            gauge.set(process.memory_info().rss)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()


def child_exited(pid: int) -> None:
    """A child is gone: drop its live gauges (its counters stay summed, as prometheus-client intends)."""
    if enabled() and os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def sweep_dead_children() -> list[int]:
    """Drop the live gauges of children that died without saying so (OOM-killed); the pids swept."""
    folder = os.environ.get(MULTIPROC_ENV)
    if not (enabled() and folder):
        return []
    import psutil

    dead = {
        int(path.stem.rsplit("_", 1)[1])
        for path in Path(folder).glob("gauge_live*_*.db")
        if path.stem.rsplit("_", 1)[1].isdigit() and not psutil.pid_exists(int(path.stem.rsplit("_", 1)[1]))
    }
    for pid in dead:
        child_exited(pid)
    return sorted(dead)


def serve(port: int, *extra_collectors: Any) -> Any:
    """Serve the children's metrics (and ``extra_collectors``, read at each scrape) on ``port``; the server.

    A port already taken is one warning, not a dead worker: the worker still runs its steps.
    """
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    for collector in extra_collectors:
        registry.register(collector)
    server, _thread = start_http_server(port, registry=registry)
    return server
