"""The PostgreSQL catalogue against a real server: loading, quarantine, the publication gate and swap.

Each test gets a database of its own (the ``fresh_db`` fixture: on the server named by MUSEUM_SYNC_PG_URL,
else on an embedded one), so it can run beside other suites.
Records are built from the real Tate artwork excerpt (shared/data/csv), replicated for the bulk tests.
"""

from __future__ import annotations

import csv
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from museum_sync.clients.catalog import (
    EMPTY_TABLE,
    Catalog,
    CatalogError,
    PublicationRefused,
    QuarantineRow,
    staging_table_name,
)
from museum_sync.clients.catalog.schema import COLUMN_NAMES
from museum_sync.core.models import MuseumRecord
from museum_sync.redaction import redact

RIGHTS = "http://rightsstatements.org/vocab/InC/1.0/"


# --------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def catalog(fresh_db: str) -> Catalog:
    """A migrated catalogue in a database of its own (``fresh_db``); a non-default schema name on purpose."""
    cat = Catalog(fresh_db, schema=f"cat_{uuid.uuid4().hex[:8]}")
    cat.migrate()
    return cat


@pytest.fixture(scope="module")
def tate(shared_data: Path) -> list[MuseumRecord]:
    """The 52 real Tate rows as canonical records (a local mapping: the profile mapper is not under test)."""
    records = []
    with (shared_data / "csv" / "tate_artwork_data_first52rows.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            year = int(row["year"]) if row["year"].isdigit() else None
            span = None
            if year is not None:
                span = {
                    "display": row["dateText"] or str(year),
                    "earliest": date(year, 1, 1),
                    "latest": date(year, 12, 31),
                }
            data: dict[str, Any] = {
                "export_id": "tate-seed",
                "record_id": f"tate-{row['id']}",
                "object_number": row["accession_number"],
                "titles": ({"text": row["title"], "lang": "en"},),
                "creators": ({"name": row["artist"], "role": {"label": "artist"}, "source_id": row["artistId"]},),
                "production_date": span,
                "dimensions_display": row["dimensions"] or None,
                "inscription": row["inscription"] or None,
                "credit_line": row["creditLine"] or None,
                "rights": RIGHTS,
                "provenance": {
                    "institution": "Tate",
                    "source_record_id": row["id"],
                    "acquisition": row["creditLine"] or None,
                },
                "images": ({"url": row["thumbnailUrl"], "is_primary": True},) if row["thumbnailUrl"] else (),
                "source_profile": "tate_artworks_csv",
            }
            records.append(MuseumRecord.model_validate(data))
    assert len(records) == 52
    return records


def replicate(base: list[MuseumRecord], export_id: str, ids: range | list[int]) -> list[MuseumRecord]:
    """Records ``tate-<row>-<n>`` for each n in ``ids``, cycling through the real rows."""
    return [
        base[n % len(base)].model_copy(
            update={"export_id": export_id, "record_id": f"{base[n % len(base)].record_id}-{n:06d}"}
        )
        for n in ids
    ]


def for_export(records: list[MuseumRecord], export_id: str) -> list[MuseumRecord]:
    return [r.model_copy(update={"export_id": export_id}) for r in records]


def load_all(
    cat: Catalog, export_id: str, records: list[MuseumRecord], chunk_size: int, order: list[int] | None = None
) -> int:
    """Register the export and load it chunk by chunk (optionally in another chunk order)."""
    chunks = [records[i : i + chunk_size] for i in range(0, len(records), chunk_size)]
    cat.register_export(export_id, "tate", "tate_artworks_csv", {"sha256": "x"}, len(chunks), len(records))
    for index in order if order is not None else range(len(chunks)):
        key = f"{export_id}/{index:04d}"
        cat.record_validation(export_id, key, index, True, f"d{index}", len(chunks[index]), 0, "run-1")
        result = cat.load_chunk(export_id, key, index, chunks[index], f"d{index}")
        assert result.duplicates == []
    return len(chunks)


def rows(cat: Catalog, table: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(cat.conninfo) as conn:
        return conn.execute(
            sql.SQL('SELECT * FROM {} ORDER BY record_id COLLATE "C"').format(sql.Identifier(cat.schema, table))
        ).fetchall()


def reject(export_id: str, key: str, n: int, reason: str = "malformed_rights", raw: str = "") -> QuarantineRow:
    return QuarantineRow(
        export_id=export_id,
        partition_key=key,
        record_id=f"bad-{n}",
        file="snapshots/tate/artwork_data.csv",
        line=n + 2,
        byte_offset=100 * n,
        field="rights",
        reason=reason,
        message=f"rights value {n} is not a rights statement",
        value="In Copyrite",
        raw=raw or f"{n},A0000{n},In Copyrite",
    )


# --------------------------------------------------------------------------------------------------
# Helpers and schema


def test_redact_hides_passwords_in_every_form() -> None:
    assert redact("postgresql://museum:s3cr%40t@db.example:5432/cat") == "postgresql://museum:***@db.example:5432/cat"
    assert redact("postgres://db.example/cat?user=u&password=s3cret&sslmode=require") == (
        "postgres://db.example/cat?user=u&password=***&sslmode=require"
    )
    assert redact("host=db user=u password='a b\\' c' dbname=cat") == "host=db user=u password=*** dbname=cat"
    assert redact("postgresql://u@db/cat") == "postgresql://u@db/cat"


def test_staging_table_names_are_safe_identifiers() -> None:
    assert staging_table_name("tate-2024-06-01-ab12cd34") == "objects__tate_2024_06_01_ab12cd34"
    long_id = "Cooper-Hewitt Smithsonian Design Museum-2024-06-01-" + "x" * 40
    name = staging_table_name(long_id)
    assert len(name.encode()) == 63 and name.startswith("objects__cooper_hewitt_")
    assert name != staging_table_name(long_id + "y")
    assert staging_table_name("empty") != EMPTY_TABLE
    with pytest.raises(ValueError):
        staging_table_name("")


def test_migrate_is_idempotent_and_safe_concurrently(fresh_db: str) -> None:
    cat = Catalog(fresh_db, schema=f"cat_{uuid.uuid4().hex[:8]}")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: cat.migrate(), range(4)))
    cat.migrate()
    assert cat.count() == 0
    assert cat.current_publication() is None
    with psycopg.connect(fresh_db) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (cat.schema,)
            )
        }
    assert tables == {
        "exports",
        "chunk_loads",
        "chunk_status",
        "quarantine",
        "quarantine_attempts",
        "quarantined_partitions",
        "publications",
        "deployment",
        "publication_attempts",
        "iiif_manifests",
        "iiif_records",
        EMPTY_TABLE,
        "objects",
    }


