"""What PostgreSQL itself counts, for tests that assert how many connections a path opens."""

from __future__ import annotations

import time

import psycopg

__all__ = ["sessions_opened"]


def sessions_opened(url: str) -> int:
    """Connections ever opened to the database of ``url`` (PostgreSQL 14+), after the stats are flushed."""
    time.sleep(1.5)  # backends flush their counters at most once a second
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()").fetchone()
    assert row is not None
    return int(row[0])
