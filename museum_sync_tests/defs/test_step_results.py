"""A step's Celery result carries only what the orchestrator acts on; the event log still has every event (#18).

Real Redis (broker and results), a real Celery worker and the Dagster instance on PostgreSQL. The bytes are
read from Redis by the orchestrator's own ``_TrackedStep.get`` just before it forgets the result, so they are
what each step left in Redis (serialized, zlib-compressed: ``celery_config``). dagster-celery's own result was
every event of the step: 22.4 KB per chunk step, 2.5 KB per chunk for the fan-out step (12.7 MB in Redis for a
5,000-chunk export, 26-39 MB of peak growth).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster import DagsterEventType, execute_job, reconstructable

from museum_sync.defs import executor
from museum_sync.defs.asset_keys import SNAPSHOT_AND_PLAN
from museum_sync.defs.run_config import sync_run_config
from museum_sync.defs.worker_internals import for_orchestrator
from museum_sync.samples.generate import ExportSpec, write_export
from museum_sync.services import ServiceUrls
from museum_sync_tests.integration.conftest import SyncStack, build_stack

FAN_OUT = 300  # chunk_size 1: one dynamic output per record
QUARANTINED = "ChunkQuarantined: expected quarantine, not a crash: chunk "


@dataclass
class StoredResults:
    """Per step key: bytes of its result as stored in Redis, the events it carried, seconds to read it."""

    bytes: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    events: dict[str, Counter[str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def stack(services: ServiceUrls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncStack]:
    with build_stack(services, tmp_path_factory.mktemp("home")) as built:
        yield built


@pytest.fixture
def stored(monkeypatch: pytest.MonkeyPatch) -> StoredResults:
    """Reads each step's stored result in Redis (STRLEN of its key) as the orchestrator collects it."""
    from dagster import DagsterEvent
    from dagster._serdes import deserialize_value

    seen = StoredResults()
    collect = executor._TrackedStep.get

    def get(step: Any, *args: Any, **kwargs: Any) -> Any:
        backend, key = step._result.backend, step._args[2].key
        seen.bytes[key] = int(backend.client.strlen(backend.get_key_for_task(step._result.id)))
        started = time.perf_counter()
        value = collect(step, *args, **kwargs)
        seen.events[key] = Counter(deserialize_value(e, DagsterEvent).event_type_value for e in value)
        seen.seconds[key] = time.perf_counter() - started  # fetched, decoded, deserialized as the loop does
        return value

    monkeypatch.setattr(executor._TrackedStep, "get", get)
    return seen


def _fan_out_and_retry_events() -> list[Any]:
    """Every event a real (in-process) run logs for a fan-out with output metadata, a mapped step, a retry and a
    failure: what a worker's ``execute_plan_iterator`` yields, step by step."""

    @dg.op(out=dg.DynamicOut(int))
    def fan_out() -> Any:
        yield dg.AssetMaterialization("snapshot", metadata={"chunks": 2})
        for i in range(2):
            yield dg.DynamicOutput(i, mapping_key=f"c{i:04d}", metadata={"note": "x" * 500})

    @dg.op(retry_policy=dg.RetryPolicy(max_retries=1))
    def chunk(value: int) -> int:
        if value == 1:
            raise dg.Failure("chunk 1 is bad")
        return value

    @dg.job
    def wide() -> None:
        fan_out().map(chunk)

    result = wide.execute_in_process(raise_on_error=False)
    return [e for e in result.all_events if e.step_key]


