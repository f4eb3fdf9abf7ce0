"""Real Celery worker processes, observed the way an on-call engineer does: their JSON log lines, ``/metrics``
scraped during a sync, ``museum-sync doctor`` and the sync sensor/schedule's health gate.

One fleet per module on its own Redis dbs (broker and results), so no other module's workers or records are
seen: worker ``ms0`` (every queue, metrics served); for the mismatch, a worker importing a copy of the package
whose LIDO XSD differs by one comment; for staleness, a worker killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

import museum_sync
from museum_sync.runtime import WorkerPool
from museum_sync.samples.generate import ExportSpec, write_export
from museum_sync.services import ServiceUrls
from museum_sync.telemetry import health
from museum_sync.telemetry.metrics import FAMILIES
from museum_sync_tests.integration.conftest import SyncStack, build_stack

pytestmark = pytest.mark.integration

STALE_AFTER_S = 2.0
NIGHT = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def fleet(
    services: ServiceUrls, _redis_db_pool: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SyncStack, int]]:
    broker_db, results_db = _redis_db_pool.take(), _redis_db_pool.take()
    port = _free_port()
    home = tmp_path_factory.mktemp("fleet")
    extra = {
        "MUSEUM_SYNC_REDIS_URL": services.redis_py_url_for(broker_db),
        "MUSEUM_SYNC_BROKER_URL": services.broker_url_for(broker_db),
        "MUSEUM_SYNC_RESULT_BACKEND": services.broker_url_for(results_db),
        "MUSEUM_SYNC_METRICS_PORT": str(port),
        "MUSEUM_SYNC_METRICS_DIR": str(home / "metrics"),
        "MUSEUM_SYNC_RSS_SAMPLE_S": "0.1",
        "MUSEUM_SYNC_HEARTBEAT_S": "0.3",
        "MUSEUM_SYNC_STALE_AFTER_S": str(STALE_AFTER_S),
        "MUSEUM_SYNC_LOG_FORMAT": "json",
        "MUSEUM_SYNC_HEALTH_GATE": "true",
    }
    try:
        with build_stack(services, home, extra) as stack:
            yield stack, port
    finally:
        for db in (broker_db, results_db):
            _redis_db_pool.give_back(db)


def _doctor(stack: SyncStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **stack.env}
    return subprocess.run(
        [sys.executable, "-m", "museum_sync.cli", "--state-dir", str(stack.home / "cli"), "doctor", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _records() -> dict[str, health.WorkerRecord]:
    client = health.redis_client()
    try:
        return {r.name: r for r in health.read_records(client)}
    finally:
        client.close()


def _samples(text: str, family: str) -> dict[str, float]:
    """``{labels: value}`` of one metric family in a Prometheus text exposition."""
    pattern = re.compile(rf"^{family}(\{{[^}}]*\}})? (\S+)$", re.M)
    return {m.group(1) or "": float(m.group(2)) for m in pattern.finditer(text)}


def test_a_sync_logs_json_lines_and_metrics_move_while_steps_run(fleet: tuple[SyncStack, int]) -> None:
    stack, port = fleet
    # The demo's second night, smaller: chunk 1 with malformed rights, chunk 2 drifted (both held back).
    spec = ExportSpec(
        records=600, seed=2, chunk_size=200, bad_share=0.01, bad_chunks={"malformed_rights": [1]}, drift_chunks=[2]
    )
    night2 = write_export(spec, stack.home / "samples" / "night2.csv")
    scrapes: list[str] = []
    done = threading.Event()

    def scrape() -> None:
        while not done.is_set():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
                scrapes.append(response.read().decode())
            time.sleep(0.2)

    scraper = threading.Thread(target=scrape, daemon=True)
    scraper.start()
    result = stack.sync(night2, "tate_artworks_csv", chunk_size=200)
    done.set()
    scraper.join(15)
    assert not result.success  # two chunks held back at their checks: the export is not published
    run_id = result.run_id

    # RSS of the children, sampled by their own thread while steps ran: it moved, not only after each task.
    rss_by_child: dict[str, set[float]] = {}
    for text in scrapes:
        for labels, value in _samples(text, "museum_sync_worker_child_rss_bytes").items():
            rss_by_child.setdefault(labels, set()).add(value)
    assert len(scrapes) >= 5, "the sync ran long enough for several scrapes"
    assert any(len(values) >= 3 for values in rss_by_child.values()), rss_by_child
    final = scrapes[-1]
    rejected = _samples(final, "museum_sync_records_rejected_total")
    assert rejected['{reason="malformed_rights"}'] >= 10, rejected
    quarantined = _samples(final, "museum_sync_chunks_quarantined_total")
    assert quarantined['{check="schema_drift"}'] == 1 and quarantined['{check="record_validity"}'] >= 1, quarantined
    assert _samples(final, "museum_sync_chunk_step_seconds_count")['{step="validate"}'] == 3
    assert set(_samples(final, "museum_sync_queue_depth")) == {
        '{queue="ingestion_high"}',
        '{queue="iiif"}',
        '{queue="dagster"}',
    }
    never_seen = [f for f in FAMILIES if f"\n{f}" not in final and f"\n{f}_bucket" not in final]
    assert never_seen == ["museum_sync_tasks_retried_total"], "what the dashboard and alerts use is served"
    info = next(iter(_samples(final, "museum_sync_worker_info")))
    assert f'schema_hash="{health.schema_hash()}"' in info and 'worker="ms0@' in info

    # Every line the worker wrote since it started is one JSON object (the banner aside, printed by Celery).
    log = stack.workers.logs[0].read_text(encoding="utf-8")[stack.workers.log_starts[0] :]
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    quarantined = [e for e in lines if e["event"] == "chunk_quarantined"]
    assert sorted(e["partition"][-4:] for e in quarantined) == ["0001", "0002"]
    rights = next(e for e in quarantined if e["partition"].endswith("/0001"))
    assert rights["run_id"] == run_id and rights["failed_checks"] == ["record_validity"]
    assert rights["export_id"] == rights["partition"].split("/")[0] and rights["record_count"] == 200
    assert rights["worker"].startswith("ms0@") and rights["task_id"] and rights["schema_version"]
    assert rights["reasons"]["malformed_rights"] >= 10 and rights["level"] == "warning"
    step_lines = [e for e in lines if e.get("logger") == "dagster" and e.get("partition", "").endswith("/0001")]
    assert step_lines and all(e["run_id"] == run_id for e in step_lines), "Dagster's own events are JSON too"
    (stack.home / "sample-quarantined-line.json").write_text(json.dumps(rights), encoding="utf-8")


def _copy_with_other_schema(root: Path) -> Path:
    """A copy of the package whose LIDO 1.1 XSD differs by one comment: what a half-rolled-out image looks like."""
    target = root / "museum_sync"
    shutil.copytree(Path(museum_sync.__file__).parent, target, ignore=shutil.ignore_patterns("__pycache__"))
    xsd = target / "core" / "schemas" / "lido" / "lido-v1.1.xsd"
    xsd.write_bytes(xsd.read_bytes() + b"\n<!-- patched by a later image -->\n")
    return root


@pytest.fixture(scope="module")
def other_worker(
    fleet: tuple[SyncStack, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WorkerPool, str]]:
    """A second worker (queue ``ingestion_high``) importing the copy; the tests below first ask about it alive,
    then kill it. Its record is removed at the end whatever happened."""
    stack, _ = fleet
    root = _copy_with_other_schema(tmp_path_factory.mktemp("image-b"))
    env = {**stack.env, "PYTHONPATH": str(root), "MUSEUM_SYNC_METRICS_PORT": "0"}
    pool = WorkerPool(env=env, log_dir=root / "logs", name="other", queues=("ingestion_high",), concurrency=1)
    with pytest.MonkeyPatch.context() as started_there:  # `python -m celery` puts its working folder first on sys.path
        started_there.chdir(root)
        pool.start()
    name = f"other0@{socket.gethostname()}"
    try:
        _wait_for(lambda: _records().get(name), 30, "the other worker's record")
        yield pool, name
    finally:
        pool.stop()
        client = health.redis_client()
        health.delete_record(client, name)
        client.close()
        health.heartbeat_file(name).unlink(missing_ok=True)


def test_a_worker_on_other_schema_files_fails_doctor_and_the_sync_sensor_refuses(
    fleet: tuple[SyncStack, int], other_worker: tuple[WorkerPool, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, _ = fleet
    _, name = other_worker
    record = _records()[name]
    assert record.schema_hash != health.schema_hash() and record.queues == ["ingestion_high"]
    sick = _doctor(stack)
    assert sick.returncode == 1, sick.stdout + sick.stderr
    assert "FAIL: schema hashes differ" in sick.stdout and f"{record.schema_hash}: {name}" in sick.stdout
    assert re.search(
        rf"^{re.escape(name)} +0\.1\.0 +{record.schema_hash} +ingestion_high +\d+ s ago", sick.stdout, re.M
    )
    (stack.home / "doctor-mismatch.txt").write_text(sick.stdout, encoding="utf-8")

    from museum_sync.defs.schedules import nightly_sync_schedule
    from museum_sync.defs.sensors import inbox_sensor

    tick = inbox_sensor(dg.build_sensor_context(cursor='{"x": 1}'))
    assert tick.run_requests == [] and tick.cursor == '{"x": 1}', "files wait in the inbox for a healthy fleet"
    assert tick.skip_reason is not None
    message = tick.skip_reason.skip_message or ""
    assert message.startswith("not launching: `museum-sync doctor` fails: ") and "schema hashes differ" in message
    sources = tmp_path / "sources.toml"
    sources.write_text('[[source]]\nname = "tate"\nprofile = "tate_artworks_csv"\npath = "/x.csv"\n')
    monkeypatch.setenv("MUSEUM_SYNC_SOURCES", str(sources))
    refused = nightly_sync_schedule(dg.build_schedule_context(scheduled_execution_time=NIGHT))
    assert isinstance(refused, dg.SkipReason) and "schema hashes differ" in (refused.skip_message or "")
    monkeypatch.setenv("MUSEUM_SYNC_HEALTH_GATE", "false")
    assert len(nightly_sync_schedule(dg.build_schedule_context(scheduled_execution_time=NIGHT))) == 1, (
        "the gate, and only it, refused"
    )


def test_a_killed_worker_is_reported_stale_after_the_heartbeat_timeout(
    fleet: tuple[SyncStack, int], other_worker: tuple[WorkerPool, str]
) -> None:
    stack, _ = fleet
    pool, name = other_worker
    assert health.liveness()[0]
    pool.procs[0].send_signal(signal.SIGKILL)  # no warm shutdown: its record stays behind
    pool.procs[0].wait()
    time.sleep(STALE_AFTER_S + 0.5)
    stale = _doctor(stack)
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert re.search(rf"FAIL: worker {re.escape(name)} is stale: last heartbeat \d+ s ago", stale.stdout), stale.stdout
    assert name in stale.stdout.split("FAIL")[0], "the table still lists it, with its last heartbeat"
    alive, detail = health.liveness()
    assert not alive and detail.startswith("stale: other0_"), detail
    (stack.home / "doctor-stale.txt").write_text(stale.stdout, encoding="utf-8")
