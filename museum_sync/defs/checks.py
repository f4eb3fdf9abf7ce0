"""What a chunk step tells Dagster: the blocking checks, their results and the metadata a steward reads.

The *bulk path* (one run per export, one Celery step per chunk, ``jobs.sync_export_job``) and the
*steward path* (the partitioned assets ``validated_chunk`` → ``catalog_chunk`` run per partition key,
for backfills and replays) both build their check results and metadata here, so a chunk validated either
way records the same materializations, the same check metadata and the same quarantine message.

A chunk held back at its checks reports *no* materialization of ``validated_chunk``: its step records both
check evaluations (the reason, one click from the partition) and ends with ``quarantine_failure``, a
``dg.Failure`` whose description and metadata say which chunk, which reasons and what to do next, with no
stack trace on the step or the run failure (``dagster_internals.ExpectedFailure``). With the
run's planned materializations left unmet, Dagster shows the partition failed (red), not "Materialized"
(``ARCHITECTURE.md``, "What a steward sees"). Counts use one vocabulary (``defs.vocabulary``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

import museum_sync.defs.library_warnings  # noqa: F401 - before the check specs are built (see there)
from museum_sync import pipeline
from museum_sync.core.keys import export_label, split_partition_key
from museum_sync.core.locator import where
from museum_sync.defs.asset_keys import RECORD_VALIDITY, REPLAY_QUARANTINED_JOB, SCHEMA_DRIFT, VALIDATED_CHUNK
from museum_sync.defs.dagster_internals import ExpectedFailure, materialization_target
from museum_sync.defs.partitions import chunk_partitions
from museum_sync.defs.vocabulary import PROBLEMS_FOUND, RECORDS_REJECTED, counts_phrase

__all__ = [
    "CHECK_SPECS",
    "ChunkQuarantined",
    "catalog_metadata",
    "check_evaluations",
    "latest_materialization_target",
    "check_results",
    "export_label",
    "next_step",
    "problems_found",
    "quarantine_failure",
    "quarantine_message",
    "quarantine_tags",
    "rejects_markdown",
    "validated_metadata",
]

CHECK_SPECS = [
    dg.AssetCheckSpec(
        SCHEMA_DRIFT,
        asset=VALIDATED_CHUNK,
        blocking=True,
        partitions_def=chunk_partitions,
        description="The chunk's fields, types, encoding and LIDO version match its profile; breaking drift "
        "(required field missing or renamed, type, encoding or schema version changed) blocks the chunk.",
    ),
    dg.AssetCheckSpec(
        RECORD_VALIDITY,
        asset=VALIDATED_CHUNK,
        blocking=True,
        partitions_def=chunk_partitions,
        description="Rejected records stay under the profile's reject ratio, and none has a blocking reason "
        "(malformed rights, missing provenance by default). Every reject is in quarantine either way.",
    ),
]


def _md_cell(value: Any, width: int = 60) -> str:
    text = "" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def rejects_markdown(samples: list[dict[str, Any]]) -> str:
    """Sample rejects as a Markdown table: what a steward reads first in the check's metadata."""
    if not samples:
        return "No rejected records."
    lines = ["| record id | file:line pointer | field | reason | value | message |", "|---|---|---|---|---|---|"]
    for row in samples:
        loc = row["locator"]
        place = where(loc.get("file"), loc.get("line"), loc.get("pointer"))
        for problem in row["problems"]:
            cells = (
                row.get("record_id") or "(none)",
                place,
                problem["field"],
                problem["reason"],
                problem.get("value"),
                problem["message"],
            )
            lines.append("| " + " | ".join(_md_cell(v) for v in cells) + " |")
    return "\n".join(lines)


def problems_found(store: Any, report: pipeline.ChunkReport) -> int:
    """Every problem of the chunk's rejected records (quarantine keeps one row per problem)."""
    return sum(len(row["problems"]) for row in pipeline.iter_rejects(store, report.export_id, report.index))


