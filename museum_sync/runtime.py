"""Bring up a working museum-sync: environment, Dagster instance, Celery workers; run jobs through them.

Used by ``museum-sync demo|sync|dev|worker``, by the integration tests and by the benchmarks, so all
of them exercise the same real stack: a Dagster instance on PostgreSQL, Redis as broker, and Celery
worker processes started from the executor's own config (``museum_sync.defs.worker_app``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

from museum_sync.core.exceptions import MuseumSyncError
from museum_sync.redaction import redact, scrub
from museum_sync.services import ServiceUrls
from museum_sync.services._common import pdeathsig_preexec
from museum_sync.settings import env_name

__all__ = [
    "RunOutcome",
    "WorkerPool",
    "WorkerStartFailed",
    "configure_environment",
    "dagster_instance",
    "instance_yaml",
    "run_job",
    "runtime_env",
    "stream_job",
]

DEFAULT_QUEUES = ("ingestion_high", "iiif", "dagster")
# Folders every process expects to exist: created by configure_environment.
_FOLDERS = ("paths.artifact_root", "paths.io_dir", "paths.inbox")


def runtime_env(services: ServiceUrls, home: Path, *, catalog_schema: str = "catalog") -> dict[str, str]:
    """Every variable a museum-sync process (CLI, worker, webserver, daemon) needs, derived in one place.

    The names are ``museum_sync.settings``' own, so what a child reads is exactly what is written here.
    """
    home = home.resolve()
    return {
        env_name("paths.home"): str(home),
        env_name("paths.artifact_root"): str(home / "artifacts"),
        env_name("paths.io_dir"): str(home / "io"),
        env_name("paths.inbox"): str(home / "inbox"),
        env_name("postgres.catalog_schema"): catalog_schema,
        **services.as_env(),
        "DAGSTER_HOME": str(home / "dagster"),
    }


def configure_environment(env: Mapping[str, str]) -> None:
    """Apply ``env`` to this process and write the Dagster instance config into ``DAGSTER_HOME``."""
    os.environ.update(env)
    dagster_home = Path(env["DAGSTER_HOME"])
    for path in _FOLDERS:
        Path(env[env_name(path)]).mkdir(parents=True, exist_ok=True)
    dagster_home.mkdir(parents=True, exist_ok=True)
    template = instance_yaml()
    target = dagster_home / "dagster.yaml"
    if not target.exists() or target.read_text(encoding="utf-8") != template:
        target.write_text(template, encoding="utf-8")


def instance_yaml() -> str:
    """The Dagster instance config, ``museum_sync/dagster_instance.yaml`` as packaged: the one source.

    Every other copy (the root ``dagster.yaml`` for a bare ``dagster dev``, the image's ``$DAGSTER_HOME``,
    the Helm values) is written from or checked against it (museum_sync_tests/test_instance_yaml.py).
    """
    return resources.files("museum_sync").joinpath("dagster_instance.yaml").read_text(encoding="utf-8")


def dagster_instance() -> Any:
    """The instance in ``DAGSTER_HOME``; runs left STARTED by a killed process are marked failed."""
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    instance = DagsterInstance.get()
    for run in instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING])):
        if run.tags.get("museum-sync/launcher") == "cli" and not _pid_alive(run.tags.get("museum-sync/pid")):
            instance.report_run_failed(run, "the process that ran it is gone (killed or crashed)")
    return instance


def _pid_alive(pid: str | None) -> bool:
    if not pid or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except OSError:
        return False
    return True


class WorkerStartFailed(MuseumSyncError):
    """A Celery worker died (or never got ready) at start. One line: which worker, its queues, what happened,
    the last error line of its output (secrets of ``urls`` masked) and the log that has the rest."""

    def __init__(self, worker: str, what: str, output: str, log: Path, urls: Sequence[str] = ()) -> None:
        line = _URL.sub(lambda m: redact(m.group()), last_error_line(output))
        for url in urls:
            line = scrub(line, url)
        super().__init__(f"{worker} {what}: {line} (log {log})")


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def last_error_line(output: str) -> str:
    """The line of a process's output that says what went wrong: the last ``...Error: ...`` (a traceback's
    last line, click's ``Error: ...``) or Celery ``ERROR``/``CRITICAL`` log line, else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("{") and re.search(r'"level": "(error|critical)"', line):  # a JSON log line (telemetry)
            return str(json.loads(line).get("event", line))
        head = line.split(":", 1)[0]
        if ":" in line and (head.endswith(("Error", "Exception")) or head == "Error"):
            return line
        if "ERROR/" in line or "CRITICAL/" in line:
            return line
    return lines[-1] if lines else "no output"