def test_one_migrate_prepares_the_publication_attempts_log(catalog: Catalog) -> None:
    """``migrate`` alone is enough for the cross-store protocol: its intent log allows one pending attempt."""
    first = catalog.begin_publication_attempt(
        "tate-20240601-aaaa1111",
        "publish",
        previous_export_id=None,
        search_previous_export_id=None,
        search_index="museum-objects-tate-20240601-aaaa1111",
    )
    assert catalog.pending_publication_attempt() == first
    with pytest.raises(CatalogError, match="still pending"):
        catalog.begin_publication_attempt(
            "tate-20240602-bbbb2222",
            "publish",
            previous_export_id=None,
            search_previous_export_id=None,
            search_index=None,
        )
    assert catalog.finish_publication_attempt(first.id, "done")
    assert catalog.pending_publication_attempt() is None
    with psycopg.connect(catalog.conninfo) as conn:
        indexes = {
            r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", (catalog.schema,))
        }
    assert "publication_attempts_one_pending" in indexes


def test_unreachable_server_raises_operational_error_without_the_password() -> None:
    cat = Catalog("postgresql://museum:hunter2@127.0.0.1:1/catalog", connect_timeout_s=2)
    with pytest.raises(psycopg.OperationalError) as info:
        cat.migrate()
    assert "hunter2" not in str(info.value)
    assert "postgresql://museum:***@127.0.0.1:1/catalog" in str(info.value)


# --------------------------------------------------------------------------------------------------
# Loading


