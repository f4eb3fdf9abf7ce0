"""One Celery config for both brokers: what changes with an ``amqp://`` broker, and what must not on Redis.

No broker is contacted: these are the declarations the executor and the workers make. The runs themselves
are museum_sync_tests/integration/test_sync_amqp_e2e.py (RabbitMQ) and museum_sync_tests/faults/test_broker_faults.py
(Sentinel failover, RabbitMQ connections cut).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from dagster_celery.make_app import make_app

from museum_sync.defs.celery_config import QUEUES, celery_config, is_amqp, is_redis_broker, use_queues
from museum_sync.defs.executor import _LostSteps
from museum_sync.defs.result_backend import SENTINEL_BACKEND_PREFIX, PollingSentinelBackend
from museum_sync.settings import env_name

AMQP = "amqp://guest:guest@127.0.0.1:5672/ms"
REDIS = "redis://127.0.0.1:6379/0"


def _config(monkeypatch: pytest.MonkeyPatch, broker: str) -> dict:
    monkeypatch.setenv(env_name("redis.broker_url"), broker)
    monkeypatch.setenv(env_name("redis.result_backend"), "redis://127.0.0.1:6379/1")
    return celery_config()


def test_amqp_broker_gets_confirms_quorum_queues_and_keeps_late_acks(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(monkeypatch, AMQP)
    source = config["config_source"]
    assert source["broker_transport_options"]["confirm_publish"] is True
    assert "visibility_timeout" not in source["broker_transport_options"], "a Redis-only option"
    assert (source["worker_prefetch_multiplier"], source["task_acks_late"]) == (1, True)
    assert source["broker_heartbeat"] == 30
    assert config["backend"].endswith("+redis://127.0.0.1:6379/1"), "results stay on Redis (polling backend)"
    assert source["worker_cancel_long_running_tasks_on_connection_loss"] is False, "SIGTERM fails a Dagster step"
    app = use_queues(make_app({k: config[k] for k in ("broker", "backend", "include", "config_source")}), AMQP)
    queues = app.amqp.queues
    assert set(QUEUES) <= set(queues)
    for name in QUEUES:
        assert queues[name].durable
        assert queues[name].queue_arguments == {"x-queue-type": "quorum"}, "quorum queues refuse x-max-priority"


def test_redis_broker_declares_what_it_always_did(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(monkeypatch, REDIS)
    transport = config["config_source"]["broker_transport_options"]
    assert "confirm_publish" not in transport and transport["visibility_timeout"] == 1800
    app = use_queues(make_app({k: config[k] for k in ("broker", "backend", "include", "config_source")}), REDIS)
    for name in QUEUES:
        assert app.amqp.queues[name].queue_arguments == {"x-max-priority": 10}


def test_sentinel_urls_lose_their_master_name_to_the_transport_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """kombu and Celery read ``master_name`` from transport options only: the settings' URL carries it, the
    config moves it, for the broker and the result backend alike (the backend: Celery's Sentinel one, polled)."""
    broker = "sentinel://:pw@s1:26379;sentinel://s2:26380;sentinel://s3/2?master_name=museum"
    monkeypatch.setenv(env_name("redis.broker_url"), broker)
    monkeypatch.delenv(env_name("redis.result_backend"), raising=False)
    config = celery_config()
    source = config["config_source"]
    assert config["broker"] == "sentinel://:pw@s1:26379/2;sentinel://s2:26380/2;sentinel://s3:26379/2"
    assert config["backend"] == SENTINEL_BACKEND_PREFIX + config["broker"].replace("/2", "/3")
    for options in (source["broker_transport_options"], source["result_backend_transport_options"]):
        assert options["master_name"] == "museum" and options["sentinel_kwargs"]["socket_timeout"] > 0
    assert source["broker_transport_options"]["visibility_timeout"] == 1800, "a Redis channel: Redis options"
    app = make_app({k: config[k] for k in ("broker", "backend", "include", "config_source")})
    assert isinstance(app.backend, PollingSentinelBackend)
    assert app.backend._transport_options["master_name"] == "museum"
    assert app.connection_for_write().transport_options["master_name"] == "museum"


@pytest.mark.parametrize(
    ("url", "amqp", "redis"),
    [
        (AMQP, True, False),
        ("amqps://u:p@mq:5671/v", True, False),
        ("pyamqp://mq//", True, False),
        (REDIS, False, True),
        ("rediss://h:6380/0", False, True),
        ("redis+socket:///tmp/r.sock?virtual_host=2", False, True),
        ("sentinel://h1:26379;sentinel://h2:26379/0?master_name=m", False, True),  # kombu's Redis channel
    ],
)
def test_broker_kinds(url: str, amqp: bool, redis: bool) -> None:
    assert (is_amqp(url), is_redis_broker(url)) == (amqp, redis)


def test_lost_step_watch_is_off_for_rabbitmq() -> None:
    """RabbitMQ redelivers a closed channel's unacked messages itself; the Redis-list scan must never run."""

    def no_scan() -> set[str] | None:
        raise AssertionError("the lost-step scan ran on a non-Redis broker")

    watch = _LostSteps(SimpleNamespace(broker=AMQP), None, check_s=1.0, max_resubmits=3, enabled=False)
    watch._scan = no_scan  # type: ignore[method-assign]
    assert watch.present(100.0) == (100.0, None)  # "unknown": a step is then never called lost
    assert watch.present(200.0) == (200.0, None)


def test_the_deploy_broker_urls_are_what_the_settings_accept() -> None:
    """deploy/helm/values.yaml shows the URL of each broker; deploy/compose.yaml defaults to Redis and takes the
    others from .env. Each must pass the settings and select its broker's behaviour."""
    import yaml

    from museum_sync.settings import get_settings

    repo = Path(__file__).resolve().parents[2]
    brokers = yaml.safe_load((repo / "deploy" / "helm" / "values.yaml").read_text(encoding="utf-8"))
    kinds = {}
    for name, urls in brokers["museumSyncBroker"].items():
        env = {"MUSEUM_SYNC_BROKER_URL": urls["brokerUrl"], "MUSEUM_SYNC_RESULT_BACKEND": urls["resultBackend"]}
        settings = get_settings(env)
        kinds[name] = (is_amqp(settings.broker_url), is_redis_broker(settings.broker_url))
    assert kinds == {"redis": (False, True), "sentinel": (False, True), "rabbitmq": (True, False)}
    compose = yaml.safe_load((repo / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    env = compose["services"]["worker-ingestion"]["environment"]
    assert env["MUSEUM_SYNC_BROKER_URL"] == "${MUSEUM_SYNC_BROKER_URL:-redis://redis:6379/0}"
    assert {"rabbitmq", "sentinel-1", "sentinel-2", "sentinel-3", "redis-replica"} <= set(compose["services"])
    assert compose["services"]["rabbitmq"]["profiles"] == ["rabbitmq"]
    assert all(compose["services"][f"sentinel-{n}"]["profiles"] == ["sentinel"] for n in (1, 2, 3))
