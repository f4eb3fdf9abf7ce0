"""The Celery executor every job runs on: dagster-celery's, bounded and watched.

``BoundedCeleryExecutor`` is dagster-celery's ``CeleryExecutor`` with five changes, each measured or
seen in the fault suite: at most ``MUSEUM_SYNC_MAX_INFLIGHT_STEPS`` steps queued or running per run
(``_bounded_plan``); each step sent only the part of the run's known state it needs (``_known_state_for``);
a step whose broker message was lost is resubmitted (``_LostSteps``); each result is forgotten once read
(``_TrackedStep``); and its step task is registered once per run, not once per step (``_RegisterOnce``).
Its configuration is ``celery_config()``, the same dict the workers are built from (``defs.celery_config``).

The private dagster-celery functions it calls come from ``defs.dagster_internals``. Two things it relies
on import nothing and are said where they are used: ``ExecutionPlan`` is a NamedTuple whose ``start``
accepts ``max_concurrent`` (``_bounded_plan``), and ``KnownExecutionState`` is a NamedTuple whose
``dynamic_mappings``/``ready_outputs``/``step_output_versions``/``previous_retry_attempts`` are what a
worker reads for one step (``_known_state_for``). The lost-step scan reads kombu's Redis channel
(``_q_for_pri``, ``unacked_key``, ``unacked_index_key``): kombu has no public way to list a queue's messages.
It runs on a Redis broker, plain or behind Sentinel (kombu's Sentinel channel is a Redis channel whose
connections ask the sentinels for the current master, so after a failover the scan reads the new master).
RabbitMQ keeps unacked deliveries itself and redelivers them when a worker's channel closes, and it loses
no persisted message of a durable quorum queue on restart (``_LostSteps``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import dagster as dg

from museum_sync.core.exceptions import MuseumSyncError
from museum_sync.defs.celery_config import (
    IIIF_QUEUE,
    INGESTION_QUEUE,
    QUEUE_TAG,
    celery_config,
    is_redis_broker,
    use_queues,
)
from museum_sync.defs.dagster_internals import (
    CELERY_CONFIG,
    CeleryExecutor,
    celery_app,
    celery_execution_loop,
    retry_mode,
    submit_step,
)
from museum_sync.settings import get_settings

__all__ = [
    "BoundedCeleryExecutor",
    "StepMessageLost",
    "bounded_celery_executor",
    "museum_celery_executor",
]


def _config_for_run(_: Any) -> dict[str, Any]:
    return celery_config()


class BoundedCeleryExecutor(CeleryExecutor):  # type: ignore[misc]
    """dagster-celery's executor with a bound on steps in flight (queued or running) per run.

    It also deletes each step's stored result as soon as the run has read it (``_TrackedStep``).

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
        settings = get_settings()
        lost_steps = _LostSteps(
            self,
            plan_context.log,
            check_s=float(settings.run.lost_step_check_s),
            max_resubmits=3,
            enabled=is_redis_broker(settings.broker_url),
        )
        try:
            yield from celery_execution_loop(
                plan_context,
                _bounded_plan(execution_plan, self.max_in_flight),
                lost_steps.submit,
                poll_s=settings.run.result_poll_s,
            )
        finally:
            lost_steps.close()


class StepMessageLost(MuseumSyncError):
    """The broker lost a step's message again and again: the run fails instead of waiting forever."""


