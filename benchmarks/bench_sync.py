"""Full sync benchmark on the embedded default, against the naive sync it replaces, in the same run.

    python benchmarks/bench_sync.py                      # 50k and 500k records (make bench)
    python benchmarks/bench_sync.py --sizes 5000         # quick
    python benchmarks/bench_sync.py --sizes 50000 --naive-max 0 --metrics-overhead 3   # metrics on vs off
    python benchmarks/bench_sync.py --sizes 50000 --naive-max 0 --brokers redis,rabbitmq   # broker comparison

museum-sync: ``sync_export_job`` (one Dagster run, one Celery step per 1000-record chunk) on embedded
PostgreSQL + Redis with one real Celery worker (prefork, concurrency 2), snapshot → validated →
PostgreSQL → published.

Naive baseline (the hand-rolled nightly job museum-sync replaces): pandas reads the whole export, one
Celery task per record *carrying the record*, Celery defaults (prefetch 4, early ack, no child
recycling), row-by-row INSERT.

Sampled every 100 ms from /proc (psutil): peak RSS of the orchestrator (this process), the worker parent
and each worker child; Redis ``used_memory_peak`` (reset before each run) and messages sent; PostgreSQL rows.
Prints a table and ratios; asserts nothing about speed.

``--brokers redis,rabbitmq`` runs museum-sync once per broker on the same export, one after the other in
the same process: Redis (the embedded one, broker db n, results db n+1) and RabbitMQ (the machine's server
on 127.0.0.1:5672, a vhost of its own, removed afterwards; results on the same embedded Redis, as the
settings require). RabbitMQ's memory is its own count for the vhost's queues (``rabbitmqctl list_queues
memory``), sampled every 5 s (each ``rabbitmqctl`` call starts an Erlang VM, ~0.7 s of CPU: sampling every
second cost the RabbitMQ run a third of a core), with the node's total (``rabbitmqctl status``) before and
after for context. ``--rounds 2`` interleaves the brokers (redis, rabbitmq, redis, rabbitmq) so that a busy
machine's load falls on both.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


@dataclass
class Peaks:
    orchestrator: float = 0.0
    worker_parent: float = 0.0
    worker_child: float = 0.0
    children_seen: int = 0
    child_peaks: dict[int, float] = field(default_factory=dict)


class _Periodic:
    """Calls ``sample()`` every ``interval`` seconds in a thread, between ``__enter__`` and ``__exit__``."""

    interval = 0.1

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Sampler(_Periodic):
    """Peak RSS per process kind, sampled every 100 ms from /proc."""

    def __init__(self, worker_pids: list[int], redis_client: Any = None) -> None:
        super().__init__()
        self.worker_pids = worker_pids
        self.redis = redis_client
        self.redis_peak = 0
        self.peaks = Peaks()
        self._me = psutil.Process()
        # the orchestrator's own process, when it is not this one (0: not started yet)
        self.orchestrator_pid: int | None = None
        self.progress_s = 0.0  # > 0: print the peaks so far every progress_s seconds (long runs)
        self.progress: Any = None  # () -> str, appended to each progress line
        self._started = time.monotonic()
        self._printed = self._started

    def sample(self) -> None:
        now = time.monotonic()
        if self.progress_s and now - self._printed >= self.progress_s:
            self._printed = now
            mib = 1024 * 1024
            extra = ""
            try:
                extra = self.progress() if self.progress else ""
            except Exception as exc:  # noqa: BLE001 - a progress line is not a result
                extra = f"({exc})"
            print(
                f"  ... {now - self._started:7.0f} s: peak RSS orch {self.peaks.orchestrator / mib:.0f} MiB, worker"
                f" child {max(self.peaks.child_peaks.values(), default=0) / mib:.0f} MiB, Redis"
                f" {self.redis_peak / 1e6:.1f} MB {extra}",
                file=sys.stderr,
                flush=True,
            )
        try:
            if self.orchestrator_pid != 0:  # 0: its own process, not started yet (this one's RSS is not its)
                me = self._me if self.orchestrator_pid is None else psutil.Process(self.orchestrator_pid)
                self.peaks.orchestrator = max(self.peaks.orchestrator, me.memory_info().rss)
            for pid in self.worker_pids:
                parent = psutil.Process(pid)
                self.peaks.worker_parent = max(self.peaks.worker_parent, parent.memory_info().rss)
                for child in parent.children(recursive=False):  # the prefork pool
                    rss = child.memory_info().rss
                    self.peaks.child_peaks[child.pid] = max(self.peaks.child_peaks.get(child.pid, 0), rss)
        except psutil.Error:
            pass
        if self.redis is not None:
            try:  # used_memory_peak cannot be reset between runs: sample used_memory instead
                self.redis_peak = max(self.redis_peak, int(self.redis.info("memory")["used_memory"]))
            except Exception:  # noqa: BLE001 - a sample lost during a Redis hiccup is not a result
                pass

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.peaks.worker_child = max(self.peaks.child_peaks.values(), default=0)
        self.peaks.children_seen = len(self.peaks.child_peaks)


def _redis(services: Any) -> Any:
    import redis

    return redis.Redis.from_url(services.redis_py_url)


@contextmanager
def redis_window(services: Any, sampler: Sampler) -> Iterator[dict[str, float]]:
    """Redis memory during one run: sampled used_memory (peak and growth over the start) and commands."""
    client = _redis(services)
    client.config_resetstat()
    client.execute_command("MEMORY", "PURGE")
    base = client.info("memory")["used_memory"]
    sampler.redis = _redis(services)
    out: dict[str, float] = {}
    yield out
    stats = client.info("stats")
    out["redis_peak_mb"] = sampler.redis_peak / 1e6
    out["redis_peak_growth_mb"] = (sampler.redis_peak - base) / 1e6
    out["redis_commands"] = stats.get("total_commands_processed", 0)
    client.close()


class RabbitSampler(_Periodic):
    """Peak memory of one RabbitMQ vhost's queues, sampled every ``interval`` s with ``rabbitmqctl``."""

    interval = 5.0

    def __init__(self, vhost: Any) -> None:
        super().__init__()
        self.vhost = vhost
        self.peak = 0
        self.samples = 0

    def sample(self) -> None:
        try:
            self.peak = max(self.peak, self.vhost.queue_memory())
            self.samples += 1
        except (AssertionError, ValueError):  # a sample lost to a slow rabbitmqctl is not a result
            pass