def test_real_records_are_flattened_and_kept_whole(catalog: Catalog, tate: list[MuseumRecord]) -> None:
    records = for_export(tate, "tate-a")
    load_all(catalog, "tate-a", records, chunk_size=20)
    stored = {r[0]: r for r in rows(catalog, staging_table_name("tate-a"))}
    assert len(stored) == 52
    for record in records:
        (
            record_id,
            chunk_key,
            content_hash,
            object_number,
            title,
            _work_type,
            creators,
            date_display,
            earliest,
            _latest,
            rights,
            institution,
            _iiif,
            whole,
            source_locator,
            run_id,
        ) = stored[record.record_id]
        assert (source_locator, run_id) == (None, None), "no lineage given, none invented"
        assert chunk_key.startswith("tate-a/")
        assert content_hash == record.content_hash
        assert (object_number, title, rights, institution) == (
            record.object_number,
            record.title,
            RIGHTS,
            "Tate",
        )
        assert creators == "; ".join(c.name for c in record.creators)
        assert date_display == (record.production_date.display if record.production_date else None)
        assert earliest == (record.production_date.earliest if record.production_date else None)
        assert whole == record.model_dump(mode="json")


def test_reloading_a_chunk_leaves_the_same_rows(catalog: Catalog, tate: list[MuseumRecord]) -> None:
    records = for_export(tate, "tate-a")
    catalog.register_export("tate-a", "tate", "p", {}, 2, 52)
    assert catalog.register_export("tate-a", "tate", "p", {}, 2, 52) == "objects__tate_a"
    first = catalog.load_chunk("tate-a", "tate-a/0000", 0, records[:30], "d0")
    catalog.load_chunk("tate-a", "tate-a/0001", 1, records[30:], "d1")
    before = rows(catalog, "objects__tate_a")
    again = catalog.load_chunk("tate-a", "tate-a/0000", 0, records[:30], "d0")
    assert first.loaded == again.loaded == 30 and again.duplicates == []
    assert rows(catalog, "objects__tate_a") == before
    # A reload replaces the chunk's rows: records that left the chunk leave the table.
    catalog.load_chunk("tate-a", "tate-a/0000", 0, records[:25], "d0b")
    assert catalog.count("tate-a") == 47
    state = catalog.chunk_state("tate-a/0000")
    assert state is not None and state.state == "loaded"


def test_rows_carry_lineage_and_older_tables_without_it_still_publish_and_roll_back(
    catalog: Catalog, tate: list[MuseumRecord]
) -> None:
    """Lineage columns on new rows; a catalogue from before them (tables and view without the columns) still
    publishes and rolls back, its digests unchanged, and ``migrate`` upgrades what is left."""
    a, b = for_export(tate[:20], "tate-a"), for_export(tate[:30], "tate-b")
    for export_id, records in (("tate-a", a), ("tate-b", b)):
        catalog.register_export(export_id, "tate", "p", {}, 1, len(records))
        catalog.record_validation(export_id, f"{export_id}/0000", 0, True, "d", len(records), 0, "run-v")
        where = [f"night.csv:{n + 2}" for n in range(len(records))]
        catalog.load_chunk(export_id, f"{export_id}/0000", 0, records, "d", run_id="run-7", locators=where[:-1])
    row = catalog.staged_row("tate-a", a[3].record_id)
    assert row is not None and (row["source_locator"], row["run_id"], row["chunk_key"]) == (
        "night.csv:5",
        "run-7",
        "tate-a/0000",
    )
    assert catalog.staged_row("tate-a", a[-1].record_id)["source_locator"] is None  # locators ran short
    assert catalog.chunk_lineage("tate-b", "tate-b/0000")[b[0].record_id]["source_locator"] == "night.csv:2"
    catalog.publish("tate-a", 1)
    digests = {e: catalog.catalogue_digest(e) for e in ("tate-a", "tate-b")}
    # The catalogue as an older version left it: no lineage columns anywhere, the view without them.
    old = [c for c in COLUMN_NAMES if c not in ("source_locator", "run_id")]
    with psycopg.connect(catalog.conninfo) as conn:
        s = catalog.schema
        conn.execute(sql.SQL("DROP VIEW {}").format(sql.Identifier(s, "objects")))
        for table in ("objects__tate_a", "objects__tate_b", "objects__empty"):
            conn.execute(
                sql.SQL("ALTER TABLE {} DROP COLUMN source_locator, DROP COLUMN run_id").format(
                    sql.Identifier(s, table)
                )
            )
        conn.execute(
            sql.SQL("CREATE VIEW {} AS SELECT {} FROM {}").format(
                sql.Identifier(s, "objects"),
                sql.SQL(", ").join(map(sql.Identifier, old)),
                sql.Identifier(s, "objects__tate_a"),
            )
        )
    assert catalog.publish("tate-b", 1).publication.record_count == 30  # the view gains the columns at its end
    assert catalog.rollback("tate-a").publication.record_count == 20
    assert {e: catalog.catalogue_digest(e) for e in digests} == digests
    assert catalog.staged_row("tate-a", a[0].record_id)["source_locator"] is None  # older row: none recorded
    catalog.migrate()
    assert catalog.count() == 20
    with psycopg.connect(catalog.conninfo) as conn:
        columns = conn.execute(
            "SELECT table_name, count(*) FROM information_schema.columns WHERE table_schema = %s"
            " AND table_name LIKE 'objects%%' AND column_name IN ('source_locator', 'run_id') GROUP BY 1 ORDER BY 1",
            (catalog.schema,),
        ).fetchall()
    assert columns == [("objects", 2), ("objects__empty", 2), ("objects__tate_a", 2), ("objects__tate_b", 2)]


