"""The one Celery configuration, used by the Dagster executor *and* by ``museum-sync worker``.

dagster-celery sends each step as a Celery task; if the executor and the workers were configured
separately they would drift apart (a worker prefetching 4 steps, or acking early, silently undoes the
guarantees below). So both are built from ``celery_config()``: the executor through
``celery_executor.configured(...)`` (``defs.executor``) and the worker app through
``CeleryExecutor.for_cli(**celery_config()).app_args()`` (``defs.worker_app``).

Every tunable value comes from ``museum_sync.settings`` (variable in the table, group ``celery`` or ``run``):

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
result_expires (s)                 step results (< 1 KB each) leave Redis       MUSEUM_SYNC_RESULT_EXPIRES (3600)
                                   (the run also forgets each once read)
result_compression = zlib          a step's result (serialized events) shrinks  -
                                   3x (a chunk step) to 130x (the fan-out step
                                   at 5,000 chunks: 4.1 MB -> 32 KB); the
                                   payload says it is compressed: any reader
                                   decodes it
task_compression = zlib            a step's message carries the run's known     -
                                   state; a step that collects every chunk
                                   gets all of it (1.2 MB at 5,000 chunks ->
                                   41 KB compressed; Redis +6.6 MB at 5M)
steps in flight per run            queued+running steps a run submits: keeps    MUSEUM_SYNC_MAX_INFLIGHT_STEPS (8)
                                   broker memory flat (BoundedCeleryExecutor)
lost-step check (s)                a step whose message the broker lost (Redis  MUSEUM_SYNC_LOST_STEP_CHECK_S (10)
                                   restarted without its data) is resubmitted
                                   after this long, up to 3 times (_LostSteps;
                                   Redis only: RabbitMQ redelivers itself)
=================================  ===========================================  ==========================

The broker is ``settings.broker_url``; results go to ``settings.result_backend`` (the broker's server, db
n+1, unless set), read through ``PollingRedisBackend`` (``defs.result_backend``).

Redis Sentinel (``sentinel://s1:26379;sentinel://s2:26379/0?master_name=NAME``, broker and results): kombu's
and Celery's own Sentinel transports, which find the master through the sentinels on every new connection
and so follow a failover by reconnecting. Both read ``master_name`` from transport options only, so the
settings' URL is split here (``settings.parse_sentinel_url``): the list without it goes to Celery, the name
into ``broker_transport_options`` and ``result_backend_transport_options``, with timeouts for the sentinel
connections. Everything else is the Redis configuration (it is kombu's Redis channel), lost-step watch
included; ``PollingSentinelBackend`` polls the results.

Queues: chunk steps go to ``ingestion_high`` (op tag ``dagster-celery/queue``), IIIF fetching to
``iiif``, anything untagged to dagster-celery's default ``dagster``. Priorities are not used: on Redis
dagster-celery's priorities run backwards, so routing is by queue only.

RabbitMQ (``amqp://`` broker, ``is_amqp``): the same dict, plus publisher confirms (a step is submitted
only once the broker has it) and the three queues declared as durable *quorum* queues (replicated, survive
a node restart). Quorum queues refuse ``x-max-priority``, which dagster-celery's ``make_app`` puts on every
queue, so ``use_queues`` replaces its queue set on both sides (executor and workers): RabbitMQ refuses a
queue re-declared with other arguments. Results stay on Redis (``settings.result_backend``, required).
"""

from __future__ import annotations

from typing import Any

from kombu import Queue

from museum_sync.defs.result_backend import BACKEND_PREFIX, SENTINEL_BACKEND_PREFIX
from museum_sync.settings import get_settings, is_sentinel_url, parse_sentinel_url

__all__ = [
    "DEFAULT_QUEUE",
    "IIIF_QUEUE",
    "INGESTION_QUEUE",
    "QUEUES",
    "QUEUE_TAG",
    "celery_config",
    "is_amqp",
    "is_redis_broker",
    "iiif_pool_options",
    "polling_backend_url",
    "step_queues",
    "use_queues",
]

