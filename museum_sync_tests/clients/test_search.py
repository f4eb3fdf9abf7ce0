"""The Elasticsearch client against a real HTTP server speaking the Elasticsearch API (``es_server``).

Records are real-derived: Tate rows from ``museum_sync.samples.generate`` (and real LIDO files from
shared/data for the multilingual titles), validated by the core into ``MuseumRecord``s. Faults are
injected in the server (429/503 answers, dropped connections, rejected documents); the client's own
retries must absorb the transient ones and report every rejected document.
"""

from __future__ import annotations

import json
import threading
import time
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest
from elasticsearch import helpers

from museum_sync.clients.search import (
    ALIAS,
    MAPPING,
    MAPPING_VERSION,
    AliasConflict,
    Owner,
    SearchClient,
    SearchError,
    SearchUnavailable,
    title_field,
    to_document,
)
from museum_sync.core import lido
from museum_sync.core.locator import Locator
from museum_sync.core.models import MuseumRecord
from museum_sync.core.profiles import load_profile
from museum_sync.core.validation import ChunkValidator, Valid
from museum_sync.samples.generate import ExportSpec, generate
from museum_sync_tests.es_server import EsTestServer, fast_client

EXPORT = "tate-20240601-aaaa1111"


@cache
def _tate_records(export_id: str, count: int, id_offset: int, skip_every: int) -> tuple[MuseumRecord, ...]:
    validator = ChunkValidator(profile=load_profile("tate_artworks_csv"), export_id=export_id)
    spec = ExportSpec(records=count, id_offset=id_offset, skip_every=skip_every)
    records = []
    for line, row in enumerate(generate(spec), start=2):
        result = validator.validate(Locator(file="tate_generated.csv", line=line), row)
        assert isinstance(result, Valid), result
        records.append(result.record)
    return tuple(records)


def tate_records(export_id: str, count: int, *, id_offset: int = 100_000, skip_every: int = 0) -> list[MuseumRecord]:
    """``count`` valid records of Tate's real rows, cycled with new ids (same arguments, same records)."""
    return list(_tate_records(export_id, count, id_offset, skip_every))


@pytest.fixture(scope="module")
def records() -> list[MuseumRecord]:
    return tate_records(EXPORT, 2000)


@pytest.fixture(scope="module")
def lido_records(shared_data: Path) -> list[MuseumRecord]:
    """Every valid record of the real LIDO files (German, French, Italian, Romanian and English titles)."""
    validator = ChunkValidator(profile=load_profile("lido_xml"), export_id="lido-20240601-bbbb2222")
    found = []
    for path in sorted((shared_data / "lido" / "records").glob("*.xml")):
        for number, (_, element) in enumerate(lido.iter_lido_elements(path), start=1):
            result = validator.validate(Locator(file=path.name, line=number), element)
            if isinstance(result, Valid):
                found.append(result.record)
    assert len(found) > 400
    return found


def bulk_bodies(server: EsTestServer) -> list[list[Any]]:
    return [r.ndjson() for r in server.requests_to(r"_bulk$") if r.status == 200]


# --------------------------------------------------------------------------------------------------
# Names, mapping and documents


def test_index_names_are_safe_unique_and_bounded(search: SearchClient) -> None:
    assert search.index_name(EXPORT) == "museum-objects-tate-20240601-aaaa1111"
    odd = search.index_name("Tate Export/2024:#1")
    assert odd.startswith("museum-objects-tate-export-2024-1-") and odd == odd.lower()
    assert odd != search.index_name("tate export/2024:#1")  # lower-casing alone would collide
    long_name = search.index_name("x" * 400)
    assert len(long_name.encode()) == 255 and long_name != search.index_name("x" * 401)
    with pytest.raises(ValueError):
        search.index_name("")
    for alias, prefix in (("Museum", "p-"), ("ok", "_bad-"), ("museum-objects-public", "museum-objects-")):
        with pytest.raises(ValueError):
            SearchClient("http://127.0.0.1:9", alias=alias, index_prefix=prefix)


def test_title_languages_map_to_analyzer_fields() -> None:
    assert [title_field(code) for code in ("en", "de-DE", "ger", "fre", "nld", "nb", "ro", "pl", None)] == [
        "en",
        "de",
        "de",
        "fr",
        "nl",
        "no",
        "ro",
        "other",
        "other",
    ]
    assert MAPPING["dynamic"] == "strict"
    assert MAPPING["properties"]["production_date"] == {"type": "date_range"}
    assert MAPPING["properties"]["creators"]["type"] == "nested"
    for facet in ("work_type", "rights", "institution", "iiif_manifest", "content_hash", "export_id", "record_id"):
        assert MAPPING["properties"][facet]["type"] == "keyword", facet
    for lineage in ("chunk_key", "run_id", "source_locator"):
        assert MAPPING["properties"][lineage]["type"] == "keyword", lineage


