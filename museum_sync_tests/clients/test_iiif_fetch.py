"""The IIIF fetcher and the SSRF guard against a real local HTTP server serving ``../shared/data/iiif``.

ETags and 304s, a flaky server with Retry-After, 4xx/5xx, redirects (to itself, to a private address, to
the cloud metadata address), slow responses and the per-host bound, the header cache in PostgreSQL, and
the harvest client refusing the same addresses through the same guard.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from museum_sync.clients.address_guard import AddressGuard, AddressRefused, address_refusal
from museum_sync.clients.catalog import Catalog
from museum_sync.clients.http import HttpClient, HttpSettings, OriginRefused
from museum_sync.clients.iiif import IiifFetcher
from museum_sync.pipeline.iiif import verdict_for
from museum_sync.services import ServiceUrls
from museum_sync.settings import IiifSettings
from museum_sync_tests.iiif_server import IiifServer

GOOD = "cookbook/0001-mvm-image.json"
BROKEN = "manifests/vam_ocean_liners.json"


@pytest.fixture(scope="module")
def server(shared_data: Path) -> Iterator[IiifServer]:
    with IiifServer(shared_data / "iiif") as running:
        yield running


def fetcher(**overrides: object) -> IiifFetcher:
    values: dict[str, object] = {"allowed_hosts": "127.0.0.1", "attempts": 2, "timeout": 5.0, **overrides}
    return IiifFetcher(IiifSettings(**values))


@pytest.fixture(scope="module")
def iiif() -> Iterator[IiifFetcher]:
    client = fetcher()
    yield client
    client.close()


def test_etag_then_304_without_a_body(server: IiifServer, iiif: IiifFetcher) -> None:
    url = server.url("m", GOOD)
    first = iiif.fetch(url)
    assert (first.outcome, first.status, first.conditional) == ("fetched", 200, False)
    assert first.etag and first.last_modified and first.content == (server.root / GOOD).read_bytes()
    cached, validated = verdict_for(first, None)
    assert validated and cached.outcome == "valid" and cached.etag == first.etag
    server.reset_log()
    second = iiif.fetch(url, cached)
    assert (second.outcome, second.status, second.content, second.conditional) == ("not_modified", 304, None, True)
    sent = server.requests[0].headers
    assert sent["If-None-Match"] == first.etag and sent["If-Modified-Since"] == first.last_modified
    assert "iiif.io/api/presentation/3/context.json" in sent["Accept"]
    assert server.bodies_sent == 0
    again, validated = verdict_for(second, cached)
    assert not validated and again.outcome == "valid" and again.content_hash == cached.content_hash


def test_a_busy_server_is_retried_after_its_retry_after(server: IiifServer, iiif: IiifFetcher) -> None:
    server.reset_log()
    result = iiif.fetch(server.url("flaky", GOOD))
    assert (result.outcome, result.status) == ("fetched", 200)
    assert [r.status for r in server.requests] == [503, 200]


def test_4xx_is_a_broken_link_and_5xx_after_retries_is_unavailable(server: IiifServer, iiif: IiifFetcher) -> None:
    gone = iiif.fetch(server.url("status", "404"))
    assert (gone.outcome, gone.status) == ("http_error", 404)
    verdict, _ = verdict_for(gone, None)
    assert verdict.outcome == "broken" and verdict.findings[0]["rule"] == "http_status"
    server.reset_log()
    down = iiif.fetch(server.url("status", "500"))
    assert down.outcome == "unavailable" and "gave up after 2 attempts" in (down.error or "")
    assert len(server.requests) == 2
    assert verdict_for(down, None)[0].outcome == "unavailable"  # a timeout or 5xx says nothing about the manifest


def test_redirects_are_followed_and_each_hop_is_guarded(server: IiifServer, iiif: IiifFetcher) -> None:
    moved = iiif.fetch(server.url("redirect", GOOD))
    assert (moved.outcome, moved.status) == ("fetched", 200)
    private = iiif.fetch(server.url("redirect-private"))
    assert private.outcome == "refused"
    assert "10.255.255.1 is a private address" in (private.error or "")
    metadata = iiif.fetch(server.url("redirect-metadata"))
    assert metadata.outcome == "refused" and "cloud metadata address" in (metadata.error or "")
    verdict, _ = verdict_for(private, None)
    assert verdict.outcome == "broken" and verdict.findings[0]["rule"] == "address_refused"


def test_without_the_allow_list_loopback_is_refused_before_any_request(server: IiifServer) -> None:
    server.reset_log()
    with_no_list = fetcher(allowed_hosts="")
    try:
        result = with_no_list.fetch(server.url("m", GOOD))
    finally:
        with_no_list.close()
    assert result.outcome == "refused" and "127.0.0.1 is a loopback address" in (result.error or "")
    assert server.requests == []


def test_one_host_gets_at_most_per_host_requests_and_slow_servers_time_out(server: IiifServer) -> None:
    bounded = fetcher(per_host=2, fetch_threads=8)
    server.reset_log()
    names = (
        GOOD,
        BROKEN,
        "cookbook/0002-mvm-audio.json",
        "cookbook/0004-canvas-size.json",
        "cookbook/0008-rights.json",
    )
    try:
        results = bounded.fetch_many([server.url("slow", f"0.2/{name}") for name in names], {})
    finally:
        bounded.close()
    assert {r.outcome for r in results.values()} == {"fetched"} and len(results) == 5
    assert server.max_in_flight == 2
    slow = fetcher(timeout=0.3, attempts=1)
    try:
        assert slow.fetch(server.url("slow", f"1.0/{GOOD}")).outcome == "unavailable"
    finally:
        slow.close()


def test_a_v2_manifest_and_a_broken_one_get_their_verdicts(server: IiifServer, iiif: IiifFetcher) -> None:
    v2, validated = verdict_for(iiif.fetch(server.url("v2")), None)
    assert validated and (v2.outcome, v2.version) == ("valid", "2")
    assert [f["rule"] for f in v2.findings] == ["presentation_v2"]
    broken, _ = verdict_for(iiif.fetch(server.url("m", BROKEN)), None)
    assert broken.outcome == "broken"
    assert {"pointer": "/items/0/items/0", "rule": "schema", "severity": "error"}.items() <= broken.findings[0].items()


def test_the_header_cache_round_trips_through_postgresql(
    services: ServiceUrls, server: IiifServer, iiif: IiifFetcher
) -> None:
    catalog = Catalog(services.pg_url, schema=f"iiif_{uuid.uuid4().hex[:8]}")
    catalog.migrate()
    catalog.migrate()  # idempotent: CREATE TABLE IF NOT EXISTS
    urls = [server.url("m", GOOD), server.url("m", BROKEN)]
    verdicts = [verdict_for(iiif.fetch(url), None)[0] for url in urls]
    catalog.iiif_store(verdicts)
    cached = catalog.iiif_cached(urls)
    assert {u: c.outcome for u, c in cached.items()} == {urls[0]: "valid", urls[1]: "broken"}
    assert cached[urls[1]].findings == verdicts[1].findings and cached[urls[0]].etag == verdicts[0].etag
    server.reset_log()
    again = iiif.fetch_many(urls, cached)
    assert {r.outcome for r in again.values()} == {"not_modified"} and server.bodies_sent == 0
    assert all(not verdict_for(r, cached[u])[1] for u, r in again.items())  # nothing validated again


def test_the_harvest_client_refuses_the_same_addresses(server: IiifServer) -> None:
    """Shared guard: even an operator-declared origin never reaches the metadata address; a harvest's own
    configured host (here loopback) is trusted, as its operator named it."""
    settings = HttpSettings(max_attempts=1, allowed_origins=frozenset({"http://169.254.169.254:80"}))
    with HttpClient(settings) as client:
        assert client.get(server.url("m", GOOD)).status == 200
        with pytest.raises(OriginRefused, match="cloud metadata address"):
            client.get(server.url("redirect-metadata"))


def test_address_rules() -> None:
    refused = {
        "127.0.0.1": "loopback",
        "10.1.2.3": "private",
        "192.168.0.1": "private",
        "169.254.1.1": "link-local",
        "169.254.169.254": "metadata",
        "100.64.0.1": "not a globally routable",
        "::1": "loopback",
        "fd00:ec2::254": "metadata",
        "::ffff:10.0.0.1": "private",
        "224.0.0.1": "multicast",
        "0.0.0.0": "unspecified",
    }
    for text, words in refused.items():
        assert words in (address_refusal(ipaddress.ip_address(text)) or ""), text
    assert address_refusal(ipaddress.ip_address("93.184.215.14")) is None


def test_the_guard_resolves_and_refuses_if_any_address_is_private() -> None:
    answers = {"museum.example": ["93.184.215.14"], "rebind.example": ["93.184.215.14", "10.0.0.7"]}
    guard = AddressGuard(resolver=lambda host, port: answers[host])
    guard.check("https://museum.example/iiif/1/manifest")
    with pytest.raises(AddressRefused, match=r"rebind.example resolves to 10.0.0.7, a private address"):
        guard.check("https://rebind.example/manifest")
    with pytest.raises(AddressRefused, match="only http and https"):
        guard.check("file:///etc/passwd")
    trusted = AddressGuard(frozenset({"10.0.0.0/8"}), resolver=lambda host, port: answers[host])
    trusted.check("https://rebind.example/manifest")
    with pytest.raises(AddressRefused, match="metadata"):
        AddressGuard(frozenset({"169.254.0.0/16"})).check("http://169.254.169.254/")


def test_a_host_that_does_not_resolve_is_unavailable_not_broken() -> None:
    client = IiifFetcher(IiifSettings(attempts=1))
    try:
        result = client.fetch("https://no-such-host.invalid/iiif/manifest.json")
    finally:
        client.close()
    assert result.outcome == "unavailable" and "does not resolve" in (result.error or "")
    assert verdict_for(result, None)[0].outcome == "unavailable"  # the link is kept
