"""The worker side's private Dagster / dagster-celery / dagster-postgres APIs: each use, what it relies on, and why
the public API does not suffice (the worker's counterpart of ``defs.dagster_internals``, issue #18).

``museum_sync_tests/test_architecture.py`` lets only this module and ``dagster_internals`` import private
Dagster APIs, so an upgrade is checked here. What is used:

- ``LocalComputeLogManager`` / ``CapturedLogContext`` / ``ConfigurableClassData`` / ``ensure_file`` /
  ``touch_file``: ``defs.compute_logs`` subclasses Dagster's local compute log manager (the UI reads its files)
  and replaces only how a step's output is captured. Dagster exports none of these at the top level.
- dagster-celery's ``execute_plan`` task body (``dagster_celery.tasks.create_task``): it builds a new
  ``DagsterInstance.from_ref`` per step; ``register_worker_tasks`` here registers the same task under the
  same name with one instance per worker child (``defs.worker_instance``). The message format
  (``ExecuteStepArgs`` packed + the job's ``executable_dict``) and the result (a list of serialized
  ``DagsterEvent``) are dagster-celery's: its orchestrator reads them. The result carries only the events the
  orchestrator acts on (``for_orchestrator``), not every event of the step as dagster-celery's does.
- ``ActiveExecution.handle_event`` (``dagster._core.execution.plan.active``), read for ``for_orchestrator``:
  what the orchestrator does with each event it gets back, hence which events and which of their fields it needs.
- ``pool_storage_connections``: dagster-postgres' storages create their SQLAlchemy engine with ``NullPool``
  (a new connection per storage call) and keep it in ``_engine``; the only public switch,
  ``DagsterInstance.optimize_for_webserver``, pools without testing connections (a restarted PostgreSQL would
  fail the first storage call of each child). We replace ``_engine`` with the same engine, pooled, built by
  dagster-postgres' own ``create_pg_engine``; ``defs.worker_instance.ping_when_idle`` tests its connections.
- ``import_step_code``: the modules a step imports on first use, by name, some of them Dagster's private
  storage modules (``dagster._core.storage.*``, what ``InstanceRef`` rehydrates).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from dagster._core.storage.compute_log_manager import CapturedLogContext
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._serdes import ConfigurableClassData
from dagster._utils import ensure_file, touch_file

from museum_sync.telemetry import logs

T = TypeVar("T")

__all__ = [
    "CapturedLogContext",
    "ConfigurableClassData",
    "LocalComputeLogManager",
    "ensure_file",
    "for_orchestrator",
    "import_step_code",
    "pool_storage_connections",
    "register_worker_tasks",
    "retry_disconnects",
    "touch_file",
]


def pool_storage_connections(instance: Any, *, max_overflow: int, recycle_s: int) -> list[Any]:
    """Give each dagster-postgres storage of ``instance`` a pooled engine; returns the new engines.

    One connection stays open per storage (run, event log, schedule) and up to ``max_overflow`` more open while
    a call nests. The engines do not test a connection before each use (``pool_pre_ping``: a round trip on each of
    a step's ~40 checkouts): the caller attaches ``defs.worker_instance.ping_when_idle``, which tests only the
    connections left idle or ended by the server. Storages that are not dagster-postgres' (SQLite in a bare
    ``dagster dev``) are left as they are.
    """
    from dagster_postgres.utils import create_pg_engine

    engines = []
    for storage in _postgres_storages(instance):
        old = storage._engine
        kwargs: dict[str, Any] = {
            "isolation_level": "AUTOCOMMIT",
            "pool_size": 1,
            "max_overflow": max_overflow,
            "pool_recycle": recycle_s,
        }
        options = old.url.query.get("options")
        if options:  # the same ``?options=`` dagster-postgres honours (e.g. a search_path)
            kwargs["connect_args"] = {"options": options}
        storage._engine = create_pg_engine(storage.postgres_url, storage._token_provider, **kwargs)
        old.dispose()
        engines.append(storage._engine)
    return engines


def _postgres_storages(instance: Any) -> list[Any]:
    """The distinct storages of ``instance`` that hold a dagster-postgres engine (``DagsterPostgresStorage``
    composes three; an instance configured per storage holds them directly)."""
    found: dict[int, Any] = {}
    for storage in (instance.run_storage, instance.event_log_storage, instance.schedule_storage):
        inner = (getattr(storage, f"_{name}_storage", None) for name in ("run", "event_log", "schedule"))
        for candidate in (storage, *inner):
            if candidate is not None and hasattr(candidate, "_engine") and hasattr(candidate, "postgres_url"):
                found[id(candidate)] = candidate
    return list(found.values())


def retry_disconnects(call: Callable[[], T], *, attempts: int = 5, wait_s: float = 0.5) -> T:
    """``call()``, again (after ``wait_s``, ``2 * wait_s``, ...) when PostgreSQL dropped its connection mid-statement.

    A pooled connection is tested before use when it may be dead (``defs.worker_instance.ping_when_idle``), but a
    restart between that test and the statement still kills the statement; SQLAlchemy then marks the error
    ``connection_invalidated`` and empties the pool, so the next attempt connects afresh (dagster-postgres
    retries only the connect itself). Only for the task's two calls before the step runs (load the run, announce
    the step): inside the step a lost connection fails the step and the RetryPolicy decides, as before.
    """
    from sqlalchemy.exc import DBAPIError

    for attempt in range(attempts):
        try:
            return call()
        except DBAPIError as exc:
            if not exc.connection_invalidated or attempt == attempts - 1:
                raise
            logs.log().warning("dagster_storage_connection_lost", attempt=attempt + 1, error=str(exc.orig))
            time.sleep(wait_s * 2**attempt)
    raise AssertionError("unreachable")


# What a step imports on first use. Imported in the worker's parent (``import_step_code``), every prefork child (and
# every child recycled after ``max_tasks_per_child``) inherits it: a child used to spend ~1 CPU s on these on its
# first step, 17 % of a 20k sync's worker CPU (py-spy, benchmarks/README.md, issue #18). None of them opens a
# connection or starts a thread on import (fork-safe).
_STEP_CODE = (
    "museum_sync.definitions",
    "museum_sync.clients.search.client",  # elasticsearch: the search package loads it on first use
    "dagster._core.storage.base_storage",
    "dagster._core.storage.runs.base",
    "dagster._core.storage.event_log.base",
    "dagster._core.storage.schedules.base",
    "dagster_postgres",
    "psycopg2",
    "psycopg2.extras",
    "sqlalchemy.dialects.postgresql.psycopg2",
)


def import_step_code() -> None:
    """Import what a step would import on first use, so that the worker's children inherit it (``_STEP_CODE``)."""
    for module in _STEP_CODE:
        importlib.import_module(module)


