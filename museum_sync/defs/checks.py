"""What a chunk step tells Dagster: the blocking checks, their results and the metadata a steward reads.

The *bulk path* (one run per export, one Celery step per chunk, ``jobs.sync_export_job``) and the
*steward path* (the partitioned assets ``validated_chunk`` → ``catalog_chunk`` run per partition key,
for backfills and replays) both build their check results and metadata here, so a chunk validated either
way records the same materializations, the same check metadata and the same quarantine message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from museum_sync import pipeline
from museum_sync.core.locator import where
from museum_sync.defs.asset_keys import RECORD_VALIDITY, SCHEMA_DRIFT, VALIDATED_CHUNK
from museum_sync.defs.partitions import chunk_partitions

__all__ = [
    "CHECK_SPECS",
    "catalog_metadata",
    "check_results",
    "quarantine_message",
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


def validated_metadata(report: pipeline.ChunkReport) -> dict[str, Any]:
    """The ``validated_chunk`` materialization's metadata."""
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
        "rejected": dg.MetadataValue.int(report.rejected),
        "reject_ratio": dg.MetadataValue.float(report.reject_ratio),
        "rejects_by_reason": dg.MetadataValue.json(report.reasons),
        "blocking_reasons": dg.MetadataValue.json(report.blocking_reasons),
        "sample_rejects": dg.MetadataValue.md(rejects_markdown(report.sample_rejects)),
    }
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
        ),
    ]


def catalog_metadata(result: Any, report: pipeline.ChunkReport | None) -> dict[str, Any]:
    """The ``catalog_chunk`` materialization's metadata: rows loaded against the chunk's valid records."""
    return {
        "rows_loaded": dg.MetadataValue.int(result.loaded),
        "duplicates_quarantined": dg.MetadataValue.int(len(result.duplicates)),
        "valid_records": dg.MetadataValue.int(report.valid if report else result.loaded),
    }


def quarantine_message(report: pipeline.ChunkReport) -> str:
    """Why a chunk was held back at its checks, in one line (the bulk step's failure description)."""
    parts = []
    if not report.drift_passed:
        parts.append("schema drift: " + report.drift_diff.replace("\n", "; ")[:400])
    if not report.validity_passed:
        parts.append(
            f"record validity: {report.rejected}/{report.records} rejected ({report.reasons}); "
            f"blocking: {report.blocking_reasons or 'reject ratio over policy'}"
        )
    return f"chunk {report.partition_key} quarantined: " + " | ".join(parts)
