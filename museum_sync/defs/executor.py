"""The one Celery configuration, used by the Dagster executor *and* by ``museum-sync worker``.

dagster-celery sends each step as a Celery task; if the executor and the workers were configured
separately they would drift apart (a worker prefetching 4 steps, or acking early, silently undoes the
guarantees below). So both are built from ``celery_config()``: the executor through
``celery_executor.configured(...)`` and the worker app through
``make_app(CeleryExecutor.for_cli(**celery_config()).app_args())`` (``museum_sync.defs.worker_app``).

Every value can be overridden by an environment variable (name in the table) and is documented here:

=================================  ===========================================  ==========================
setting                            why                                          env (default)
=================================  ===========================================  ==========================
worker_prefetch_multiplier = 1     a child reserves one step at a time: a       -
                                   killed child loses at most the step it runs
task_acks_late                     ack after the step finished, so a lost       -
                                   child's step is redelivered, not dropped
task_reject_on_worker_lost         redeliver at once when a child is killed     -
worker_max_tasks_per_child         recycle children: bounded memory growth      MUSEUM_SYNC_MAX_TASKS_PER_CHILD (100)
worker_max_memory_per_child (KiB)  recycle a child that grew (checked *after*   MUSEUM_SYNC_MAX_MEMORY_PER_CHILD_KB
                                   a task; steps are sized to stay small)       (400000)
broker_pool_limit                  bounded broker connections per process      MUSEUM_SYNC_BROKER_POOL_LIMIT (10)
broker_heartbeat                   detect dead AMQP connections (no-op on       MUSEUM_SYNC_BROKER_HEARTBEAT (30)
                                   Redis, which uses health_check_interval)
broker_connection_retry*           survive a broker restart instead of dying    MUSEUM_SYNC_BROKER_MAX_RETRIES (100)
                                   with BrokerConnectionTimeout
result_backend_always_retry        the run polls each step's result every       MUSEUM_SYNC_BROKER_MAX_RETRIES (100,
                                   second: a Redis restart during a poll is     backoff up to 5 s)
                                   retried, not a failed run (fault suite)
visibility_timeout (s)             above the longest step, or a long step runs  MUSEUM_SYNC_VISIBILITY_TIMEOUT (1800)
                                   twice (steps are idempotent anyway)
result_expires (s)                 step results (~10 KB each) leave Redis       MUSEUM_SYNC_RESULT_EXPIRES (3600)
steps in flight per run            queued+running steps a run submits: keeps    MUSEUM_SYNC_MAX_INFLIGHT_STEPS (8)
                                   broker memory flat (BoundedCeleryExecutor)
lost-step check (s)                a step whose message the broker lost (Redis  MUSEUM_SYNC_LOST_STEP_CHECK_S (10)
                                   restarted without its data) is resubmitted
                                   after this long, up to 3 times (_LostSteps)
=================================  ===========================================  ==========================

Queues: chunk steps go to ``ingestion_high`` (op tag ``dagster-celery/queue``), IIIF fetching to
``iiif``, anything untagged to dagster-celery's default ``dagster``. Priorities are not used: on Redis
dagster-celery's priorities run backwards, so routing is by queue only.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import dagster as dg
from dagster._core.execution.retries import RetryMode
from dagster_celery.executor import CELERY_CONFIG, CeleryExecutor

from museum_sync.core.exceptions import MuseumSyncError
from museum_sync.defs.result_backend import BACKEND_PREFIX
from museum_sync.settings import get_settings

__all__ = [
    "DEFAULT_QUEUE",
    "INGESTION_QUEUE",
    "IIIF_QUEUE",
    "QUEUE_TAG",
    "BoundedCeleryExecutor",
    "bounded_celery_executor",
    "celery_config",
    "museum_celery_executor",
]

INGESTION_QUEUE = "ingestion_high"
IIIF_QUEUE = "iiif"
DEFAULT_QUEUE = "dagster"
QUEUE_TAG = "dagster-celery/queue"


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise MuseumSyncError(f"{name}={value!r} is not a whole number (see museum_sync/defs/executor.py)") from None


def celery_config() -> dict[str, Any]:
    """broker/backend/include/config_source for ``celery_executor`` and ``CeleryExecutor.for_cli``."""
    settings = get_settings()
    visibility_timeout = _int("MUSEUM_SYNC_VISIBILITY_TIMEOUT", 1800)
    retry = {
        "max_retries": _int("MUSEUM_SYNC_BROKER_MAX_RETRIES", 100),
        "interval_start": 0,
        "interval_step": 0.5,
        "interval_max": 5,
    }
    transport = {
        "visibility_timeout": visibility_timeout,
        "socket_timeout": 30,
        "socket_connect_timeout": 5,
        "health_check_interval": 10,
        "retry_on_timeout": True,
        **retry,
    }
    return {
        "broker": settings.broker_url,
        "backend": polling_backend_url(settings.result_backend),
        "include": [],
        "config_source": {
            "worker_prefetch_multiplier": 1,
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_max_tasks_per_child": _int("MUSEUM_SYNC_MAX_TASKS_PER_CHILD", 100),
            "worker_max_memory_per_child": _int("MUSEUM_SYNC_MAX_MEMORY_PER_CHILD_KB", 400_000),
            "broker_pool_limit": _int("MUSEUM_SYNC_BROKER_POOL_LIMIT", 10),
            "broker_heartbeat": _int("MUSEUM_SYNC_BROKER_HEARTBEAT", 30),
            "broker_connection_retry": True,
            "broker_connection_retry_on_startup": True,
            "broker_connection_max_retries": _int("MUSEUM_SYNC_BROKER_MAX_RETRIES", 100),
            "broker_transport_options": transport,
            "result_backend_transport_options": transport,
            "result_expires": _int("MUSEUM_SYNC_RESULT_EXPIRES", 3600),
            # Without this a connection error while the orchestrator reads a step's result fails the whole
            # run, although the broker kept every message (museum_sync_tests/faults: Redis restart).
            "result_backend_always_retry": True,
            "result_backend_max_retries": _int("MUSEUM_SYNC_BROKER_MAX_RETRIES", 100),
            "result_backend_max_sleep_between_retries_ms": 5000,
            "redis_backend_health_check_interval": 10,
            "redis_socket_timeout": 30,
            "redis_socket_connect_timeout": 5,
            "redis_retry_on_timeout": True,
            "task_default_queue": DEFAULT_QUEUE,
            "worker_hijack_root_logger": False,
            "worker_send_task_events": False,
        },
    }


def polling_backend_url(url: str) -> str:
    """The result backend URL that selects ``PollingRedisBackend`` (see there: no pub/sub per step)."""
    if url.startswith(BACKEND_PREFIX):
        return url
    if url.startswith("redis+socket://"):  # Celery reads "redis+socket" as backend "redis", URL "socket://"
        return BACKEND_PREFIX + url.removeprefix("redis+")
    if url.startswith(("redis://", "rediss://", "socket://")):
        return BACKEND_PREFIX + url
    return url


def _config_for_run(_: Any) -> dict[str, Any]:
    return celery_config()


class BoundedCeleryExecutor(CeleryExecutor):  # type: ignore[misc]
    """dagster-celery's executor with a bound on steps in flight (queued or running) per run.

    It also deletes each step's stored result as soon as the run has read it (``_ForgetOnRead``).

    dagster-celery submits every ready step at once, and each step message carries the run's known state,
    which lists every chunk's mapping key: the broker held O(chunks^2) bytes (measured: +48 MB of Redis for
    a 500-chunk export, growing quadratically). With at most ``max_in_flight`` steps submitted, Redis holds
    a few messages whatever the export size, and the workers still never wait for work. Dagster's
    ``ExecutionPlan.start(max_concurrent=...)`` does the bounding; dagster-celery only never passes it.
    """

    def __init__(self, *, max_in_flight: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_in_flight = max_in_flight

    def execute(self, plan_context: Any, execution_plan: Any) -> Any:
        from dagster_celery.core_execution_loop import core_celery_execution_loop

        lost_steps = _LostSteps(
            self, plan_context.log, check_s=float(_int("MUSEUM_SYNC_LOST_STEP_CHECK_S", 10)), max_resubmits=3
        )
        try:
            yield from core_celery_execution_loop(
                plan_context, _bounded_plan(execution_plan, self.max_in_flight), step_execution_fn=lost_steps.submit
            )
        finally:
            lost_steps.close()


class StepMessageLost(MuseumSyncError):
    """The broker lost a step's message again and again: the run fails instead of waiting forever."""