def _node_memory_mb() -> float:
    """The RabbitMQ node's total memory (``rabbitmqctl status``), MB; the server is shared, so context only."""
    from museum_sync_tests.rabbitmq import ctl

    status = json.loads(ctl("status", "--formatter", "json"))
    return float(status.get("memory", {}).get("total", {}).get("erlang", 0)) / 1e6


@contextmanager
def broker_env(broker: str, env: dict[str, str]) -> Iterator[tuple[dict[str, str], Any]]:
    """``(env, vhost)`` for a run on ``broker``: the stack's own env for Redis; a vhost of its own for RabbitMQ."""
    if broker == "redis":
        yield env, None
        return
    if broker != "rabbitmq":
        raise SystemExit(f"unknown broker {broker!r}: use redis or rabbitmq")
    from museum_sync.settings import env_name
    from museum_sync_tests.rabbitmq import rabbit_missing, rabbit_vhost

    missing = rabbit_missing()
    if missing:
        raise SystemExit(f"RabbitMQ: {missing}")
    with rabbit_vhost("ms-bench") as vhost:
        names = (env_name("redis.broker_url"), env_name("redis.result_backend"))
        amqp_env = {**env, names[0]: vhost.url, names[1]: env[names[1]]}
        saved = {name: os.environ.get(name) for name in names}
        os.environ.update({name: amqp_env[name] for name in names})  # the executor reads them at run start
        try:
            yield amqp_env, vhost
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@dataclass(frozen=True)
class Variant:
    """One way to run the same sync, compared with the others in interleaved rounds."""

    broker: str = "redis"
    launcher: str = "stream"  # stream: runtime.stream_job (the CLI's); execute_job: runtime.run_job (events kept)
    poll_s: float | None = None  # MUSEUM_SYNC_RESULT_POLL_S for the run; None: the settings' default
    workers: int = 1  # Celery worker processes (one per "worker host")
    concurrency: int = 2  # prefork children per worker process

    def label(self, defaults: Variant) -> str:
        parts = ["museum-sync" if self.broker == "redis" else f"museum-sync/{self.broker}"]
        if self.launcher != defaults.launcher:
            parts.append(self.launcher)
        if self.poll_s != defaults.poll_s:
            parts.append(f"poll{self.poll_s:g}")
        if (self.workers, self.concurrency) != (defaults.workers, defaults.concurrency):
            parts.append(f"{self.workers}w{self.concurrency}c")
        return " ".join(parts)