def test_real_multilingual_lido_records_index_under_the_strict_mapping(
    search: SearchClient, es_server: EsTestServer, lido_records: list[MuseumRecord]
) -> None:
    export_id = lido_records[0].export_id
    german = next(r for r in lido_records if any(t.lang == "de" for t in r.titles))
    doc = to_document(german)
    assert doc["titles"]["de"] == [t.text for t in german.titles if t.lang == "de"]
    assert set(doc["titles"]["all"]) == {t.text for t in german.titles}
    assert doc["content_hash"] == german.content_hash and doc["record_id"] == german.record_id
    dated = next(r for r in lido_records if r.production_date and r.production_date.earliest)
    assert dated.production_date is not None and dated.production_date.earliest is not None
    assert to_document(dated)["production_date"]["gte"] == dated.production_date.earliest.isoformat()

    assert not {"chunk_key", "run_id", "source_locator"} & set(doc), "no lineage given, none invented"

    search.ensure_index(export_id)
    origin = {"chunk_key": f"{export_id}/0000", "run_id": "run-1", "source_locator": "lido.xml /lidoWrap/lido[3]"}
    result = search.index_records(export_id, lido_records, lineage={german.record_id: origin})
    assert result.errors == [] and result.indexed == len({r.record_id for r in lido_records})
    search.finish_load(export_id)
    languages = {lang for r in lido_records for lang in to_document(r).get("title_languages", [])}
    assert {"de", "fr", "it", "ro", "en"} <= languages
    stored = es_server.documents(search.index_name(export_id))[german.record_id]
    assert stored == doc | origin, "the document carries the catalogue row's lineage under the strict mapping"


# --------------------------------------------------------------------------------------------------
# Index lifecycle


def test_ensure_index_creates_a_strict_index_for_loading_and_is_idempotent(
    search: SearchClient, es_server: EsTestServer
) -> None:
    with_threads: list[BaseException] = []

    def create() -> None:
        try:
            search.ensure_index(EXPORT)
        except BaseException as exc:  # collected for the assertion below
            with_threads.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert with_threads == []
    name = search.index_name(EXPORT)
    assert es_server.index_names() == [name]
    created = [r for r in es_server.requests_to(f"^/{name}$", "PUT") if r.status == 200]
    assert len(created) == 1
    body = created[0].json()
    assert set(body) == {"settings", "mappings"}
    assert body["mappings"]["dynamic"] == "strict"
    assert body["mappings"]["_meta"] == {
        "export_id": EXPORT,
        "mapping_version": MAPPING_VERSION,
        "created_by": "museum-sync",
    }
    settings = es_server.settings(name)
    assert settings["index.number_of_replicas"] == "0" and settings["index.refresh_interval"] == "-1"

    # An index of the same name built by other code (another mapping version) is refused, not reused.
    other = "tate-20240601-cccc3333"
    search.es.indices.create(
        index=search.index_name(other), mappings={"_meta": {"export_id": other, "mapping_version": 0}}
    )
    with pytest.raises(SearchError, match="mapping version 0"):
        search.ensure_index(other)


def test_bulk_of_2000_real_derived_records_indexes_all_idempotently(
    search: SearchClient, es_server: EsTestServer, records: list[MuseumRecord]
) -> None:
    search.ensure_index(EXPORT)
    result = search.index_records(EXPORT, records)
    assert result.indexed == 2000 and result.errors == []
    bodies = bulk_bodies(es_server)
    assert len(bodies) == 4 and all(len(body) == 2 * 500 for body in bodies)  # chunk_size bounds each request
    assert all(len(r.body) <= search.bulk_max_bytes for r in es_server.requests_to(r"_bulk$"))
    assert search.count(EXPORT) == 0  # refresh is off while loading: nothing searchable yet
    search.finish_load(EXPORT)
    settings = es_server.settings(search.index_name(EXPORT))
    assert settings["index.number_of_replicas"] == "1" and "index.refresh_interval" not in settings
    assert search.count(EXPORT) == 2000
    assert search.get_document(EXPORT, records[7].record_id) == to_document(records[7])
    assert search.get_document(EXPORT, "no-such-record") is None

    again = search.index_records(EXPORT, records[:600])  # a redelivered chunk: same ids, same documents
    assert again.indexed == 600 and again.errors == []
    search.finish_load(EXPORT)
    assert search.count(EXPORT) == 2000
    assert search.sample_hashes(EXPORT, [r.record_id for r in records[:50]] + ["missing"]) == {
        r.record_id: r.content_hash for r in records[:50]
    }