def test_register_export_refuses_a_different_plan(catalog: Catalog) -> None:
    catalog.register_export("tate-a", "tate", "p", {}, 2, 52)
    with pytest.raises(CatalogError, match="chunk_count=2"):
        catalog.register_export("tate-a", "tate", "p", {}, 3, 52)
    with pytest.raises(CatalogError, match="not registered"):
        catalog.load_chunk("tate-b", "tate-b/0000", 0, [], "d")


def test_duplicate_ids_are_reported_not_overwritten(catalog: Catalog, tate: list[MuseumRecord]) -> None:
    records = for_export(tate, "tate-a")
    catalog.register_export("tate-a", "tate", "p", {}, 2, 52)
    catalog.record_validation("tate-a", "tate-a/0000", 0, True, "d0", 10, 0, "r")
    catalog.record_validation("tate-a", "tate-a/0001", 1, True, "d1", 12, 0, "r")
    catalog.load_chunk("tate-a", "tate-a/0000", 0, records[:10], "d0")
    clash = records[3].model_copy(update={"object_number": "CHANGED"})
    result = catalog.load_chunk("tate-a", "tate-a/0001", 1, [*records[10:20], clash, records[12]], "d1")
    assert result.loaded == 10
    assert result.duplicates == [records[3].record_id, records[12].record_id]
    assert result.conflicts == {records[3].record_id: "tate-a/0000", records[12].record_id: "tate-a/0001"}
    stored = {r[0]: r for r in rows(catalog, "objects__tate_a")}
    assert stored[records[3].record_id][1] == "tate-a/0000"
    assert stored[records[3].record_id][3] == records[3].object_number
    # The chunk's load count excludes what it could not store, so the publication count check holds.
    assert catalog.publish("tate-a", 2, 20).publication.record_count == 20


def test_records_with_nul_characters_are_reported_unstorable(catalog: Catalog, tate: list[MuseumRecord]) -> None:
    records = for_export(tate[:3], "tate-a")
    nul = records[1].model_copy(update={"inscription": "signed\x00 lower right"})
    catalog.register_export("tate-a", "tate", "p", {}, 1, 3)
    result = catalog.load_chunk("tate-a", "tate-a/0000", 0, [records[0], nul, records[2]], "d0")
    assert result.loaded == 2 and result.unstorable == [nul.record_id]


def test_concurrent_loads_of_one_chunk_count_it_once(catalog: Catalog, tate: list[MuseumRecord]) -> None:
    """A redelivered task running twice at once must not leave the chunk counted as empty."""
    records = replicate(tate, "tate-a", range(3000))
    catalog.register_export("tate-a", "tate", "p", {}, 1, 3000)
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: catalog.load_chunk("tate-a", "tate-a/0000", 0, records, "d0"), range(3)))
    assert [r.loaded for r in results] == [3000, 3000, 3000]
    assert catalog.publish("tate-a", 1, 3000).publication.record_count == 3000


# --------------------------------------------------------------------------------------------------
# Quarantine