def tree_cpu_s(root: psutil.Process) -> float:
    """CPU seconds of ``root`` and every process below it, the exited ones included once reaped (their time is
    in their parent's ``children_*``): comparable between runs when the machine is busy, unlike wall time."""
    total = 0.0
    for proc in (root, *root.children(recursive=True)):
        try:
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return total


def _services_cpu_s() -> float:
    """CPU seconds of the embedded PostgreSQL and Redis started by this process: the servers, their live
    children and the ones they reaped (PostgreSQL's backends end with their connections)."""
    total = 0.0
    for proc in psutil.Process().children(recursive=False):
        try:
            if proc.name() in ("postgres", "redis-server"):
                total += tree_cpu_s(proc)
        except psutil.Error:
            continue
    return total


def _count_events(instance: Any, run_id: str, event_type: str) -> int:
    from dagster import DagsterEventType

    return len(instance.get_records_for_run(run_id, of_type=DagsterEventType(event_type), limit=1_000_000).records)


def _rows_loaded(env: dict[str, str]) -> str:
    """Chunks and records loaded so far (the catalogue's chunk status; the published view fills at the end)."""
    import psycopg
    from psycopg import sql

    query = sql.SQL(
        "SELECT count(*), coalesce(sum(record_count), 0) FROM {}.chunk_status WHERE record_count IS NOT NULL"
    )
    with psycopg.connect(env["MUSEUM_SYNC_PG_URL"]) as conn:
        row = conn.execute(query.format(sql.Identifier(env["MUSEUM_SYNC_CATALOG_SCHEMA"]))).fetchone()
    return f"{row[0] if row else 0:,} chunks, {row[1] if row else 0:,} records loaded"


def idle_handoffs(instance: Any, run_id: str) -> tuple[int, float]:
    """(how many, seconds in all) of the moments the workers had nothing to run because the orchestrator had
    not yet read a result: from a step's end (the worker's event) while no other step was submitted or
    running, to the orchestrator's next submission or the run's end. What a faster result poll can save."""
    from dagster import DagsterEventType

    wanted = {DagsterEventType.ENGINE_EVENT, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}
    wanted |= {DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE}
    records = []
    for kind in wanted:
        records += instance.get_records_for_run(run_id, of_type=kind, limit=10_000_000).records
    records.sort(key=lambda r: r.storage_id)
    in_flight: set[str] = set()
    idle_since: float | None = None
    count, total = 0, 0.0
    for record in records:
        entry = record.event_log_entry
        kind = entry.dagster_event_type
        submitted = kind == DagsterEventType.ENGINE_EVENT and "Submitting celery task" in (entry.user_message or "")
        if submitted or kind in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE):
            if idle_since is not None:
                count, total = count + 1, total + max(0.0, entry.timestamp - idle_since)
                idle_since = None
            if submitted:
                in_flight.add(entry.step_key or "")
        elif kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            in_flight.discard(entry.step_key or "")
            if not in_flight:
                idle_since = entry.timestamp
    return count, total


