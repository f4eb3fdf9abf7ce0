"""End to end with search: Celery workers index each chunk into a real HTTP server speaking the
Elasticsearch API, and publication switches the public alias and catalog.objects together."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from museum_sync.clients.search import SearchClient
from museum_sync.samples.generate import ExportSpec, write_export
from museum_sync_tests.es_server import EsTestServer
from museum_sync_tests.integration.conftest import SyncStack, build_stack
from museum_sync_tests.integration.test_sync_e2e import _export_of

pytestmark = pytest.mark.integration

CHUNK = 200


@pytest.fixture(scope="module")
def es() -> Iterator[EsTestServer]:
    with EsTestServer() as server:
        yield server


@pytest.fixture(scope="module")
def stack(services, tmp_path_factory, es) -> Iterator[SyncStack]:
    tag = uuid.uuid4().hex[:8]
    extra = {
        "MUSEUM_SYNC_ES_URL": es.url,
        "MUSEUM_SYNC_ES_ALIAS": f"ms-{tag}",
        "MUSEUM_SYNC_ES_INDEX_PREFIX": f"ms-{tag}-",
    }
    with build_stack(services, tmp_path_factory.mktemp("home"), extra) as built:
        yield built


@pytest.fixture(scope="module")
def search(stack) -> SearchClient:
    client = SearchClient.from_env(stack.env)
    assert client is not None
    return client


@pytest.fixture(scope="module")
def first(stack, search, tmp_path_factory):
    path = write_export(
        ExportSpec(records=600, seed=31, chunk_size=CHUNK, bad_share=0.02), tmp_path_factory.mktemp("es") / "first.csv"
    )
    result = stack.sync(path, "tate_artworks_csv", source="tate-es", chunk_size=CHUNK)
    return result, _export_of(stack, result.run_id)


def test_export_is_published_in_both_stores_with_equal_counts(stack, search, first):
    result, export_id = first
    assert result.success
    valid = sum(s.record_count for s in stack.catalog.chunk_states(export_id))
    assert stack.catalog.current_publication().export_id == export_id
    assert search.alias_target() == export_id
    assert search.count() == stack.catalog.count() == valid
    # The same content in both: sampled hashes agree.
    with stack.catalog._connect() as conn:  # noqa: SLF001 - a read-only probe of the public view
        rows = conn.execute(
            f"SELECT record_id, content_hash FROM {stack.catalog.schema}.objects ORDER BY record_id LIMIT 25"
        ).fetchall()
    assert search.sample_hashes(export_id, [r[0] for r in rows]) == dict(rows)


def test_refused_documents_are_quarantined_and_publication_is_refused(stack, search, es, first, tmp_path_factory):
    _, published = first
    path = write_export(ExportSpec(records=600, seed=32, chunk_size=CHUNK), tmp_path_factory.mktemp("es") / "next.csv")
    es.reject_docs(lambda doc_id: doc_id.endswith("7"), status=400)
    try:
        result = stack.sync(path, "tate_artworks_csv", source="tate-es", chunk_size=CHUNK)
    finally:
        es.clear_faults()
    assert not result.success
    export_id = _export_of(stack, result.run_id)
    rows = [
        r for s in stack.catalog.chunk_states(export_id) for r in stack.catalog.quarantine_rows(s.partition_key, 1000)
    ]
    rejected = {r.record_id for r in rows if r.reason == "index_rejected"}
    assert rejected and all(rid.endswith("7") for rid in rejected)
    # Neither store moved: the previous export is still public, whole, in both.
    assert stack.catalog.current_publication().export_id == published
    assert search.alias_target() == published
    assert search.count() == stack.catalog.count()
    # A replay with Elasticsearch healthy again completes the export in both stores.
    for state in stack.catalog.chunk_states(export_id):
        assert stack.run_partition("chunk_job_def", state.partition_key).success
    assert stack.run_partition("publish_job_def", export_id).success
    assert stack.catalog.current_publication().export_id == export_id == search.alias_target()
    assert search.count() == stack.catalog.count()
