"""Finding 14 of issue #12: no Dagster Beta/Preview warning and no dagster-celery ``DuplicateTaskNameWarning`` in
what a user sees: loading the code location (what ``dagster dev``'s code server and daemon do), a sync through
the CLI (the run's own process submits every step) and the Celery worker that runs the steps (each child loads
the code location). Every process runs with ``-W default`` / ``PYTHONWARNINGS=default``, so nothing is hidden by
Python's default filters; the suite itself filters none of these (``pyproject.toml``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import museum_sync.samples
from museum_sync.services import make_scratch_dir

SEEN_BY_USERS = re.compile(r"BetaWarning|PreviewWarning|DuplicateTaskNameWarning")
SAMPLE_CSV = Path(museum_sync.samples.__file__).parent / "tate_artwork_data_first52rows.csv"

_LOAD = """
import museum_sync.definitions as code_location
repository = code_location.defs.get_repository_def()  # what a code server builds, sensors and schedules included
for name in ("sync_export_job_def", "harvest_export_job_def", "chunk_job_def", "publish_job_def"):
    getattr(code_location, name)()
repository.get_all_jobs()
import museum_sync.defs.worker_app
print("loaded", len(repository.sensor_defs), "sensors")
"""


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MUSEUM_SYNC_", "DAGSTER_", "PYTHONWARNINGS"))}
    return {**env, **extra}


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = make_scratch_dir("ms-warn-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_loading_the_code_location_prints_no_library_warning(scratch: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", _LOAD],
        cwd=scratch,
        env=_clean_env(DAGSTER_HOME=str(scratch)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("loaded 2 sensors")
    assert not SEEN_BY_USERS.search(result.stderr), result.stderr[-3000:]


@pytest.mark.integration
def test_a_sync_and_its_worker_print_no_library_warning(scratch: Path) -> None:
    """The CLI process runs the job (it submits each step to Celery); the worker's children load the code
    location and run the steps. Neither prints one of the warnings, start to end."""
    state = scratch / "state"
    result = subprocess.run(
        [sys.executable, "-W", "default", "-m", "museum_sync.cli", "--state-dir", str(state), "sync", str(SAMPLE_CSV)]
        + ["--profile", "tate_artworks_csv", "--chunk-size", "20"],
        cwd=scratch,
        env=_clean_env(PYTHONWARNINGS="default"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "(3 chunks)" in result.stdout, result.stdout  # 5 steps submitted: the task was registered 5 times
    (log,) = (state / "logs").glob("worker-sync*-0.log")  # the sync's own pool: node sync<pid>-0
    worker_log = log.read_text(encoding="utf-8", errors="replace")
    assert " ready." in worker_log and "succeeded" in worker_log, worker_log[-2000:]
    assert not SEEN_BY_USERS.search(result.stderr), result.stderr[-3000:]
    assert not SEEN_BY_USERS.search(worker_log), worker_log[-3000:]