def test_quarantine_rows_are_replaced_per_partition_and_kept_when_resolved(catalog: Catalog) -> None:
    key = "tate-a/0003"
    stored = catalog.quarantine_records(
        "tate-a",
        key,
        [reject("tate-a", key, n) for n in range(3)],
        "record_validity",
        {"malformed_rights": 3},
        {"threshold": 0.0},
        "run-1",
    )
    catalog.quarantine_records(
        "tate-a",
        "tate-a/0004",
        [reject("tate-a", "tate-a/0004", 9)],
        "record_validity",
        {"x": 1},
        {},
        "run-1",
    )
    assert stored == 3 and len(catalog.quarantine_rows(key)) == 3
    (first,) = [p for p in catalog.list_quarantined("tate-a") if p.partition_key == key]
    assert first.reasons == {"malformed_rights": 3} and first.reject_count == 3 and first.resolved_at is None

    # A replay that still fails replaces the rows, keeps first_seen and refreshes last_seen.
    nul_raw = "7,A00007,In Copyrite\x00"
    catalog.quarantine_records(
        "tate-a",
        key,
        [reject("tate-a", key, 5, "unknown_rights"), reject("tate-a", key, 7, raw=nul_raw)],
        "record_validity",
        {"unknown_rights": 1, "malformed_rights": 1},
        {},
        "run-2",
    )
    replaced = catalog.quarantine_rows(key)
    assert [(r.record_id, r.line, r.byte_offset, r.reason) for r in replaced] == [
        ("bad-5", 7, 500, "unknown_rights"),
        ("bad-7", 9, 700, "malformed_rights"),
    ]
    assert replaced[1].raw == "7,A00007,In Copyrite\\x00" and replaced[1].detected_at is not None
    (second,) = [p for p in catalog.list_quarantined("tate-a") if p.partition_key == key]
    assert second.first_seen == first.first_seen and second.last_seen > first.last_seen
    assert second.run_id == "run-2" and second.reject_count == 2
    assert len(catalog.quarantine_rows("tate-a/0004")) == 1

    # Validating clean resolves the partition; the rejected rows stay.
    catalog.record_validation("tate-a", key, 3, True, "d3", 998, 0, "run-3")
    assert [p.partition_key for p in catalog.list_quarantined("tate-a")] == ["tate-a/0004"]
    (resolved,) = [p for p in catalog.list_quarantined(include_resolved=True) if p.partition_key == key]
    assert resolved.resolved_at is not None and resolved.resolved_by_run_id == "run-3"
    assert len(catalog.quarantine_rows(key)) == 2
    assert catalog.resolve_partition("tate-a/0004", "steward") is True
    assert catalog.resolve_partition("tate-a/0004", "steward") is False
    assert catalog.list_quarantined() == []


def test_a_quarantined_chunk_is_not_loaded(catalog: Catalog, tate: list[MuseumRecord]) -> None:
    catalog.register_export("tate-a", "tate", "p", {}, 1, 52)
    catalog.record_validation("tate-a", "tate-a/0000", 0, False, "d0", 50, 2, "run-1")
    with pytest.raises(CatalogError, match="tate-a/0000 is quarantined"):
        catalog.load_chunk("tate-a", "tate-a/0000", 0, for_export(tate, "tate-a"), "d0")
    assert catalog.count("tate-a") == 0


def test_revalidating_with_the_same_digest_keeps_a_chunk_loaded(catalog: Catalog, tate: list[MuseumRecord]) -> None:
    catalog.register_export("tate-a", "tate", "p", {}, 1, 52)
    catalog.record_validation("tate-a", "tate-a/0000", 0, True, "d0", 52, 0, "run-1")
    catalog.load_chunk("tate-a", "tate-a/0000", 0, for_export(tate, "tate-a"), "d0")
    assert catalog.record_validation("tate-a", "tate-a/0000", 0, True, "d0", 52, 0, "run-2").state == "loaded"
    assert catalog.record_validation("tate-a", "tate-a/0000", 0, True, "d1", 52, 0, "run-3").state == "validated"
    states = catalog.chunk_states("tate-a")
    assert [(s.partition_key, s.state, s.validated_digest, s.run_id) for s in states] == [
        ("tate-a/0000", "validated", "d1", "run-3")
    ]


# --------------------------------------------------------------------------------------------------
# Publication


