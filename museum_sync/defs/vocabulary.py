"""The words museum-sync counts rejects with, one spelling for the CLI, the UI metadata and the checks.

A chunk's *records rejected* are the records that failed validation (each counted once); its *problems
found* are every reason a record failed (a record with a bad date and bad rights is one record rejected, two
problems found). Quarantine stores one row per problem, so a count of quarantine rows is problems found.
Pure: the CLI imports it without loading Dagster.
"""

from __future__ import annotations

__all__ = ["PROBLEMS_FOUND", "RECORDS_REJECTED", "counts_phrase"]

RECORDS_REJECTED = "records_rejected"
PROBLEMS_FOUND = "problems_found"


def counts_phrase(records_rejected: int, problems_found: int) -> str:
    """``481 records rejected, 969 problems found``: how every surface says it."""
    return f"{records_rejected} records rejected, {problems_found} problems found"
