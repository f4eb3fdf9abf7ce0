"""Search safety: retention deletes only what this deployment created, and a refused *request* never
quarantines the records it carried.

Against the project's Elasticsearch test server (real HTTP, faults injected in the server) and, where the
pipeline is involved, a real catalogue (``fresh_db``) and real exports run through the pipeline's own stages
(extract, validate, load, index, publish) without Dagster.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from museum_sync import pipeline
from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.clients.catalog import Catalog
from museum_sync.clients.search import MAPPING_VERSION, Owner, SearchClient, SearchError, SearchUnavailable
from museum_sync.core.models import MuseumRecord
from museum_sync.core.profiles import Profile, load_profile
from museum_sync.defs.retries import is_connection_error
from museum_sync.pipeline.snapshot import ExportRef
from museum_sync.samples.generate import ExportSpec, write_export
from museum_sync_tests.clients.test_search import tate_records
from museum_sync_tests.es_server import EsTestServer, fast_client

EXPORT = "tate-20240601-aaaa1111"
PREFIX = "museum-objects-"  # the default: what two deployments on one cluster both use unless told otherwise


# --------------------------------------------------------------------------------------------------
# The pipeline's own stages, for tests that need a catalogue and an index together


def sync_chunks(catalog: Catalog, store: ArtifactStore, path: Path, profile: Profile, source: str) -> ExportRef:
    """Extract, register, validate (recorded) and load every chunk: what a run does before indexing."""
    export = pipeline.extract(path, profile, store, source=source)
    catalog.register_export(
        export.export_id,
        source,
        profile.name,
        export.manifest.to_dict(),
        len(export.plan.chunks),
        export.plan.total_records,
    )
    for index in range(len(export.plan.chunks)):
        report = pipeline.validate_chunk(store, export, index, profile)
        pipeline.record_chunk_outcome(catalog, store, report, None)
        assert report.passed, report
        pipeline.load_chunk(catalog, store, export.export_id, index, None)
    return export


def index_all(search: SearchClient, catalog: Catalog, store: ArtifactStore, export: ExportRef) -> None:
    for index in range(len(export.plan.chunks)):
        assert pipeline.index_chunk(search, catalog, store, export.export_id, index, None).errors == []


def current_rows(catalog: Catalog, export: ExportRef) -> list:
    return [r for i in range(len(export.plan.chunks)) for r in catalog.quarantine_rows(export.partition_key(i), 10_000)]


@pytest.fixture
def tate_csv() -> Profile:
    return load_profile("tate_artworks_csv")


# --------------------------------------------------------------------------------------------------
# Finding 3: retention deletes only indices this deployment owns


def test_retention_deletes_only_this_deployments_indices_and_by_exact_name(
    es_server: EsTestServer, records: list[MuseumRecord]
) -> None:
    ours = Owner.of("deployment-ours", registered_exports={"tate-20230101-legacy01"})
    search = fast_client(es_server.url)
    neighbour = fast_client(es_server.url, alias="staging-objects")  # same prefix, another deployment

    def loaded(client: SearchClient, export_id: str, deployment_id: str | None) -> str:
        name = client.ensure_index(export_id, deployment_id=deployment_id)
        moved = [r.model_copy(update={"export_id": export_id}) for r in records[:5]]
        assert client.index_records(export_id, moved).errors == []
        client.finish_load(export_id)
        return name

    legacy_ours = loaded(search, "tate-20230101-legacy01", None)  # before deployment ids, registered here
    legacy_unknown = loaded(search, "tate-20230101-legacy02", None)  # before deployment ids, not registered here
    mine = [loaded(search, f"tate-2024060{n}-0000000{n}", ours.deployment_id) for n in range(1, 5)]
    theirs = loaded(neighbour, "tate-20240603-staging3", "deployment-staging")
    theirs_public = loaded(neighbour, "tate-20240604-staging4", "deployment-staging")
    neighbour.swap_alias("tate-20240604-staging4", expected_current=None)
    # A neighbour's public index built before deployment ids, of an export this catalogue also registered
    # (same bytes, same id): behind an alias, so never deleted.
    shared = loaded(search, "tate-20230101-shared01", None)
    search.es.indices.update_aliases(actions=[{"add": {"index": shared, "alias": "other-app"}}])
    ours = Owner.of(ours.deployment_id, {*ours.registered_exports, "tate-20230101-shared01"})
    # Foreign indices that merely match the prefix: no _meta at all, and another tool's _meta.
    search.es.indices.create(index=f"{PREFIX}kibana-notes")
    search.es.indices.create(
        index=f"{PREFIX}reports", mappings={"_meta": {"created_by": "reporting", "export_id": "x"}}
    )
    search.swap_alias(mine[3].removeprefix(PREFIX), expected_current=None)

    es_server.reset_requests()
    deleted = search.delete_old(1, owner=ours)

    assert sorted(deleted) == sorted([legacy_ours, mine[0], mine[1]])  # ours past keep=1 (the public one kept)
    assert set(es_server.index_names()) == {
        legacy_unknown,
        mine[2],
        mine[3],
        theirs,
        theirs_public,
        shared,
        f"{PREFIX}kibana-notes",
        f"{PREFIX}reports",
    }
    assert neighbour.count() == 5 and neighbour.alias_target() == "tate-20240604-staging4"
    deletes = es_server.requests_to(r"^/", "DELETE")
    assert sorted(r.path.lstrip("/") for r in deletes) == sorted(deleted)  # one exact name per call
    assert all(r.query.get("expand_wildcards") == "none" for r in deletes)


def test_an_index_is_created_with_the_deployment_id_and_never_shared_with_another(
    search: SearchClient, es_server: EsTestServer
) -> None:
    search.ensure_index(EXPORT, deployment_id="deployment-a")
    created = [r for r in es_server.requests_to(f"^/{search.index_name(EXPORT)}$", "PUT") if r.status == 200]
    assert created[0].json()["mappings"]["_meta"] == {
        "export_id": EXPORT,
        "mapping_version": MAPPING_VERSION,
        "created_by": "museum-sync",
        "deployment_id": "deployment-a",
    }
    assert search.ensure_index(EXPORT, deployment_id="deployment-a") == search.index_name(EXPORT)
    with pytest.raises(
        SearchError, match="belongs to museum-sync deployment deployment-a.*MUSEUM_SYNC_ES_INDEX_PREFIX"
    ):
        search.ensure_index(EXPORT, deployment_id="deployment-b")


def test_the_test_server_refuses_to_delete_by_pattern(search: SearchClient, es_server: EsTestServer) -> None:
    """As a cluster with ``action.destructive_requires_name`` (the default since 8.0) does."""
    search.ensure_index(EXPORT)
    for pattern in (f"{PREFIX}*", "_all", f"{PREFIX}tate-*,other"):
        with pytest.raises(SearchError, match="Wildcard expressions or all indices are not allowed"):
            with search._errors("deleting"):  # noqa: SLF001 - the raw call, as a careless caller would make it
                search.es.indices.delete(index=pattern)
    assert es_server.index_names() == [search.index_name(EXPORT)]
    with pytest.raises(ValueError, match="not one exact index name"):
        search._delete_exact(f"{PREFIX}*")  # noqa: SLF001


def test_publication_retention_spares_a_neighbour_deployment_sharing_the_prefix(
    fresh_db: str, es_server: EsTestServer, tmp_path: Path, tate_csv: Profile
) -> None:
    """Two deployments (two catalogues, two aliases, the default prefix) on one cluster: staging's
    retention must not delete production's indices, least of all its public one, nor a foreign index."""
    prod, staging = (Catalog(fresh_db, schema=f"{name}_{uuid.uuid4().hex[:6]}") for name in ("prod", "stage"))
    for catalog in (prod, staging):
        catalog.migrate()
    assert prod.deployment_id() != staging.deployment_id()
    prod_search = fast_client(es_server.url)
    staging_search = fast_client(es_server.url, alias="staging-objects")
    prod_store, staging_store = ArtifactStore(tmp_path / "prod"), ArtifactStore(tmp_path / "staging")
    prod_export = sync_chunks(
        prod, prod_store, write_export(ExportSpec(records=90, seed=1), tmp_path / "p.csv"), tate_csv, "tate"
    )
    index_all(prod_search, prod, prod_store, prod_export)
    pipeline.publish(prod_store, prod, prod_search, prod_export.export_id, keep=2)
    prod_search.es.indices.create(index=f"{PREFIX}kibana-notes")

    published = []
    for seed in (2, 3, 4):
        path = write_export(ExportSpec(records=60, seed=seed, id_offset=200_000), tmp_path / f"s{seed}.csv")
        export = sync_chunks(staging, staging_store, path, tate_csv, "tate")
        index_all(staging_search, staging, staging_store, export)
        outcome = pipeline.publish(staging_store, staging, staging_search, export.export_id, keep=1)
        assert outcome.retention_error is None
        published.append(export.export_id)

    prod_index = prod_search.index_name(prod_export.export_id)
    assert set(es_server.index_names()) == {
        prod_index,
        staging_search.index_name(published[-1]),
        f"{PREFIX}kibana-notes",
    }
    assert prod_search.alias_target() == prod_export.export_id and prod_search.count() == prod.count() == 90
    meta = es_server.store.indices[prod_index].mappings["_meta"]
    assert meta["deployment_id"] == prod.deployment_id()


