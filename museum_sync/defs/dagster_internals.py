"""The one module that touches private Dagster and dagster-celery APIs: each use, what it relies on, and why
the public API does not suffice.

Public ``dagster`` (``dg``) covers almost everything museum-sync needs, and ``dagster_celery`` exports only
``celery_executor``. The executor patch (``defs.executor``), the worker app (``defs.worker_app``) and the
bulk path's per-partition check results (``defs.jobs``) need a little more; they get it from here, so an
upgrade of either library is checked in one place (``museum_sync_tests/test_architecture.py`` keeps every
other module off ``dagster._*`` and dagster-celery's submodules). What ``defs.executor`` relies on without
importing anything (the shape of ``ExecutionPlan`` and ``KnownExecutionState``) is said there, where it is used.
Partition retirement (``defs.partitions.retire_partitions``) deletes dynamic partition keys in bulk from here.
The bulk path's partition status (``report_planned_materializations``) plans its chunk materializations here.
An expected quarantine (``defs.checks.ChunkQuarantined``) fails its step and run without a stack trace
through ``ExpectedFailure``.
The CLI's runs (``runtime.stream_job``) consume Dagster's run iterator from here, so that no event is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg

# The check result of a partition recorded from an op (the bulk path) is tied to the materialization just
# recorded through this value. ``dg.AssetCheckEvaluation`` is public, its ``target_materialization_data``
# type is not; ``dg.AssetCheckResult`` (public) can only be returned by an asset, not logged by an op.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

# DagsterUserCodeProcessError, SerializableErrorInfo: an expected failure without a stack trace
# (``ExpectedFailure``, at the end).
from dagster._core.errors import DagsterUserCodeProcessError

# RetryMode: how dagster-celery's executor factory turns the ``retries`` config into the executor's retry
# mode. There is no public constructor; our factory replaces dagster-celery's, so it repeats that one line.
from dagster._core.execution.retries import RetryMode
from dagster._utils.error import SerializableErrorInfo

# CELERY_CONFIG: the config schema of dagster-celery's executor (broker, backend, include, config_source,
# retries). Our executor (``defs.executor.bounded_celery_executor``) must accept exactly what
# ``celery_executor`` accepts, so that ``CeleryExecutor.for_cli(**celery_config())`` (the workers) and the
# executor read one dict. The public ``celery_executor.config_schema`` is Dagster's internal
# ``DefinitionConfigSchema`` wrapper around this same dict, no more public than the dict itself.
# CeleryExecutor: the executor class we subclass to bound the steps in flight and watch for lost messages;
# the public ``celery_executor`` is only the factory that builds it. ``CeleryExecutor.for_cli(...).app_args()``
# is also how dagster-celery's own ``dagster-celery worker`` command configures a worker app.
from dagster_celery.executor import CELERY_CONFIG, CeleryExecutor

__all__ = [
    "CELERY_CONFIG",
    "CeleryExecutor",
    "ExpectedFailure",
    "celery_app",
    "celery_execution_loop",
    "delete_dynamic_partitions",
    "execute_run_iterator",
    "use_default_run_logger",
    "materialization_target",
    "report_planned_materializations",
    "register_worker_tasks",
    "retry_mode",
    "submit_step",
]


def retry_mode(retries_config: Any) -> RetryMode | None:
    """The executor's retry mode from the ``retries`` part of ``CELERY_CONFIG``."""
    return RetryMode.from_config(retries_config)


def materialization_target(storage_id: int, run_id: str, timestamp: float) -> Any:
    """The materialization a check evaluation refers to, so the UI ties the check to it."""
    return AssetCheckEvaluationTargetMaterializationData(storage_id=storage_id, run_id=run_id, timestamp=timestamp)