# What dagster-celery's orchestrator acts on besides outputs (``ActiveExecution.handle_event``): a step's end, a
# retry, a resource that failed to start. Its first STEP_FAILURE also becomes the run failure's error (Dagster's
# ``job_execution_iterator``), so these travel whole.
_STEP_ENDS = frozenset({"STEP_SUCCESS", "STEP_FAILURE", "STEP_UP_FOR_RETRY", "RESOURCE_INIT_FAILURE"})


def for_orchestrator(events: Iterable[Any]) -> Iterator[Any]:
    """The events of a step the orchestrator needs back in the Celery result, out of all it logged.

    Every event is in the run's event log already (the worker wrote it there; the UI, sensors and tests read it
    there). The orchestrator's loop only yields the events it gets and calls ``handle_event`` on each, which acts
    on the step's end (kept whole) and on each successful STEP_OUTPUT, of which it reads the
    ``step_output_handle`` alone (output name and mapping key: which downstream steps can start, which dynamic
    keys exist). So a STEP_OUTPUT goes back without its metadata, type check and message, and the rest
    (STEP_START, HANDLED_OUTPUT, materializations, check evaluations, logs, engine events) not at all. Measured
    (``museum_sync_tests/defs/test_step_results.py``, before ``result_compression``): a chunk step's result
    22.4 -> 2.0 KB, a quarantined one's 12.5 -> 4.9 KB, the fan-out step's 12.5 -> 4.1 MB at 5,000 chunks, and
    the orchestrator reads that one in 0.29 s instead of 0.75 s.
    """
    from dagster._core.execution.plan.outputs import StepOutputData

    for event in events:
        if event.is_successful_output:
            handle = event.step_output_data.step_output_handle
            yield event._replace(
                event_specific_data=StepOutputData(step_output_handle=handle), message=None, logging_tags={}
            )
        elif event.event_type_value in _STEP_ENDS:
            yield event


