"""OAI-PMH harvesting from a real local server serving the shared KENOM, DSpace and Sickle responses."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from museum_sync import pipeline
from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.clients.http import HttpClient
from museum_sync.core import lido as lx
from museum_sync.core.profiles import load_profile
from museum_sync.harvest import (
    HarvestError,
    OaiConfig,
    OaiError,
    format_datestamp,
    harvest_oai,
    identify,
    list_metadata_formats,
    list_sets,
    oai_config,
)
from museum_sync.harvest.oai import DAY, SECONDS
from museum_sync.harvest.snapshot import PartialHarvest, prune_partials
from museum_sync_tests.harvest_server import (
    HarvestServer,
    billion_laughs,
    external_dtd,
    external_entity,
    parameter_entity,
)

KENOM_RESPONSE_DATE = "2024-07-16T16:03:49Z"
MANIFEST_KEYS = {
    "export_id", "source", "profile", "format", "sha256", "bytes", "records", "chunk_size", "chunks",
    "lido_schema_version", "fetched_at", "kind", "harvest", "deleted_ids", "requests", "retries",
}  # fmt: skip


@pytest.fixture
def server(shared_data: Path) -> Iterator[HarvestServer]:
    with HarvestServer(shared_data, page_size=5) as srv:
        yield srv


@pytest.fixture(scope="module")
def extracted_sha(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """sha256 of ``pipeline.extract`` on the unpaged KENOM capture: what a harvest must reproduce."""
    store = ArtifactStore(tmp_path_factory.mktemp("extract"))
    ref = pipeline.extract(
        shared_data / "oaipmh" / "kenom_ListRecords_lido.xml", load_profile("lido_xml"), store, source="kenom",
        chunk_size=5,
    )  # fmt: skip
    return str(ref.manifest.sha256)


def published(store: ArtifactStore) -> list[str]:
    """Export folders a reader could open (names without a leading dot)."""
    base = store.root / "snapshots"
    return sorted(p.name for p in base.iterdir() if not p.name.startswith(".")) if base.is_dir() else []


def all_bytes_under(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def kenom(server: HarvestServer, **extra: object) -> dict[str, object]:
    return {"base_url": server.oai_url, "chunk_size": 5, **extra}


# ------------------------------------------------------------------------------------- protocol verbs


def test_identify_list_formats_and_sets(server: HarvestServer, client: HttpClient) -> None:
    repo = identify(server.oai_url, client=client)
    assert repo.repository_name == "Erasmus University : Research Online"
    assert repo.granularity == SECONDS and repo.deleted_record == "no"
    assert repo.earliest_datestamp == "2001-01-01T00:00:00Z"
    assert [f.prefix for f in list_metadata_formats(server.oai_url, client=client)] == ["oai_dc", "lido"]
    sets = list_sets(server.oai_url, client=client)
    assert len(sets) == 10 and sets[0].spec == "3" and sets[1].name == "EUR Medical Dissertations"


@pytest.mark.parametrize(
    ("value", "granularity", "bound", "expected"),
    [
        (date(2023, 9, 1), DAY, "from", "2023-09-01"),
        (datetime(2023, 9, 1, 13, 5, 7, tzinfo=UTC), DAY, "from", "2023-09-01"),
        (datetime(2023, 9, 1, 13, 5, 7, tzinfo=UTC), SECONDS, "from", "2023-09-01T13:05:07Z"),
        (date(2023, 9, 1), SECONDS, "from", "2023-09-01T00:00:00Z"),
        (date(2023, 9, 1), SECONDS, "until", "2023-09-01T23:59:59Z"),
        ("2023-09-01T13:05:07Z", DAY, "until", "2023-09-01"),
        ("2023-09-01T15:05:07+02:00", SECONDS, "from", "2023-09-01T13:05:07Z"),
        (None, DAY, "from", None),
    ],
)
def test_datestamps_follow_the_repository_granularity(
    value: object, granularity: str, bound: str, expected: str | None
) -> None:
    assert format_datestamp(value, granularity, bound=bound) == expected  # type: ignore[arg-type]


def test_bad_datestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="not an OAI datestamp"):
        format_datestamp("last tuesday", DAY)


# ---------------------------------------------------------------------------------------- full harvest


def test_full_harvest_is_the_same_snapshot_as_extracting_the_capture(
    server: HarvestServer, client: HttpClient, store: ArtifactStore, extracted_sha: str
) -> None:
    result = harvest_oai(kenom(server), store, source="kenom", client=client)
    assert result.records == 20 and result.pages == 4 and result.kind == "full"
    assert result.requests == 6 and result.retries == 0  # Identify, ListMetadataFormats, 4 pages
    assert result.export_id == f"kenom-{extracted_sha[:7]}-{datetime.now(UTC):%Y%m%d}"
    ref = pipeline.open_export(store, result.export_id)
    manifest = ref.manifest
    assert MANIFEST_KEYS <= set(manifest.to_dict())
    assert manifest.sha256 == extracted_sha and manifest.format == "xmllines"
    assert manifest.profile == "lido_xml" and manifest.lido_schema_version == "1.1"
    assert manifest.records == 20 and manifest.chunks == 4 and manifest.deleted_ids == ()
    assert manifest.harvest.details["complete_list_size"] == "20"
    assert manifest.harvest.next_from == KENOM_RESPONSE_DATE
    assert ref.snapshot.name == "snapshot.xmll" and ref.plan.total_records == 20
    report = pipeline.validate_chunk(store, ref, 0)  # the chunk pipeline runs on it unchanged
    assert report.records == 5 and report.valid == 5
    assert published(store) == [result.export_id]  # no partial or staging folder left visible
    assert not list((store.root / "snapshots").glob(".*"))


def test_same_bytes_again_reuse_the_export(server: HarvestServer, client: HttpClient, store: ArtifactStore) -> None:
    first = harvest_oai(kenom(server), store, source="kenom", client=client)
    second = harvest_oai(kenom(server), store, source="kenom", client=client)
    assert second.export_id == first.export_id and second.reused and not first.reused


def test_set_filter_and_day_granularity(shared_data: Path, client: HttpClient, store: ArtifactStore) -> None:
    with HarvestServer(shared_data, page_size=5, granularity=DAY) as srv:
        start = datetime(2023, 9, 1, 10, 30, tzinfo=UTC)  # the repository only knows days: sent as a date
        result = harvest_oai(
            kenom(srv, set="institution:DE-68", **{"from": start}), store, source="kenom", client=client
        )
        (first,) = srv.logged(path="/oai", verb="ListRecords", metadataPrefix="lido")
    assert first.params["from"] == "2023-09-01" and first.params["set"] == "institution:DE-68"
    assert result.records == 3 and result.kind == "incremental"
    assert result.next_from == KENOM_RESPONSE_DATE[:10]


def test_oai_dc_harvest_of_the_dspace_capture(server: HarvestServer, client: HttpClient, store: ArtifactStore) -> None:
    config = OaiConfig(base_url=server.oai_url, metadata_prefix="oai_dc", profile="dspace_dc", chunk_size=5)
    result = harvest_oai(config, store, source="eur", client=client)
    assert result.records == 16 and result.pages == 4
    lines = (store.snapshot_dir(result.export_id or "") / "snapshot.xmll").read_bytes().splitlines()
    # oai_dc lines are whole records: the header identifier is the record id (deletions use it too).
    assert len(lines) == 16 and all(line.startswith(b"<record ") and b"<oai_dc:dc " in line for line in lines)
    assert all(str(lx.parse_oai_dc(line)["record_id"]).startswith("hdl:1765/") for line in lines)


def test_oai_dc_deletions_name_the_ids_the_live_records_had(
    shared_data: Path, client: HttpClient, store: ArtifactStore
) -> None:
    """Deletions come as OAI header identifiers: the live records' ids must be those too (issue #14)."""
    config = {"metadata_prefix": "oai_dc", "profile": "dspace_dc", "chunk_size": 5}
    with HarvestServer(shared_data, page_size=5) as srv:
        full = harvest_oai(OaiConfig(base_url=srv.oai_url, **config), store, source="eur", client=client)
    lines = (store.snapshot_dir(full.export_id or "") / "snapshot.xmll").read_bytes().splitlines()
    live = [str(lx.parse_oai_dc(line)["record_id"]) for line in lines]
    gone = {live[0]: "2004-01-02T08:00:00Z", live[5]: "2004-01-03T08:00:00Z"}
    with HarvestServer(shared_data, page_size=5, deletions=gone) as srv:
        since = OaiConfig(base_url=srv.oai_url, **config, **{"from": "2000-01-01"})
        incremental = harvest_oai(since, store, source="eur", client=client)
    assert sorted(incremental.deleted_ids) == sorted(gone)  # the ids the catalogue holds for those records