def phases(instance: Any, run_id: str) -> dict[str, float]:
    """Where a run's wall time went, from its event log (seconds): before the first chunk step starts (run start,
    snapshot and fan-out), the chunk steps (first start to last end), and after them (publication, run end)."""
    from dagster import DagsterEventType

    def times(kind: Any, prefix: str = "") -> list[float]:
        records = instance.get_records_for_run(run_id, of_type=kind, limit=10_000_000).records
        return [r.event_log_entry.timestamp for r in records if (r.event_log_entry.step_key or "").startswith(prefix)]

    start = times(DagsterEventType.RUN_START)
    end = times(DagsterEventType.RUN_SUCCESS) + times(DagsterEventType.RUN_FAILURE)
    chunk_starts = times(DagsterEventType.STEP_START, "sync_chunk")
    chunk_ends = times(DagsterEventType.STEP_SUCCESS, "sync_chunk") + times(DagsterEventType.STEP_FAILURE, "sync_chunk")
    if not (start and end and chunk_starts and chunk_ends):
        return {}
    return {
        "before_chunks_s": min(chunk_starts) - start[0],
        "chunks_s": max(chunk_ends) - min(chunk_starts),
        "after_chunks_s": end[-1] - max(chunk_ends),
    }


def events_of_one_chunk_step(instance: Any, run_id: str) -> dict[str, int]:
    """The events the run's event log holds for its second chunk step, by type: what each step writes."""
    counts: dict[str, int] = {}
    for entry in instance.all_logs(run_id):
        if entry.step_key == "sync_chunk[c0001]":
            kind = entry.dagster_event_type.value if entry.dagster_event_type else "LOG_MESSAGE"
            counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


