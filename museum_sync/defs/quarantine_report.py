"""``quarantine_report``: one export's quarantined chunks, their reasons, and what was replayed, by whom, when.

Built from the catalogue (``quarantined_partitions``: first seen, resolved at, by which run; ``chunk_status``:
records rejected) and the Dagster runs (who launched the replay: ``defs.replay.launched_by``). The CLI prints
it (``museum-sync quarantine report``); the replay job records it on the export's ``published_export``
partition as an observation, so the UI shows it under Assets > published_export > Events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from museum_sync.defs.vocabulary import counts_phrase

__all__ = ["ReportRow", "held_counts", "quarantine_report", "report_lines", "report_markdown"]


@dataclass(frozen=True)
class ReportRow:
    partition_key: str
    state: str  # "open" or "replayed"
    check_name: str
    reasons: dict[str, int]
    records_rejected: int
    problems_found: int
    quarantined_at: datetime
    quarantined_by_run: str | None
    replayed_at: datetime | None
    replayed_by_run: str | None
    replayed_by: str | None


def held_counts(catalog: Any, part: Any) -> tuple[int, int]:
    """``(records rejected, problems found)`` of the quarantine that held ``part`` back (its attempt's rows:
    one per problem), whatever a later replay found."""
    rows = [r for r in catalog.quarantine_history(part.partition_key) if r.attempt == part.attempt]
    if not rows:  # a quarantine written before attempts were numbered: its counts as stored
        state = catalog.chunk_state(part.partition_key)
        return ((state.reject_count or 0) if state is not None else 0), part.reject_count
    return len({(r.line, r.pointer, r.record_id) for r in rows}), len(rows)


def quarantine_report(catalog: Any, instance: Any, export_id: str) -> list[ReportRow]:
    """Every chunk of ``export_id`` ever quarantined, open ones and replayed ones, in partition order."""
    from museum_sync.defs.replay import launched_by

    rows = []
    for part in catalog.list_quarantined(export_id=export_id, include_resolved=True):
        records, problems = held_counts(catalog, part)
        run = instance.get_run_by_id(part.resolved_by_run_id) if instance and part.resolved_by_run_id else None
        rows.append(
            ReportRow(
                partition_key=part.partition_key,
                state="replayed" if part.resolved_at else "open",
                check_name=part.check_name,
                reasons=dict(part.reasons),
                records_rejected=records,
                problems_found=problems,
                quarantined_at=part.first_seen,
                quarantined_by_run=part.run_id,
                replayed_at=part.resolved_at,
                replayed_by_run=part.resolved_by_run_id,
                replayed_by=launched_by(dict(run.tags)) if run is not None else None,
            )
        )
    return rows


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else ""


def report_lines(export_id: str, rows: list[ReportRow]) -> list[str]:
    """The report as the CLI prints it."""
    if not rows:
        return [f"{export_id}: no chunk was ever quarantined"]
    lines = [f"{export_id}: {len(rows)} chunk(s) quarantined, {sum(r.state == 'open' for r in rows)} still open"]
    for r in rows:
        lines.append(
            f"  {r.partition_key}  {r.state.upper()}  {r.check_name}  "
            f"{counts_phrase(r.records_rejected, r.problems_found)}  {r.reasons}"
        )
        lines.append(f"    quarantined {_when(r.quarantined_at)} by run {r.quarantined_by_run or '?'}")
        if r.replayed_at:
            lines.append(
                f"    replayed {_when(r.replayed_at)} by {r.replayed_by or '?'} (run {r.replayed_by_run or '?'})"
            )
    return lines


def report_markdown(rows: list[ReportRow]) -> str:
    """The report as a Markdown table (the UI's metadata)."""
    if not rows:
        return "No chunk of this export was ever quarantined."
    out = [
        "| chunk | state | check | counts | reasons | quarantined | replayed | replayed by |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        replayed = (
            f"{_when(r.replayed_at)} (run {r.replayed_by_run[:8]})" if r.replayed_at and r.replayed_by_run else ""
        )
        cells = (
            r.partition_key,
            r.state,
            r.check_name,
            counts_phrase(r.records_rejected, r.problems_found),
            ", ".join(f"{k}: {v}" for k, v in r.reasons.items()),
            f"{_when(r.quarantined_at)} (run {(r.quarantined_by_run or '?')[:8]})",
            replayed,
            r.replayed_by or "",
        )
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out)
