"""End to end with RabbitMQ as the Celery broker: the same sync, the same catalogue as on Redis.

The machine's RabbitMQ (127.0.0.1:5672, guest/guest) gets a vhost of its own for this module, deleted
afterwards; results stay on the session's Redis, as ``MUSEUM_SYNC_RESULT_BACKEND`` requires. The same
export is synced once with the Redis broker and once with RabbitMQ, each on its own stack (catalogue
schema, Dagster home, Celery workers): the catalogues, their digests and the quarantines must be equal,
and RabbitMQ's step queues durable quorum queues, empty once the run is over.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, DagsterEventType

from museum_sync.defs.celery_config import QUEUES
from museum_sync.samples.generate import ExportSpec, write_export
from museum_sync.services import ServiceUrls
from museum_sync_tests.integration.conftest import SyncStack, build_stack
from museum_sync_tests.rabbitmq import RabbitVhost, rabbit_missing, rabbit_vhost

pytestmark = pytest.mark.integration

CHUNK = 200


@pytest.fixture(scope="module")
def rabbit() -> Iterator[RabbitVhost]:
    missing = rabbit_missing()
    if missing is not None:
        pytest.skip(f"RabbitMQ broker e2e: {missing}")
    with rabbit_vhost() as vhost:
        yield vhost


@dataclass
class Outcome:
    success: bool
    count: int
    digest: str
    quarantine: list[tuple[Any, ...]]
    queues: dict[str, dict[str, Any]]
    resubmitted: list[str]


def _export_of(stack: SyncStack, run_id: str) -> str:
    for record in stack.instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records:
        mat = record.event_log_entry.asset_materialization
        if mat.asset_key == AssetKey("export_snapshot"):
            return str(mat.metadata["export_id"].value)
    raise AssertionError(f"run {run_id} recorded no export_snapshot materialization")


def _sync(
    services: ServiceUrls, home: Path, export: Path, *, broker_url: str | None, vhost: RabbitVhost | None
) -> Outcome:
    with build_stack(services, home, broker_url=broker_url) as stack:
        result = stack.sync(export, "tate_artworks_csv", source="tate-brokers", chunk_size=CHUNK)
        export_id = _export_of(stack, result.run_id)
        catalog = stack.catalog
        quarantine = sorted(
            (s.partition_key.removeprefix(export_id), r.file, r.line, r.record_id, r.reason, r.field, r.value)
            for s in catalog.chunk_states(export_id)
            for r in catalog.quarantine_rows(s.partition_key, limit=1000)
        )
        resubmitted = [e.message for e in stack.instance.all_logs(result.run_id) if "submitted again" in e.message]
        outcome = Outcome(result.success, catalog.count(), catalog.catalogue_digest(), quarantine, {}, resubmitted)
    # Read once the workers have stopped: the last step's late ack may still be on its way when the run
    # ends, and a message a stopped worker had not acked would be back in its queue, so "empty" means done.
    outcome.queues = vhost.settled_queues() if vhost else {}
    return outcome


@pytest.fixture(scope="module")
def outcomes(
    services: ServiceUrls, rabbit: RabbitVhost, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Outcome, Outcome]:
    spec = ExportSpec(records=600, seed=31, chunk_size=CHUNK, bad_share=0.02)
    export = write_export(spec, tmp_path_factory.mktemp("exports") / "brokers.csv")
    redis = _sync(services, tmp_path_factory.mktemp("home-redis"), export, broker_url=None, vhost=None)
    amqp = _sync(services, tmp_path_factory.mktemp("home-amqp"), export, broker_url=rabbit.url, vhost=rabbit)
    return redis, amqp


def test_a_sync_over_rabbitmq_gives_the_catalogue_of_a_sync_over_redis(outcomes: tuple[Outcome, Outcome]) -> None:
    redis, amqp = outcomes
    assert redis.success, "the reference sync (Redis broker) failed"
    assert amqp.success, "the sync with RabbitMQ as broker failed"
    assert amqp.count == redis.count > 0
    assert amqp.digest == redis.digest
    assert amqp.quarantine == redis.quarantine
    assert amqp.quarantine, "the export has ~2% bad records: the quarantine comparison must compare something"
    assert amqp.resubmitted == [], "the lost-step watch is off on RabbitMQ: no step may be sent twice"


def test_rabbitmq_step_queues_are_durable_quorum_queues_left_empty(outcomes: tuple[Outcome, Outcome]) -> None:
    _, amqp = outcomes
    for name in QUEUES:
        queue = amqp.queues.get(name)
        assert queue is not None, f"queue {name} was not declared on RabbitMQ (have {sorted(amqp.queues)})"
        assert queue["durable"] is True, f"queue {name} is not durable"
        arguments = {key: value for key, _type, value in queue["arguments"]}  # [[name, AMQP type, value]]
        assert arguments.get("x-queue-type") == "quorum", f"queue {name}: {arguments}"
        assert "x-max-priority" not in arguments
        assert queue["messages"] == 0, f"queue {name} still holds {queue['messages']} messages after the run"