# --------------------------------------------------------------------------- incremental and deletions


def test_incremental_harvest_lists_updates_and_deletions(
    shared_data: Path, client: HttpClient, store: ArtifactStore
) -> None:
    gone = {"record_DE-68_kenom_124387": "2024-01-02T08:00:00Z", "record_DE-68_kenom_126169": "2024-02-03T09:00:00Z"}
    with HarvestServer(shared_data, page_size=5, deletions=gone) as srv:
        result = harvest_oai(kenom(srv, **{"from": "2023-09-01"}), store, source="kenom", client=client)
    assert result.kind == "incremental" and result.records == 3
    assert sorted(result.deleted_ids) == sorted(gone)
    manifest = pipeline.open_export(store, result.export_id or "").manifest
    assert manifest.kind == "incremental" and manifest.records == 3
    assert sorted(manifest.deleted_ids) == sorted(gone)
    assert manifest.harvest.details["from"] == "2023-09-01T00:00:00Z"
    assert manifest.harvest.details["deleted_record"] == "persistent"
    assert manifest.harvest.next_from == KENOM_RESPONSE_DATE


def test_deleted_record_of_the_sickle_capture(server: HarvestServer, client: HttpClient, store: ArtifactStore) -> None:
    config = OaiConfig(base_url=server.sickle_url, metadata_prefix="oai_dc", profile="dc_test", check_format=False)
    result = harvest_oai(config, store, source="sickle", client=client)
    assert result.records == 1 and result.deleted_ids == ("oai:test.example.com:1585310",)