def test_the_orchestrator_gets_step_ends_whole_and_outputs_as_their_handle() -> None:
    from dagster import DagsterEvent
    from dagster._serdes import deserialize_value, serialize_value

    events = _fan_out_and_retry_events()
    kept = [deserialize_value(serialize_value(e), DagsterEvent) for e in for_orchestrator(events)]

    ends = {"STEP_SUCCESS", "STEP_FAILURE", "STEP_UP_FOR_RETRY"}
    assert [e for e in kept if e.event_type_value in ends] == [e for e in events if e.event_type_value in ends]
    assert {e.event_type_value for e in events} - ends - {"STEP_OUTPUT"} >= {"STEP_START", "HANDLED_OUTPUT"}
    assert {e.event_type_value for e in kept} == ends | {"STEP_OUTPUT"}
    outputs = [e for e in events if e.event_type_value == "STEP_OUTPUT"]
    slim = [e for e in kept if e.event_type_value == "STEP_OUTPUT"]
    assert [e.step_output_data.step_output_handle for e in slim] == [
        e.step_output_data.step_output_handle for e in outputs
    ]
    assert {e.step_output_data.mapping_key for e in slim} >= {"c0000", "c0001"}
    assert all(e.step_key == o.step_key and e.step_handle == o.step_handle for e, o in zip(slim, outputs, strict=True))
    assert all(not e.step_output_data.metadata and e.step_output_data.type_check_data is None for e in slim)
    assert outputs[0].step_output_data.metadata, "the event log's STEP_OUTPUT keeps its metadata"


def _logged(stack: SyncStack, run_id: str) -> Counter[tuple[str, str]]:
    """(event type, step key) -> count, from the run's event log (what the UI shows)."""
    return Counter(
        (e.dagster_event_type.value, e.step_key or "")
        for e in stack.instance.all_logs(run_id)
        if e.dagster_event_type is not None
    )


@pytest.mark.integration
def test_chunk_results_are_small_and_a_quarantined_chunk_still_fails_the_run_with_its_message(
    stack: SyncStack, stored: StoredResults, tmp_path: Path
) -> None:
    spec = ExportSpec(records=4 * 10, seed=41, chunk_size=10, drift_chunks=[2])
    result = stack.sync(write_export(spec, tmp_path / "drift.csv"), "tate_artworks_csv", chunk_size=10)

    assert not result.success
    chunks = sorted(key for key in stored.bytes if key.startswith("sync_chunk"))
    assert len(chunks) == 4, stored.bytes
    print(f"\nresult bytes: chunk steps {[stored.bytes[k] for k in chunks]}, fan-out {stored.bytes[SNAPSHOT_AND_PLAN]}")
    for key in chunks:  # dagster-celery's result: 22.4 KB (12.5 KB failed), every event of the step
        if key == "sync_chunk[c0002]":  # the failure whole (its error and the quarantine's metadata)
            assert stored.events[key] == Counter({"STEP_FAILURE": 1}) and stored.bytes[key] < 3_000
        else:
            assert stored.events[key] == Counter({"STEP_OUTPUT": 1, "STEP_SUCCESS": 1}), stored.events[key]
            assert stored.bytes[key] < 1_500, (key, stored.bytes[key])
    # The failure traveled whole: the run failure copies the first step failure's error, as the run page shows.
    failures = result.get_step_failure_events()
    assert [e.step_key for e in failures] == ["sync_chunk[c0002]"]
    assert failures[0].step_failure_data.error.message.startswith(QUARANTINED)
    assert failures[0].step_failure_data.user_failure_data.metadata["quarantined_chunk"].value.endswith("/0002")
    (run_failure,) = stack.instance.all_logs(result.run_id, of_type=DagsterEventType.RUN_FAILURE)
    error = run_failure.dagster_event.event_specific_data.error
    assert error.message == failures[0].step_failure_data.error.message and error.stack == []

    # The event log has every event the results no longer carry.
    logged = _logged(stack, result.run_id)
    for key in chunks:
        assert logged["STEP_START", key] == 1 and logged["ASSET_CHECK_EVALUATION", key] >= 2, key
        assert logged["ASSET_MATERIALIZATION_PLANNED", key] >= 1, key
        assert logged["ENGINE_EVENT", key] >= 2, key  # submitted (orchestrator), executing (worker)
        assert logged["STEP_SUCCESS" if key != "sync_chunk[c0002]" else "STEP_FAILURE", key] == 1
        if key != "sync_chunk[c0002]":
            assert logged["ASSET_MATERIALIZATION", key] >= 2 and logged["HANDLED_OUTPUT", key] == 1, key


