"""The steward's words and pieces, without services: counts, labels, the quarantine failure, the replay job's
config, the quarantine report. The browser test (``museum_sync_tests/ui``) shows them on the real stack."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import dagster as dg
import pytest

from museum_sync.defs import checks
from museum_sync.defs.quarantine_report import ReportRow, report_lines, report_markdown
from museum_sync.defs.replay import ReplayConfig, _mapping_key, launched_by
from museum_sync.defs.vocabulary import PROBLEMS_FOUND, RECORDS_REJECTED, counts_phrase
from museum_sync.pipeline import ChunkReport

KEY = "tate_demo-20261125-1a2b3c4d/0001"


def _report(**changes: object) -> ChunkReport:
    values: dict[str, object] = {
        "export_id": "tate_demo-20261125-1a2b3c4d",
        "partition_key": KEY,
        "index": 1,
        "records": 500,
        "valid": 19,
        "rejected": 481,
        "reasons": {"malformed_rights": 481, "invalid_date": 488},
        "blocking_reasons": {"malformed_rights": 481},
        "reject_ratio": 0.962,
        "validity_passed": False,
        "drift_passed": True,
        "drift": {},
        "drift_diff": "",
        "valid_digest": "0" * 64,
    }
    values.update(changes)
    return ChunkReport(**values)  # type: ignore[arg-type]


def test_one_vocabulary_of_counts() -> None:
    assert counts_phrase(481, 969) == "481 records rejected, 969 problems found"
    report = _report()
    validity = next(r for r in checks.check_results(report, 969) if r.check_name == "record_validity")
    assert validity.metadata[RECORDS_REJECTED].value == 481
    assert validity.metadata[PROBLEMS_FOUND].value == 969
    assert validity.description == "481 records rejected, 969 problems found"
    meta = checks.validated_metadata(_report(validity_passed=True), 969)
    assert meta[RECORDS_REJECTED].value == 481 and meta[PROBLEMS_FOUND].value == 969
    assert "rejected" not in meta, "one word per count: records_rejected, problems_found"


def test_export_label_names_source_and_night() -> None:
    assert checks.export_label("tate_demo-20261125-1a2b3c4d") == "tate_demo, night of 2026-11-25 (snapshot 1a2b3c4d)"


def test_quarantine_failure_is_a_clear_message_with_what_next() -> None:
    failure = checks.quarantine_failure(_report(), 969)
    assert isinstance(failure, checks.ChunkQuarantined) and isinstance(failure, dg.Failure)
    assert failure.allow_retries is False
    assert failure.description is not None
    first, next_line = failure.description.split("\n")
    assert first.startswith(f"expected quarantine, not a crash: chunk {KEY} quarantined: record validity: 481 records")
    assert "replay_quarantined" in next_line and f"museum-sync quarantine replay {KEY}" in next_line
    assert {"quarantined_chunk", "export", "failed_checks", RECORDS_REJECTED, PROBLEMS_FOUND, "next_step"} <= set(
        failure.metadata
    )
    tags = checks.quarantine_tags(_report())
    assert tags["museum-sync/quarantined-c0001"] == f"{KEY}: record_validity"
    copy = pickle.loads(pickle.dumps(failure))  # an exception crosses processes pickled
    assert type(copy) is checks.ChunkQuarantined and copy.description == failure.description
    assert copy.metadata == failure.metadata and copy.allow_retries is False


def test_failed_check_results_carry_the_next_step_passed_ones_do_not() -> None:
    failed = checks.check_results(_report(), 969)
    assert all("next_step" in r.metadata for r in failed)
    passed = checks.check_results(_report(validity_passed=True), 0)
    assert not any("next_step" in r.metadata for r in passed)
    evaluations = checks.check_evaluations(failed, KEY)
    assert [(e.check_name, e.passed, e.partition) for e in evaluations] == [
        ("schema_drift", True, KEY),
        ("record_validity", False, KEY),
    ]


@pytest.mark.usefixtures("museum_env")
def test_replay_job_config_from_the_launchpad() -> None:
    from museum_sync.definitions import defs

    job = defs.resolve_job_def("replay_quarantined")
    for config in ({"partition_keys": [KEY]}, {"export_id": "tate_demo-20261125-1a2b3c4d"}, {}):
        assert dg.validate_run_config(job, {"ops": {"plan_replay": {"config": config}}})
    assert ReplayConfig().partition_keys == [] and ReplayConfig().export_id == ""
    assert _mapping_key(KEY) == "tate_demo_20261125_1a2b3c4d_0001"


@pytest.mark.parametrize(
    ("tags", "who"),
    [
        ({"museum-sync/launched-by": "ana"}, "ana"),
        ({"dagster/user": "bo@museum.org"}, "bo@museum.org"),
        ({}, "the Dagster UI (Launchpad)"),
    ],
)
def test_who_launched_a_replay(tags: dict[str, str], who: str) -> None:
    assert launched_by(tags) == who


def test_quarantine_report_says_what_was_replayed_by_whom_and_when() -> None:
    at = datetime(2026, 11, 26, 7, 30, tzinfo=UTC)
    rows = [
        ReportRow(KEY, "replayed", "record_validity", {"malformed_rights": 3}, 3, 5, at, "r1" * 8, at, "r2" * 8, "ana"),
        ReportRow(KEY[:-1] + "2", "open", "schema_drift", {}, 0, 0, at, "r3" * 8, None, None, None),
    ]
    lines = report_lines("tate_demo-20261125-1a2b3c4d", rows)
    assert lines[0] == "tate_demo-20261125-1a2b3c4d: 2 chunk(s) quarantined, 1 still open"
    assert "3 records rejected, 5 problems found" in lines[1]
    assert lines[3] == f"    replayed 2026-11-26 07:30 UTC by ana (run {'r2' * 8})"
    table = report_markdown(rows)
    assert table.count("\n") == 3 and "| ana |" in table and "| open |" in table


def _failed_run_errors(raise_in_op: Exception) -> tuple[dg.DagsterEvent, dg.DagsterEvent, int]:
    """Run a one-op job that raises ``raise_in_op``: its STEP_FAILURE and RUN_FAILURE events as stored, and how
    many times the step was retried."""

    @dg.op(retry_policy=dg.RetryPolicy(max_retries=1))  # as the chunk steps have one
    def chunk_step() -> None:
        raise raise_in_op

    @dg.job
    def one_chunk() -> None:
        chunk_step()

    with dg.instance_for_test() as instance:
        result = one_chunk.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        events = [r.dagster_event for r in instance.all_logs(result.run_id) if r.dagster_event]
    step = next(e for e in events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    run = next(e for e in events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    retries = sum(e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY for e in events)
    return step, run, retries


def test_an_expected_quarantine_fails_step_and_run_without_a_stack_trace() -> None:
    """The UI prints "Stack Trace:" under a failure's message only when the stored error has a stack."""
    step, run, retries = _failed_run_errors(checks.quarantine_failure(_report(), 969))
    assert retries == 0, "an expected quarantine is not retried"
    failure = step.step_failure_data
    assert failure.error is not None and failure.error.stack == []
    assert failure.error.cause is None and failure.error.context is None
    assert failure.error.message.startswith(f"ChunkQuarantined: expected quarantine, not a crash: chunk {KEY}")
    assert "Next: fix the cause" in failure.error.message
    assert failure.user_failure_data is not None, "still a dg.Failure: description and metadata as UserFailureData"
    assert failure.user_failure_data.metadata["quarantined_chunk"].value == KEY
    run_error = run.event_specific_data.error  # the run failure copies the first step failure's error
    assert run_error is not None and run_error.stack == [] and run_error.message == failure.error.message


def test_a_crash_keeps_its_stack_trace() -> None:
    step, run, _ = _failed_run_errors(ValueError("a real bug"))
    error = step.step_failure_data.error
    assert error is not None
    assert "a real bug" in error.to_string()
    stacks = [error.stack] + ([error.cause.stack] if error.cause else [])
    assert any(any("chunk_step" in frame for frame in stack) for stack in stacks), stacks
    run_error = run.event_specific_data.error
    assert run_error is not None
    assert run_error.stack or (run_error.cause and run_error.cause.stack), "a crash's run failure shows its stack"