def test_publication_is_refused_while_a_chunk_is_missing_or_quarantined(
    catalog: Catalog, tate: list[MuseumRecord]
) -> None:
    records = for_export(tate, "tate-a")
    catalog.register_export("tate-a", "tate", "p", {}, 4, 52)
    catalog.record_validation("tate-a", "tate-a/0000", 0, True, "d0", 13, 0, "r")
    catalog.load_chunk("tate-a", "tate-a/0000", 0, records[:13], "d0")
    catalog.record_validation("tate-a", "tate-a/0001", 1, True, "d1", 13, 0, "r")  # validated, not loaded
    catalog.record_validation("tate-a", "tate-a/0002", 2, False, "d2", 13, 4, "r")
    with pytest.raises(PublicationRefused) as info:
        catalog.publish("tate-a", 4)
    message = str(info.value)
    assert "1 quarantined: tate-a/0002" in message
    assert "2 not loaded: tate-a/0001, tate-a/0003" in message
    assert info.value.quarantined == ["tate-a/0002"] and info.value.missing == ["tate-a/0001", "tate-a/0003"]
    assert catalog.current_publication() is None and catalog.count() == 0

    catalog.load_chunk("tate-a", "tate-a/0001", 1, records[13:26], "d1")
    catalog.record_validation("tate-a", "tate-a/0002", 2, True, "d2", 13, 0, "r")
    catalog.load_chunk("tate-a", "tate-a/0002", 2, records[26:39], "d2")
    catalog.load_chunk("tate-a", "tate-a/0003", 3, records[39:], "d3")
    with pytest.raises(PublicationRefused, match="holds 52 rows, expected 60"):
        catalog.publish("tate-a", 4, expected_records=60)
    with pytest.raises(PublicationRefused, match="registered with 4 chunks, not 5"):
        catalog.publish("tate-a", 5)
    result = catalog.publish("tate-a", 4, expected_records=52)
    assert not result.already_published and result.publication.record_count == 52
    assert catalog.count() == 52


def test_publish_swaps_the_view_atomically_for_readers(catalog: Catalog, tate: list[MuseumRecord]) -> None:
    """A reader polling the view while B replaces A sees all of A or all of B, never a mix."""
    a_records = replicate(tate, "tate-a", range(20_000))
    b_records = replicate(tate, "tate-b", range(150, 20_100))  # 150 withdrawn, 100 new
    a_chunks = load_all(catalog, "tate-a", a_records, 1000)
    b_chunks = load_all(catalog, "tate-b", b_records, 1000, order=list(reversed(range(20))))
    catalog.publish("tate-a", a_chunks, 20_000)

    seen: list[tuple[int, str, str]] = []
    errors: list[BaseException] = []
    stop = threading.Event()
    query = sql.SQL("SELECT count(*), min(record->>'export_id'), max(record->>'export_id') FROM {}").format(
        sql.Identifier(catalog.schema, "objects")
    )

    def reader() -> None:
        try:
            with psycopg.connect(catalog.conninfo, autocommit=True) as conn:
                while not stop.is_set():
                    row = conn.execute(query).fetchone()
                    assert row is not None
                    seen.append((row[0], row[1], row[2]))
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        result = catalog.publish("tate-b", b_chunks, 19_950)
        mark = len(seen)
        while len(seen) < mark + 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert set(seen) == {(20_000, "tate-a", "tate-a"), (19_950, "tate-b", "tate-b")}
    assert seen[0][1] == "tate-a" and seen[-1][1] == "tate-b"
    flips = sum(1 for x, y in zip(seen, seen[1:], strict=False) if x != y)
    assert flips == 1

    publication = result.publication
    assert publication.withdrawn_count == 150 and publication.previous_export_id == "tate-a"
    assert publication.withdrawn_sample == sorted(r.record_id for r in a_records[:150])[:100]
    assert catalog.catalogue_digest() == catalog.catalogue_digest("tate-b")


def test_withdrawn_records_rollback_and_idempotent_publish(catalog: Catalog, tate: list[MuseumRecord]) -> None:
    a = for_export(tate[:40], "tate-a")
    b = for_export(tate[5:52], "tate-b")
    load_all(catalog, "tate-a", a, 10)
    load_all(catalog, "tate-b", b, 10)
    load_all(catalog, "tate-c", for_export(tate, "tate-c"), 52)
    with pytest.raises(PublicationRefused, match="nothing has been published"):
        catalog.rollback("tate-a")
    first = catalog.publish("tate-a", 4).publication
    assert first.withdrawn_count == 0 and first.previous_export_id is None
    again = catalog.publish("tate-a", 4)
    assert again.already_published and again.publication == first

    second = catalog.publish("tate-b", 5).publication
    assert second.record_count == 47 and second.withdrawn_count == 5
    assert second.withdrawn_sample == sorted(r.record_id for r in a[:5])
    assert catalog.current_publication() == second

    with pytest.raises(PublicationRefused, match="never published"):
        catalog.rollback("tate-c")
    back = catalog.rollback("tate-a").publication
    assert back.kind == "rollback" and back.previous_export_id == "tate-b" and back.record_count == 40
    assert back.withdrawn_count == 12  # tate-b's rows 40..51 that tate-a lacks
    assert catalog.count() == 40 and catalog.catalogue_digest() == catalog.catalogue_digest("tate-a")
    assert catalog.rollback("tate-a").already_published
    catalog.migrate()  # a worker starting later must not reset the view
    assert catalog.count() == 40
    assert [p.kind for p in catalog.publications()] == ["rollback", "publish", "publish"]