class _LostSteps:
    """Notices steps whose Celery message the broker lost, and submits them again.

    A Redis restarted without its data drops the queued step messages (and the deliveries it tracked);
    dagster-celery would poll their results forever and the run would hang until run monitoring's
    ``max_runtime``. A step is lost when, on two looks ``check_s`` apart, its message is in no queue,
    not delivered (kombu's ``unacked`` hash) and it has no result. It is then submitted again (steps are
    idempotent), at most ``max_resubmits`` times; after that its result raises ``StepMessageLost``, a
    step error that fails the run with the reason. A message still delivered to a live worker is never
    lost: a dead worker's step comes back after ``visibility_timeout`` as before.
    """

    def __init__(
        self, executor: Any, log: Any, *, check_s: float, max_resubmits: int, submit: Callable[..., Any] | None = None
    ) -> None:
        self.executor = executor
        self.log = log
        self.submit_task = submit or _submit_task  # dagster-celery's; a test sends plain Celery messages
        self.check_s = check_s
        self.max_resubmits = max_resubmits
        self._connection: Any = None
        self._present: set[str] | None = None
        self._scanned_at = float("-inf")
        self._queues: set[str] = set()

    def submit(self, app: Any, plan_context: Any, step: Any, queue: str, priority: int, known_state: Any) -> Any:
        args = (app, plan_context, step, queue, priority, _known_state_for(step, known_state))
        return _TrackedStep(self, args, self.submit_task(*args))

    def present(self, now: float) -> tuple[float, set[str] | None]:
        """(when read, task ids the broker holds, queued or delivered; None: unknown), read at most once
        per second (or per half ``check_s``) for all the run's steps together."""
        if now - self._scanned_at >= min(1.0, self.check_s / 2):
            self._scanned_at = now
            self._present = self._scan()
        return self._scanned_at, self._present

    def _scan(self) -> set[str] | None:
        try:
            if self._connection is None:
                from dagster_celery.make_app import make_app

                self._connection = make_app(self.executor.app_args()).connection_for_write()
            channel = self._connection.default_channel
            client = channel.client
            raw: list[bytes] = []
            for queue in self._queues:
                for priority in channel.priority_steps:
                    raw.extend(client.lrange(channel._q_for_pri(queue, priority), 0, -1))
            raw.extend(client.hvals(channel.unacked_key))
        except Exception:  # noqa: BLE001 - a broker that cannot answer now proves nothing lost
            self.close()
            return None
        found: set[str] = set()
        for message in raw:
            try:
                payload = json.loads(message)
            except ValueError:
                continue
            envelope = payload[0] if isinstance(payload, list) else payload  # unacked: [message, exchange, key]
            task_id = (envelope.get("headers") or {}).get("id") if isinstance(envelope, dict) else None
            if task_id:
                found.add(str(task_id))
        return found

    def track_queue(self, queue: str) -> None:
        self._queues.add(queue)

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # noqa: BLE001 - closing a connection to a broker that is gone
                pass
            self._connection = None