def test_429_bursts_and_503s_are_retried_until_complete(
    search: SearchClient, es_server: EsTestServer, records: list[MuseumRecord]
) -> None:
    search.ensure_index(EXPORT)
    es_server.fail_next(3, 429, path=r"_bulk$")
    es_server.fail_next(2, 503, path=r"_bulk$", after=2)
    result = search.index_records(EXPORT, records)
    assert result.indexed == 2000 and result.errors == []
    statuses = [r.status for r in es_server.requests_to(r"_bulk$")]
    assert statuses.count(429) == 3 and statuses.count(503) == 2 and statuses.count(200) == 4
    search.finish_load(EXPORT)
    assert search.count(EXPORT) == 2000

    # A burst longer than the transport's retries: streaming_bulk re-sends the 429'd chunk with backoff.
    es_server.fail_next(6, 429, path=r"_bulk$")
    result = search.index_records(EXPORT, records[:500])
    assert result.indexed == 500 and result.errors == []


def test_per_document_429s_are_resent_and_complete(
    search: SearchClient, es_server: EsTestServer, records: list[MuseumRecord]
) -> None:
    search.ensure_index(EXPORT)
    pushed_back = {r.record_id for r in records[::37]}
    es_server.reject_docs(lambda doc_id: doc_id in pushed_back, 429, times=2)
    result = search.index_records(EXPORT, records)
    assert result.indexed == 2000 and result.errors == []
    bodies = bulk_bodies(es_server)
    resent = [body for body in bodies if all(line.get("index", {}).get("_id") in pushed_back for line in body[::2])]
    assert resent, "the rejected documents alone were sent again"
    search.finish_load(EXPORT)
    assert search.count(EXPORT) == 2000


def test_partial_bulk_failures_come_back_per_record(
    search: SearchClient, es_server: EsTestServer, records: list[MuseumRecord]
) -> None:
    search.ensure_index(EXPORT)
    bad = {r.record_id for r in records[3::250]}
    es_server.reject_docs(lambda doc_id: doc_id in bad, 400)
    result = search.index_records(EXPORT, records)
    assert result.indexed == 2000 - len(bad)
    assert sorted(e.record_id for e in result.errors) == sorted(bad)
    assert all(e.status == 400 and e.reason.startswith("document_parsing_exception") for e in result.errors)
    search.finish_load(EXPORT)
    assert search.count(EXPORT) == 2000 - len(bad)


def test_strict_mapping_rejects_an_unknown_field_per_item(search: SearchClient, es_server: EsTestServer) -> None:
    index = search.ensure_index(EXPORT)
    good = {"record_id": "a", "export_id": EXPORT, "title": "Ok", "production_date": {"gte": "1850-01-01"}}
    actions = [
        {"_index": index, "_id": "a", "_source": good},
        {"_index": index, "_id": "b", "_source": {**good, "record_id": "b", "colour": "blue"}},
        {"_index": index, "_id": "c", "_source": {**good, "record_id": "c", "date_earliest": "1850-13-45"}},
        {"_index": index, "_id": "d", "_source": {**good, "record_id": "d", "creators": "Blake"}},
    ]
    outcome = {
        info["_id"]: info
        for _ok, item in helpers.streaming_bulk(search.es, actions, raise_on_error=False)
        for info in item.values()
    }
    assert outcome["a"]["status"] == 201
    assert outcome["b"]["status"] == 400
    assert outcome["b"]["error"]["type"] == "strict_dynamic_mapping_exception"
    assert "dynamic introduction of [colour] within [_doc] is not allowed" in outcome["b"]["error"]["reason"]
    assert outcome["c"]["error"]["type"] == "document_parsing_exception"
    assert "failed to parse field [date_earliest] of type [date]" in outcome["c"]["error"]["reason"]
    assert outcome["d"]["error"]["type"] == "document_parsing_exception"


def test_dropped_connections_are_retried_without_duplicates(
    search: SearchClient, es_server: EsTestServer, records: list[MuseumRecord]
) -> None:
    search.ensure_index(EXPORT)
    es_server.drop_next(1, path=r"_bulk$", after_apply=True)  # applied, but the answer is lost
    es_server.drop_next(1, path=r"_bulk$", after_apply=False, after=2)  # lost before it was applied
    result = search.index_records(EXPORT, records)
    assert result.indexed == 2000 and result.errors == []
    assert [r.status for r in es_server.requests_to(r"_bulk$")].count(0) == 2
    search.finish_load(EXPORT)
    assert search.count(EXPORT) == 2000


