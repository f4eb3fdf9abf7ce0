"""Paged JSON API harvesting (AIC shape) from a real local server serving the shared AIC artworks."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from museum_sync import pipeline
from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.clients.http import HttpClient
from museum_sync.core.profiles import load_profile
from museum_sync.harvest import HarvestError, JsonApiConfig, harvest_json_api, json_api_config
from museum_sync_tests.harvest_server import HarvestServer

SECRET = "s3cret-aic-token-42"


@pytest.fixture
def server(shared_data: Path) -> Iterator[HarvestServer]:
    with HarvestServer(shared_data, json_page_size=3) as srv:
        yield srv


def aic(server: HarvestServer, **overrides: object) -> JsonApiConfig:
    """The shipped AIC [harvest] table, pointed at the local server, 3 items a page."""
    return json_api_config(
        "aic_artworks_api",
        url=server.aic_url,
        params={"limit": "3"},
        page_size=3,
        since_url=server.aic_url + "/search",
        since_params={"limit": "3"},
        chunk_size=5,
        **overrides,
    )


def published(store: ArtifactStore) -> list[str]:
    base = store.root / "snapshots"
    return sorted(p.name for p in base.iterdir() if not p.name.startswith(".")) if base.is_dir() else []


def all_bytes_under(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_shipped_profile_has_the_aic_harvest_table() -> None:
    config = json_api_config("aic_artworks_api")
    assert config.url == "https://api.artic.edu/api/v1/artworks" and config.items == "data"
    assert config.next_url == "pagination.next_url" and config.params == {"limit": "100"}
    assert (
        config.since_param == "query[range][updated_at][gte]" and Path(config.profile or "").stem == "aic_artworks_api"
    )


def test_full_harvest_follows_next_url_and_matches_extract(
    server: HarvestServer, client: HttpClient, store: ArtifactStore, tmp_path: Path
) -> None:
    result = harvest_json_api(aic(server), store, source="aic", client=client)
    assert result.records == 7 and result.pages == 3 and result.requests == 3 and result.kind == "full"
    assert [r.params.get("page") for r in server.logged(path="/aic/artworks")] == ["1", "2", "3"]
    ref = pipeline.open_export(store, result.export_id or "")
    manifest = ref.manifest
    assert manifest.format == "jsonl" and manifest.profile == "aic_artworks_api" and manifest.chunks == 2
    assert manifest.harvest.details["since"] is None and manifest.deleted_ids == ()
    assert ref.snapshot.name == "snapshot.jsonl"
    report = pipeline.validate_chunk(store, ref, 0)
    assert report.records == 5 and report.valid == 5
    # The same items as one JSON document, extracted: same bytes, same export id.
    document = tmp_path / "artworks.json"
    document.write_text(json.dumps({"data": server.artworks}, indent=1), encoding="utf-8")
    extracted = pipeline.extract(
        document, load_profile("aic_artworks_api"), ArtifactStore(tmp_path / "x"), source="aic", chunk_size=5
    )
    assert extracted.export_id == result.export_id
    assert result.export_id == f"aic-{manifest.sha256[:7]}-{datetime.now(UTC):%Y%m%d}"


def test_incremental_harvest_uses_since_on_the_search_endpoint_with_page_numbers(
    server: HarvestServer, client: HttpClient, store: ArtifactStore
) -> None:
    since = "2024-12-13T00:00:00-06:00"
    result = harvest_json_api(aic(server), store, source="aic", client=client, since=since)
    assert result.kind == "incremental" and result.records == 4  # artworks 20, 22, 24, 25 changed since
    searches = server.logged(path="/aic/artworks/search")
    assert [r.params["page"] for r in searches] == ["1", "2"]  # no next_url: pages counted, short page ends
    assert searches[0].params["query[range][updated_at][gte]"] == since
    assert "main_reference_number" in searches[0].params["fields"].split(",")  # whole records asked for
    manifest = pipeline.open_export(store, result.export_id or "").manifest
    assert manifest.kind == "incremental" and manifest.harvest.details["since"] == since
    assert manifest.harvest.next_from.endswith("Z")


@pytest.mark.parametrize(
    ("paging", "requests", "sent"),
    [
        ({"offset_param": "offset", "page_size": 3}, 3, ["0", "3", "6"]),  # short last page ends it
        ({"page_param": "page"}, 4, ["1", "2", "3", "4"]),  # no page size known: an empty page ends it
    ],
)
def test_offset_and_page_number_paging(
    server: HarvestServer, client: HttpClient, store: ArtifactStore, paging: dict[str, Any], requests: int,
    sent: list[str],
) -> None:  # fmt: skip
    config = JsonApiConfig(
        url=server.aic_url, params={"limit": "3"}, next_url=None, profile="aic_artworks_api", **paging
    )
    result = harvest_json_api(config, store, client=client)
    key = "offset" if "offset_param" in paging else "page"
    assert result.records == 7 and result.requests == requests
    assert [r.params[key] for r in server.logged(path="/aic/artworks")] == sent


def test_incremental_needs_a_since_param(server: HarvestServer, client: HttpClient, store: ArtifactStore) -> None:
    config = JsonApiConfig(url=server.aic_url, profile="aic_artworks_api")
    with pytest.raises(HarvestError, match="no since_param"):
        harvest_json_api(config, store, client=client, since="2024-01-01")


def declare(monkeypatch: pytest.MonkeyPatch, server: HarvestServer, name: str = "AIC_TEST") -> None:
    """The operator's side: credential ``name`` = SECRET, for the local server's origin."""
    monkeypatch.setenv(f"MUSEUM_SYNC_CREDENTIAL_{name}", SECRET)
    monkeypatch.setenv(f"MUSEUM_SYNC_CREDENTIAL_{name}_ORIGIN", server.base_url)


def test_auth_header_comes_from_a_declared_credential_and_is_never_stored(
    shared_data: Path, client: HttpClient, store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HarvestServer(shared_data, json_page_size=3, require_header=("Authorization", f"Bearer {SECRET}")) as srv:
        config = aic(srv, credential="AIC_TEST", auth_prefix="Bearer ")
        monkeypatch.delenv("MUSEUM_SYNC_CREDENTIAL_AIC_TEST", raising=False)
        with pytest.raises(
            HarvestError, match="set MUSEUM_SYNC_CREDENTIAL_AIC_TEST and MUSEUM_SYNC_CREDENTIAL_AIC_TEST_ORIGIN"
        ):
            harvest_json_api(config, store, source="aic", client=client)
        assert srv.requests == []
        declare(monkeypatch, srv)
        result = harvest_json_api(config, store, source="aic", client=client)
    assert result.records == 7
    assert SECRET.encode() not in all_bytes_under(store.root)


def test_api_key_parameter_is_stripped_from_checkpoints_and_errors(
    server: HarvestServer, client: HttpClient, store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    declare(monkeypatch, server)
    config = aic(server, credential="AIC_TEST", auth_query_param="api_key")
    server.inject("status", path="/aic/artworks", params={"page": "2"}, status=500, times=None)
    with pytest.raises(HarvestError) as exc:
        harvest_json_api(config, store, source="aic", client=client)
    assert SECRET not in str(exc.value) and "page 2" in str(exc.value)
    assert all(r.params["api_key"] == SECRET for r in server.logged(path="/aic/artworks"))  # it was sent...
    (checkpoint,) = (store.root / "snapshots").glob(".partial-aic-*/checkpoint.json")
    assert "page=2" in json.loads(checkpoint.read_text())["cursor"]["url"]
    assert SECRET.encode() not in all_bytes_under(store.root)  # ...but never written down


def test_a_next_link_on_another_host_is_not_followed(
    server: HarvestServer, client: HttpClient, store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    declare(monkeypatch, server)
    page = {"pagination": {"next_url": "http://collector.example/steal?page=2"}, "data": server.artworks[:3]}
    server.inject("body", path="/aic/artworks", body=json.dumps(page).encode(), content_type="application/json")
    with pytest.raises(HarvestError, match=r"leaves http://127\.0\.0\.1:\d+; refusing to follow it"):
        harvest_json_api(aic(server, credential="AIC_TEST"), store, source="aic", client=client)


@pytest.mark.parametrize(
    ("fault", "options"),
    [
        ("reset", {}),
        ("status", {"status": 503, "headers": {"Retry-After": "0"}}),
        ("status", {"status": 429, "headers": {"Retry-After": email.utils.formatdate(time.time(), usegmt=True)}}),
        ("slow", {"delay": 1.2}),
    ],
)
def test_transient_faults_are_retried(
    server: HarvestServer, client: HttpClient, store: ArtifactStore, fault: str, options: dict[str, object]
) -> None:
    server.inject(fault, path="/aic/artworks", params={"page": "2"}, **options)
    result = harvest_json_api(aic(server), store, source="aic", client=client)
    assert result.records == 7 and result.retries == 1 and result.requests == 4


@pytest.mark.parametrize(
    ("fault", "options", "message"),
    [
        ("truncate", {}, r"the body is not valid JSON"),
        ("body", {"body": b"<!DOCTYPE html><html>Bad gateway</html>", "content_type": "text/html"}, "expected JSON"),
        ("body", {"body": b'{"items": []}', "content_type": "application/json"}, r"no array at 'data'.*\['items'\]"),
        ("status", {"status": 403, "body": b'{"error": "forbidden"}'}, r"HTTP 403"),
    ],
)
def test_bad_pages_stop_with_a_clear_error_and_nothing_is_published(
    server: HarvestServer, client: HttpClient, store: ArtifactStore, fault: str, options: dict[str, object],
    message: str,
) -> None:  # fmt: skip
    server.inject(fault, path="/aic/artworks", params={"page": "2"}, **options)
    with pytest.raises(HarvestError, match=message) as exc:
        harvest_json_api(aic(server), store, source="aic", client=client)
    assert "page 2" in str(exc.value) and server.aic_url in str(exc.value)
    assert published(store) == []
    server.clear_faults()
    server.reset_log()
    result = harvest_json_api(aic(server), store, source="aic", client=client)
    assert result.resumed and [r.params["page"] for r in server.logged(path="/aic/artworks")] == ["2", "3"]


def test_oversized_page_is_refused(server: HarvestServer, client: HttpClient, store: ArtifactStore) -> None:
    with pytest.raises(HarvestError, match=r"larger than the 4000-byte limit"):
        harvest_json_api(aic(server, max_bytes=4000), store, source="aic", client=client)
    assert server.count(path="/aic/artworks") == 1