@pytest.mark.parametrize("window", [{"from": "2030-01-01"}, {"set": "institution:DE-1"}], ids=["future", "empty-set"])
def test_no_records_match_is_an_empty_harvest(
    server: HarvestServer, client: HttpClient, store: ArtifactStore, window: dict[str, str]
) -> None:
    result = harvest_oai(kenom(server, **window), store, source="kenom", client=client)
    assert result.export_id is None and result.records == 0 and result.deleted_ids == ()
    assert published(store) == [] and not list((store.root / "snapshots").glob(".partial-*"))


# -------------------------------------------------------------------------------------------- errors


def test_unknown_format_fails_before_any_record_is_requested(
    server: HarvestServer, client: HttpClient, store: ArtifactStore
) -> None:
    with pytest.raises(HarvestError, match=r"does not offer metadataPrefix 'marc21'; it offers oai_dc, lido"):
        harvest_oai(kenom(server, metadata_prefix="marc21", profile="x"), store, source="kenom", client=client)
    assert server.count(verb="ListRecords") == 0


def test_other_oai_errors_name_code_and_url(server: HarvestServer, client: HttpClient, store: ArtifactStore) -> None:
    config = kenom(server, metadata_prefix="marc21", profile="x", check_format=False)
    with pytest.raises(HarvestError) as exc:
        harvest_oai(config, store, source="kenom", client=client)
    cause = exc.value.__cause__
    assert isinstance(cause, OaiError) and cause.code == "cannotDisseminateFormat"
    assert f"{server.oai_url}?verb=ListRecords&metadataPrefix=marc21: OAI-PMH error cannotDisseminateFormat" in str(
        exc.value
    )
    assert published(store) == []