@dataclass
class WorkerPool:
    """Celery worker processes (``celery -A museum_sync.defs.worker_app worker``), each a real prefork pool."""

    env: Mapping[str, str]
    log_dir: Path
    processes: int = 1
    concurrency: int = 2
    queues: tuple[str, ...] = DEFAULT_QUEUES
    name: str = "ms"
    extra_args: tuple[str, ...] = ()
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    # Where each log stood when its worker started: logs are appended to, so only what follows is this start's.
    log_starts: list[int] = field(default_factory=list)

    def command(self, index: int) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "museum_sync.defs.worker_app", "worker",
            "-Q", ",".join(self.queues), "-c", str(self.concurrency), "-n", f"{self.name}{index}@%h",
            "--loglevel", "INFO", "--without-gossip", "--without-mingle", *self.extra_args,
        ]  # fmt: skip

    def start(self, timeout: float = 60.0) -> WorkerPool:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        for i in range(self.processes):
            log = self.log_dir / f"worker-{self.name}{i}.log"
            handle = log.open("ab")
            self.log_starts.append(handle.tell())
            proc = subprocess.Popen(
                self.command(i),
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                preexec_fn=pdeathsig_preexec(signal.SIGTERM),
            )
            handle.close()
            self.procs.append(proc)
            self.logs.append(log)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for index, (proc, log, offset) in enumerate(zip(self.procs, self.logs, self.log_starts, strict=True)):
            while True:
                text = _read_from(log, offset)
                if " ready." in text:
                    break
                if proc.poll() is not None:
                    self._failed(index, f"exited with {proc.returncode} at start", text, log)
                if time.monotonic() > deadline:
                    self._failed(index, f"not ready after {timeout:.0f} s", text, log)
                time.sleep(0.1)

    def _failed(self, index: int, what: str, output: str, log: Path) -> NoReturn:
        """Stop the pool's other workers, then raise one line naming this one (``WorkerStartFailed``)."""
        self.stop()
        urls = [v for v in {**os.environ, **self.env}.values() if "://" in v or "password" in v.lower()]
        raise WorkerStartFailed(self._worker(index), what, output, log, urls)

    def _worker(self, index: int) -> str:
        return f"Celery worker {self.name}{index} (queues {','.join(self.queues)})"

    def stop(self, timeout: float = 20.0) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # warm shutdown: finish the running step
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def __enter__(self) -> WorkerPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _read_from(log: Path, offset: int) -> str:
    """What was appended to ``log`` after ``offset`` (an earlier run's "ready." or error is not this one's)."""
    try:
        with log.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _cli_run_tags(tags: dict[str, str] | None) -> dict[str, str]:
    """What marks a run this process orchestrates (the launcher and its pid), plus the caller's tags."""
    return {"museum-sync/launcher": "cli", "museum-sync/pid": str(os.getpid()), **(tags or {})}


def run_job(
    job_fn_name: str, *, instance: Any, run_config: dict[str, Any] | None = None, tags: dict[str, str] | None = None
) -> Any:
    """Execute a job of the code location in this process; its steps run on the Celery workers.

    ``job_fn_name`` names a module-level function of ``museum_sync.definitions`` returning the job, so
    that the workers can reconstruct it. The result holds the events the orchestrator saw: its own and each
    step's end and outputs (per-child workers: ``defs.worker_internals.for_orchestrator``); the rest (starts,
    materializations, checks, logs) are in the instance's event log, where the UI reads them.
    """
    from dagster import execute_job, reconstructable

    from museum_sync import definitions

    target = getattr(definitions, job_fn_name)
    all_tags = _cli_run_tags(tags)
    return execute_job(
        reconstructable(target), instance=instance, run_config=run_config or {}, tags=all_tags, raise_on_error=False
    )


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended, read back from the instance: what a CLI needs without the run's events in memory."""

    run_id: str
    status: str
    events: int  # events the orchestrator saw go by (not kept)

    @property
    def success(self) -> bool:
        return self.status == "SUCCESS"


# Connections the orchestrator may open beyond the one kept per storage while its storage calls nest or run on
# several threads; those beyond the kept one close on return, so a burst never waits for a connection.
ORCHESTRATOR_MAX_OVERFLOW = 8


def stream_job(
    job_fn_name: str,
    *,
    instance: Any,
    run_config: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    on_event: Callable[[Any], None] | None = None,
) -> RunOutcome:
    """``run_job``, but the run's events only pass through this process (``on_event(event)`` sees each
    the orchestrator gets; ``run_job`` says which).

    ``execute_job`` returns every event of the run in its result, so the orchestrator grew with the export
    (156 -> 183 MiB from 50 to 500 chunks); the CLI reads its summary back from the instance anyway. This
    creates the run exactly as ``execute_job`` does (the job's own tags, its code origin, the repository
    load data the workers reconstruct it from) and consumes Dagster's run iterator as Dagster's run worker
    (``dagster api execute_run``) does.
    """
    from dagster import reconstructable

    from museum_sync import definitions
    from museum_sync.defs.dagster_internals import execute_run_iterator
    from museum_sync.defs.worker_instance import pool_connections

    job = reconstructable(getattr(definitions, job_fn_name))
    load_data = job.repository.get_definition().repository_load_data
    job = job.with_repository_load_data(load_data)
    job_def = job.get_definition()
    all_tags = _cli_run_tags(tags)
    run = instance.create_run_for_job(
        job_def=job_def,
        run_config=run_config or {},
        tags={**job_def.run_tags, **all_tags},
        job_code_origin=job.get_python_origin(),
        repository_load_data=load_data,
    )
    seen = 0
    engines = pool_connections(instance, max_overflow=ORCHESTRATOR_MAX_OVERFLOW)
    try:
        for event in execute_run_iterator(job, run, instance):
            seen += 1
            if on_event is not None:
                on_event(event)
        finished = instance.get_run_by_id(run.run_id)
    finally:
        for engine in engines:
            engine.dispose()  # closes the kept connections; the instance reconnects if used again
    return RunOutcome(run_id=run.run_id, status=finished.status.value, events=seen)