class _TrackedStep:
    """A step's AsyncResult that is resubmitted if lost (``_LostSteps``) and forgotten once read.

    Forgetting: each chunk step's result (its serialized events, ~22 KB) otherwise stays in Redis until
    ``result_expires``: Redis grew linearly with the number of chunks of the runs of the last hour.
    """

    def __init__(self, watch: _LostSteps, args: tuple[Any, ...], result: Any) -> None:
        self._watch = watch
        self._args = args
        self._result = result
        self._submitted_at = time.monotonic()
        self._absent_since: float | None = None
        self._resubmits = 0
        self._failure: str | None = None
        watch.track_queue(args[3])

    def ready(self) -> bool:
        if self._failure is not None or self._result.ready():
            return True
        scanned_at, present = self._watch.present(time.monotonic())
        if scanned_at <= self._submitted_at:
            return False  # that look at the broker is older than the message
        if present is None or self._result.id in present:
            self._absent_since = None
            return False
        if self._absent_since is None:
            self._absent_since = scanned_at
            return False
        if scanned_at - self._absent_since < self._watch.check_s or self._result.ready():
            return False
        self._lost(scanned_at)
        return self._failure is not None

    def _lost(self, now: float) -> None:
        step, queue = self._args[2], self._args[3]
        what = (
            f"step {step.key}: its Celery message (task {self._result.id}) is in no queue of the broker, not"
            f" delivered to any worker and has no result for {now - self._absent_since:.0f} s (Redis restarted"
            " without its data?)"
        )
        if self._resubmits >= self._watch.max_resubmits:
            self._failure = f"{what}; lost {self._resubmits + 1} times, the step is given up"
            self._watch.log.error(self._failure)
            return
        try:
            result = self._watch.submit_task(*self._args)
        except Exception as exc:  # noqa: BLE001 - the broker is still not itself: look again later
            self._absent_since = now
            self._watch.log.warning(f"{what}; submitting it again failed ({exc}), retrying in {self._watch.check_s} s")
            return
        self._resubmits += 1
        self._result = result
        self._submitted_at = time.monotonic()
        self._absent_since = None
        self._watch.log.warning(
            f"{what}; submitted again to queue {queue} as task {self._result.id}"
            f" ({self._resubmits} of {self._watch.max_resubmits})"
        )

    def get(self, *args: Any, **kwargs: Any) -> Any:
        if self._failure is not None:
            raise StepMessageLost(self._failure)
        value = self._result.get(*args, **kwargs)
        self._result.forget()
        return value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._result, name)