def report_planned_materializations(context: Any, asset_keys: Sequence[Any], partition: str) -> None:
    """Record that this step intends to materialize ``asset_keys`` for ``partition`` (the bulk path's ops).

    Dagster 1.13 decides a partition's status from two kinds of events (``partition_status_cache``):
    materialized if its latest event is a materialization; *failed* if its latest event is a
    ``ASSET_MATERIALIZATION_PLANNED`` whose run ended ``FAILURE`` with no materialization after it;
    in progress while that run runs. An asset job plans its assets when the run is created; an op that
    yields ``AssetMaterialization`` plans nothing, so a chunk the bulk run held back at its checks was
    grey "Missing" (or green, from the materialization it reported anyway). The step records the same
    planned events an asset job would, so the Partitions tab shows the chunk failed (red) until a later
    materialization (a replay) turns it green. There is no public way to log a planned event.
    """
    from dagster._core.events import AssetMaterializationPlannedData, DagsterEvent

    for asset_key in asset_keys:
        event = DagsterEvent.build_asset_materialization_planned_event(
            context.job_name,
            context.get_step_execution_context().step.key,
            AssetMaterializationPlannedData(asset_key, partition=partition),
        )
        context.instance.report_dagster_event(event, context.run_id)


def celery_execution_loop(
    plan_context: Any, execution_plan: Any, step_execution_fn: Any, *, poll_s: float | None = None
) -> Any:
    """dagster-celery's orchestration loop (submit ready steps, poll results, emit events).

    ``CeleryExecutor.execute`` runs it with the whole plan and its own submit function; the bounded executor
    runs it with a plan that caps concurrent steps and a submit function that tracks lost messages. The loop
    takes both as arguments, but it is not exported.

    ``poll_s``: the loop sleeps the module constant ``TICK_SECONDS`` (1 s) after every pass, so each step that
    waits on another starts up to a second late and every run pays it once per dependent step. A pass costs
    one result lookup per step in flight (at most ``MUSEUM_SYNC_MAX_INFLIGHT_STEPS``), so a shorter tick is
    cheap. The constant is read on every pass and one run's orchestrator owns its process, so setting it here
    is the whole change.
    """
    from dagster_celery import core_execution_loop as loop

    if poll_s is not None:
        loop.TICK_SECONDS = poll_s
    core_celery_execution_loop = loop.core_celery_execution_loop

    return core_celery_execution_loop(plan_context, execution_plan, step_execution_fn=step_execution_fn)


def execute_run_iterator(job: Any, dagster_run: Any, instance: Any) -> Any:
    """The events of one run executed in this process, one at a time, kept by nobody but the event log.

    ``dagster.execute_job`` runs the same iterator and keeps every event in its ``JobExecutionResult``
    (``list(...)`` in ``dagster._core.execution.api.execute_run``): an orchestrator that grew with the
    number of chunks (156 -> 183 MiB from 50 to 500). ``dagster api execute_run`` (Dagster's own run worker)
    consumes this iterator instead, and so does ``runtime.stream_job``. Not exported by ``dagster``.
    """
    from dagster._core.execution.api import execute_run_iterator as iterator

    return iterator(job, dagster_run, instance)


def submit_step(*args: Any) -> Any:
    """dagster-celery's own submission of one step as a Celery task ``(app, plan_context, step, queue,
    priority, known_state)``: its message format is what the workers' ``execute_plan`` task reads, so the
    lost-step watch resubmits with it rather than with a message of its own."""
    from dagster_celery.executor import _submit_task

    return _submit_task(*args)


def celery_app(app_args: dict[str, Any]) -> Any:
    """The Celery app dagster-celery builds from ``CeleryExecutor.app_args()`` (task routes, ``dagster``
    queue): the worker app and the lost-step watch's broker connection both need exactly that app."""
    from dagster_celery.make_app import make_app

    return make_app(app_args)


def register_worker_tasks(app: Any) -> tuple[Any, Any, Any]:
    """Register dagster-celery's worker tasks (``execute_plan``, ``execute_job``, ``resume_job``) on ``app``.

    The ``dagster-celery worker`` command does this for its own app; ``museum-sync worker`` runs our app
    (our queues, our config dict), so it registers the same tasks under the same names.
    """
    from dagster_celery.tasks import create_execute_job_task, create_resume_job_task, create_task

    return create_task(app), create_execute_job_task(app), create_resume_job_task(app)


