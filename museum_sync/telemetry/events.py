"""The pipeline's events worth a log line and a metric, each one call at its site (``defs.steps``)."""

from __future__ import annotations

from typing import Any

from museum_sync.telemetry import logs, metrics

__all__ = ["chunk_outcome", "chunk_unreadable"]


def chunk_outcome(report: Any) -> None:
    """One validated chunk (a ``pipeline.ChunkReport``): ``chunk_validated``, or ``chunk_quarantined`` with the
    checks that stopped it and its rejects by reason; counted in ``records_total`` and friends."""
    metrics.record_chunk(report.valid, report.reasons, report.failed_checks)
    logger = logs.log()
    emit = logger.info if report.passed else logger.warning
    emit(
        "chunk_validated" if report.passed else "chunk_quarantined",
        partition=report.partition_key,
        export_id=report.export_id,
        record_count=report.records,
        valid=report.valid,
        rejected=report.rejected,
        reasons=report.reasons,
        failed_checks=report.failed_checks,
        profile=report.profile,
    )


def chunk_unreadable(export_id: str, partition: str, error: Exception) -> None:
    """A chunk that cannot be read as its format says: quarantined whole."""
    metrics.record_chunk(0, {}, ["unreadable"])
    logs.log().warning(
        "chunk_quarantined", partition=partition, export_id=export_id, failed_checks=["unreadable"], error=str(error)
    )