class _LostSteps:
    """Notices steps whose Celery message or result the broker lost, and submits them again.

    A Redis restarted without its data drops the queued step messages (and the deliveries it tracked);
    dagster-celery would poll their results forever and the run would hang until run monitoring's
    ``max_runtime``. A step is lost when, on two looks ``check_s`` apart, its message is in no queue,
    not delivered (kombu's ``unacked`` hash) and it has no result. It is then submitted again (steps are
    idempotent), at most ``max_resubmits`` times; after that its result raises ``StepMessageLost``, a
    step error that fails the run with the reason. A message still delivered to a live worker is never
    lost: a dead worker's step comes back after ``visibility_timeout`` as before.

    Redis Sentinel adds the other half: a master that dies before its replica received its last writes
    takes them along, and the promoted replica is the state of a moment ago. A message published then is
    in no queue (as above); a step a worker finished then has its result *and* its ack gone, so the new
    master shows it still delivered, with no result, and nothing would ever end it but the visibility
    timeout (30 min). So a step is also lost when the run's event log (PostgreSQL, which the worker wrote
    before storing the result) says its execution ended and, on two looks at least ``RESULT_GRACE_S``
    apart, it still has no result. Its stale delivery is removed from ``unacked`` (an ack on the worker's
    behalf, so it is not redelivered after the run) and the step is submitted again.
    (``result_grace_s``: ``RESULT_GRACE_S`` unless a test shortens it.)

    Only on a Redis broker (``enabled``). On RabbitMQ the watch is off: the broker itself tracks each
    delivery and requeues it when the worker's channel or connection closes (acks late, heartbeats), and
    durable quorum queues keep persisted messages across a restart, so a step is never "lost" in the
    sense above; the scan also has nothing to read there (queues are not Redis lists), and a scan that
    cannot see a message would resubmit steps that are merely queued.
    """

    def __init__(
        self,
        executor: Any,
        log: Any,
        *,
        check_s: float,
        max_resubmits: int,
        submit: Callable[..., Any] | None = None,
        enabled: bool = True,
        result_grace_s: float | None = None,
    ) -> None:
        self.executor = executor
        self.enabled = enabled
        self.log = log
        self.submit_task = submit or submit_step  # dagster-celery's; a test sends plain Celery messages
        self.check_s = check_s
        self.result_grace_s = RESULT_GRACE_S if result_grace_s is None else result_grace_s
        self.max_resubmits = max_resubmits
        self._connection: Any = None
        self._present: set[str] | None = None
        self._deliveries: dict[str, bytes] = {}  # task id -> kombu delivery tag, of the last scan's unacked
        self._scanned_at = float("-inf")
        self._queues: set[str] = set()
        self._apps: set[int] = set()
        self._events: tuple[Any, str] | None = None  # (instance, run id): where workers log step ends
        self._ends: dict[str, int] = {}  # step key -> STEP_SUCCESS/STEP_FAILURE events read so far
        self._ends_cursor: str | None = None

    def submit(self, app: Any, plan_context: Any, step: Any, queue: str, priority: int, known_state: Any) -> Any:
        if id(app) not in self._apps:  # before its first message: the workers' queue set, not make_app's
            use_queues(app, self.executor.broker)
            self._apps.add(id(app))
        if self._events is None and plan_context is not None:
            self._events = (plan_context.instance, plan_context.run_id)
        args = (_RegisterOnce(app), plan_context, step, queue, priority, _known_state_for(step, known_state))
        return _TrackedStep(self, args, self.submit_task(*args))

    def present(self, now: float) -> tuple[float, set[str] | None]:
        """(when read, task ids the broker holds, queued or delivered; None: unknown), read at most once
        per second (or per half ``check_s``) for all the run's steps together, with the step ends of the
        event log; always unknown when disabled."""
        if not self.enabled:
            return now, None
        if now - self._scanned_at >= min(1.0, self.check_s / 2):
            self._scanned_at = now
            self._present = self._scan()
            self._read_ends()
        return self._scanned_at, self._present

    def ends(self, step_key: str) -> int:
        """How many times the event log says ``step_key`` ended (success or failure), as of the last scan."""
        return self._ends.get(step_key, 0)

    def _read_ends(self) -> None:
        """The run's new STEP_SUCCESS/STEP_FAILURE events since the last read (a cursor: one small query)."""
        if self._events is None:
            return
        instance, run_id = self._events
        try:
            while True:
                page = instance.get_records_for_run(
                    run_id, cursor=self._ends_cursor, of_type=_STEP_ENDS, limit=1000, ascending=True
                )
                for record in page.records:
                    key = record.event_log_entry.step_key or ""
                    self._ends[key] = self._ends.get(key, 0) + 1
                self._ends_cursor = page.cursor
                if not page.has_more:
                    return
        except Exception:  # noqa: BLE001 - no answer from the event log now proves nothing ended
            return

    def _scan(self) -> set[str] | None:
        try:
            if self._connection is None:
                self._connection = celery_app(self.executor.app_args()).connection_for_write()
            channel = self._connection.default_channel
            client = channel.client
            queued: list[bytes] = []
            for queue in self._queues:
                for priority in channel.priority_steps:
                    queued.extend(client.lrange(channel._q_for_pri(queue, priority), 0, -1))
            delivered = client.hgetall(channel.unacked_key)
        except Exception:  # noqa: BLE001 - a broker that cannot answer now proves nothing lost
            self.close()
            return None
        self._deliveries = {}
        found = {task_id for task_id in map(_task_id, queued) if task_id}
        for tag, message in delivered.items():
            task_id = _task_id(message)
            if task_id:
                found.add(task_id)
                self._deliveries[task_id] = tag
        return found

    def drop_delivery(self, task_id: str) -> bool:
        """Remove a finished step's stale delivery from kombu's ``unacked`` hash and index (what the worker's
        ack did on the master that was lost), so it is not redelivered once the visibility timeout passes."""
        tag = self._deliveries.pop(task_id, None)
        if tag is None or self._connection is None:
            return False
        try:
            channel = self._connection.default_channel
            with channel.client.pipeline() as pipe:
                pipe.hdel(channel.unacked_key, tag).zrem(channel.unacked_index_key, tag).execute()
        except Exception:  # noqa: BLE001 - it is redelivered later then; the step is idempotent
            return False
        return True

    def track_queue(self, queue: str) -> None:
        self._queues.add(queue)

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # noqa: BLE001 - closing a connection to a broker that is gone
                pass
            self._connection = None