def test_catalogue_digest_ignores_chunk_order_and_export(fresh_db: str, tate: list[MuseumRecord]) -> None:
    one = Catalog(fresh_db, schema=f"cat_{uuid.uuid4().hex[:8]}")
    two = Catalog(fresh_db, schema=f"cat_{uuid.uuid4().hex[:8]}")
    for cat in (one, two):
        cat.migrate()
    records = replicate(tate, "tate-a", range(2_000))
    load_all(one, "tate-a", records, 250)
    load_all(two, "tate-x", for_export(records, "tate-x"), 250, order=[7, 3, 0, 5, 1, 6, 2, 4])
    load_all(two, "tate-y", for_export(records, "tate-y")[::-1], 400)
    one.publish("tate-a", 8)
    two.publish("tate-x", 8)
    digest = one.catalogue_digest()
    assert digest == two.catalogue_digest() == two.catalogue_digest("tate-y") == one.catalogue_digest("tate-a")
    changed = [*records[:-1], records[-1].model_copy(update={"object_number": "X1"})]
    load_all(two, "tate-z", for_export(changed, "tate-z"), 1000)
    assert two.catalogue_digest("tate-z") != digest


def test_incremental_export_applies_upserts_and_deletions(catalog: Catalog, tate: list[MuseumRecord]) -> None:
    base = for_export(tate[:40], "tate-a")
    load_all(catalog, "tate-a", base, 20)
    catalog.publish("tate-a", 2)
    changed = base[3].model_copy(update={"export_id": "tate-inc", "object_number": "A00004-R"})
    delta = [changed, *for_export(tate[40:43], "tate-inc")]
    catalog.register_export("tate-inc", "tate", "p", {}, 1, 4, kind="incremental")
    catalog.load_chunk("tate-inc", "tate-inc/0000", 0, delta, "d0")
    gone = [base[0].record_id, base[1].record_id, "never-existed"]
    with pytest.raises(ValueError, match="incremental"):
        catalog.publish("tate-a", 2, deleted_record_ids=gone)
    publication = catalog.publish("tate-inc", 1, 4, deleted_record_ids=gone).publication
    assert publication.record_count == 40 - 2 + 3
    assert publication.withdrawn_count == 2 and publication.withdrawn_sample == sorted(gone[:2])
    assert publication.metadata["carried_over"] == 40 - 1 - 2
    with psycopg.connect(catalog.conninfo) as conn:
        number = conn.execute(
            sql.SQL("SELECT object_number FROM {} WHERE record_id = %s").format(
                sql.Identifier(catalog.schema, "objects")
            ),
            (base[3].record_id,),
        ).fetchone()
    assert number == ("A00004-R",)
    assert catalog.count() == 41


def test_drop_old_exports_keeps_the_current_and_recent_ones(catalog: Catalog, tate: list[MuseumRecord]) -> None:
    for export_id in ("tate-abandoned", "tate-a", "tate-b", "tate-c"):
        load_all(catalog, export_id, for_export(tate, export_id), 52)
    catalog.publish("tate-a", 1)
    catalog.publish("tate-b", 1)
    catalog.publish("tate-c", 1)
    load_all(catalog, "tate-loading", for_export(tate, "tate-loading"), 52)
    catalog.rollback("tate-b")

    assert sorted(catalog.drop_old_exports(keep=2)) == ["objects__tate_a", "objects__tate_abandoned"]
    with pytest.raises(PublicationRefused, match="dropped"):
        catalog.rollback("tate-a")
    assert catalog.count("tate-c") == 52 and catalog.count("tate-loading") == 52
    assert [s.state for s in catalog.chunk_states("tate-a")] == ["validated"]
    with pytest.raises(CatalogError, match="dropped"):
        catalog.load_chunk("tate-a", "tate-a/0000", 0, for_export(tate, "tate-a"), "d0")
    assert catalog.drop_old_exports(keep=0) == ["objects__tate_c"]
    assert catalog.count() == 52 and catalog.current_publication() is not None
    # Re-registering a dropped export brings its staging table back, empty, for a reload.
    catalog.register_export("tate-a", "tate", "tate_artworks_csv", {"sha256": "x"}, 1, 52)
    assert catalog.count("tate-a") == 0
    with pytest.raises(PublicationRefused, match="not loaded"):
        catalog.publish("tate-a", 1)


