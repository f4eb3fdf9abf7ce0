"""What a chunk step tells Dagster: metadata, check results and the gate, shared by both paths.

The *bulk path* (one run per export, one Celery step per chunk, ``jobs.sync_export_job``) and the
*steward path* (the partitioned assets ``validated_chunk`` → ``catalog_chunk`` run per partition key,
for backfills and replays) call the same functions here, so a chunk validated either way records the
same materializations, the same check metadata and the same quarantine rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

import dagster as dg

from museum_sync import pipeline
from museum_sync.core.locator import where
from museum_sync.defs.partitions import chunk_partitions

P = ParamSpec("P")
R = TypeVar("R")

__all__ = [
    "retry_only_connection_errors",
    "CATALOG_CHUNK",
    "CHECK_SPECS",
    "EXPORT_SNAPSHOT",
    "PUBLISHED_EXPORT",
    "SEARCH_CHUNK",
    "VALIDATED_CHUNK",
    "catalog_metadata",
    "check_results",
    "rejects_markdown",
    "validated_metadata",
]

EXPORT_SNAPSHOT = dg.AssetKey("export_snapshot")
VALIDATED_CHUNK = dg.AssetKey("validated_chunk")
CATALOG_CHUNK = dg.AssetKey("catalog_chunk")
SEARCH_CHUNK = dg.AssetKey("search_chunk")
PUBLISHED_EXPORT = dg.AssetKey("published_export")

CHECK_SPECS = [
    dg.AssetCheckSpec(
        "schema_drift",
        asset=VALIDATED_CHUNK,
        blocking=True,
        partitions_def=chunk_partitions,
        description="The chunk's fields, types, encoding and LIDO version match its profile; breaking drift "
        "(required field missing or renamed, type, encoding or schema version changed) blocks the chunk.",
    ),
    dg.AssetCheckSpec(
        "record_validity",
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
            lines.append(
                "| "
                + " | ".join(
                    _md_cell(v)
                    for v in (
                        row.get("record_id") or "(none)",
                        place,
                        problem["field"],
                        problem["reason"],
                        problem.get("value"),
                        problem["message"],
                    )
                )
                + " |"
            )
    return "\n".join(lines)


def validated_metadata(report: pipeline.ChunkReport) -> dict[str, Any]:
    return {
        "export_id": report.export_id,
        "chunk": report.index,
        "records": dg.MetadataValue.int(report.records),
        "valid": dg.MetadataValue.int(report.valid),
        "rejected": dg.MetadataValue.int(report.rejected),
        "rejects_by_reason": dg.MetadataValue.json(report.reasons),
        "valid_digest": report.valid_digest,
        "profile": report.profile,
        "passed_checks": report.passed,
    }


def check_results(report: pipeline.ChunkReport) -> list[dg.AssetCheckResult]:
    drift = report.drift
    drift_meta: Mapping[str, Any] = {
        "diff": dg.MetadataValue.md(f"```\n{report.drift_diff}\n```"),
        "changes": dg.MetadataValue.json(drift.get("changes", [])),
        "actual_fields": dg.MetadataValue.json(drift.get("fingerprint", {}).get("fields", [])),
        "mode": drift.get("mode", "evolve"),
    }
    validity_meta: Mapping[str, Any] = {
        "records": dg.MetadataValue.int(report.records),
        "rejected": dg.MetadataValue.int(report.rejected),
        "reject_ratio": dg.MetadataValue.float(report.reject_ratio),
        "rejects_by_reason": dg.MetadataValue.json(report.reasons),
        "blocking_reasons": dg.MetadataValue.json(report.blocking_reasons),
        "sample_rejects": dg.MetadataValue.md(rejects_markdown(report.sample_rejects)),
    }
    return [
        dg.AssetCheckResult(
            check_name="schema_drift",
            asset_key=VALIDATED_CHUNK,
            passed=report.drift_passed,
            metadata=drift_meta,
            severity=dg.AssetCheckSeverity.ERROR if not report.drift_passed else dg.AssetCheckSeverity.WARN,
            description=None if report.drift_passed else report.drift_diff[:500],
        ),
        dg.AssetCheckResult(
            check_name="record_validity",
            asset_key=VALIDATED_CHUNK,
            passed=report.validity_passed,
            metadata=validity_meta,
            severity=dg.AssetCheckSeverity.ERROR,
        ),
    ]


def catalog_metadata(result: Any, report: pipeline.ChunkReport | None) -> dict[str, Any]:
    return {
        "rows_loaded": dg.MetadataValue.int(result.loaded),
        "duplicates_quarantined": dg.MetadataValue.int(len(result.duplicates)),
        "valid_records": dg.MetadataValue.int(report.valid if report else result.loaded),
    }


def _is_connection_error(exc: BaseException) -> bool:
    """PostgreSQL, Redis or network trouble: worth a retry with backoff. Everything else is not."""
    import psycopg
    import redis

    from museum_sync.clients.search import SearchUnavailable
    from museum_sync.publication import PublicationFailed

    # PublicationFailed: a publication step failed part way and was rolled back; a rerun completes it.
    retryable = (
        psycopg.OperationalError,
        redis.ConnectionError,
        redis.TimeoutError,
        ConnectionError,
        TimeoutError,
        SearchUnavailable,
        PublicationFailed,
    )
    return isinstance(exc, retryable) or (exc.__cause__ is not None and isinstance(exc.__cause__, retryable))


def retry_only_connection_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Let the step's RetryPolicy act on connection errors only.

    A validation failure, a refused gate or a bug raises the same way on every attempt: retrying it only
    delays the steward's alert, so it becomes ``dg.Failure(allow_retries=False)`` with the original error.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except dg.Failure:
            raise
        except Exception as exc:
            if _is_connection_error(exc):
                raise
            raise dg.Failure(description=f"{type(exc).__name__}: {exc}", allow_retries=False) from exc

    return wrapper


def quarantine_message(report: pipeline.ChunkReport) -> str:
    parts = []
    if not report.drift_passed:
        parts.append("schema drift: " + report.drift_diff.replace("\n", "; ")[:400])
    if not report.validity_passed:
        parts.append(
            f"record validity: {report.rejected}/{report.records} rejected ({report.reasons}); "
            f"blocking: {report.blocking_reasons or 'reject ratio over policy'}"
        )
    return f"chunk {report.partition_key} quarantined: " + " | ".join(parts)