def _known_state_for(step: Any, known_state: Any) -> Any:
    """The run's known state cut down to what one mapped step needs to run on a worker.

    dagster-celery sends every step the whole known state: every chunk's mapping key and every ready
    output, so each of the run's messages in the broker grew with the number of chunks (about 300 bytes
    a chunk: 1.5 MB of Redis for 8 messages of a 500-chunk export). A chunk step needs only its own
    mapping key and its own upstream outputs; a step that collects all chunks gets the whole state.
    """
    mapping_key = step.get_mapping_key() if hasattr(step, "get_mapping_key") else None
    if known_state is None or mapping_key is None:
        return known_state
    upstream = step.get_execution_dependency_keys()

    def mine(handle: Any) -> bool:
        return handle.step_key in upstream and handle.mapping_key in (None, mapping_key)

    return known_state._replace(
        dynamic_mappings={
            key: {name: [mapping_key] if keys and mapping_key in keys else keys for name, keys in outputs.items()}
            for key, outputs in known_state.dynamic_mappings.items()
            if key in upstream
        },
        ready_outputs={handle for handle in known_state.ready_outputs if mine(handle)},
        step_output_versions={h: v for h, v in known_state.step_output_versions.items() if mine(h)},
        previous_retry_attempts={
            key: n for key, n in known_state.previous_retry_attempts.items() if key == step.key or key in upstream
        },
    )


def _submit_task(*args: Any) -> Any:
    from dagster_celery.executor import _submit_task as submit

    return submit(*args)


def _bounded_plan(plan: Any, limit: int) -> Any:
    """The same execution plan (a NamedTuple), whose ``start`` caps concurrent steps at ``limit``."""

    class BoundedPlan(type(plan)):  # type: ignore[misc]
        __slots__ = ()

        def start(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("max_concurrent", limit)
            return super().start(*args, **kwargs)

    return tuple.__new__(BoundedPlan, tuple(plan))


@dg.executor(
    name="museum_celery",
    config_schema=CELERY_CONFIG,
    requirements=dg.multiple_process_executor_requirements(),
)
def bounded_celery_executor(init_context: Any) -> BoundedCeleryExecutor:
    config = init_context.executor_config
    return BoundedCeleryExecutor(
        max_in_flight=_int("MUSEUM_SYNC_MAX_INFLIGHT_STEPS", 8),
        broker=config.get("broker"),
        backend=config.get("backend"),
        config_source=config.get("config_source"),
        include=config.get("include"),
        retries=RetryMode.from_config(config["retries"]),
    )


def museum_celery_executor() -> Any:
    """The Celery executor configured from the same dict the workers use.

    The dict is built when each run resolves its config, not when the code location is imported: a
    long-lived process (webserver, daemon, a test session) must send steps to the broker the
    environment names *now*, the same one the workers were started with.
    """
    return bounded_celery_executor.configured(_config_for_run, config_schema={}, name="museum_celery_executor")