def test_expired_resumption_token_restarts_the_list(
    server: HarvestServer, client: HttpClient, store: ArtifactStore, extracted_sha: str
) -> None:
    bad = (server.data / "oaipmh" / "edge" / "sickle_error_badResumptionToken.xml").read_bytes()
    server.inject("body", path="/oai", params={"resumptionToken": "*"}, body=bad)
    result = harvest_oai(kenom(server), store, source="kenom", client=client)
    manifest = pipeline.open_export(store, result.export_id or "").manifest
    assert manifest.sha256 == extracted_sha and manifest.harvest.restarts == 1
    assert server.count(path="/oai", verb="ListRecords", metadataPrefix="lido") == 2  # the list, twice


def test_token_that_stays_bad_ends_in_a_clear_error(
    shared_data: Path, client: HttpClient, store: ArtifactStore
) -> None:
    with HarvestServer(shared_data, sickle_next="bad") as srv:
        config = OaiConfig(base_url=srv.sickle_url, metadata_prefix="oai_dc", profile="dc", check_format=False)
        with pytest.raises(HarvestError, match=r"badResumptionToken.*already restarted 1 time"):
            harvest_oai(config, store, source="sickle", client=client)
        assert srv.count(path="/sickle/oai", verb="ListRecords", metadataPrefix="oai_dc") == 2
    assert published(store) == []


@pytest.mark.parametrize(
    ("fault", "options"),
    [
        ("reset", {}),
        ("status", {"status": 503, "headers": {"Retry-After": "0"}}),
        ("slow", {"delay": 1.2}),
    ],
)
def test_transient_faults_are_retried_to_the_same_snapshot(
    server: HarvestServer, client: HttpClient, store: ArtifactStore, extracted_sha: str, fault: str,
    options: dict[str, object],
) -> None:  # fmt: skip
    server.inject(fault, path="/oai", params={"resumptionToken": "*"}, **options)
    result = harvest_oai(kenom(server), store, source="kenom", client=client)
    assert result.retries == 1 and result.requests == 7
    manifest = pipeline.open_export(store, result.export_id or "").manifest
    assert manifest.sha256 == extracted_sha and manifest.retries == 1


@pytest.mark.parametrize(
    ("fault", "options", "message"),
    [
        ("truncate", {}, r"XML does not parse"),
        ("body", {"body": b"<html><body>Proxy error</body></html>", "content_type": "text/html"}, r"expected XML"),
        ("body", {"body": b'{"error": "nope"}', "content_type": "application/json"}, r"expected XML"),
        ("body", {"body": b"<rss version='2.0'/>"}, r"not an OAI-PMH response"),
        ("status", {"status": 500, "times": None}, r"HTTP 500.*gave up after 3 attempts"),
    ],
)
def test_bad_pages_stop_with_a_clear_error_and_a_rerun_resumes(
    server: HarvestServer, client: HttpClient, store: ArtifactStore, extracted_sha: str, fault: str,
    options: dict[str, object], message: str,
) -> None:  # fmt: skip
    target = {"resumptionToken": "*"}
    server.inject(fault, path="/oai", params=target, **options)
    with pytest.raises(HarvestError, match=message) as exc:
        harvest_oai(kenom(server), store, source="kenom", client=client)
    assert "page 2" in str(exc.value) and server.oai_url in str(exc.value)
    assert published(store) == []  # nothing half-harvested is visible as an export
    (partial,) = (store.root / "snapshots").glob(".partial-kenom-*")
    assert json.loads((partial / "checkpoint.json").read_text())["pages"] == 1
    server.clear_faults()
    server.reset_log()
    result = harvest_oai(kenom(server), store, source="kenom", client=client)
    assert result.resumed and result.fetched_records == 15
    assert server.count(path="/oai", verb="ListRecords", metadataPrefix="lido") == 0  # page 1 not fetched again
    assert pipeline.open_export(store, result.export_id or "").manifest.sha256 == extracted_sha