def next_step(partition_key: str) -> str:
    """What a steward does about a quarantined chunk, in the words of the UI and the CLI."""
    export_id, _ = split_partition_key(partition_key)
    return (
        "fix the cause (the profile, or a corrected export), then launch the job "
        f"{REPLAY_QUARANTINED_JOB} from the Launchpad with partition_keys: [{partition_key}] (or export_id: "
        f"{export_id} for all its open quarantines), or run `museum-sync quarantine replay {partition_key}`; "
        "never re-execute this run (the catalogue gate refuses a chunk that skipped its checks)"
    )


def validated_metadata(report: pipeline.ChunkReport, problems: int) -> dict[str, Any]:
    """The ``validated_chunk`` materialization's metadata (a chunk that passed its checks)."""
    return {
        "export_id": report.export_id,
        "export": export_label(report.export_id),
        "chunk": report.index,
        "records": dg.MetadataValue.int(report.records),
        "valid": dg.MetadataValue.int(report.valid),
        RECORDS_REJECTED: dg.MetadataValue.int(report.rejected),
        PROBLEMS_FOUND: dg.MetadataValue.int(problems),
        "rejects_by_reason": dg.MetadataValue.json(report.reasons),
        "valid_digest": report.valid_digest,
        "profile": report.profile,
        "passed_checks": report.passed,
    }


def check_results(report: pipeline.ChunkReport, problems: int) -> list[dg.AssetCheckResult]:
    """Both blocking checks' results for one chunk, with the drift diff and the sample rejects table."""
    drift = report.drift
    drift_meta: Mapping[str, Any] = {
        "diff": dg.MetadataValue.md(f"```\n{report.drift_diff}\n```"),
        "changes": dg.MetadataValue.json(drift.get("changes", [])),
        "actual_fields": dg.MetadataValue.json(drift.get("fingerprint", {}).get("fields", [])),
        "mode": drift.get("mode", "evolve"),
    }
    validity_meta: Mapping[str, Any] = {
        "records": dg.MetadataValue.int(report.records),
        RECORDS_REJECTED: dg.MetadataValue.int(report.rejected),
        PROBLEMS_FOUND: dg.MetadataValue.int(problems),
        "reject_ratio": dg.MetadataValue.float(report.reject_ratio),
        "rejects_by_reason": dg.MetadataValue.json(report.reasons),
        "blocking_reasons": dg.MetadataValue.json(report.blocking_reasons),
        "sample_rejects": dg.MetadataValue.md(rejects_markdown(report.sample_rejects)),
    }
    if not report.passed:
        next_meta = {"next_step": dg.MetadataValue.text(next_step(report.partition_key))}
        drift_meta = {**drift_meta, **next_meta}
        validity_meta = {**validity_meta, **next_meta}
    return [
        dg.AssetCheckResult(
            check_name=SCHEMA_DRIFT,
            asset_key=VALIDATED_CHUNK,
            passed=report.drift_passed,
            metadata=drift_meta,
            severity=dg.AssetCheckSeverity.ERROR if not report.drift_passed else dg.AssetCheckSeverity.WARN,
            description=None if report.drift_passed else report.drift_diff[:500],
        ),
        dg.AssetCheckResult(
            check_name=RECORD_VALIDITY,
            asset_key=VALIDATED_CHUNK,
            passed=report.validity_passed,
            metadata=validity_meta,
            severity=dg.AssetCheckSeverity.ERROR,
            description=None if report.validity_passed else counts_phrase(report.rejected, problems),
        ),
    ]


def quarantine_tags(report: pipeline.ChunkReport) -> dict[str, str]:
    """Run tags that name a quarantined chunk and what to do (the run page's "View tags and config")."""
    return {
        f"museum-sync/quarantined-c{report.index:04d}": f"{report.partition_key}: {', '.join(report.failed_checks)}",
        "museum-sync/next-step": f"fix the cause, then launch {REPLAY_QUARANTINED_JOB} (not Re-execute)",
    }


