"""The naive nightly sync museum-sync replaces, kept only as the benchmark's baseline.

pandas reads the whole export into memory; one Celery task per record, *carrying the record*; Celery
defaults (prefetch multiplier 4, early ack, no child recycling); one INSERT per row. Validation uses the
same core rules, so the comparison is about the architecture, not about doing less work.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from celery import Celery

from museum_sync.core.locator import Locator

# The shipped profile by name, from the core: the baseline loads it per record as before, without the
# settings read the configured search path would add to every task.
from museum_sync.core.profiles import load_profile
from museum_sync.core.validation import Valid, validate
from museum_sync.settings import get_settings

_settings = get_settings()
app = Celery("naive", broker=_settings.broker_url, backend=_settings.result_backend)
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])

_conn: psycopg.Connection[Any] | None = None
TABLE = "naive_objects"


def _db() -> psycopg.Connection[Any]:
    global _conn
    if _conn is None:
        _conn = psycopg.connect(get_settings().pg_url, autocommit=True)
        _conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (record_id text PRIMARY KEY, record jsonb)")
    return _conn


@app.task(name="naive.load_record")
def load_record(row: dict[str, str], line: int) -> bool:
    result = validate(row, load_profile("tate_artworks_csv"), export_id="naive", locator=Locator("export.csv", line))
    if not isinstance(result, Valid):
        return False
    _db().execute(
        f"INSERT INTO {TABLE} (record_id, record) VALUES (%s, %s) "
        "ON CONFLICT (record_id) DO UPDATE SET record = EXCLUDED.record",
        (result.record.record_id, json.dumps(result.record.content())),
    )
    return True


def sync(path: Any) -> tuple[int, int]:
    """Returns (tasks sent, records the tasks reported as stored)."""
    import pandas as pd

    with psycopg.connect(get_settings().pg_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"CREATE TABLE {TABLE} (record_id text PRIMARY KEY, record jsonb)")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    pending = [load_record.delay(row, i + 2) for i, row in enumerate(frame.to_dict("records"))]
    valid = sum(1 for r in pending if r.get(timeout=3600))
    return len(pending), valid


def count() -> int:
    with psycopg.connect(get_settings().pg_url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
    return int(row[0]) if row else 0
