"""Finding 9 of issue #12: the harvest HTTP client stays on the origin it was asked for, follows redirects
itself (never https -> http, credentials stripped on any hop elsewhere) and quotes little of an error body.
Real local HTTP servers on two ports stand for two origins and record what they receive."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.clients.http import (
    SNIPPET_CHARS,
    BoundCredential,
    HttpClient,
    HttpError,
    HttpSettings,
    HttpStatusError,
    OriginRefused,
    check_redirect,
    origin_of,
)
from museum_sync.harvest import HarvestError, harvest_json_api, json_api_config
from museum_sync_tests.harvest_server import HarvestServer

SECRET = "tok-7d41-secret"
FAST = {"read_timeout": 0.5, "backoff_base": 0.02, "backoff_max": 0.1, "max_attempts": 2}


@pytest.fixture
def origin_a(shared_data: Path) -> Iterator[HarvestServer]:
    with HarvestServer(shared_data, json_page_size=3) as srv:
        yield srv


@pytest.fixture
def origin_b(shared_data: Path) -> Iterator[HarvestServer]:
    with HarvestServer(shared_data, json_page_size=3) as srv:
        yield srv


@pytest.fixture
def client() -> Iterator[HttpClient]:
    with HttpClient(HttpSettings(**FAST)) as c:  # type: ignore[arg-type]
        yield c


def credential_for(server: HarvestServer) -> BoundCredential:
    return BoundCredential(origin=origin_of(server.base_url), value=SECRET, prefix="Bearer ", name="MUSEUM_API")


def redirect(server: HarvestServer, to: str, *, times: int | None = 1) -> None:
    server.inject("status", path="/oai", status=302, headers={"Location": to}, times=times)


def sent(server: HarvestServer) -> str:
    return json.dumps([[r.path, r.params, r.headers] for r in server.requests])


# ------------------------------------------------------------------------------------------- redirects


def test_a_redirect_to_another_origin_is_refused_with_one_line(
    origin_a: HarvestServer, origin_b: HarvestServer, client: HttpClient
) -> None:
    redirect(origin_a, origin_b.oai_url + "?verb=Identify")
    with pytest.raises(OriginRefused) as caught:
        client.get(origin_a.oai_url, params={"verb": "Identify"}, credential=credential_for(origin_a))
    message = str(caught.value)
    assert "\n" not in message and SECRET not in message
    assert f"redirected to {origin_b.oai_url}?verb=Identify, outside the allowed origins" in message
    assert "MUSEUM_SYNC_HTTP_ALLOWED_ORIGINS" in message
    assert origin_b.requests == [] and origin_a.count(path="/oai") == 1  # not retried either


def test_an_allow_listed_redirect_is_followed_without_credentials(
    origin_a: HarvestServer, origin_b: HarvestServer
) -> None:
    settings = HttpSettings(**FAST, allowed_origins=frozenset({origin_of(origin_b.base_url)}))  # type: ignore[arg-type]
    redirect(origin_a, origin_b.oai_url + "?verb=Identify")
    with HttpClient(settings) as client:
        response = client.get(
            origin_a.oai_url,
            params={"verb": "Identify"},
            headers={"Cookie": "session=abc", "X-Museum": "kenom"},
            credential=credential_for(origin_a),
            expect="xml",
        )
    assert b"<Identify>" in response.content and response.url == origin_b.oai_url + "?verb=Identify"
    (at_a,) = origin_a.requests
    assert at_a.headers["authorization"] == f"Bearer {SECRET}" and at_a.headers["cookie"] == "session=abc"
    (at_b,) = origin_b.requests
    assert "authorization" not in at_b.headers and "cookie" not in at_b.headers
    assert at_b.headers["x-museum"] == "kenom"  # ordinary headers travel
    assert SECRET not in sent(origin_b)


def test_a_query_parameter_credential_is_not_carried_to_another_origin(
    origin_a: HarvestServer, origin_b: HarvestServer
) -> None:
    settings = HttpSettings(**FAST, allowed_origins=frozenset({origin_of(origin_b.base_url)}))  # type: ignore[arg-type]
    # A server that echoes the query into its Location (CDNs do) must not hand our key to the other origin.
    redirect(origin_a, f"{origin_b.oai_url}?verb=Identify&api_key={SECRET}")
    key = BoundCredential(origin=origin_of(origin_a.base_url), value=SECRET, header=None, query_param="api_key")
    with HttpClient(settings) as client:
        client.get(origin_a.oai_url, params={"verb": "Identify"}, credential=key)
    assert origin_a.requests[0].params["api_key"] == SECRET
    assert SECRET not in sent(origin_b) and origin_b.count(path="/oai", verb="Identify") == 1


def test_a_same_origin_redirect_keeps_the_credential(origin_a: HarvestServer, client: HttpClient) -> None:
    origin_a.inject("status", path="/old-oai", status=301, headers={"Location": "/oai?verb=Identify"})
    response = client.get(origin_a.base_url + "/old-oai", credential=credential_for(origin_a), expect="xml")
    assert response.status == 200
    assert [r.headers.get("authorization") for r in origin_a.requests] == [f"Bearer {SECRET}"] * 2


def test_redirect_loops_end_at_the_limit(origin_a: HarvestServer) -> None:
    redirect(origin_a, "/oai?verb=Identify", times=None)
    with HttpClient(HttpSettings(**FAST, max_redirects=3)) as client:  # type: ignore[arg-type]
        with pytest.raises(HttpError, match=r"more than 3 redirects"):
            client.get(origin_a.oai_url, params={"verb": "Identify"})
    assert origin_a.count(path="/oai") == 4


def test_a_credential_for_another_origin_is_never_sent(
    origin_a: HarvestServer, origin_b: HarvestServer, client: HttpClient
) -> None:
    with pytest.raises(OriginRefused, match=r"credential MUSEUM_API is for http://127\.0\.0\.1:\d+, not "):
        client.get(origin_b.oai_url, params={"verb": "Identify"}, credential=credential_for(origin_a))
    assert origin_b.requests == []


# The test server speaks plain HTTP only, so the downgrade rule is checked on the hop checker itself.
@pytest.mark.parametrize(
    ("current", "target", "allowed", "refused"),
    [
        ("https://api.museum.example/x", "http://api.museum.example/y", {"https://api.museum.example:443"}, "https"),
        (
            "https://api.museum.example/x",
            "http://cdn.museum.example/y",
            {"https://api.museum.example:443", "http://cdn.museum.example:80"},  # allow-listed, still a downgrade
            "refusing to leave https",
        ),
        ("https://api.museum.example/x", "https://evil.example/y", {"https://api.museum.example:443"}, "outside"),
        (
            "https://api.museum.example/x",
            "https://api.museum.example:8443/y",
            {"https://api.museum.example:443"},
            "outside",
        ),
        ("https://api.museum.example/x", "https://API.museum.example:443/y", {"https://api.museum.example:443"}, None),
        ("http://api.museum.example/x", "https://api.museum.example/y", {"https://api.museum.example:443"}, None),
    ],
)
def test_the_hop_checker_refuses_downgrades_and_foreign_origins(
    current: str, target: str, allowed: set[str], refused: str | None
) -> None:
    if refused is None:
        check_redirect(current, target, allowed)
    else:
        with pytest.raises(OriginRefused, match=refused):
            check_redirect(current, target, allowed)


# ------------------------------------------------------------------------------------------ next links


def test_a_next_link_to_another_origin_is_refused_with_one_line(
    origin_a: HarvestServer, origin_b: HarvestServer, client: HttpClient, tmp_path: Path
) -> None:
    page = {"pagination": {"next_url": f"{origin_b.aic_url}?page=2"}, "data": origin_a.artworks[:3]}
    origin_a.inject("body", path="/aic/artworks", body=json.dumps(page).encode(), content_type="application/json")
    config = json_api_config("aic_artworks_api", url=origin_a.aic_url, params={"limit": "3"})  # no credential at all
    with pytest.raises(HarvestError) as caught:
        harvest_json_api(config, ArtifactStore(tmp_path / "artifacts"), source="aic", client=client)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"aic: next link {origin_b.aic_url}?page=2 leaves {origin_of(origin_a.base_url)}")
    assert origin_b.requests == []


# ------------------------------------------------------------------------------------------ error bodies


@pytest.mark.parametrize("status", [501, 403, 404])
def test_an_error_body_is_quoted_short_clean_and_without_tokens(
    status: int, origin_a: HarvestServer, client: HttpClient
) -> None:
    body = (
        b"\x1b[31mInternal failure\r\n\tauthorization: Bearer FAKE-TOKEN-1111 for "
        + SECRET.encode()
        + b" "
        + b"x" * 150
        + b" session=FAKE-TOKEN-2222"
    )
    origin_a.inject("status", path="/oai", status=status, body=body)
    with pytest.raises(HttpStatusError) as caught:
        client.get(origin_a.oai_url, params={"verb": "Identify"}, credential=credential_for(origin_a))
    message = str(caught.value)
    quoted = message.split(f"HTTP {status}: ", 1)[1]
    assert len(quoted) <= SNIPPET_CHARS and quoted.startswith("Internal failure")
    assert "FAKE-TOKEN" not in message and SECRET not in message
    assert not any(ord(c) < 32 or ord(c) == 127 for c in message)