class _ViewHolder:
    """A reader that keeps the view locked (an open transaction that read it) until released."""

    def __init__(self, cat: Catalog) -> None:
        self.conn = psycopg.connect(cat.conninfo)
        self.conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(cat.schema, "objects")))

    def release(self) -> None:
        self.conn.rollback()
        self.conn.close()


def wait_for_lock_queue(cat: Catalog) -> None:
    """Return once some session waits for a lock on the catalogue's view."""
    query = (
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE NOT l.granted AND n.nspname = %s AND c.relname = 'objects'"
    )
    deadline = time.monotonic() + 30
    with psycopg.connect(cat.conninfo, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(query, (cat.schema,)).fetchone()
            if row and row[0]:
                return
            time.sleep(0.005)
    raise AssertionError("nobody queued for the view's lock")


def test_swap_waits_for_a_long_reader_without_blocking_new_readers(catalog: Catalog, tate: list[MuseumRecord]) -> None:
    load_all(catalog, "tate-a", for_export(tate[:30], "tate-a"), 30)
    load_all(catalog, "tate-b", for_export(tate, "tate-b"), 52)
    catalog.publish("tate-a", 1)
    patient = Catalog(catalog.conninfo, catalog.schema, lock_timeout_s=0.1, swap_timeout_s=60)
    holder = _ViewHolder(catalog)
    answered: list[int] = []
    stop = threading.Event()

    def new_reader() -> None:
        with psycopg.connect(catalog.conninfo, autocommit=True) as conn:
            while not stop.is_set():
                row = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(catalog.schema, "objects"))
                ).fetchone()
                assert row is not None
                answered.append(row[0])
                time.sleep(0.02)

    with ThreadPoolExecutor(2) as pool:
        publishing = pool.submit(patient.publish, "tate-b", 1)
        wait_for_lock_queue(catalog)  # the swap is now queued behind the long reader
        reading = pool.submit(new_reader)
        time.sleep(1.5)
        during = len(answered)
        assert not publishing.done()  # still waiting for the long reader
        holder.release()
        result = publishing.result(timeout=60)
        stop.set()
        reading.result(timeout=60)
    assert during > 0 and set(answered[:during]) == {30}  # new readers were let through meanwhile
    assert result.publication.record_count == 52 and catalog.count() == 52


def test_swap_gives_up_after_swap_timeout_and_changes_nothing(catalog: Catalog, tate: list[MuseumRecord]) -> None:
    load_all(catalog, "tate-a", for_export(tate[:30], "tate-a"), 30)
    load_all(catalog, "tate-b", for_export(tate, "tate-b"), 52)
    first = catalog.publish("tate-a", 1).publication
    hasty = Catalog(catalog.conninfo, catalog.schema, lock_timeout_s=0.1, swap_timeout_s=0.5)
    holder = _ViewHolder(catalog)
    try:
        with pytest.raises(psycopg.errors.LockNotAvailable):
            hasty.publish("tate-b", 1)
    finally:
        holder.release()
    assert catalog.current_publication() == first and catalog.count() == 30
    assert hasty.publish("tate-b", 1).publication.record_count == 52


def test_quarantine_summary_counts_records_not_problems(catalog: Catalog) -> None:
    """Two problems of one record count once per reason; JSON items without line or id count apart."""
    key = "aic-a/0000"
    one = reject("aic-a", key, 1)
    rows = [
        one,
        replace(one, field="rights_url", message="second problem of the same record"),
        reject("aic-a", key, 2, "missing_provenance"),
        *(
            replace(reject("aic-a", key, n), record_id=None, line=None, byte_offset=None, pointer=f"/data/{n}")
            for n in (3, 4)
        ),
    ]
    catalog.quarantine_records("aic-a", key, rows, "record_validity", {}, {}, "run-1")
    assert catalog.quarantine_summary("aic-a") == [
        {"reason": "malformed_rights", "count": 3},
        {"reason": "missing_provenance", "count": 1},
    ]