_STEP_ENDS = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
# A worker stores a step's result right after it logged the step's end; a result still missing this long
# after is lost (a Sentinel failover), not late, even on a loaded machine.
RESULT_GRACE_S = 5.0


def _task_id(message: bytes) -> str | None:
    """The Celery task id of a kombu Redis message: a queued message, or an unacked ``[message, exchange,
    routing key]`` entry; None for anything else."""
    try:
        payload = json.loads(message)
    except ValueError:
        return None
    envelope = payload[0] if isinstance(payload, list) else payload
    task_id = (envelope.get("headers") or {}).get("id") if isinstance(envelope, dict) else None
    return str(task_id) if task_id else None


class _RegisterOnce:
    """The run's Celery app, except that registering a task name it already has returns the registered task.

    dagster-celery's submission (``dagster_internals.submit_step``) registers its step task on the app again
    for every step it sends (``create_task(app)`` -> ``app.task(name="execute_plan", ...)``), each time with a
    new function object, so Celery 5.5+ printed a ``DuplicateTaskNameWarning`` in every run's process. The
    tasks are the same code under the same name; the first registration is kept and reused. It is registered
    on this app only (``shared=False``): a shared one would be added to every Celery app the process creates
    later, next to that app's own registration (a second run, the worker app), and warn there. Relied on (no
    import): the submission uses the app only through ``app.task(..., name=...)``; anything else passes through.
    """

    def __init__(self, app: Any) -> None:
        self._app = app

    def task(self, *args: Any, **options: Any) -> Any:
        name = options.get("name")
        existing = self._app.tasks.get(name) if name else None
        if existing is not None and not args:
            return lambda fun: existing
        return self._app.task(*args, **{"shared": False, **options})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)


