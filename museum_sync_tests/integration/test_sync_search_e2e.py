"""End to end with search: Celery workers index each chunk into a real HTTP server speaking the
Elasticsearch API, and publication switches the public alias and catalog.objects together."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from museum_sync.clients.search import SearchClient
from museum_sync.runtime import run_job
from museum_sync.samples.generate import ExportSpec, write_export
from museum_sync_tests.es_server import EsTestServer
from museum_sync_tests.harvest_server import HarvestServer
from museum_sync_tests.integration.conftest import SyncStack, build_stack
from museum_sync_tests.integration.test_harvest_e2e import _oai_profile
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
    # The same lineage in both: the document names the chunk, run and source line its catalogue row does.
    staged = stack.catalog.staged_row(export_id, rows[0][0])
    document = search.get_document(export_id, rows[0][0])
    assert staged is not None and document is not None and staged["run_id"] == result.run_id
    assert {k: document[k] for k in ("chunk_key", "run_id", "source_locator")} == {
        k: staged[k] for k in ("chunk_key", "run_id", "source_locator")
    }
    assert document["source_locator"].startswith("first.csv:")


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


def test_incremental_harvest_is_published_to_both_stores(stack, search, shared_data, tmp_path):
    """OAI-PMH full harvest, then an incremental one (3 records updated, 2 deleted), through the workers:
    the incremental export becomes public in both stores as a whole copy, equal record for record."""
    gone = {"record_DE-68_kenom_124387": "2024-01-02T08:00:00Z", "record_DE-68_kenom_126169": "2024-02-03T09:00:00Z"}
    with HarvestServer(shared_data, page_size=5) as server:
        profile = _oai_profile(tmp_path, server.oai_url)
        config = {"profile": str(profile), "source": "kenom-es"}
        full = run_job("harvest_export_job_def", instance=stack.instance, run_config=_harvest(config))
    assert full.success
    full_id = _export_of(stack, full.run_id)
    before = _public(stack, search)
    assert set(gone) <= set(before)

    with HarvestServer(shared_data, page_size=5, deletions=gone) as server:
        profile = _oai_profile(tmp_path, server.oai_url)
        config = {"profile": str(profile), "source": "kenom-es", "incremental": True, "since": "2023-09-01"}
        incremental = run_job("harvest_export_job_def", instance=stack.instance, run_config=_harvest(config))
    assert incremental.success
    inc_id = _export_of(stack, incremental.run_id)
    assert inc_id != full_id
    assert stack.catalog.current_publication().export_id == inc_id == search.alias_target()
    after = _public(stack, search)
    assert set(after) == set(before) - set(gone)
    # Carried records keep the export they were published in; the harvested ones are the new export's.
    documents = {rid: search.get_document(inc_id, rid) for rid in after}
    assert {d["export_id"] for d in documents.values()} == {full_id, inc_id}
    # ...and the lineage of the run that loaded them: a carried document names the full harvest's run and chunk,
    # and the source line its catalogue row keeps.
    for rid, document in documents.items():
        staged = stack.catalog.staged_row(inc_id, rid)
        run = full if document["export_id"] == full_id else incremental
        assert document["run_id"] == staged["run_id"] == run.run_id, rid
        assert document["chunk_key"].startswith(document["export_id"] + "/"), rid
        assert document.get("source_locator") == staged["source_locator"], rid


def _harvest(config: dict) -> dict:
    return {"ops": {"harvest_and_plan": {"config": config}}}


def _public(stack, search) -> dict[str, str]:
    """record_id -> content_hash of the public view; asserts Elasticsearch's alias holds exactly the same."""
    with stack.catalog._connect() as conn:  # noqa: SLF001 - a read-only probe of the public view
        rows = dict(conn.execute(f"SELECT record_id, content_hash FROM {stack.catalog.schema}.objects").fetchall())
    assert search.count() == len(rows)
    assert search.sample_hashes(search.alias_target(), list(rows)) == rows
    return rows


def test_cli_rollback_and_publish_switch_both_stores(stack, search, tmp_path):
    """``museum-sync rollback`` and ``museum-sync publish``, as an operator runs them, move both stores."""
    current = stack.catalog.current_publication()
    previous = current.previous_export_id
    assert previous is not None

    back = _cli("rollback", previous, env=stack.env, cwd=tmp_path)
    assert back.returncode == 0, back.stderr
    assert f"now shows {previous}" in back.stdout and f"-> {search.index_name(previous)}" in back.stdout
    assert stack.catalog.current_publication().export_id == previous == search.alias_target()
    _public(stack, search)

    forward = _cli("publish", current.export_id, env=stack.env, cwd=tmp_path)
    assert forward.returncode == 0, forward.stderr
    assert f"published {current.export_id}: {current.record_count} records" in forward.stdout
    assert stack.catalog.current_publication().export_id == current.export_id == search.alias_target()
    assert len(_public(stack, search)) == current.record_count

    # An export id of the right shape that was never snapshotted: refused, nothing switched.
    missing = "no_such_export-20261125-0badc0de"
    refused = _cli("publish", missing, env=stack.env, cwd=tmp_path)
    assert refused.returncode != 0 and f"no snapshot for export {missing}" in refused.stderr
    # Not an export id at all: refused as such, before anything starts (museum_sync_tests/safety/test_key_validation).
    hostile = _cli("publish", "../no-such-export", env=stack.env, cwd=tmp_path)
    assert hostile.returncode == 2 and "not an export id: '../no-such-export'" in hostile.stderr
    assert stack.catalog.current_publication().export_id == current.export_id == search.alias_target()


def _cli(*args: str, env: dict[str, str], cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "museum_sync.cli", "--state-dir", str(cwd / "state"), *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