def run_museum_sync(
    path: Path,
    services: Any,
    env: dict[str, str],
    home: Path,
    records: int,
    source: str = "",
    broker: str = "redis",
    round_: int = 0,
    variant: Variant | None = None,
    progress_s: float = 0.0,
) -> dict[str, Any]:
    from museum_sync.clients.catalog import Catalog
    from museum_sync.defs.run_config import sync_run_config
    from museum_sync.runtime import WorkerPool, dagster_instance

    variant = variant or Variant(broker=broker)
    instance = dagster_instance()
    config: dict[str, Any] = sync_run_config(
        path, "tate_artworks_csv", source or f"bench{records}-{variant.broker}-{round_}"
    )
    config["loggers"] = {"console": {"config": {"log_level": "CRITICAL"}}}
    broker_stats: dict[str, float] = {}
    poll_name = "MUSEUM_SYNC_RESULT_POLL_S"
    saved_poll = os.environ.get(poll_name)
    if variant.poll_s is not None:
        os.environ[poll_name] = str(variant.poll_s)  # the executor reads it at run start
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)  # the worker trees, reaped at pool stop
    services_before = _services_cpu_s()
    try:
        with (
            broker_env(variant.broker, env) as (env, vhost),
            WorkerPool(
                env=env, log_dir=home / "logs", processes=variant.workers, concurrency=variant.concurrency
            ) as pool,
        ):
            sampler = Sampler([p.pid for p in pool.procs])
            sampler.orchestrator_pid = 0  # set by _orchestrate once its process runs
            sampler.progress_s = progress_s
            sampler.progress = partial(_rows_loaded, env)
            rabbit = RabbitSampler(vhost) if vhost is not None else None
            node_before = _node_memory_mb() if vhost is not None else 0.0
            with redis_window(services, sampler) as redis_stats, sampler, rabbit or nullcontext():
                run_id, ok, events, wall, orchestrator_cpu, orchestrator_maxrss, orchestrator_total = _orchestrate(
                    variant.launcher, config, sampler
                )
            services_cpu = _services_cpu_s() - services_before
            if rabbit is not None:
                broker_stats = {
                    "rabbit_queue_peak_mb": rabbit.peak / 1e6,
                    "rabbit_samples": rabbit.samples,
                    "rabbit_node_mb_before": node_before,
                    "rabbit_node_mb_after": _node_memory_mb(),
                }
    finally:
        if saved_poll is None:
            os.environ.pop(poll_name, None)
        else:
            os.environ[poll_name] = saved_poll
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The worker trees and the orchestrator's process were reaped since: the workers' share is the rest.
    reaped = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    worker_cpu = reaped - orchestrator_total
    catalog = Catalog(env["MUSEUM_SYNC_PG_URL"], schema=env["MUSEUM_SYNC_CATALOG_SCHEMA"])
    tasks = _count_events(instance, run_id, "STEP_START")
    handoffs, handoff_s = idle_handoffs(instance, run_id)
    run_phases = phases(instance, run_id)
    step_events = events_of_one_chunk_step(instance, run_id) if records <= 100_000 else {}
    chunks = max(1, -(-records // 1000))
    return {
        "ok": ok,
        "wall_s": wall,
        "records_per_s": records / wall,
        "celery_tasks": tasks,
        "runs": 1,
        "events": events,
        "idle_handoffs": handoffs,
        "idle_handoff_s": handoff_s,
        "phases_s": run_phases,
        "events_of_one_chunk_step": step_events,
        "pg_rows": catalog.count(),
        "peaks": sampler.peaks,
        "broker": variant.broker,
        "variant": variant.__dict__,
        "orchestrator_maxrss_mib": orchestrator_maxrss / 1024,
        "cpu_s": {"orchestrator": orchestrator_cpu, "workers": worker_cpu, "services": services_cpu},
        "cpu_s_per_chunk": {
            "orchestrator": orchestrator_cpu / chunks,
            "workers": worker_cpu / chunks,
            "services": services_cpu / chunks,
            "total": (orchestrator_cpu + worker_cpu + services_cpu) / chunks,
        },
        **redis_stats,
        **broker_stats,
    }


def _orchestrate(
    launcher: str, config: dict[str, Any], sampler: Sampler
) -> tuple[str, bool, int, float, float, int, float]:
    """Run the sync's orchestrator in a fresh process, as the CLI does.

    Returns (run id, success, events, wall s, its CPU s during the run, its peak RSS KiB, its CPU s in all,
    imports included). A process of its own per run, so that its peak RSS is this run's alone: memory a 500k
    run took is not given back to the OS, and would be counted for the next run in the same process."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_orchestrator_main, args=(launcher, config, send), daemon=True)
    proc.start()
    sampler.orchestrator_pid = proc.pid
    try:
        answer = receive.recv()
    finally:
        proc.join(60)
    if isinstance(answer, str):
        raise RuntimeError(f"orchestrator failed: {answer}")
    return answer  # type: ignore[no-any-return]


def _orchestrator_main(launcher: str, config: dict[str, Any], send: Any) -> None:
    """The orchestrator process: imports and instance first, then the timed run (the clock starts with it)."""
    import traceback

    try:
        import ctypes
        import signal

        from museum_sync.runtime import dagster_instance, run_job, stream_job

        ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG: a killed benchmark takes it along
        instance = dagster_instance()
        started, cpu = time.monotonic(), time.process_time()
        if launcher == "execute_job":
            result = run_job("sync_export_job_def", instance=instance, run_config=config)
            run_id, ok, events = result.run_id, result.success, len(result.all_events)
        elif launcher == "stream":
            outcome = stream_job("sync_export_job_def", instance=instance, run_config=config)
            run_id, ok, events = outcome.run_id, outcome.success, outcome.events
        else:
            raise SystemExit(f"unknown launcher {launcher!r}: use stream or execute_job")
        wall, cpu = time.monotonic() - started, time.process_time() - cpu
        usage = resource.getrusage(resource.RUSAGE_SELF)
        send.send((run_id, ok, events, wall, cpu, _peak_rss_kib(), usage.ru_utime + usage.ru_stime))
    except BaseException:  # noqa: BLE001 - the parent reports it
        send.send(traceback.format_exc())


def _peak_rss_kib() -> int:
    """This process's peak RSS (``VmHWM``), KiB. Not ``ru_maxrss``: Linux carries that over fork and exec, so a
    process spawned by a benchmark that had grown to 346 MiB reports at least 346 MiB whatever it did itself."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _isolated_run(
    home: Path, schema: str, path: Path, services: Any, env: dict[str, str], _home: Path, records: int, **kwargs: Any
) -> dict[str, Any]:
    """``run_museum_sync`` in a home and catalogue schema of its own, so variants compared in one process
    each load and publish into an empty catalogue, and each has its own Dagster instance."""
    from museum_sync.runtime import configure_environment, runtime_env

    run_env = runtime_env(services, home, catalog_schema=schema)
    configure_environment(run_env)
    return run_museum_sync(path, services, run_env, home, records, **kwargs)


def run_naive(path: Path, services: Any, env: dict[str, str], home: Path, records: int) -> dict[str, Any]:
    """The old way, for comparison: see the module docstring."""
    import subprocess

    from museum_sync.services._common import pdeathsig_preexec

    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "benchmarks.naive_sync",
            "worker",
            "-c",
            "2",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
        ],
        env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        preexec_fn=pdeathsig_preexec(15),
        stdout=(home / "naive-worker.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(4)
        from benchmarks import naive_sync

        sampler = Sampler([worker.pid])
        with redis_window(services, sampler) as redis_stats, sampler:
            started = time.monotonic()
            sent, accepted = naive_sync.sync(path)
            wall = time.monotonic() - started
        rows = naive_sync.count()
    finally:
        worker.terminate()
        worker.wait(30)
    # The naive job "succeeds" while duplicate ids silently overwrite each other and rejects vanish.
    return {
        "ok": True,
        "silently_lost": accepted - rows,
        "wall_s": wall,
        "records_per_s": records / wall,
        "celery_tasks": sent,
        "runs": 0,
        "pg_rows": rows,
        "peaks": sampler.peaks,
        **redis_stats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="50000,500000")
    parser.add_argument("--naive-max", type=int, default=50000, help="largest size the naive baseline runs at")
    parser.add_argument(
        "--metrics-overhead",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="instead: ROUNDS interleaved pairs of syncs, metrics off then on (/metrics served, RSS sampled)",
    )
    parser.add_argument("--brokers", default="redis", help="museum-sync once per broker: redis, rabbitmq")
    parser.add_argument(
        "--launchers",
        default="stream",
        help="how the orchestrator runs the job: stream (runtime.stream_job, the CLI's), execute_job (events kept)",
    )
    parser.add_argument("--polls", default="", help="result poll intervals to compare (s), e.g. 0.1,0.02")
    parser.add_argument("--workers", default="1", help="Celery worker processes to compare, e.g. 1,2")
    parser.add_argument("--concurrency", type=int, default=2, help="prefork children per worker process")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the variants, interleaved")
    parser.add_argument("--progress-s", type=float, default=0.0, help="print peaks so far every N s (long runs)")
    args = parser.parse_args(argv)
    if args.metrics_overhead:
        return metrics_overhead([int(s) for s in args.sizes.split(",")], args.metrics_overhead)

    from museum_sync.runtime import configure_environment, runtime_env
    from museum_sync.samples.generate import ExportSpec, write_export
    from museum_sync.services import start_services

    def split(text: str) -> list[str]:
        return [item.strip() for item in text.split(",") if item.strip()]

    defaults = Variant(
        launcher=split(args.launchers)[0],
        poll_s=float(split(args.polls)[0]) if split(args.polls) else None,
        workers=int(split(args.workers)[0]),
        concurrency=args.concurrency,
    )
    variants = [
        Variant(broker=b, launcher=la, poll_s=float(po) if po else None, workers=int(w), concurrency=args.concurrency)
        for b in split(args.brokers)
        for la in split(args.launchers)
        for po in (split(args.polls) or [""])
        for w in split(args.workers)
    ]
    mib = 1024 * 1024
    results = []
    with tempfile.TemporaryDirectory(prefix="ms-bench-", dir="/tmp") as tmp, start_services() as services:
        for size in (int(s) for s in args.sizes.split(",")):
            home = Path(tmp) / f"home{size}"
            env = runtime_env(services, home, catalog_schema=f"bench_{size}")
            configure_environment(env)
            path = write_export(ExportSpec(records=size, seed=5, bad_share=0.01), Path(tmp) / f"tate_{size}.csv")
            kinds: list[tuple[str, Any]] = []
            for n in range(args.rounds):
                for i, variant in enumerate(variants):
                    run_home = Path(tmp) / f"home{size}-{n}-{i}"
                    kinds.append(
                        (
                            variant.label(defaults) + (f"#{n + 1}" if n else ""),
                            partial(
                                _isolated_run,
                                run_home,
                                f"bench_{size}_{n}_{i}",
                                variant=variant,
                                round_=n,
                                progress_s=args.progress_s,
                            ),
                        )
                    )
            if size <= args.naive_max:
                configure_environment(env)
                kinds.append(("naive", run_naive))
            for name, fn in kinds:
                r = fn(path, services, env, home, size)
                results.append((size, name, r))
                p: Peaks = r["peaks"]
                print(
                    f"{size:>7} {name:22} {'ok' if r['ok'] else 'FAILED':6} {r['wall_s']:8.1f} s "
                    f"{r['records_per_s']:8,.0f} rec/s  tasks {r['celery_tasks']:>7}  rows {r['pg_rows']:>7}  "
                    f"RSS orch {p.orchestrator / mib:6.0f} MiB, worker {p.worker_parent / mib:5.0f}, "
                    f"child max {p.worker_child / mib:5.0f} ({p.children_seen} children)  "
                    f"Redis peak {r['redis_peak_mb']:7.1f} MB (+{r['redis_peak_growth_mb']:.1f} over idle)"
                    + (
                        f"  orch maxrss {r['orchestrator_maxrss_mib']:.0f} MiB, {r['redis_commands']} Redis commands,"
                        f" workers idle on the orchestrator {r['idle_handoff_s']:.2f} s ({r['idle_handoffs']}x)"
                        if "idle_handoffs" in r
                        else ""
                    )
                    + (
                        "  CPU s/chunk orch {orchestrator:.3f} workers {workers:.3f} services {services:.3f}"
                        " total {total:.3f}".format(**r["cpu_s_per_chunk"])
                        if "cpu_s_per_chunk" in r
                        else ""
                    )
                    + (
                        "  run: {before_chunks_s:.1f} s to the first chunk, chunks {chunks_s:.1f} s,"
                        " then {after_chunks_s:.1f} s".format(**r["phases_s"])
                        if r.get("phases_s")
                        else ""
                    )
                    + (
                        f"  RabbitMQ vhost queues peak {r['rabbit_queue_peak_mb']:.2f} MB"
                        f" ({r['rabbit_samples']} samples), node {r['rabbit_node_mb_before']:.0f}"
                        f" -> {r['rabbit_node_mb_after']:.0f} MB"
                        if "rabbit_queue_peak_mb" in r
                        else ""
                    ),
                    flush=True,
                )
    by = {(s, n): r for s, n, r in results}
    for size in sorted({s for s, _, _ in results}):
        if (size, "museum-sync/rabbitmq") in by and (size, "museum-sync") in by:
            rd, mq = by[(size, "museum-sync")], by[(size, "museum-sync/rabbitmq")]
            print(
                f"at {size}: wall Redis {rd['wall_s']:.1f} s vs RabbitMQ {mq['wall_s']:.1f} s; broker memory: Redis "
                f"peak +{rd['redis_peak_growth_mb']:.1f} MB (queues and results) vs RabbitMQ vhost queues peak "
                f"{mq['rabbit_queue_peak_mb']:.2f} MB (+ Redis results +{mq['redis_peak_growth_mb']:.1f} MB)"
            )
        if (size, "naive") in by and (size, "museum-sync") in by:
            ms, nv = by[(size, "museum-sync")], by[(size, "naive")]
            print(
                f"at {size}: museum-sync {nv['wall_s'] / ms['wall_s']:.1f}x faster; Redis peak growth "
                f"{ms['redis_peak_growth_mb']:.1f} vs {nv['redis_peak_growth_mb']:.1f} MB; orchestrator RSS "
                f"{ms['peaks'].orchestrator / mib:.0f} vs {nv['peaks'].orchestrator / mib:.0f} MiB"
            )
    sizes = sorted({s for s, n, _ in results if n == "museum-sync"})
    if len(sizes) > 1:
        lo, hi = by[(sizes[0], "museum-sync")]["peaks"], by[(sizes[-1], "museum-sync")]["peaks"]
        print(
            f"worker child peak RSS {sizes[0]} -> {sizes[-1]}: {lo.worker_child / mib:.0f} -> "
            f"{hi.worker_child / mib:.0f} MiB ({(hi.worker_child / lo.worker_child - 1) * 100:+.0f}%)"
        )
    print(json.dumps({f"{s}/{n}": {k: v for k, v in r.items() if k != "peaks"} for s, n, r in results}, default=str))
    return 0


def metrics_overhead(sizes: list[int], rounds: int) -> int:
    """Wall time and the worker tree's CPU time (user + system of the worker and its children: what metrics cost
    is CPU, and CPU time is far less disturbed than wall time by other load on the machine) of the same sync with
    metrics off (``MUSEUM_SYNC_METRICS_PORT=0``) and on (the worker serves
    /metrics, children count records and step durations in multiprocess files, RSS sampled every second), in
    interleaved rounds on one stack; each round a fresh export id and catalogue schema. Overhead = best on vs
    best off (the machine's noise is larger than the effect; the best of several runs is the least disturbed)."""
    import socket

    from museum_sync.runtime import configure_environment, runtime_env
    from museum_sync.samples.generate import ExportSpec, write_export
    from museum_sync.services import start_services

    with tempfile.TemporaryDirectory(prefix="ms-bench-", dir="/tmp") as tmp, start_services() as services:
        for size in sizes:
            path = write_export(ExportSpec(records=size, seed=5, bad_share=0.01), Path(tmp) / f"tate_{size}.csv")
            walls: dict[str, list[float]] = {"off": [], "on": []}
            cpus: dict[str, list[float]] = {"off": [], "on": []}
            for round_ in range(rounds):
                for label in ("off", "on"):
                    home = Path(tmp) / f"home{size}-{label}{round_}"
                    env = runtime_env(services, home, catalog_schema=f"bench_{size}_{label}{round_}")
                    with socket.socket() as sock:
                        sock.bind(("127.0.0.1", 0))
                        port = sock.getsockname()[1]
                    env["MUSEUM_SYNC_METRICS_PORT"] = str(port) if label == "on" else "0"
                    env["MUSEUM_SYNC_METRICS_DIR"] = str(home / "metrics")
                    configure_environment(env)
                    scraper = Scraper(port)
                    if label == "on":
                        scraper.start()
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    r = run_museum_sync(path, services, env, home, size, source=f"bench{size}{label}{round_}")
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the worker tree, reaped at pool stop
                    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                    walls[label].append(r["wall_s"])
                    cpus[label].append(cpu)
                    print(
                        f"{size:>7} metrics {label:3} round {round_}: {'ok' if r['ok'] else 'FAILED'} "
                        f"{r['wall_s']:6.1f} s wall, {cpu:6.1f} s worker CPU, {r['pg_rows']} rows",
                        flush=True,
                    )
                    if label == "on":
                        excerpt = scraper.stop()
                        print(f"    last of {scraper.count} scrapes during the run:\n{excerpt}", flush=True)
            for what, values in (("wall", walls), ("worker CPU", cpus)):
                best_off, best_on = min(values["off"]), min(values["on"])
                print(
                    f"at {size}, {what}: metrics off {', '.join(f'{w:.1f}' for w in values['off'])} s; on "
                    f"{', '.join(f'{w:.1f}' for w in values['on'])} s; best {best_off:.1f} vs {best_on:.1f} s: "
                    f"overhead {(best_on / best_off - 1) * 100:+.1f} %"
                )
    return 0


class Scraper(threading.Thread):
    """Scrapes a worker's /metrics every 15 s (Prometheus' interval) while a run goes; keeps the last answer."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.last, self.count = port, "", 0
        self._halt = threading.Event()

    def run(self) -> None:
        import urllib.request

        while not self._halt.wait(0.5 if not self.last else 15):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as response:
                    text = response.read().decode()
                # A scrape while the pool stops has no children left: keep the last one taken while they ran.
                if "museum_sync_worker_child_rss_bytes{" in text or not self.last:
                    self.last, self.count = text, self.count + 1
            except OSError:
                pass  # the worker is not up yet

    def stop(self) -> str:
        self._halt.set()
        self.join(20)
        keep = ("records_", "chunks_quarantined", 'step="validate"', "rss_bytes", "queue_depth", "publication_age")
        lines = [line for line in self.last.splitlines() if not line.startswith("#") and any(k in line for k in keep)]
        return "\n".join(f"    {line}" for line in lines if "_bucket" not in line or 'le="1.0"' in line)


if __name__ == "__main__":
    raise SystemExit(main())