# --------------------------------------------------------------------------------------------------
# Finding 5: a refused request is an error of the step, never per-record rejects


@pytest.mark.parametrize(
    ("status", "hint"),
    [(401, "refused the credentials"), (403, "lack a privilege"), (404, "does not exist"), (413, "bulk_max_bytes")],
)
def test_a_request_refused_as_a_whole_raises_one_clear_error(
    search: SearchClient, es_server: EsTestServer, records: list[MuseumRecord], status: int, hint: str
) -> None:
    search.ensure_index(EXPORT)
    es_server.fail_next(100, status, path=r"_bulk$")
    with pytest.raises(SearchError) as info:
        search.index_records(EXPORT, records[:700])
    error = info.value
    assert not isinstance(error, SearchUnavailable) and not is_connection_error(error)
    text = str(error)
    assert "\n" not in text and f"HTTP {status}" in text and search.index_name(EXPORT) in text and hint in text
    assert error.status == status
    assert len(es_server.requests_to(r"_bulk$")) == 1  # not retried: it would fail the same way


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_an_outage_past_every_retry_raises_search_unavailable(
    es_server: EsTestServer, records: list[MuseumRecord], status: int
) -> None:
    search = fast_client(es_server.url, max_retries=1, bulk_max_retries=2)
    search.ensure_index(EXPORT)
    es_server.fail_next(100, status, path=r"_bulk$")
    with pytest.raises(SearchUnavailable) as info:
        search.index_records(EXPORT, records[:50])
    assert is_connection_error(info.value)  # the step's RetryPolicy runs the chunk again later
    assert f"HTTP {status}" in str(info.value) and search.index_name(EXPORT) in str(info.value)
    assert len(es_server.requests_to(r"_bulk$")) == 2 * 3  # (1 + transport retry) x (1 + 2 bulk retries)