@pytest.mark.integration
def test_the_fan_out_result_grows_by_a_small_record_per_chunk_and_the_event_log_keeps_every_output(
    stack: SyncStack, stored: StoredResults, tmp_path: Path
) -> None:
    from museum_sync import definitions

    outputs = FAN_OUT
    export = write_export(ExportSpec(records=outputs, seed=42, chunk_size=1), tmp_path / "wide.csv")
    result = execute_job(
        reconstructable(definitions.sync_export_job_def),
        instance=stack.instance,
        run_config=sync_run_config(export, "tate_artworks_csv", "wide", chunk_size=1),
        op_selection=[SNAPSHOT_AND_PLAN],
        raise_on_error=False,
    )

    assert result.success
    per_output = stored.bytes[SNAPSHOT_AND_PLAN] / outputs
    print(
        f"\nresult bytes: fan-out of {outputs}: {stored.bytes[SNAPSHOT_AND_PLAN]} ({per_output:.0f} per output),"
        f" read in {stored.seconds[SNAPSHOT_AND_PLAN]:.3f} s"
    )
    assert stored.events[SNAPSHOT_AND_PLAN] == Counter({"STEP_OUTPUT": outputs, "STEP_SUCCESS": 1})
    assert per_output < 50, per_output  # dagster-celery's: 2.5 KB per output
    logged = _logged(stack, result.run_id)
    assert logged["STEP_OUTPUT", SNAPSHOT_AND_PLAN] == logged["HANDLED_OUTPUT", SNAPSHOT_AND_PLAN] == outputs
    assert logged["ASSET_MATERIALIZATION", SNAPSHOT_AND_PLAN] == 1


def test_a_step_message_is_compressed_in_the_broker(stack: SyncStack, services: ServiceUrls) -> None:
    """A step that collects every chunk is sent the run's whole known state (every mapping key and ready output:
    1.2 MB at 5,000 chunks). ``task_compression`` stores it compressed in the broker, and a worker reads it back."""
    import redis
    from dagster._core.execution.plan.outputs import StepOutputHandle
    from dagster._core.execution.plan.state import KnownExecutionState
    from dagster._serdes import serialize_value

    from museum_sync.defs.celery_config import celery_config
    from museum_sync.defs.dagster_internals import celery_app

    keys = [f"c{i:04d}" for i in range(5000)]
    known = KnownExecutionState(
        previous_retry_attempts={},
        dynamic_mappings={SNAPSHOT_AND_PLAN: {"result": keys}},
        ready_outputs={StepOutputHandle(f"sync_chunk[{k}]", "result") for k in keys}
        | {StepOutputHandle(SNAPSHOT_AND_PLAN, "result", k) for k in keys},
        step_output_versions={},
    )
    packed = serialize_value(known)
    assert len(packed) > 1_000_000
    app = celery_app(
        {k: v for k, v in celery_config().items() if k in ("broker", "backend", "include", "config_source")}
    )
    queue = f"test_compression_{time.monotonic_ns()}"
    app.send_task("museum_sync_tests.no_such_task", args=[packed], queue=queue)
    client = redis.Redis.from_url(services.redis_py_url)
    try:
        stored = client.lrange(queue, 0, -1)
        assert len(stored) == 1
        assert len(stored[0]) < len(packed) / 10, len(stored[0])
        with app.connection_for_read() as conn:  # what a worker's consumer decodes
            message = conn.SimpleQueue(queue, no_ack=True).get(timeout=5)
            assert message.headers["compression"] == "application/x-gzip"
            assert message.decode()[0] == [packed]
    finally:
        client.delete(queue)