def delete_dynamic_partitions(instance: Any, partitions_def_name: str, partition_keys: Sequence[str]) -> int:
    """Delete many keys of a dynamic partitions definition, one statement per batch; returns how many were asked.

    The public ``DagsterInstance.delete_dynamic_partition`` deletes one key per call, and dagster-postgres opens
    a new connection for each (``NullPool``): ~14 ms a key measured here, 7 s for one export's 500 chunk keys,
    ~40 min to retire a year of them (``benchmarks/bench_partitions.py``). Dagster has no bulk delete (its own
    sensor daemon loops over the same call, with a "TODO add a bulk delete method"). The SQL event log storages
    (PostgreSQL, SQLite) keep the keys in ``DynamicPartitionsTable``; this runs the public call's own
    ``DELETE`` with ``partition IN (...)`` on the same ``index_connection``. Any other storage: the public call.
    """
    keys = list(partition_keys)
    from dagster._core.storage.event_log.schema import DynamicPartitionsTable
    from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

    storage = instance.event_log_storage
    if not isinstance(storage, SqlEventLogStorage):
        for key in keys:
            instance.delete_dynamic_partition(partitions_def_name, key)
        return len(keys)
    table = DynamicPartitionsTable
    with storage.index_connection() as conn:
        for start in range(0, len(keys), 1000):
            conn.execute(
                table.delete().where(
                    (table.c.partitions_def_name == partitions_def_name)
                    & table.c.partition.in_(keys[start : start + 1000])
                )
            )
    return len(keys)


def use_default_run_logger(logger_def: Any) -> None:
    """Make ``logger_def`` the logger of every run whose config names no logger, in this process.

    Dagster uses a job's loggers (``Definitions(loggers=...)``) only when the run config names them; any other
    run (a UI launch, a backfill) gets ``default_system_loggers`` (its coloured console format) in every process
    that executes steps. ``context_creation_job`` imported that function by name; replacing it there gives those
    runs our logger with the config Dagster would have given its own (name ``dagster``, the instance's level).
    """
    from dagster._core.execution import context_creation_job

    def system_loggers(instance: Any) -> list[tuple[Any, dict[str, object]]]:
        level = instance.python_log_level if (instance and instance.python_log_level) else "DEBUG"
        return [(logger_def, {"name": "dagster", "log_level": level})]

    context_creation_job.default_system_loggers = system_loggers  # type: ignore[assignment]


class ExpectedFailure(DagsterUserCodeProcessError, dg.Failure):
    """A ``dg.Failure`` whose step failure, and so the run failure, shows its message and no stack trace.

    Dagster 1.13 builds a step failure's ``error`` with ``serializable_error_info_from_exc_info``: from the
    traceback (its ``stack``, shown in the UI as "Stack Trace:" under the message), except for a
    ``DagsterUserCodeProcessError`` carrying exactly one ``SerializableErrorInfo``, which it passes on as it
    is (an error already serialized in another process). The run failure copies the first step failure's
    ``error``, and the UI prints "Stack Trace:" only when ``stack`` is not empty. Being both, this failure
    keeps everything of ``dg.Failure`` (``except Failure`` in ``dagster_event_sequence_for_step``: its
    description and metadata as ``UserFailureData``, ``allow_retries``) and brings its own error info with
    an empty stack. Never retried. Only for an outcome the message explains fully: any other error raised in
    a step keeps its traceback. No public API sets a step failure's stack.
    """

    def __init__(self, description: str, metadata: dict[str, Any]) -> None:
        name = type(self).__name__
        error = SerializableErrorInfo(message=f"{name}: {description}\n", stack=[], cls_name=name)
        super().__init__(description, user_code_process_error_infos=[error])
        # DagsterUserCodeProcessError's __init__ passed only the message on to dg.Failure's: set the rest.
        dg.Failure.__init__(self, description=description, metadata=metadata, allow_retries=False)

    def __reduce__(self) -> tuple[Any, ...]:
        """Picklable like any exception (``args`` alone would lose the metadata)."""
        return type(self), (self.description, dict(self.metadata))