class _TrackedStep:
    """A step's AsyncResult that is resubmitted if lost (``_LostSteps``) and forgotten once read.

    After a resubmission the earlier messages' results are still watched: a message a promoted replica
    delivers again may end first, and its result is as good (same step, idempotent).

    Forgetting: each chunk step's result (serialized events: 22 KB when it was every event of the step, now
    ~0.6 KB, ``worker_internals.for_orchestrator`` and ``result_compression``) otherwise stays in Redis until
    ``result_expires``: Redis grew linearly with the number of chunks of the runs of the last hour.
    """

    def __init__(self, watch: _LostSteps, args: tuple[Any, ...], result: Any) -> None:
        self._watch = watch
        self._args = args
        self._result = result
        self._earlier: list[Any] = []  # results of this step's earlier messages: a redelivered one may still end
        self._submitted_at = time.monotonic()
        self._ends_before = watch.ends(args[2].key)  # executions of this step that ended before this message
        self._absent_since: float | None = None
        self._resubmits = 0
        self._failure: str | None = None
        watch.track_queue(args[3])

    def ready(self) -> bool:
        if self._failure is not None or self._result.ready():
            return True
        for earlier in self._earlier:  # the old message ran after all (redelivered by a promoted replica)
            if earlier.ready():
                self._earlier.remove(earlier)
                self._earlier.append(self._result)
                self._result = earlier
                return True
        scanned_at, present = self._watch.present(time.monotonic())
        if scanned_at <= self._submitted_at:
            return False  # that look at the broker is older than the message
        ended = self._watch.ends(self._args[2].key) > self._ends_before
        if present is None or (not present.isdisjoint(self._ids()) and not ended):
            self._absent_since = None
            return False
        if self._absent_since is None:
            self._absent_since = scanned_at
            return False
        wait = max(self._watch.check_s, self._watch.result_grace_s) if ended else self._watch.check_s
        if scanned_at - self._absent_since < wait or self._result.ready():
            return False
        self._lost(scanned_at, ended=ended)
        return self._failure is not None

    def _lost(self, now: float, *, ended: bool) -> None:
        step, queue = self._args[2], self._args[3]
        if ended:
            what = (
                f"step {step.key}: its execution ended (event log) but its result (task {self._result.id}) is"
                f" not in the result backend {now - self._absent_since:.0f} s later (a Redis failover lost the"
                " master's last writes?)"
            )
        else:
            what = (
                f"step {step.key}: its Celery message (task {self._result.id}) is in no queue of the broker,"
                f" not delivered to any worker and has no result for {now - self._absent_since:.0f} s (Redis"
                " restarted without its data? a failover?)"
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
        if ended and self._watch.drop_delivery(self._result.id):
            what += "; its stale delivery removed"
        self._resubmits += 1
        self._earlier.append(self._result)
        self._result = result
        self._submitted_at = time.monotonic()
        self._ends_before = self._watch.ends(step.key)
        self._absent_since = None
        self._watch.log.warning(
            f"{what}; submitted again to queue {queue} as task {self._result.id}"
            f" ({self._resubmits} of {self._watch.max_resubmits})"
        )

    def get(self, *args: Any, **kwargs: Any) -> Any:
        if self._failure is not None:
            raise StepMessageLost(self._failure)
        value = self._result.get(*args, **kwargs)
        for result in (self._result, *self._earlier):
            result.forget()
        return value

    def _ids(self) -> set[str]:
        return {self._result.id, *(earlier.id for earlier in self._earlier)}

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


def _bounded_plan(plan: Any, limit: int) -> Any:
    """The same execution plan (a NamedTuple), whose ``start`` caps concurrent steps at ``limit``.

    IIIF steps (queue tag ``iiif``) get their own ``MUSEUM_SYNC_IIIF_MAX_INFLIGHT_STEPS`` on top: one cap
    shared by both would let slow manifest fetches fill every slot and stall the chunks' ingestion steps.
    Dagster's ``tag_concurrency_limits`` holds each kind to its share; the total is the sum.
    """
    iiif = get_settings().iiif.max_inflight_steps
    shares = [
        {"key": QUEUE_TAG, "value": IIIF_QUEUE, "limit": iiif},
        {"key": QUEUE_TAG, "value": INGESTION_QUEUE, "limit": limit},
    ]

    class BoundedPlan(type(plan)):  # type: ignore[misc]
        __slots__ = ()

        def start(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("max_concurrent", limit + iiif)
            kwargs.setdefault("tag_concurrency_limits", shares)
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
        max_in_flight=get_settings().run.max_inflight_steps,
        broker=config.get("broker"),
        backend=config.get("backend"),
        config_source=config.get("config_source"),
        include=config.get("include"),
        retries=retry_mode(config["retries"]),
    )


def museum_celery_executor() -> Any:
    """The Celery executor configured from the same dict the workers use.

    The dict is built when each run resolves its config, not when the code location is imported: a
    long-lived process (webserver, daemon, a test session) must send steps to the broker the
    environment names *now*, the same one the workers were started with.
    """
    return bounded_celery_executor.configured(_config_for_run, config_schema={}, name="museum_celery_executor")
