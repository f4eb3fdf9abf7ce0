"""``runtime.stream_job``, the way ``museum-sync sync|demo|harvest`` run an export: the same run as
``run_job`` (``execute_job``), but the run's events only pass through the orchestrator, so its memory does not
grow with the number of chunks (issue #18). Real workers, real Dagster instance, real catalogue."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterEvent, DagsterEventType

from museum_sync.cli.sync import _summarise
from museum_sync.defs.run_config import sync_run_config
from museum_sync.runtime import stream_job
from museum_sync.samples.generate import ExportSpec, write_export
from museum_sync.services import ServiceUrls
from museum_sync_tests.integration.conftest import SyncStack, build_stack

pytestmark = pytest.mark.integration

CHUNK = 200


@pytest.fixture(scope="module")
def stack(services: ServiceUrls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncStack]:
    with build_stack(services, tmp_path_factory.mktemp("home")) as built:
        yield built


def _config(path: Path, source: str) -> dict[str, Any]:
    config: dict[str, Any] = sync_run_config(path, "tate_artworks_csv", source)
    config["ops"]["snapshot_and_plan"]["config"]["chunk_size"] = CHUNK
    return config


def _live_events() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if isinstance(obj, DagsterEvent))


def test_stream_job_runs_the_whole_sync_and_holds_no_events(stack: SyncStack, tmp_path: Path) -> None:
    export = write_export(ExportSpec(records=5 * CHUNK, seed=31, chunk_size=CHUNK, bad_share=0.02), tmp_path / "a.csv")
    seen: list[str] = []
    held_at_end: list[int] = []

    def on_event(event: Any) -> None:
        seen.append(event.event_type_value)
        if event.event_type == DagsterEventType.RUN_SUCCESS:
            held_at_end.append(_live_events())  # the run's last event: everything before it went by

    before = _live_events()
    outcome = stream_job(
        "sync_export_job_def",
        instance=stack.instance,
        run_config=_config(export, "stream-a"),
        tags={"museum-sync/kind": "sync"},
        on_event=on_event,
    )

    assert outcome.success and outcome.status == "SUCCESS"
    assert outcome.events == len(seen) > 3 * (5 + 3)  # per step: submitted, output(s), success (for_orchestrator)
    # the events went through this process and were let go: not kept as execute_job keeps them
    assert held_at_end and held_at_end[0] - before < len(seen) / 4, (before, held_at_end, len(seen))
    # the same run execute_job would have made: tags, every step in the event log, every valid row loaded
    run = stack.instance.get_run_by_id(outcome.run_id)
    assert run.tags["museum-sync/launcher"] == "cli" and run.tags["museum-sync/pid"] == str(os.getpid())
    assert run.tags["museum-sync/kind"] == "sync"
    starts = stack.instance.get_records_for_run(outcome.run_id, of_type=DagsterEventType.STEP_START).records
    assert len(starts) == seen.count("STEP_SUCCESS") == 5 + 3  # snapshot, 5 chunks, IIIF plan, publish
    summary = _summarise(stack.instance, outcome.run_id, 0.0)  # what the CLI prints, read back afterwards
    assert summary["records"] == 5 * CHUNK and summary["chunks"] == 5 and summary["rejected"] > 0
    assert stack.catalog.count() == summary["valid"] == 5 * CHUNK - summary["rejected"]


def test_stream_job_reports_a_failed_run(stack: SyncStack, tmp_path: Path) -> None:
    spec = ExportSpec(records=3 * CHUNK, seed=32, chunk_size=CHUNK, drift_chunks=[1])  # chunk 1 fails its check
    export = write_export(spec, tmp_path / "b.csv")

    outcome = stream_job("sync_export_job_def", instance=stack.instance, run_config=_config(export, "stream-b"))

    assert not outcome.success and outcome.status == "FAILURE"
    assert stack.instance.get_run_by_id(outcome.run_id).status.value == "FAILURE"
