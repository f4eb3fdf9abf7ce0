"""Finding 13 of issue #12: a user's mistake is one line on stderr and a non-zero exit, never a traceback, through
the real ``museum-sync`` command in a fresh process: a bad ``MUSEUM_SYNC_*`` value (the settings', the search
client's, a schedule's that only the code location reads), and a Celery worker that dies as it starts. ``--debug``
shows the traceback. Settings are checked before services start; the code location is loaded before workers do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import museum_sync.samples
from museum_sync.services import make_scratch_dir

SAMPLE_CSV = Path(museum_sync.samples.__file__).parent / "tate_artwork_data_first52rows.csv"
PREFIX = "museum-sync: error: "


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A folder embedded PostgreSQL can reach when the suite runs as root (pytest's tmp_path is 0700)."""
    path = make_scratch_dir("ms-err-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _run(scratch: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MUSEUM_SYNC_", "DAGSTER_", "CELERY_"))}
    return subprocess.run(
        [sys.executable, "-m", "museum_sync.cli", "--state-dir", str(scratch / "state"), *args],
        cwd=scratch,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr[-3000:]}"
    assert lines[0].startswith(PREFIX), lines[0]
    return lines[0][len(PREFIX) :]


ES = {"MUSEUM_SYNC_ES_URL": "http://127.0.0.1:1"}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MUSEUM_SYNC_VISIBILITY_TIMEOUT": "soon"}, "MUSEUM_SYNC_VISIBILITY_TIMEOUT='soon': expected an integer"),
        ({"MUSEUM_SYNC_ES_URL": "elastic.internal:9200"}, "MUSEUM_SYNC_ES_URL='elastic.internal:9200': expected"),
        ({**ES, "MUSEUM_SYNC_ES_ALIAS": "Museum Objects"}, "MUSEUM_SYNC_ES_ALIAS='Museum Objects'"),
        ({**ES, "MUSEUM_SYNC_ES_INDEX_PREFIX": "../objects-"}, "MUSEUM_SYNC_ES_INDEX_PREFIX='../objects-'"),
        ({**ES, "MUSEUM_SYNC_ES_API_KEY": "k3y", "MUSEUM_SYNC_ES_USER": "elastic"}, "not both"),
        ({**ES, "MUSEUM_SYNC_ES_USER": "elastic"}, "must be set together"),
        ({**ES, "MUSEUM_SYNC_ES_CA_CERTS": "/nonexistent/ca.pem"}, "MUSEUM_SYNC_ES_CA_CERTS='/nonexistent/ca.pem'"),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) and len(v) == 1 else None,
)
def test_a_bad_setting_is_one_line_before_services_start(scratch: Path, env: dict[str, str], expected: str) -> None:
    message = _one_line(_run(scratch, "status", env=env))
    assert expected in message, message
    assert "k3y" not in message
    assert not (scratch / "state").exists(), "services were started before the settings were checked"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MUSEUM_SYNC_HARVEST_CRON": "every night"}, "MUSEUM_SYNC_HARVEST_CRON='every night': expected a cron"),
        ({"MUSEUM_SYNC_NIGHTLY_CRON": "61 2 * * *"}, "MUSEUM_SYNC_NIGHTLY_CRON='61 2 * * *': expected a cron"),
        ({"MUSEUM_SYNC_TIMEZONE": "Mars/Olympus_Mons"}, "MUSEUM_SYNC_TIMEZONE='Mars/Olympus_Mons': expected an IANA"),
    ],
)
def test_a_bad_schedule_setting_is_one_line_before_workers_start(
    scratch: Path, env: dict[str, str], expected: str
) -> None:
    """Only the code location reads these (its schedules); it is loaded before any worker starts."""
    message = _one_line(_run(scratch, "sync", str(SAMPLE_CSV), "--profile", "tate_artworks_csv", env=env))
    assert message.startswith(expected), message
    assert not list((scratch / "state").glob("logs/worker-*.log")), "a worker was started"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (
            ["--concurrency", "-1"],
            {},
            "Error: Invalid value for '-c' / '--concurrency': must be a non-negative integer or 'auto', got '-1'",
        ),
        ([], {"CELERY_LOADER": "museum_sync_nonexistent.loader"}, "ModuleNotFoundError: No module named"),
    ],
    ids=["bad-concurrency", "worker-import-error"],
)
def test_a_worker_that_dies_at_start_is_one_line_naming_it(
    scratch: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    result = _run(scratch, "sync", str(SAMPLE_CSV), "--profile", "tate_artworks_csv", *args, env=env)
    message = _one_line(result)
    (log,) = (scratch / "state" / "logs").glob("worker-sync*-0.log")  # the sync's own pool: sync<pid>-0
    node = log.stem.removeprefix("worker-")
    assert message.startswith(f"Celery worker {node} (queues ingestion_high,iiif,dagster) exited with"), message
    assert expected in message and f"(log {log})" in message, message


@pytest.mark.integration
def test_debug_shows_the_traceback_of_a_worker_that_dies(scratch: Path) -> None:
    result = _run(scratch, "--debug", "sync", str(SAMPLE_CSV), "--profile", "tate_artworks_csv", "--concurrency", "-1")
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "WorkerStartFailed" in result.stderr


def test_debug_shows_the_traceback_of_a_bad_setting(scratch: Path) -> None:
    result = _run(scratch, "--debug", "status", env={"MUSEUM_SYNC_VISIBILITY_TIMEOUT": "soon"})
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "SettingsError" in result.stderr


def test_the_demo_checks_the_settings_it_still_reads(scratch: Path) -> None:
    """The demo ignores where-things-live variables, not the others: a bad one is one line, nothing started."""
    result = _run(scratch, "demo", env={"MUSEUM_SYNC_MAX_INFLIGHT_STEPS": "0"})
    assert "MUSEUM_SYNC_MAX_INFLIGHT_STEPS='0': expected an integer >= 1" in _one_line(result)
    assert not (scratch / "state").exists()


def test_a_worker_log_from_an_earlier_start_does_not_count(tmp_path: Path) -> None:
    """Worker logs are appended to: an earlier run's " ready." line must not pass for this start's (the run would
    then wait forever for a worker that died), nor its errors for this start's."""
    from museum_sync.runtime import WorkerPool, WorkerStartFailed

    log = tmp_path / "logs" / "worker-ms0.log"
    log.parent.mkdir()
    log.write_text("[2026-11-24 02:00:01,000: INFO/MainProcess] ms0@museum ready.\nValueError: an old error\n")
    pool = WorkerPool(env={}, log_dir=tmp_path / "logs", concurrency=-1)
    with pytest.raises(WorkerStartFailed) as caught:
        pool.start(timeout=60)
    message = str(caught.value)
    assert "exited with 2 at start: Error: Invalid value for '-c' / '--concurrency'" in message, message
    assert "\n" not in message and "old error" not in message