def register_worker_tasks(app: Any, instance_for: Callable[[Any], Any]) -> tuple[Any, Any, Any]:
    """Register dagster-celery's worker tasks on ``app``; ``execute_plan`` takes its instance from
    ``instance_for(instance_ref)`` instead of building one per step.

    The body is dagster-celery 0.29's ``create_task`` with three changes (``DagsterInstance.from_ref`` ->
    ``instance_for``; the run lookup and the engine event retried on a dropped connection,
    ``retry_disconnects``; the result holds only what the orchestrator acts on, ``for_orchestrator``);
    ``execute_job`` and ``resume_job`` (whole runs, rare) are dagster-celery's own.
    """
    from dagster._core.definitions.reconstruct import ReconstructableJob
    from dagster._core.events import EngineEventData
    from dagster._core.execution.api import create_execution_plan, execute_plan_iterator
    from dagster._grpc.types import ExecuteStepArgs
    from dagster._serdes import serialize_value, unpack_value
    from dagster_celery.config import TASK_EXECUTE_PLAN_NAME
    from dagster_celery.core_execution_loop import DELEGATE_MARKER
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.tasks import create_execute_job_task, create_resume_job_task

    @app.task(bind=True, name=TASK_EXECUTE_PLAN_NAME)
    def execute_plan(self: Any, execute_step_args_packed: dict[str, Any], executable_dict: dict[str, Any]) -> list[str]:
        args = unpack_value(execute_step_args_packed, as_type=ExecuteStepArgs)
        instance = instance_for(args.instance_ref)
        recon_job = ReconstructableJob.from_dict(executable_dict)
        dagster_run = retry_disconnects(lambda: instance.get_run_by_id(args.run_id))
        if dagster_run is None:
            raise RuntimeError(f"Could not load run {args.run_id}")
        step_keys_str = ", ".join(args.step_keys_to_execute or [])
        execution_plan = create_execution_plan(
            recon_job,
            dagster_run.run_config,
            step_keys_to_execute=args.step_keys_to_execute,
            known_state=args.known_state,
        )
        retry_disconnects(  # the run's event log (the UI) shows the step handed to this worker
            lambda: instance.report_engine_event(
                f"Executing steps {step_keys_str} in celery worker",
                dagster_run,
                EngineEventData(
                    {"step_keys": step_keys_str, "Celery worker": self.request.hostname}, marker_end=DELEGATE_MARKER
                ),
                CeleryExecutor,
                step_key=execution_plan.step_handle_for_single_step_plans().to_key(),
            )
        )
        events = execute_plan_iterator(
            execution_plan=execution_plan,
            job=recon_job,
            dagster_run=dagster_run,
            instance=instance,
            retry_mode=args.retry_mode,
            run_config=dagster_run.run_config,
        )
        return [serialize_value(event) for event in for_orchestrator(events)]

    return execute_plan, create_execute_job_task(app), create_resume_job_task(app)