def check_evaluations(
    results: list[dg.AssetCheckResult],
    partition_key: str,
    target: Any = None,
    *,
    asset_key: dg.AssetKey = VALIDATED_CHUNK,
    blocking: bool = True,
) -> list[dg.AssetCheckEvaluation]:
    """The check results as events a step logs itself: an op cannot return ``AssetCheckResult``, and an
    asset that fails (a quarantined chunk) returns nothing. ``target``: the materialization they judge."""
    return [
        dg.AssetCheckEvaluation(
            asset_key=asset_key,
            check_name=result.check_name or "",
            passed=result.passed,
            metadata=result.metadata,
            severity=result.severity,
            description=result.description,
            blocking=blocking,
            partition=partition_key,
            target_materialization_data=target,
        )
        for result in results
    ]


def latest_materialization_target(instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition_key: str) -> Any:
    """The partition's newest materialization as a check evaluation's target (None: never materialized), so
    the UI shows a check logged by a step on the materialization that step just recorded."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition_key]), limit=1
    ).records
    return materialization_target(records[0].storage_id, records[0].run_id, records[0].timestamp) if records else None


def catalog_metadata(result: Any, report: pipeline.ChunkReport | None) -> dict[str, Any]:
    """The ``catalog_chunk`` materialization's metadata: rows loaded against the chunk's valid records."""
    return {
        "rows_loaded": dg.MetadataValue.int(result.loaded),
        "duplicates_quarantined": dg.MetadataValue.int(len(result.duplicates)),
        "valid_records": dg.MetadataValue.int(report.valid if report else result.loaded),
    }


def lineage_metadata(run_id: str, partition_key: str, locators: list[str]) -> dict[str, Any]:
    """Where the chunk's rows came from, as every row records it: the run that loaded them (a link in the
    UI), the first and last valid record's ``file:line`` in the snapshot, and how to follow one record."""
    return {
        "lineage_run_id": dg.MetadataValue.dagster_run(run_id),
        "source_first": dg.MetadataValue.text(locators[0] if locators else "(no valid record)"),
        "source_last": dg.MetadataValue.text(locators[-1] if locators else "(no valid record)"),
        "trace": dg.MetadataValue.text(
            f"museum-sync trace <record_id> --export {split_partition_key(partition_key)[0]}"
        ),
    }


def quarantine_message(report: pipeline.ChunkReport, problems: int) -> str:
    """Why a chunk was held back at its checks, in one line (the start of the step's failure description)."""
    parts = []
    if not report.drift_passed:
        parts.append("schema drift: " + report.drift_diff.replace("\n", "; ")[:400])
    if not report.validity_passed:
        parts.append(
            f"record validity: {counts_phrase(report.rejected, problems)} in {report.records} records "
            f"({report.reasons}); blocking: {report.blocking_reasons or 'reject ratio over policy'}"
        )
    return f"chunk {report.partition_key} quarantined: " + " | ".join(parts)


class ChunkQuarantined(ExpectedFailure):
    """A chunk held back at its blocking checks: the expected outcome of a bad chunk, not a crash. The UI
    shows a step failure's class name before its message; this one says what happened. An ``ExpectedFailure``
    (a ``dg.Failure``): the step and the run fail with this message and no stack trace; a crash keeps its own."""


def quarantine_failure(report: pipeline.ChunkReport, problems: int) -> ChunkQuarantined:
    """The end of a chunk step held back at its checks: an expected outcome, said plainly (no retry)."""
    description = (
        f"expected quarantine, not a crash: {quarantine_message(report, problems)}\n"
        f"Next: {next_step(report.partition_key)}."
    )
    return ChunkQuarantined(
        description,
        {
            "quarantined_chunk": report.partition_key,
            "export": export_label(report.export_id),
            "failed_checks": dg.MetadataValue.json(report.failed_checks),
            RECORDS_REJECTED: dg.MetadataValue.int(report.rejected),
            PROBLEMS_FOUND: dg.MetadataValue.int(problems),
            "rejects_by_reason": dg.MetadataValue.json(report.reasons),
            "next_step": dg.MetadataValue.text(next_step(report.partition_key)),
        },
    )
