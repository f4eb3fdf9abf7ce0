"""Publication across PostgreSQL and Elasticsearch: a real catalogue (``fresh_db``) and real HTTP to ``es_server``.

A reader thread polls what the public sees, in both stores, during publications and during failures
injected at each step (the alias call fails; the PostgreSQL transaction fails after the alias moved; the
alias cannot be moved back either). It must never see two exports at once, nor a partly loaded one, and
after each failure both stores must still show the previous export. Failures are real: 503s from the
server, and a trigger that makes PostgreSQL abort the publication transaction.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

import psycopg
import pytest
from elasticsearch import ApiError
from psycopg import sql

from museum_sync.clients.catalog import Catalog, PublicationRefused
from museum_sync.clients.search import SearchClient
from museum_sync.core.models import MuseumRecord
from museum_sync.publication import (
    NOT_CONFIGURED,
    PublicationCheckFailed,
    PublicationFailed,
    publish_export,
    rollback,
)
from museum_sync_tests.clients.test_search import tate_records
from museum_sync_tests.es_server import EsTestServer, remove_scratch_alias_and_indices

A = "tate-20240601-aaaa1111"
B = "tate-20240602-bbbb2222"
C = "tate-20240603-cccc3333"
CHUNK = 500


@pytest.fixture
def catalog(fresh_db: str) -> Catalog:
    cat = Catalog(fresh_db, schema="catalog", lock_timeout_s=0.5)
    cat.migrate()
    return cat


def export_records(export_id: str) -> list[MuseumRecord]:
    """A: 2000 records; B: 1800 (every 10th of A's objects withdrawn); C: 1500 others."""
    if export_id == A:
        return tate_records(A, 2000)
    if export_id == B:
        return tate_records(B, 1800, skip_every=10)
    return tate_records(export_id, 1500, id_offset=500_000)


def load(
    catalog: Catalog,
    search: SearchClient | None,
    export_id: str,
    records: list[MuseumRecord] | None = None,
    kind: str = "full",
    source: str = "tate",
) -> int:
    """What the pipeline does per chunk: validate (recorded), COPY into the staging table, index. Returns chunks.

    The manifest's snapshot time is the night the export id names (``tate-20240602-...``: 2024-06-02 02:00
    UTC), as a real snapshot's ``fetched_at``: publication order compares it.
    """
    records = export_records(export_id) if records is None else records
    chunks = [records[i : i + CHUNK] for i in range(0, len(records), CHUNK)]
    day = export_id.split("-")[1]
    manifest = {"sha256": export_id, "fetched_at": f"{day[:4]}-{day[4:6]}-{day[6:]}T02:00:00+00:00"}
    catalog.register_export(export_id, source, "tate_artworks_csv", manifest, len(chunks), len(records), kind=kind)
    if search is not None:
        search.ensure_index(export_id)
    for index, chunk in enumerate(chunks):
        key = f"{export_id}/{index:04d}"
        catalog.record_validation(export_id, key, index, True, f"d{index}", len(chunk), 0, "run")
        assert catalog.load_chunk(export_id, key, index, chunk, f"d{index}").duplicates == []
        if search is not None:
            assert search.index_records(export_id, chunk).errors == []
    return len(chunks)


class Reader(threading.Thread):
    """Polls the public alias and ``catalog.objects`` until stopped; records every violation it sees."""

    def __init__(self, catalog: Catalog, search: SearchClient, sizes: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.catalog = catalog
        self.search = search
        self.sizes = sizes
        self.stop_event = threading.Event()
        self.violations: list[str] = []
        self.es_seen: list[str] = []
        self.pg_seen: list[str] = []
        self.polls = 0

    def _saw(self, seen: list[str], export_id: str) -> None:
        if not seen or seen[-1] != export_id:
            seen.append(export_id)

    def run(self) -> None:
        query = sql.SQL(
            "SELECT count(*), count(DISTINCT record->>'export_id'), min(record->>'export_id') FROM {}"
        ).format(sql.Identifier(self.catalog.schema, "objects"))
        with psycopg.connect(self.catalog.conninfo, autocommit=True) as conn:
            while not self.stop_event.is_set():
                try:
                    self._poll_es()
                except ApiError as exc:
                    self.violations.append(f"search failed: {exc}")
                row = conn.execute(query).fetchone()
                assert row is not None
                count, distinct, export_id = row
                if distinct != 1 or count != self.sizes.get(export_id):
                    self.violations.append(f"PostgreSQL showed {count} rows of {distinct} exports ({export_id})")
                else:
                    self._saw(self.pg_seen, export_id)
                self.polls += 1
                time.sleep(0.002)

    def _poll_es(self) -> None:
        # One search answers both questions at one point in time: how many documents, and from where.
        body = self.search.es.search(
            index=self.search.alias, size=100, source={"includes": ["export_id"]}, track_total_hits=True
        ).body
        total = body["hits"]["total"]["value"]
        exports = {hit["_source"]["export_id"] for hit in body["hits"]["hits"]}
        indices = {hit["_index"] for hit in body["hits"]["hits"]}
        export_id = next(iter(exports)) if len(exports) == 1 else None
        if len(exports) != 1 or len(indices) != 1 or export_id is None or total != self.sizes.get(export_id):
            self.violations.append(f"Elasticsearch showed {total} documents of {sorted(exports)} in {sorted(indices)}")
            return
        counted = self.search.es.count(index=self.search.alias).body["count"]
        if counted not in self.sizes.values():
            self.violations.append(f"Elasticsearch counted {counted} documents")
        self._saw(self.es_seen, export_id)

    def __enter__(self) -> Reader:
        # The test's publication must not start before the reader has seen the state it starts from:
        # otherwise a fast swap lands before the first poll and the "before" state is never recorded.
        self.start()
        deadline = time.monotonic() + 10
        while self.polls == 0 and self.is_alive() and time.monotonic() < deadline:
            time.sleep(0.001)
        assert self.polls > 0, f"the reader never completed a poll: {self.violations}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.join(timeout=10)


def sizes() -> dict[str, int]:
    return {export_id: len(export_records(export_id)) for export_id in (A, B, C)}


def assert_public(catalog: Catalog, search: SearchClient, export_id: str) -> None:
    """Both stores show ``export_id``, all of it and nothing else."""
    expected = len(export_records(export_id))
    current = catalog.current_publication()
    assert current is not None and current.export_id == export_id
    assert catalog.count() == expected
    assert search.alias_target() == export_id
    assert search.count() == expected


class RefusePublications:
    """A trigger that makes the publication transaction abort after its view swap (a real PostgreSQL error)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.schema = sql.Identifier(catalog.schema)

    def on(self) -> None:
        with psycopg.connect(self.catalog.conninfo, autocommit=True) as conn:
            conn.execute(
                sql.SQL(
                    "CREATE FUNCTION {}.refuse() RETURNS trigger LANGUAGE plpgsql AS"
                    " $$ BEGIN RAISE EXCEPTION 'injected: the publications row is refused'; END $$"
                ).format(self.schema)
            )
            conn.execute(
                sql.SQL("CREATE TRIGGER refuse BEFORE INSERT ON {} FOR EACH ROW EXECUTE FUNCTION {}.refuse()").format(
                    sql.Identifier(self.catalog.schema, "publications"), self.schema
                )
            )

    def off(self) -> None:
        with psycopg.connect(self.catalog.conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP FUNCTION {}.refuse() CASCADE").format(self.schema))


@pytest.fixture
def refuse_publications(catalog: Catalog) -> RefusePublications:
    return RefusePublications(catalog)


# --------------------------------------------------------------------------------------------------
# The main path


def test_publication_switches_both_stores_and_a_reader_never_sees_a_mix(
    catalog: Catalog, search: SearchClient, es_server: EsTestServer
) -> None:
    first = publish_export(catalog, search, A, load(catalog, search, A))
    assert first.search == "museum-objects -> museum-objects-tate-20240601-aaaa1111"
    assert first.previous_export_id is None and first.check.passed and first.check.sampled == 50
    assert_public(catalog, search, A)

    with Reader(catalog, search, sizes()) as reader:
        chunks = load(catalog, search, B)  # loading B while A is public: readers must not notice
        time.sleep(0.05)
        es_server.reset_requests()
        outcome = publish_export(catalog, search, B, chunks)
        time.sleep(0.05)
    assert reader.violations == [] and reader.polls > 10
    assert reader.es_seen == [A, B] and reader.pg_seen == [A, B]
    assert_public(catalog, search, B)
    assert outcome.previous_export_id == A and not outcome.already_published
    assert outcome.check.pg_rows == outcome.check.es_docs == outcome.check.valid_records == 1800
    assert outcome.check.mismatched == []
    assert outcome.swap_seconds > 0 and {"gate", "alias", "postgres", "check"} <= set(outcome.timings)
    assert len(es_server.requests_to(r"^/_aliases$")) == 1
    assert outcome.publication.metadata["search_index"] == search.index_name(B)
    attempts = catalog.publication_attempts()
    assert [(a.export_id, a.state) for a in attempts] == [(B, "done"), (A, "done")]
    assert attempts[0].search_previous_export_id == A and attempts[0].detail["check_passed"] is True

    es_server.reset_requests()
    again = publish_export(catalog, search, B, chunks)  # idempotent: nothing moves
    assert again.already_published and es_server.requests_to(r"^/_aliases$") == []
    assert_public(catalog, search, B)


def test_gate_refuses_when_the_stores_disagree_and_changes_nothing(
    catalog: Catalog, search: SearchClient, es_server: EsTestServer
) -> None:
    publish_export(catalog, search, A, load(catalog, search, A))
    records = export_records(B)
    rejected = {r.record_id for r in records[5::300]}
    es_server.reject_docs(lambda doc_id: doc_id in rejected, 400)
    chunks = [records[i : i + CHUNK] for i in range(0, len(records), CHUNK)]
    catalog.register_export(B, "tate", "tate_artworks_csv", {}, len(chunks), len(records))
    search.ensure_index(B)
    errors = []
    for index, chunk in enumerate(chunks):
        key = f"{B}/{index:04d}"
        catalog.record_validation(B, key, index, True, "d", len(chunk), 0, "run")
        catalog.load_chunk(B, key, index, chunk, "d")
        errors += search.index_records(B, chunk).errors
    assert sorted(e.record_id for e in errors) == sorted(rejected)  # the caller quarantines them: index_rejected

    with pytest.raises(PublicationRefused) as info:
        publish_export(catalog, search, B, len(chunks))
    message = str(info.value)
    assert f"holds {1800 - len(rejected)} documents" in message and "holds 1800 rows" in message
    assert "count 1800 valid records" in message
    assert_public(catalog, search, A)
    assert catalog.pending_publication_attempt() is None

    with pytest.raises(PublicationRefused, match="registered with 4 chunks, not 5"):
        publish_export(catalog, search, B, len(chunks) + 1)
    catalog.register_export(C, "tate", "tate_artworks_csv", {}, 1, 1)
    with pytest.raises(PublicationRefused, match="1 not loaded"):
        publish_export(catalog, search, C, 1)
    assert_public(catalog, search, A)


def test_the_reader_notices_a_mix_in_either_store(catalog: Catalog, search: SearchClient) -> None:
    """The instrument itself: two exports behind the alias, or in the view, are reported."""
    publish_export(catalog, search, A, load(catalog, search, A))
    load(catalog, search, B)
    search.finish_load(B)  # searchable: until then even a wrong alias would show nothing of B
    search.es.indices.update_aliases(actions=[{"add": {"index": search.index_name(B), "alias": search.alias}}])
    with Reader(catalog, search, sizes()) as reader:
        time.sleep(0.1)
    assert reader.violations and all("Elasticsearch showed 3800 documents" in v for v in reader.violations)
    search.es.indices.update_aliases(actions=[{"remove": {"index": search.index_name(B), "alias": search.alias}}])
    tables = [sql.Identifier(catalog.schema, f"objects__{e.replace('-', '_')}") for e in (A, B)]
    with psycopg.connect(catalog.conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE OR REPLACE VIEW {} AS SELECT * FROM {} UNION ALL SELECT * FROM {}").format(
                sql.Identifier(catalog.schema, "objects"), *tables
            )
        )
    with Reader(catalog, search, sizes()) as reader:
        time.sleep(0.1)
    assert reader.violations and all("PostgreSQL showed 3800 rows of 2 exports" in v for v in reader.violations)


def test_a_cross_chunk_duplicate_must_be_indexed_as_postgres_kept_it(catalog: Catalog, search: SearchClient) -> None:
    """Chunk 1 repeats an id of chunk 0 with other content: PostgreSQL keeps chunk 0's version.

    Indexing every valid record of chunk 1 overwrites that document in Elasticsearch (same counts,
    different content); indexing only ``loaded_record_ids`` keeps both stores equal.
    """

    def staged(export_id: str) -> tuple[list[list[MuseumRecord]], str]:
        records = [r.model_copy(update={"export_id": export_id}) for r in export_records(A)[:40]]
        twin = records[25].model_copy(update={"record_id": records[3].record_id})  # same id, other object
        chunks = [records[:20], [*records[20:25], twin, *records[26:]]]
        catalog.register_export(export_id, "tate", "tate_artworks_csv", {}, 2, 39)
        search.ensure_index(export_id)
        for index, chunk in enumerate(chunks):
            key = f"{export_id}/{index:04d}"
            catalog.record_validation(export_id, key, index, True, "d", len(chunk), 0, "run")
            catalog.load_chunk(export_id, key, index, chunk, "d")
        assert twin.record_id not in catalog.loaded_record_ids(export_id, f"{export_id}/0001")
        return chunks, twin.record_id

    chunks, twin_id = staged(A)
    for chunk in chunks:  # a naive indexing step: every valid record of the chunk
        assert search.index_records(A, chunk).errors == []
    with pytest.raises(PublicationCheckFailed, match=f"1 of 39 sampled content hashes differ \\({twin_id}\\)"):
        publish_export(catalog, search, A, 2, sample_size=1000)  # a sample this large covers every record

    chunks, _ = staged(B)
    for index, chunk in enumerate(chunks):  # the right one: only what PostgreSQL holds for the chunk
        loaded = catalog.loaded_record_ids(B, f"{B}/{index:04d}")
        assert search.index_records(B, [r for r in chunk if r.record_id in loaded]).errors == []
    outcome = publish_export(catalog, search, B, 2, sample_size=1000)
    assert outcome.check.passed and outcome.check.sampled == 39


# --------------------------------------------------------------------------------------------------
# Failures at each step


def test_failed_alias_call_leaves_the_previous_export_in_both_and_a_rerun_completes(
    catalog: Catalog, search: SearchClient, es_server: EsTestServer
) -> None:
    publish_export(catalog, search, A, load(catalog, search, A))
    chunks = load(catalog, search, B)
    with Reader(catalog, search, sizes()) as reader:
        es_server.fail_next(20, 503, path=r"^/_aliases$")
        with pytest.raises(PublicationFailed) as info:
            publish_export(catalog, search, B, chunks)
        time.sleep(0.05)
        assert info.value.step == "alias" and info.value.rolled_back and not info.value.pending
        assert "neither store changed" in str(info.value)
        assert_public(catalog, search, A)
        es_server.clear_faults()
        outcome = publish_export(catalog, search, B, chunks)
        time.sleep(0.05)
    assert reader.violations == [] and reader.es_seen == [A, B] and reader.pg_seen == [A, B]
    assert_public(catalog, search, B)
    assert outcome.check.passed
    assert [a.state for a in catalog.publication_attempts()] == ["done", "failed", "done"]


def test_failed_postgres_transaction_moves_the_alias_back_and_a_rerun_completes(
    catalog: Catalog, search: SearchClient, es_server: EsTestServer, refuse_publications: RefusePublications
) -> None:
    publish_export(catalog, search, A, load(catalog, search, A))
    chunks = load(catalog, search, B)
    refuse_publications.on()
    with Reader(catalog, search, sizes()) as reader:
        with pytest.raises(PublicationFailed) as info:
            publish_export(catalog, search, B, chunks)
        time.sleep(0.05)
        assert info.value.step == "postgres" and info.value.rolled_back
        assert "publications row is refused" in str(info.value) and "moved back to 'tate-20240601-aaaa1111'" in str(
            info.value
        )
        assert_public(catalog, search, A)
        refuse_publications.off()
        publish_export(catalog, search, B, chunks)
        time.sleep(0.05)
    # The alias was on B for the length of the failed transaction: readers of Elasticsearch may have seen B
    # then A again, each complete; never a mix. PostgreSQL never showed B before the rerun.
    assert reader.violations == []
    assert reader.pg_seen == [A, B] and reader.es_seen[0] == A and reader.es_seen[-1] == B
    assert_public(catalog, search, B)
    calls = es_server.requests_to(r"^/_aliases$")
    assert [c.json()["actions"][-1]["add"]["index"] for c in calls] == [
        search.index_name(A),
        search.index_name(B),
        search.index_name(A),
        search.index_name(B),
    ]
    assert [a.state for a in catalog.publication_attempts()] == ["done", "failed", "done"]


def test_half_done_publication_stays_pending_and_a_rerun_completes_it(
    catalog: Catalog, search: SearchClient, es_server: EsTestServer, refuse_publications: RefusePublications
) -> None:
    publish_export(catalog, search, A, load(catalog, search, A))
    chunks = load(catalog, search, B)
    refuse_publications.on()
    es_server.fail_next(50, 503, path=r"^/_aliases$", after=1)  # the swap works, moving it back does not
    with Reader(catalog, search, sizes()) as reader:
        with pytest.raises(PublicationFailed) as info:
            publish_export(catalog, search, B, chunks)
        assert info.value.pending and not info.value.rolled_back and "stays pending" in str(info.value)
        pending = catalog.pending_publication_attempt()
        assert pending is not None and pending.export_id == B
        assert search.alias_target() == B and catalog.current_publication().export_id == A  # type: ignore[union-attr]
        refuse_publications.off()
        es_server.clear_faults()
        outcome = publish_export(catalog, search, B, chunks)
        time.sleep(0.05)
    assert reader.violations == []
    assert outcome.attempt_id == pending.id and outcome.settled == []
    assert_public(catalog, search, B)
    assert catalog.pending_publication_attempt() is None


def test_an_alias_failure_whose_outcome_cannot_be_read_stays_pending_and_a_rerun_completes(
    catalog: Catalog, search: SearchClient, es_server: EsTestServer
) -> None:
    publish_export(catalog, search, A, load(catalog, search, A))
    chunks = load(catalog, search, B)
    # The two alias reads before the switch work; the _aliases call and every read after it fail.
    es_server.fail_next(100, 503, path=r"^/_alias", after=2)
    with pytest.raises(PublicationFailed) as info:
        publish_export(catalog, search, B, chunks)
    assert info.value.step == "alias" and info.value.pending and "cannot be read" in str(info.value)
    es_server.clear_faults()
    pending = catalog.pending_publication_attempt()
    assert pending is not None and pending.export_id == B
    assert_public(catalog, search, A)  # nothing moved: PostgreSQL was never asked, the call never applied
    outcome = publish_export(catalog, search, B, chunks)
    assert outcome.attempt_id == pending.id
    assert_public(catalog, search, B)


def test_a_pending_attempt_is_settled_by_what_postgres_says_before_another_publication(
    catalog: Catalog, search: SearchClient, es_server: EsTestServer, refuse_publications: RefusePublications
) -> None:
    publish_export(catalog, search, A, load(catalog, search, A))
    chunks_b = load(catalog, search, B)
    chunks_c = load(catalog, search, C)
    refuse_publications.on()
    es_server.fail_next(50, 503, path=r"^/_aliases$", after=1)
    with pytest.raises(PublicationFailed):
        publish_export(catalog, search, B, chunks_b)
    refuse_publications.off()
    es_server.clear_faults()
    # PostgreSQL never published B: the next publication first puts the alias back on A, then publishes C.
    outcome = publish_export(catalog, search, C, chunks_c)
    assert outcome.settled and "settled as abandoned" in outcome.settled[0]
    assert_public(catalog, search, C)
    assert [(a.export_id, a.state) for a in catalog.publication_attempts()] == [
        (C, "done"),
        (B, "abandoned"),
        (A, "done"),
    ]


# --------------------------------------------------------------------------------------------------
# Incremental exports: upserts and deletions applied to a copy of the public export, in both stores

INC = "tate-20240604-dddd4444"


def incremental_records() -> tuple[list[MuseumRecord], list[str]]:
    """On A: 200 of its objects revised, 100 new ones; and 50 others deleted at the source."""
    base = export_records(A)
    revised = [r.model_copy(update={"export_id": INC, "credit_line": f"{r.credit_line} (revised)"}) for r in base[:200]]
    new = tate_records(INC, 100, id_offset=900_000)
    deleted = [r.record_id for r in base[1000:1050]]
    return revised + new, deleted


def public_state(catalog: Catalog, search: SearchClient) -> dict[str, str]:
    """record_id -> content_hash of everything public, read from each store; asserts they are equal."""
    with psycopg.connect(catalog.conninfo, autocommit=True) as conn:
        rows = conn.execute(
            sql.SQL("SELECT record_id, content_hash FROM {}").format(sql.Identifier(catalog.schema, "objects"))
        ).fetchall()
    pg = {str(rid): str(digest) for rid, digest in rows}
    body = search.es.search(
        index=search.alias, size=10_000, source={"includes": ["content_hash"]}, track_total_hits=True
    ).body
    es = {hit["_id"]: hit["_source"]["content_hash"] for hit in body["hits"]["hits"]}
    assert body["hits"]["total"]["value"] == len(es)
    assert pg == es
    return pg


class IncrementalReader(Reader):
    """A reader for an incremental publication, where two export ids are legitimately public at once.

    PostgreSQL: (rows, rows from INC) in one statement must be A's (2000, 0) or the copy's (2050, 300).
    Elasticsearch: every hit from one index, and that index complete.
    """

    def run(self) -> None:
        query = sql.SQL("SELECT count(*), count(*) FILTER (WHERE record->>'export_id' = %s) FROM {}").format(
            sql.Identifier(self.catalog.schema, "objects")
        )
        states = {(2000, 0): A, (2050, 300): INC}
        with psycopg.connect(self.catalog.conninfo, autocommit=True) as conn:
            while not self.stop_event.is_set():
                body = self.search.es.search(index=self.search.alias, size=100, track_total_hits=True).body
                indices = {hit["_index"] for hit in body["hits"]["hits"]}
                total = body["hits"]["total"]["value"]
                by_index = {self.search.index_name(A): (A, 2000), self.search.index_name(INC): (INC, 2050)}
                seen = by_index.get(next(iter(indices))) if len(indices) == 1 else None
                if seen is None or seen[1] != total:
                    self.violations.append(f"Elasticsearch showed {total} documents from {sorted(indices)}")
                else:
                    self._saw(self.es_seen, seen[0])
                row = conn.execute(query, (INC,)).fetchone()
                assert row is not None
                state = states.get((int(row[0]), int(row[1])))
                if state is None:
                    self.violations.append(f"PostgreSQL showed {row[0]} rows, {row[1]} of them from {INC}")
                else:
                    self._saw(self.pg_seen, state)
                self.polls += 1
                time.sleep(0.002)


def test_incremental_export_is_published_as_a_copy_of_the_public_one_in_both_stores(
    catalog: Catalog, search: SearchClient
) -> None:
    publish_export(catalog, search, A, load(catalog, search, A))
    before = public_state(catalog, search)
    records, deleted = incremental_records()
    chunks = load(catalog, search, INC, records, kind="incremental")

    with IncrementalReader(catalog, search, {}) as reader:
        outcome = publish_export(catalog, search, INC, chunks, deleted_record_ids=deleted, sample_size=3000)
        time.sleep(0.05)
    assert reader.violations == [] and reader.polls > 5
    assert reader.es_seen == [A, INC] and reader.pg_seen == [A, INC]

    after = public_state(catalog, search)  # the same ids and content hashes in both stores
    revised = {r.record_id: r.content_hash for r in records[:200]}
    expected = {rid: digest for rid, digest in before.items() if rid not in deleted}
    expected.update(revised)
    expected.update({r.record_id: r.content_hash for r in records[200:]})
    assert after == expected and len(after) == 2050
    assert all(before[rid] != digest for rid, digest in revised.items())
    assert outcome.check.passed and outcome.check.sampled == 2050
    assert outcome.check.pg_rows == outcome.check.es_docs == outcome.check.valid_records == 2050
    carried_id = export_records(A)[1500].record_id
    carried = search.get_document(INC, carried_id)
    assert carried is not None and carried["export_id"] == A  # carried as published, in both stores
    assert outcome.timings["carry_over"] > 0
    pub = outcome.publication
    assert pub.metadata["kind"] == "incremental" and pub.metadata["carried_over"] == 1750
    assert pub.withdrawn_count == 50 and sorted(pub.withdrawn_sample) == sorted(deleted)
    assert catalog.publication_attempts()[0].detail["carried"] == 1750

    assert publish_export(catalog, search, INC, chunks, deleted_record_ids=deleted).already_published
    rolled = rollback(catalog, search, A)
    assert rolled.check.passed and public_state(catalog, search) == before
    again = publish_export(catalog, search, INC, chunks, deleted_record_ids=deleted)
    assert again.check.passed and public_state(catalog, search) == expected


def test_incremental_publication_survives_failures_and_a_change_of_base(
    catalog: Catalog, search: SearchClient, es_server: EsTestServer, refuse_publications: RefusePublications
) -> None:
    """Failures before and during the switch leave A public in both; a rerun on another base completes.

    The first failed attempt carried A's documents into the copy's index; by the rerun, B (which lacks
    every 10th of A's objects) is public, so those of A's documents B lacks must leave the index again.
    """
    publish_export(catalog, search, A, load(catalog, search, A))
    records, deleted = incremental_records()
    chunks = load(catalog, search, INC, records, kind="incremental")

    rejected = export_records(A)[1700].record_id
    with IncrementalReader(catalog, search, {}) as reader:
        es_server.reject_docs(lambda doc_id: doc_id == rejected, 400)
        with pytest.raises(PublicationRefused, match=f"1 of the documents carried over.*{rejected}: 400"):
            publish_export(catalog, search, INC, chunks, deleted_record_ids=deleted)
        es_server.clear_faults()
        assert catalog.current_publication().export_id == A and search.alias_target() == A  # type: ignore[union-attr]

        refuse_publications.on()
        with pytest.raises(PublicationFailed) as info:
            publish_export(catalog, search, INC, chunks, deleted_record_ids=deleted)
        assert info.value.step == "postgres" and info.value.rolled_back
        refuse_publications.off()
        time.sleep(0.05)
    # The alias was on the complete copy for the length of the failed transaction: readers of Elasticsearch
    # may have seen it, then A again; PostgreSQL never showed it. Never a mix, never a partial copy.
    assert reader.violations == [] and reader.pg_seen == [A] and reader.es_seen[-1] == A
    assert public_state(catalog, search) == {r.record_id: r.content_hash for r in export_records(A)}
    assert search.count(INC) == 2050  # the copy, complete on A, waits unpublished

    publish_export(catalog, search, B, load(catalog, search, B))
    outcome = publish_export(catalog, search, INC, chunks, deleted_record_ids=deleted, sample_size=3000)
    after = public_state(catalog, search)
    expected = {r.record_id: r.content_hash for r in export_records(B) if r.record_id not in deleted}
    expected.update({r.record_id: r.content_hash for r in records})
    assert after == expected and outcome.check.passed and outcome.check.sampled == len(expected)
    assert outcome.previous_export_id == B and outcome.publication.metadata["carried_over"] == len(expected) - 300


# --------------------------------------------------------------------------------------------------
# Rollback, retention, PostgreSQL-only


def test_rollback_restores_the_previous_export_in_both_stores(
    catalog: Catalog, search: SearchClient, es_server: EsTestServer
) -> None:
    publish_export(catalog, search, A, load(catalog, search, A))
    publish_export(catalog, search, B, load(catalog, search, B))
    with Reader(catalog, search, sizes()) as reader:
        outcome = rollback(catalog, search, A)
        time.sleep(0.05)
    assert reader.violations == [] and reader.es_seen == [B, A] and reader.pg_seen == [B, A]
    assert_public(catalog, search, A)
    assert outcome.action == "rollback" and outcome.publication.kind == "rollback" and outcome.check.passed
    assert rollback(catalog, search, A).already_published

    with pytest.raises(PublicationRefused, match="never published"):
        rollback(catalog, search, C)
    search.delete_index(B)
    with pytest.raises(PublicationRefused, match="has been deleted"):
        rollback(catalog, search, B)
    assert_public(catalog, search, A)


def test_retention_keeps_the_last_versions_in_both_stores(
    catalog: Catalog, search: SearchClient, es_server: EsTestServer
) -> None:
    base = export_records(A)[:40]
    exports = [f"tate-2024060{n}-0000000{n}" for n in range(1, 6)]
    for export_id in exports[:4]:
        records = [r.model_copy(update={"export_id": export_id}) for r in base]
        outcome = publish_export(catalog, search, export_id, load(catalog, search, export_id, records), keep=2)
        assert outcome.retention_error is None
    loading = exports[4]
    load(catalog, search, loading, [r.model_copy(update={"export_id": loading}) for r in base])
    outcome = publish_export(catalog, search, exports[3], 1, keep=2)  # already public: retention runs again
    assert outcome.already_published
    kept = {exports[2], exports[3], loading}
    assert set(catalog.live_exports()) == kept
    assert set(es_server.index_names()) == {search.index_name(e) for e in kept}
    assert rollback(catalog, search, exports[2]).check.passed


def test_postgres_only_publication_when_search_is_not_configured(catalog: Catalog) -> None:
    outcome = publish_export(catalog, None, A, load(catalog, None, A))
    assert outcome.search == NOT_CONFIGURED and outcome.search_index is None
    assert outcome.check.passed and outcome.check.es_docs is None and outcome.check.pg_rows == 2000
    current = catalog.current_publication()
    assert current is not None and current.export_id == A and current.metadata["search"] == NOT_CONFIGURED
    publish_export(catalog, None, B, load(catalog, None, B))
    assert rollback(catalog, None, A).search == NOT_CONFIGURED
    assert catalog.count() == 2000


# --------------------------------------------------------------------------------------------------
# A real cluster


@pytest.mark.live_es
@pytest.mark.skipif(not os.environ.get("MUSEUM_SYNC_ES_URL"), reason="MUSEUM_SYNC_ES_URL not set")
def test_live_cluster_publish_rollback_and_incremental(
    catalog: Catalog, refuse_publications: RefusePublications
) -> None:
    """The scenarios above on a real cluster: a failed PostgreSQL step (the one failure PostgreSQL can
    inject here), the switch under a polling reader, rollback, an incremental publication."""
    tag = uuid.uuid4().hex[:8]
    search = SearchClient.from_env(alias=f"museum-sync-test-{tag}", index_prefix=f"museum-sync-test-{tag}-v-")
    assert search is not None
    try:
        publish_export(catalog, search, A, load(catalog, search, A))
        chunks_b = load(catalog, search, B)
        refuse_publications.on()
        with Reader(catalog, search, sizes()) as reader:
            with pytest.raises(PublicationFailed) as info:
                publish_export(catalog, search, B, chunks_b)
            assert info.value.rolled_back
            assert_public(catalog, search, A)
            refuse_publications.off()
            outcome = publish_export(catalog, search, B, chunks_b)
        assert reader.violations == [] and outcome.check.passed
        assert_public(catalog, search, B)
        rollback(catalog, search, A)
        assert_public(catalog, search, A)
        records, deleted = incremental_records()
        chunks = load(catalog, search, INC, records, kind="incremental")
        with IncrementalReader(catalog, search, {}) as reader:
            outcome = publish_export(catalog, search, INC, chunks, deleted_record_ids=deleted, sample_size=3000)
        assert reader.violations == [] and outcome.check.passed and outcome.check.sampled == 2050
        assert len(public_state(catalog, search)) == 2050
    finally:
        remove_scratch_alias_and_indices(search)
        search.close()


# --------------------------------------------------------------------------------------------------
# Order: never an older export over a newer one of its source


def test_an_older_export_is_refused_over_a_newer_one_in_both_stores_unless_rolled_back_to(
    catalog: Catalog, search: SearchClient
) -> None:
    """Night 2 (B) loads only after night 3 (C) went public (a quarantine replayed late): publishing it would
    take the catalogue back a day. Refused, naming both exports and their snapshot times; nothing moves."""
    publish_export(catalog, search, A, load(catalog, search, A))
    chunks_b = load(catalog, search, B)
    publish_export(catalog, search, C, load(catalog, search, C))
    assert catalog.exports_ready_to_publish() == []  # B is complete, never published, but superseded
    assert [r.export_id for r in catalog.ready_exports()] == [B]
    with pytest.raises(PublicationRefused) as refused:
        publish_export(catalog, search, B, chunks_b)
    message = str(refused.value)
    assert f"export {B!r} (snapshot 2024-06-02T02:00:00+00:00) is older than export {C!r}" in message
    assert "(snapshot 2024-06-03T02:00:00+00:00)" in message and f"museum-sync rollback {B}" in message
    assert_public(catalog, search, C)
    assert catalog.publication_failures(B) == 0, "a refusal is not a failed try"
    # The catalogue's own transaction refuses it too, whoever calls it.
    with pytest.raises(PublicationRefused, match="is older than export"):
        catalog.publish(B, chunks_b)
    # A deliberate rollback to it goes through the same gate, and takes the catalogue back on purpose.
    outcome = publish_export(catalog, search, B, chunks_b, keep=None, allow_older=True)
    assert outcome.check.passed and outcome.dropped_tables == []
    assert_public(catalog, search, B)


def test_an_older_incremental_export_never_overwrites_newer_records(catalog: Catalog) -> None:
    """PostgreSQL-only: an incremental export older than the full export in force is refused (its record
    versions would overwrite newer ones); a newer full export of another source is not compared."""
    publish_export(catalog, None, A, load(catalog, None, A))
    records, deleted = incremental_records()
    older = "tate-20240601-eeee5555"  # same night as A, snapshot earlier than B
    chunks = load(catalog, None, older, [r.model_copy(update={"export_id": older}) for r in records], "incremental")
    publish_export(catalog, None, B, load(catalog, None, B))
    before = catalog.catalogue_digest()
    with pytest.raises(PublicationRefused, match=f"export {older!r} .* is older than export {B!r}"):
        publish_export(catalog, None, older, chunks, deleted_record_ids=deleted)
    assert catalog.catalogue_digest() == before and catalog.current_publication().export_id == B
    other = "aic-20240601-ffff6666"  # another source: the order of tate's exports says nothing about it
    aic = [r.model_copy(update={"export_id": other}) for r in export_records(C)]
    chunks_aic = load(catalog, None, other, aic, source="aic")
    assert publish_export(catalog, None, other, chunks_aic).publication.export_id == other


def test_every_failed_publication_is_counted_but_a_refusal_is_not(
    catalog: Catalog, refuse_publications: RefusePublications
) -> None:
    """PostgreSQL-only publication records no intent; its failures are logged all the same, so whoever
    retries it (the publication sensor) sees a new state after each failure."""
    publish_export(catalog, None, A, load(catalog, None, A))
    chunks = load(catalog, None, B)
    with pytest.raises(PublicationRefused):
        publish_export(catalog, None, B, chunks + 1)
    assert catalog.publication_failures(B) == 0
    refuse_publications.on()
    for failures in (1, 2):
        with pytest.raises(psycopg.errors.RaiseException, match="injected"):
            publish_export(catalog, None, B, chunks)
        assert catalog.publication_failures(B) == failures
    attempt = catalog.publication_attempts()[0]
    assert (attempt.export_id, attempt.state) == (B, "failed") and "injected" in (attempt.error or "")
    assert catalog.pending_publication_attempt() is None
    refuse_publications.off()
    assert publish_export(catalog, None, B, chunks).publication.export_id == B
    assert catalog.publication_failures(B) == 2
