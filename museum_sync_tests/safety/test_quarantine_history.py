"""Quarantine keeps its history: every write is a new attempt, the latest is current, none is rewritten.

A steward who looked at a partition's rejects yesterday must still find them after today's replay, and a
record rejected for one reason must keep that reason when a later stage (the search index) quarantines
the partition again. Against a real catalogue (``fresh_db``), the Elasticsearch test server and real
exports through the pipeline's stages.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from museum_sync import pipeline
from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.clients.catalog import Catalog, QuarantineRow
from museum_sync.core.profiles import load_profile
from museum_sync_tests.es_server import EsTestServer, fast_client
from museum_sync_tests.safety.test_search_safety import current_rows, sync_chunks

KEY = "tate-a/0003"
TATE_52 = "tate_artwork_data_first52rows.csv"


@pytest.fixture
def catalog(fresh_db: str) -> Catalog:
    cat = Catalog(fresh_db, schema="catalog")
    cat.migrate()
    return cat


def reject(n: int, reason: str = "malformed_rights", key: str = KEY) -> QuarantineRow:
    return QuarantineRow(
        export_id="tate-a",
        partition_key=key,
        record_id=f"bad-{n}",
        file="tate.csv",
        line=n + 2,
        byte_offset=n * 100,
        field="rights",
        reason=reason,
        message=f"problem {n}",
        value="In Copyrite",
        raw=f"{n},A0000{n}",
    )


def summary(catalog: Catalog) -> dict[str, int]:
    return {row["reason"]: row["count"] for row in catalog.quarantine_summary("tate-a")}


def test_a_replay_adds_an_attempt_and_the_current_view_shows_the_latest_only(catalog: Catalog) -> None:
    first = [reject(n) for n in range(3)]
    second = [reject(5, "unknown_rights"), reject(7)]
    assert (
        catalog.quarantine_records("tate-a", KEY, first, "record_validity", {"malformed_rights": 3}, {}, "run-1") == 3
    )
    catalog.quarantine_records("tate-a", "tate-a/0004", [reject(9, key="tate-a/0004")], "record_validity", {}, {}, "r")
    seen_by_steward = [(r.record_id, r.reason, r.message) for r in catalog.quarantine_rows(KEY)]
    assert summary(catalog) == {"malformed_rights": 4}

    # The replay: still failing, with other rejects.
    stored = catalog.quarantine_records(
        "tate-a", KEY, second, "schema_drift,record_validity", {"unknown_rights": 1, "malformed_rights": 1}, {}, "run-2"
    )
    assert stored == 2
    current = catalog.quarantine_rows(KEY)
    assert [(r.record_id, r.reason, r.attempt) for r in current] == [
        ("bad-5", "unknown_rights", 2),
        ("bad-7", "malformed_rights", 2),
    ]
    assert summary(catalog) == {"malformed_rights": 2, "unknown_rights": 1}  # as if the first were replaced
    (part,) = [p for p in catalog.list_quarantined("tate-a") if p.partition_key == KEY]
    assert part.attempt == 2 and part.reject_count == 2 and part.check_name == "schema_drift,record_validity"

    history = catalog.quarantine_history(KEY)
    assert [(r.record_id, r.reason, r.message) for r in history if r.attempt == 1] == seen_by_steward
    assert [r.attempt for r in history] == [1, 1, 1, 2, 2]
    attempts = catalog.quarantine_attempts(KEY)
    assert [(a.attempt, a.check_name, a.reject_count, a.run_id, a.blocking) for a in attempts] == [
        (1, "record_validity", 3, "run-1", True),
        (2, "schema_drift,record_validity", 2, "run-2", True),
    ]

    # A third write with no rejected record at all (drift alone): the current view is empty, history stays.
    catalog.quarantine_records("tate-a", KEY, [], "schema_drift", {}, {"drift": "x"}, "run-3")
    assert catalog.quarantine_rows(KEY) == [] and summary(catalog) == {"malformed_rights": 1}
    assert len(catalog.quarantine_history(KEY)) == 5
    # Resolving keeps every attempt.
    catalog.record_validation("tate-a", KEY, 3, True, "d3", 998, 0, "run-4")
    assert len(catalog.quarantine_history(KEY)) == 5 and len(catalog.quarantine_attempts(KEY)) == 3


def test_migrate_upgrades_a_catalogue_from_before_attempts(catalog: Catalog) -> None:
    """The shape an older migrate left (no attempt column, no attempts log), with rows the old code wrote."""
    drift_only = "tate-a/0005"
    with psycopg.connect(catalog.conninfo, autocommit=True) as conn:
        ident = lambda name: sql.Identifier(catalog.schema, name)  # noqa: E731
        conn.execute(sql.SQL("ALTER TABLE {} DROP COLUMN attempt").format(ident("quarantine")))
        conn.execute(sql.SQL("ALTER TABLE {} DROP COLUMN attempt").format(ident("quarantined_partitions")))
        conn.execute(sql.SQL("DROP TABLE {}").format(ident("quarantine_attempts")))
        for row in (reject(1), reject(2, "missing_provenance")):
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (export_id, partition_key, record_id, line, field, reason, message)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)"
                ).format(ident("quarantine")),
                (row.export_id, row.partition_key, row.record_id, row.line, row.field, row.reason, row.message),
            )
        for key, count in ((KEY, 2), (drift_only, 0)):
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (partition_key, export_id, check_name, reasons, reject_count, detail,"
                    " first_seen, last_seen, run_id) VALUES (%s, 'tate-a', 'record_validity', '{{}}', %s, '{{}}',"
                    " now(), now(), 'old-run')"
                ).format(ident("quarantined_partitions")),
                (key, count),
            )

    catalog.migrate()
    catalog.migrate()  # idempotent: no second backfill
    assert [(r.record_id, r.attempt) for r in catalog.quarantine_rows(KEY)] == [("bad-1", 1), ("bad-2", 1)]
    assert summary(catalog) == {"malformed_rights": 1, "missing_provenance": 1}
    assert [(a.attempt, a.check_name, a.reject_count) for a in catalog.quarantine_attempts(KEY)] == [
        (1, "record_validity", 2)
    ]
    assert [(a.attempt, a.reject_count) for a in catalog.quarantine_attempts(drift_only)] == [(1, 0)]
    assert {p.partition_key: p.attempt for p in catalog.list_quarantined("tate-a")} == {KEY: 1, drift_only: 1}

    catalog.quarantine_records("tate-a", KEY, [reject(4)], "record_validity", {}, {}, "new-run")
    assert [(r.record_id, r.attempt) for r in catalog.quarantine_rows(KEY)] == [("bad-4", 2)]
    assert [(r.record_id, r.attempt) for r in catalog.quarantine_history(KEY)] == [
        ("bad-1", 1),
        ("bad-2", 1),
        ("bad-4", 2),
    ]


def test_an_index_failure_keeps_every_earlier_reason_and_attempt(
    catalog: Catalog, es_server: EsTestServer, tmp_path: Path, shared_data: Path
) -> None:
    """A record the catalogue could not store (U+0000, from a profile's value table) is quarantined by the
    load as ``invalid_value``; when Elasticsearch then refuses another document of the chunk, the
    partition's new attempt must still say ``invalid_value`` for it (not ``duplicate_id``), and the
    load's attempt stays in the history."""
    shipped = (Path(pipeline.__file__).parent.parent / "core" / "profiles" / "tate_artworks_csv.toml").read_text()
    nul_value = 'inscription = { path = "accession_number", values = { "A00003" = "signed \\u0000 verso" } }'
    assert 'inscription = "inscription"' in shipped
    (tmp_path / "tate_nul.toml").write_text(shipped.replace('inscription = "inscription"', nul_value))
    profile = load_profile(tmp_path / "tate_nul.toml")
    store = ArtifactStore(tmp_path / "artifacts")
    export = sync_chunks(catalog, store, shared_data / "csv" / TATE_52, profile, "tate")
    key = export.partition_key(0)
    after_load = [(r.record_id, r.reason, r.message) for r in catalog.quarantine_rows(key)]
    assert after_load == [("1037", "invalid_value", "contains U+0000")]

    search = fast_client(es_server.url)
    es_server.reject_docs(lambda doc_id: doc_id == "1040", 400)
    result = pipeline.index_chunk(search, catalog, store, export.export_id, 0, "run-index")
    assert [e.record_id for e in result.errors] == ["1040"] and result.indexed == 50

    now = sorted((r.record_id, r.reason) for r in current_rows(catalog, export))
    assert now == [("1037", "invalid_value"), ("1040", "index_rejected")]
    assert "duplicate_id" not in {r.reason for r in catalog.quarantine_history(key)}
    attempts = catalog.quarantine_attempts(key)
    assert [(a.attempt, a.check_name, a.reject_count) for a in attempts] == [
        (1, "catalog_load", 1),
        (2, "search_index", 2),
    ]
    first = [(r.record_id, r.reason, r.message) for r in catalog.quarantine_history(key) if r.attempt == 1]
    assert first == after_load
    assert {p.partition_key for p in catalog.list_quarantined()} == {key}

    # The replay with Elasticsearch healthy: nothing refused, the history keeps both attempts.
    es_server.clear_faults()
    assert pipeline.index_chunk(search, catalog, store, export.export_id, 0, "run-replay").errors == []
    assert len(catalog.quarantine_attempts(key)) == 2


def test_quarantine_rows_of_another_partition_are_not_numbered_with_this_one(catalog: Catalog) -> None:
    other = "tate-a/0009"
    for run in range(3):
        catalog.quarantine_records("tate-a", KEY, [reject(run)], "record_validity", {}, {}, f"r{run}")
    catalog.quarantine_records(
        "tate-a", other, [replace(reject(1), partition_key=other)], "record_validity", {}, {}, "x"
    )
    assert [r.attempt for r in catalog.quarantine_rows(other)] == [1]
    assert [r.attempt for r in catalog.quarantine_rows(KEY)] == [3]