INGESTION_QUEUE = "ingestion_high"
IIIF_QUEUE = "iiif"
DEFAULT_QUEUE = "dagster"
QUEUE_TAG = "dagster-celery/queue"
QUEUES = (INGESTION_QUEUE, IIIF_QUEUE, DEFAULT_QUEUE)
_AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")
_REDIS_SCHEMES = ("redis", "rediss", "redis+socket", "socket", "sentinel")


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower()


def is_amqp(broker_url: str) -> bool:
    """Whether the broker is RabbitMQ (py-amqp): publisher confirms, quorum queues, redelivery on channel loss."""
    return _scheme(broker_url) in _AMQP_SCHEMES


def is_redis_broker(broker_url: str) -> bool:
    """Whether the broker is kombu's Redis transport (Sentinel's too: its channel is a Redis channel that asks
    the sentinels for the master), whose queues and ``unacked`` hash the lost-step watch reads."""
    return _scheme(broker_url) in _REDIS_SCHEMES


def _sentinel_options(url: str) -> tuple[str, dict[str, Any]]:
    """``(url, transport options)`` kombu and Celery take for a Sentinel list: the URL without ``master_name``,
    which goes in the options, with timeouts on the sentinel connections too (an unreachable sentinel host
    must not hang the search for the master: the next one is asked)."""
    if not is_sentinel_url(url):
        return url, {}
    sentinel = parse_sentinel_url(url)
    timeouts = {"socket_timeout": 5, "socket_connect_timeout": 2}
    return sentinel.url, {"master_name": sentinel.master_name, "sentinel_kwargs": timeouts}


def step_queues(broker_url: str) -> list[Queue]:
    """The queues steps go to, declared the same way by the executor and the workers.

    On RabbitMQ they are durable quorum queues (no priorities: quorum queues refuse ``x-max-priority``);
    elsewhere durable queues as before (the Redis transport ignores queue arguments).
    """
    arguments = {"x-queue-type": "quorum"} if is_amqp(broker_url) else None
    return [Queue(name, routing_key=f"{name}.#", durable=True, queue_arguments=arguments) for name in QUEUES]


def use_queues(app: Any, broker_url: str) -> Any:
    """Give a dagster-celery app (``make_app``) our queue set instead of its lone priority ``dagster`` queue.

    On RabbitMQ also drops ``task_queue_max_priority`` (quorum queues refuse it); on Redis that setting is
    kept, so Redis declares exactly what it did before. Returns ``app``.
    """
    if is_amqp(broker_url):
        app.conf.task_queue_max_priority = None
    app.conf.task_queues = step_queues(broker_url)
    return app


def iiif_pool_options(queues: tuple[str, ...]) -> tuple[int | None, list[str]]:
    """(concurrency, extra ``celery worker`` options) for a pool that serves the ``iiif`` queue alone.

    Still prefork (a Dagster step is a whole run of its own in the child: not thread-safe to run two in one
    process), but network concurrency comes from inside the step: ``MUSEUM_SYNC_IIIF_FETCH_THREADS`` threads
    per step, at most ``MUSEUM_SYNC_IIIF_PER_HOST`` to one host. Children are recycled after
    ``MUSEUM_SYNC_IIIF_WORKER_MAX_TASKS_PER_CHILD`` steps, not 100: an iiif step holds one chunk's manifests
    at a time (small) and recycling drops the keep-alive connections the pool exists for. Prefetch stays 1:
    a child must not hold a slow manifest step another child could start. Other queue sets: ``(None, [])``.
    """
    if queues != (IIIF_QUEUE,):
        return None, []
    iiif = get_settings().iiif
    return iiif.worker_concurrency, ["--max-tasks-per-child", str(iiif.worker_max_tasks_per_child)]


