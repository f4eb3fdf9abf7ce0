"""The parts of telemetry that need no worker: the health rule, the log format, the derived run limit, liveness."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import time
from pathlib import Path

import pytest

from museum_sync.defs.sensors import max_runtime_tags
from museum_sync.telemetry import health, logs

QUEUES = ("ingestion_high", "iiif", "dagster")
NOW = 1_796_000_000.0  # records are built when tests are collected: ages count from a fixed instant


def _record(
    name: str, *, version: str = "1.0+abc", schema: str = "h1", queues: tuple[str, ...] = QUEUES, age: float = 1
):
    now = NOW
    return health.WorkerRecord(
        name=name,
        host="h",
        pid=1,
        version=version,
        schema_versions=dict(health.SCHEMA_VERSIONS),
        schema_hash=schema,
        queues=list(queues),
        limits={"max_memory_per_child_kb": 400_000},
        started_at=now - 100,
        heartbeat_at=now - age,
    )


REFERENCE = {"version": "1.0+abc", "schema_hash": "h1"}


@pytest.fixture(autouse=True)
def _stale_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUSEUM_SYNC_STALE_AFTER_S", "30")


def test_one_version_one_schema_every_queue_is_healthy() -> None:
    verdict = health.verdict([_record("a"), _record("b", queues=("iiif",))], QUEUES, reference=REFERENCE, now=NOW)
    assert verdict.ok and verdict.summary() == "2 workers healthy"


@pytest.mark.parametrize(
    ("records", "problem"),
    [
        ([], "no worker has announced itself"),
        ([_record("a"), _record("b", version="1.0+def")], "code versions differ: 1.0+abc: a, this process; 1.0+def: b"),
        ([_record("a"), _record("b", schema="h2")], "schema hashes differ: h1: a, this process; h2: b"),
        ([_record("a", age=45)], "worker a is stale: last heartbeat 45 s ago (> 30 s)"),
        ([_record("a", queues=("ingestion_high", "dagster"))], "no live worker consumes queue(s) iiif"),
    ],
)
def test_each_unhealthy_fleet_names_its_problem(records: list[health.WorkerRecord], problem: str) -> None:
    verdict = health.verdict(records, QUEUES, reference=REFERENCE, now=NOW)
    assert not verdict.ok and any(p.startswith(problem) for p in verdict.problems), verdict.problems


def test_a_stale_worker_consumes_nothing() -> None:
    verdict = health.verdict([_record("a", age=45)], QUEUES, reference=REFERENCE, now=NOW)
    assert "no live worker consumes queue(s) ingestion_high, iiif, dagster" in verdict.problems


def test_the_schema_hash_covers_every_xsd_byte(tmp_path: Path) -> None:
    schemas = Path(health.__file__).resolve().parent.parent / "core" / "schemas"
    copy = tmp_path / "schemas"
    shutil.copytree(schemas, copy)
    assert health.schema_hash(copy) == health.schema_hash()
    (copy / "dc" / "dc.xsd").write_bytes((copy / "dc" / "dc.xsd").read_bytes() + b" ")
    assert health.schema_hash(copy) != health.schema_hash()


def test_liveness_reads_this_hosts_heartbeat_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUSEUM_SYNC_METRICS_DIR", str(tmp_path))
    assert health.liveness() == (False, f"no heartbeat file in {tmp_path}")
    beat = health.heartbeat_file("w0@host")
    beat.write_text("1")
    assert health.liveness()[0]
    os.utime(beat, (time.time() - 60, time.time() - 60))
    alive, detail = health.liveness()
    assert not alive and detail.startswith("stale: w0_host 60 s")


def test_a_sync_of_five_million_records_gets_more_than_an_hour(tmp_path: Path) -> None:
    small = tmp_path / "small.csv"
    small.write_bytes(b"x" * 1000)
    assert max_runtime_tags(small) == {"dagster/max_runtime": "3600"}
    big = tmp_path / "big.csv"
    with big.open("wb") as handle:  # sparse: 5M records of ~340 bytes
        handle.truncate(5_000_000 * 340)
    assert int(max_runtime_tags(big)["dagster/max_runtime"]) == 17_000


def _emit(record: logging.LogRecord, *, json_lines: bool) -> str:
    return logs.formatter(json=json_lines).format(record)


def test_a_dagster_record_becomes_one_json_line_with_run_step_and_partition() -> None:
    record = logging.LogRecord("dagster", logging.INFO, __file__, 1, "job - run - step - done", None, None)
    record.dagster_meta = {  # type: ignore[attr-defined]
        "run_id": "r-1",
        "step_key": "sync_chunk[c0001]",
        "job_tags": {"dagster/partition": "exp-20261203-ab/0001"},
        "dagster_event": None,
        "orig_message": "done",
    }
    line = json.loads(_emit(record, json_lines=True))
    assert line["event"] == "done" and line["run_id"] == "r-1" and line["step"] == "sync_chunk[c0001]"
    assert line["partition"] == "exp-20261203-ab/0001" and line["schema_version"] and line["level"] == "info"
    assert list(line)[:3] == ["ts", "level", "event"]


def test_our_events_carry_what_was_bound_and_a_terminal_gets_a_console_line(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setenv("MUSEUM_SYNC_LOG_FORMAT", "json")
    handler = logs.stream_handler(stream)
    logger = logging.getLogger("museum_sync.test_units")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        with logs.bound(worker="w0@host", task_id="t-1", run_id="r-1"):
            logs.configure(stream=io.StringIO(), force=True)
            logs.log("museum_sync.test_units").warning(
                "chunk_quarantined", partition="e/0001", export_id="e", record_count=500
            )
    finally:
        logger.removeHandler(handler)
        logging.getLogger().removeHandler(logs.configure(stream=io.StringIO(), force=True))
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert {k: line[k] for k in ("event", "worker", "task_id", "run_id", "partition", "export_id", "record_count")} == {
        "event": "chunk_quarantined",
        "worker": "w0@host",
        "task_id": "t-1",
        "run_id": "r-1",
        "partition": "e/0001",
        "export_id": "e",
        "record_count": 500,
    }
    assert set(logs.FIELDS) <= set(line)
    monkeypatch.setenv("MUSEUM_SYNC_LOG_FORMAT", "console")
    record = logging.LogRecord("celery", logging.INFO, __file__, 1, "ms0@host ready.", None, None)
    text = logs.stream_handler(io.StringIO()).format(record)
    assert "ms0@host ready." in text and not text.startswith("{")