def test_a_503_blip_longer_than_the_transports_retries_indexes_everything(
    search: SearchClient, es_server: EsTestServer, records: list[MuseumRecord]
) -> None:
    search.ensure_index(EXPORT)
    es_server.fail_next(6, 503, path=r"_bulk$")  # 4 answers exhaust the transport's retries, 2 more follow
    es_server.fail_next(2, 502, path=r"_bulk$", after=7)
    result = search.index_records(EXPORT, records)
    assert result.indexed == 2000 and result.errors == []
    search.finish_load(EXPORT)
    assert search.count(EXPORT) == 2000


def test_documents_pushed_back_with_503_are_resent_not_rejected(
    search: SearchClient, es_server: EsTestServer, records: list[MuseumRecord]
) -> None:
    search.ensure_index(EXPORT)
    unavailable = {r.record_id for r in records[::41]}
    es_server.reject_docs(lambda doc_id: doc_id in unavailable, 503, times=2)
    result = search.index_records(EXPORT, records[:1000])
    assert result.indexed == 1000 and result.errors == []


@pytest.mark.parametrize(("status", "retryable"), [(401, False), (403, False), (404, False), (413, False), (503, True)])
def test_a_refused_request_quarantines_nothing_and_a_later_run_indexes_everything(
    fresh_db: str, es_server: EsTestServer, tmp_path: Path, tate_csv: Profile, status: int, retryable: bool
) -> None:
    catalog = Catalog(fresh_db, schema="catalog")
    catalog.migrate()
    store = ArtifactStore(tmp_path / "artifacts")
    search = fast_client(es_server.url, max_retries=0, bulk_max_retries=1)
    export = sync_chunks(catalog, store, write_export(ExportSpec(records=80), tmp_path / "e.csv"), tate_csv, "tate")
    es_server.fail_next(100, status, path=r"_bulk$")

    with pytest.raises(SearchError) as info:
        pipeline.index_chunk(search, catalog, store, export.export_id, 0, "run-1")
    assert is_connection_error(info.value) is retryable
    assert current_rows(catalog, export) == [] and catalog.quarantine_history(export.partition_key(0)) == []
    assert catalog.list_quarantined(include_resolved=True) == []
    assert catalog.chunk_state(export.partition_key(0)).state == "loaded"

    es_server.clear_faults()
    index_all(search, catalog, store, export)
    search.finish_load(export.export_id)
    assert search.count(export.export_id) == catalog.count(export.export_id) == 80
    assert current_rows(catalog, export) == []


def test_only_documents_refused_on_their_own_merits_are_quarantined(
    fresh_db: str, es_server: EsTestServer, tmp_path: Path, tate_csv: Profile
) -> None:
    catalog = Catalog(fresh_db, schema="catalog")
    catalog.migrate()
    store = ArtifactStore(tmp_path / "artifacts")
    search = fast_client(es_server.url)
    export = sync_chunks(catalog, store, write_export(ExportSpec(records=80), tmp_path / "e.csv"), tate_csv, "tate")
    es_server.fail_next(5, 503, path=r"_bulk$")  # a blip past the transport's retries: retried, not quarantined
    es_server.reject_docs(lambda doc_id: doc_id.endswith("3"), 400)
    result = pipeline.index_chunk(search, catalog, store, export.export_id, 0, "run-1")
    refused = {e.record_id for e in result.errors}
    assert refused and all(rid.endswith("3") for rid in refused) and result.indexed == 80 - len(refused)
    rows = current_rows(catalog, export)
    assert {r.record_id for r in rows} == refused and {r.reason for r in rows} == {"index_rejected"}


@pytest.fixture(scope="module")
def records() -> list[MuseumRecord]:
    return tate_records(EXPORT, 2000)