def celery_config() -> dict[str, Any]:
    """broker/backend/include/config_source for ``celery_executor`` and ``CeleryExecutor.for_cli``."""
    settings = get_settings()
    celery = settings.celery
    retry = {
        "max_retries": celery.broker_max_retries,
        "interval_start": 0,
        "interval_step": 0.5,
        "interval_max": 5,
    }
    transport = {
        "visibility_timeout": celery.visibility_timeout,
        "socket_timeout": 30,
        "socket_connect_timeout": 5,
        "health_check_interval": 10,
        "retry_on_timeout": True,
        **retry,
    }
    # py-amqp: publisher confirms, so apply_async returns once RabbitMQ has the message (kombu's retry
    # policy keys pass through; the Redis socket options mean nothing to it).
    amqp = is_amqp(settings.broker_url)
    broker_url, broker_sentinel = _sentinel_options(settings.broker_url)
    backend_url, backend_sentinel = _sentinel_options(settings.result_backend)
    broker_transport = {"confirm_publish": True, **retry} if amqp else {**transport, **broker_sentinel}
    return {
        "broker": broker_url,
        "backend": polling_backend_url(backend_url),
        "include": [],
        "config_source": {
            "worker_prefetch_multiplier": 1,
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_max_tasks_per_child": celery.max_tasks_per_child,
            "worker_max_memory_per_child": celery.max_memory_per_child_kb,
            "broker_pool_limit": celery.broker_pool_limit,
            "broker_heartbeat": celery.broker_heartbeat,
            "broker_connection_retry": True,
            "broker_connection_retry_on_startup": True,
            "broker_connection_max_retries": celery.broker_max_retries,
            "broker_transport_options": broker_transport,
            "result_backend_transport_options": {**transport, **backend_sentinel},
            "result_expires": celery.result_expires,
            # A step's result is a list of near-identical serialized events (worker_internals.for_orchestrator):
            # zlib stores the fan-out step's at ~6-9 bytes per chunk instead of ~830 (test_step_results).
            "result_compression": "zlib",
            # A step that collects every chunk (publication, the IIIF plan) is sent the run's whole known state:
            # every chunk's mapping key and ready output, 1.2 MB per message at 5,000 chunks, 41 KB compressed.
            "task_compression": "zlib",
            # Without this a connection error while the orchestrator reads a step's result fails the whole
            # run, although the broker kept every message (museum_sync_tests/faults: Redis restart).
            "result_backend_always_retry": True,
            "result_backend_max_retries": celery.broker_max_retries,
            "result_backend_max_sleep_between_retries_ms": 5000,
            "redis_backend_health_check_interval": 10,
            "redis_socket_timeout": 30,
            "redis_socket_connect_timeout": 5,
            "redis_retry_on_timeout": True,
            "task_default_queue": DEFAULT_QUEUE,
            "worker_hijack_root_logger": False,
            "worker_send_task_events": False,
            # A lost broker connection leaves the running step running. On RabbitMQ its message is requeued at
            # once and may run a second time beside it (steps are idempotent: the same catalogue, fault suite).
            # Celery's alternative, stopping it, sends SIGTERM, which Dagster turns into a *step failure* in the
            # event log and the result: the run failed (museum_sync_tests/faults/test_broker_faults.py, tried).
            "worker_cancel_long_running_tasks_on_connection_loss": False,
        },
    }


def polling_backend_url(url: str) -> str:
    """The result backend URL that selects ``PollingRedisBackend`` (see there: no pub/sub per step)."""
    if url.startswith((BACKEND_PREFIX, SENTINEL_BACKEND_PREFIX)):
        return url
    if url.startswith("redis+socket://"):  # Celery reads "redis+socket" as backend "redis", URL "socket://"
        return BACKEND_PREFIX + url.removeprefix("redis+")
    if url.startswith(("redis://", "rediss://", "socket://")):
        return BACKEND_PREFIX + url
    if url.startswith("sentinel://"):
        return SENTINEL_BACKEND_PREFIX + url
    return url