# ------------------------------------------------------------------------------------ hostile XML


@pytest.mark.parametrize("attack", ["billion_laughs", "file_entity", "http_entity", "external_dtd", "parameter_entity"])
def test_entity_attacks_are_refused_and_nothing_is_fetched_or_expanded(
    server: HarvestServer, client: HttpClient, store: ArtifactStore, tmp_path: Path, attack: str
) -> None:
    canary = "CANARY-7f3a-not-for-records"
    secret = tmp_path / "secret.txt"
    secret.write_text(canary)
    payload = {
        "billion_laughs": lambda: billion_laughs(),
        "file_entity": lambda: external_entity(secret.as_uri()),
        "http_entity": lambda: external_entity(server.base_url + "/xxe-target"),
        "external_dtd": lambda: external_dtd(server.base_url + "/evil.dtd"),
        "parameter_entity": lambda: parameter_entity(server.base_url + "/evil.dtd"),
    }[attack]()
    server.inject("body", path="/oai", params={"verb": "ListRecords"}, body=payload)
    with pytest.raises(HarvestError, match=r"entit") as exc:
        harvest_oai(kenom(server), store, source="kenom", client=client)
    assert server.oai_url in str(exc.value)
    assert server.count(path="/xxe-target") == 0 and server.count(path="/evil.dtd") == 0  # no second request
    on_disk = all_bytes_under(store.root)
    assert canary.encode() not in on_disk and b"lollollol" not in on_disk  # nothing read, nothing expanded
    assert published(store) == []


# ------------------------------------------------------------------------------- config and housekeeping


def test_harvest_from_a_profile_harvest_table(
    server: HarvestServer, client: HttpClient, store: ArtifactStore, tmp_path: Path
) -> None:
    profile = tmp_path / "kenom_oai.toml"
    profile.write_text(
        'description = "KENOM over OAI-PMH"\nformat = "lido"\nlido_schema_version = "1.1"\n'
        'accepted_lido_versions = ["1.0"]\n\n[harvest]\nprotocol = "oai-pmh"\n'
        f'base_url = "{server.oai_url}"\nset = "institution:DE-68"\nchunk_size = 10\n',
        encoding="utf-8",
    )
    config = oai_config(profile)
    assert config.set_spec == "institution:DE-68" and config.profile == str(profile.resolve())
    result = harvest_oai(config, store, source="kenom", client=client)
    manifest = pipeline.open_export(store, result.export_id or "").manifest
    assert manifest.profile == "kenom_oai" and manifest.profile_origin == str(profile.resolve())
    assert manifest.chunks == 2 and manifest.harvest.details["set"] == "institution:DE-68"


def test_wrong_base_url_says_http_404(server: HarvestServer, client: HttpClient, store: ArtifactStore) -> None:
    with pytest.raises(HarvestError, match=r"/not-oai\?verb=Identify: HTTP 404: 'not here'"):
        harvest_oai({"base_url": server.base_url + "/not-oai"}, store, source="kenom", client=client)


def test_abandoned_partials_of_the_source_are_pruned(tmp_path: Path) -> None:
    common: dict[str, object] = {"source": "kenom", "protocol": "oai-pmh", "fmt": "xmllines", "params": {}}
    for key in ("old", "busy", "fresh"):
        PartialHarvest.open(tmp_path, key=key, **common).close()  # type: ignore[arg-type]
    long_ago = time.time() - 7 * 86400
    for key in ("old", "busy"):
        os.utime(tmp_path / f".partial-kenom-{key}" / "checkpoint.json", (long_ago, long_ago))
    with PartialHarvest.open(tmp_path, key="busy", **common):  # type: ignore[arg-type]
        os.utime(tmp_path / ".partial-kenom-busy" / "checkpoint.json", (long_ago, long_ago))
        removed = prune_partials(tmp_path, "kenom", 86400)
    assert [p.name for p in removed] == [".partial-kenom-old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".partial-kenom-busy", ".partial-kenom-fresh"]