def test_a_timed_out_request_is_retried(es_server: EsTestServer, records: list[MuseumRecord]) -> None:
    client = fast_client(es_server.url, request_timeout=0.2)
    client.ensure_index(EXPORT)
    es_server.delay_next(1, 0.6, path=r"_bulk$")
    result = client.index_records(EXPORT, records[:100])
    assert result.indexed == 100 and result.errors == []
    deadline = time.monotonic() + 5  # the delayed original is recorded when it finishes, after the retry
    while len(es_server.requests_to(r"_bulk$")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(es_server.requests_to(r"_bulk$")) == 2  # the original (answered too late) and the retry
    client.finish_load(EXPORT)
    assert client.count(EXPORT) == 100
    client.close()


def test_a_connection_that_stays_down_raises_search_unavailable(
    search: SearchClient, es_server: EsTestServer, records: list[MuseumRecord]
) -> None:
    search.ensure_index(EXPORT)
    es_server.drop_next(10, path=r"_bulk$", after_apply=False)
    with pytest.raises(SearchUnavailable, match="unreachable"):
        search.index_records(EXPORT, records[:10])
    closed = fast_client("http://user:s3cret@127.0.0.1:9", max_retries=1)
    with pytest.raises(SearchUnavailable) as info:
        closed.count()
    assert "s3cret" not in str(info.value) and "s3cret" not in repr(closed)


# --------------------------------------------------------------------------------------------------
# The alias


def _loaded(
    search: SearchClient, export_id: str, records: list[MuseumRecord], deployment_id: str | None = None
) -> None:
    search.ensure_index(export_id, deployment_id=deployment_id)
    moved = [r.model_copy(update={"export_id": export_id}) for r in records]
    assert search.index_records(export_id, moved).errors == []
    search.finish_load(export_id)


def test_swap_alias_is_one_aliases_call_with_remove_and_add(
    search: SearchClient, es_server: EsTestServer, records: list[MuseumRecord]
) -> None:
    first, second = "tate-20240601-aaaa1111", "tate-20240602-bbbb2222"
    _loaded(search, first, records[:300])
    _loaded(search, second, records[:200])
    assert search.alias_target() is None
    assert search.swap_alias(first, expected_current=None) is True
    assert search.alias_target() == first and search.count() == 300

    es_server.reset_requests()
    assert search.swap_alias(second, expected_current=first) is True
    calls = es_server.requests_to(r"^/_aliases$")
    assert len(calls) == 1
    assert calls[0].json() == {
        "actions": [
            {"remove": {"index": search.index_name(first), "alias": ALIAS, "must_exist": True}},
            {"add": {"index": search.index_name(second), "alias": ALIAS}},
        ]
    }
    assert es_server.alias_targets(ALIAS) == {search.index_name(second)} and search.count() == 200

    es_server.reset_requests()
    assert search.swap_alias(second, expected_current=first) is False  # already there: no call
    assert es_server.requests_to(r"^/_aliases$") == []
    with pytest.raises(AliasConflict, match="expected 'someone-else'"):
        search.swap_alias(first, expected_current="someone-else")

    # Applied, but the answer is lost: the transport's retry fails on must_exist, the read-back sees it done.
    es_server.drop_next(1, path=r"^/_aliases$", after_apply=True)
    assert search.swap_alias(first, expected_current=second) is True
    assert search.alias_target() == first
    statuses = [r.status for r in es_server.requests_to(r"^/_aliases$")]
    assert statuses == [0, 404]

    # Failing for good: nothing moved, and the error names the alias and the status.
    es_server.fail_next(10, 503, path=r"^/_aliases$")
    with pytest.raises(SearchError, match="moving alias museum-objects: HTTP 503"):
        search.swap_alias(second, expected_current=first)
    assert search.alias_target() == first
    es_server.clear_faults()
    assert search.clear_alias(first) is True and search.alias_target() is None


def test_delete_old_keeps_the_newest_the_public_and_the_protected(
    search: SearchClient, es_server: EsTestServer, records: list[MuseumRecord]
) -> None:
    owner = Owner.of("deployment-a")
    exports = [f"tate-2024060{n}-0000000{n}" for n in range(1, 7)]
    for export_id in exports:
        _loaded(search, export_id, records[:20], deployment_id=owner.deployment_id)
    search.swap_alias(exports[1], expected_current=None)
    deleted = search.delete_old(2, protect=lambda: {exports[0]}, owner=owner)
    assert sorted(deleted) == sorted(search.index_name(e) for e in exports[2:4])
    assert es_server.index_names() == sorted(search.index_name(e) for e in (exports[0], exports[1], *exports[4:]))
    assert search.delete_old(0, owner=owner) == [search.index_name(e) for e in (exports[0], *exports[4:])]
    assert es_server.index_names() == [search.index_name(exports[1])]
    with pytest.raises(SearchError, match="behind the alias"):
        search.delete_index(exports[1])


# --------------------------------------------------------------------------------------------------
# Configuration and the wire


def test_from_env_reads_url_and_credentials() -> None:
    assert SearchClient.from_env({}) is None
    keyed = SearchClient.from_env({"MUSEUM_SYNC_ES_URL": "http://es:9200", "MUSEUM_SYNC_ES_API_KEY": "a2V5"})
    assert keyed is not None and keyed.alias == ALIAS
    keyed.close()
    env = {
        "MUSEUM_SYNC_ES_URL": "https://es:9200",
        "MUSEUM_SYNC_ES_USER": "museum",
        "MUSEUM_SYNC_ES_PASSWORD": "pw",
        "MUSEUM_SYNC_ES_ALIAS": "objects-test",
        "MUSEUM_SYNC_ES_INDEX_PREFIX": "objects-test-v-",
        "MUSEUM_SYNC_ES_REPLICAS": "0",
    }
    client = SearchClient.from_env(env)
    assert client is not None and (client.alias, client.index_prefix) == ("objects-test", "objects-test-v-")
    assert client.replicas == 0
    client.close()
    with pytest.raises(ValueError, match="not both"):
        SearchClient.from_env({**env, "MUSEUM_SYNC_ES_API_KEY": "a2V5"})
    with pytest.raises(ValueError, match="together"):
        SearchClient.from_env({"MUSEUM_SYNC_ES_URL": "http://es:9200", "MUSEUM_SYNC_ES_USER": "museum"})


def test_the_server_checks_framing_headers_and_bodies_like_elasticsearch(es_server: EsTestServer) -> None:
    ndjson = {"content-type": "application/x-ndjson"}
    with httpx.Client(base_url=es_server.url) as http:
        created = http.put(
            "/things", json={"mappings": {"dynamic": "strict", "properties": {"a": {"type": "keyword"}}}}
        )
        assert created.status_code == 200 and created.headers["x-elastic-product"] == "Elasticsearch"
        line = b'{"index":{"_index":"things","_id":"1"}}\n{"a":"x"}'
        unterminated = http.post("/_bulk", content=line, headers=ndjson)
        assert unterminated.status_code == 400 and "terminated by a newline" in unterminated.text
        assert unterminated.headers["x-elastic-product"] == "Elasticsearch"
        wrong_type = http.post("/_bulk", content=line + b"\n", headers={"content-type": "text/plain"})
        assert wrong_type.status_code == 406
        ok = http.post("/_bulk", content=line + b"\n", headers=ndjson)
        assert ok.json()["items"][0]["index"]["status"] == 201
        unknown_key = http.put("/others", json={"settings": {}, "mapping": {}})
        assert unknown_key.status_code == 400 and unknown_key.json()["error"]["type"] == "parse_exception"
        bad_param = http.put("/others", json={"mappings": {"properties": {"a": {"type": "keyword", "analyzer": "x"}}}})
        assert bad_param.status_code == 400 and "unknown parameter [analyzer]" in bad_param.text
        bad_analyzer = http.put("/others", json={"mappings": {"properties": {"a": {"type": "text", "analyzer": "x"}}}})
        assert "analyzer [x] has not been configured" in bad_analyzer.text
        missing = http.post("/_aliases", json={"actions": [{"add": {"index": "nope", "alias": "a"}}]})
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "index_not_found_exception"
        not_there = http.post(
            "/_aliases", json={"actions": [{"remove": {"index": "things", "alias": "a", "must_exist": True}}]}
        )
        assert not_there.status_code == 404 and not_there.json()["error"]["type"] == "aliases_not_found_exception"
        compat = http.get("/", headers={"accept": "application/vnd.elasticsearch+json; compatible-with=7"})
        assert compat.status_code == 400 and "version must be either version 9 or 8" in compat.text
    assert json.loads(es_server.requests_to(r"^/things$", "PUT")[0].body)["mappings"]["dynamic"] == "strict"


def test_a_cluster_of_another_major_version_gets_a_clear_error() -> None:
    client_major = int(version("elasticsearch").split(".")[0])
    with EsTestServer(version=f"{client_major - 1}.17.0") as old_cluster:
        client = fast_client(old_cluster.url)
        with pytest.raises(SearchError, match="media_type_header_exception.*major version matches the cluster"):
            client.info()
        client.close()
