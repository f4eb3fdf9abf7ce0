"""The harvesters' HTTP client against a real local server: retries, Retry-After, limits, redaction, counters."""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from museum_sync import __version__
from museum_sync.clients import http
from museum_sync.clients.http import (
    HttpClient,
    HttpError,
    HttpSettings,
    HttpStats,
    HttpStatusError,
    ResponseTooLarge,
    UnexpectedContentType,
    parse_retry_after,
)
from museum_sync_tests.harvest_server import HarvestServer

FAST = HttpSettings(read_timeout=0.5, connect_timeout=2.0, backoff_base=0.02, backoff_max=0.1, max_attempts=3)


@pytest.fixture
def server(shared_data: Path) -> Iterator[HarvestServer]:
    with HarvestServer(shared_data) as srv:
        yield srv


@pytest.fixture
def client() -> Iterator[HttpClient]:
    with HttpClient(FAST) as c:
        yield c


def identify_url(server: HarvestServer) -> str:
    return server.oai_url + "?verb=Identify"


# ------------------------------------------------------------------------------------------- pure parts


def test_settings_come_from_the_http_settings_group() -> None:
    assert HttpSettings.from_env({}) == HttpSettings()  # the settings' defaults are the client's
    env = {
        "MUSEUM_SYNC_HTTP_CONNECT_TIMEOUT": "3",
        "MUSEUM_SYNC_HTTP_TIMEOUT": "7.5",
        "MUSEUM_SYNC_HTTP_TOTAL_TIMEOUT": "0",
        "MUSEUM_SYNC_HTTP_ATTEMPTS": "2",
        "MUSEUM_SYNC_HTTP_MAX_BYTES": "1024",
        "MUSEUM_SYNC_HTTP_CONTACT": "(+mailto:it@museum.example)",
    }
    settings = HttpSettings.from_env(env)
    assert (settings.connect_timeout, settings.read_timeout, settings.total_timeout) == (3.0, 7.5, None)
    assert (settings.max_attempts, settings.max_bytes, settings.contact) == (2, 1024, "(+mailto:it@museum.example)")


def test_parse_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2024, 7, 16, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    later = email.utils.format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now) == pytest.approx(30.0)
    earlier = email.utils.format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# ------------------------------------------------------------------------------------- happy path + UA


def test_get_returns_body_and_sends_museum_sync_user_agent(server: HarvestServer, client: HttpClient) -> None:
    response = client.get(server.oai_url, params={"verb": "Identify"}, expect="xml")
    assert response.status == 200 and b"<Identify>" in response.content
    (request,) = server.logged(path="/oai", verb="Identify")
    assert request.headers["user-agent"].startswith(f"museum-sync/{__version__} ")
    assert client.stats.as_dict()["requests"] == 1 and client.stats.retries == 0


def test_contact_goes_into_the_user_agent(server: HarvestServer) -> None:
    with HttpClient(HttpSettings(contact="(+mailto:collections-it@museum.example)")) as c:
        c.get(identify_url(server))
    assert server.requests[-1].headers["user-agent"].endswith("(+mailto:collections-it@museum.example)")


# ------------------------------------------------------------------------------------------------ retries


def test_503_with_retry_after_seconds_is_waited_for_then_succeeds(server: HarvestServer, client: HttpClient) -> None:
    server.inject("status", path="/oai", status=503, headers={"Retry-After": "1"})
    stats = HttpStats()
    started = time.monotonic()
    response = client.get(identify_url(server), stats=stats)
    assert response.status == 200
    assert time.monotonic() - started >= 0.9  # the server's Retry-After, not our 20 ms backoff
    assert stats.as_dict()["requests"] == 2 and stats.retries == 1
    assert client.stats.retries == 1


def test_429_with_http_date_retry_after_succeeds(server: HarvestServer, client: HttpClient) -> None:
    when = email.utils.formatdate(time.time() + 1, usegmt=True)
    server.inject("status", path="/oai", status=429, headers={"Retry-After": when})
    assert client.get(identify_url(server)).status == 200
    assert server.count(path="/oai") == 2 and client.stats.retries == 1


def test_retry_after_beyond_the_limit_fails_at_once_naming_the_wait(server: HarvestServer) -> None:
    server.inject("status", path="/oai", status=503, headers={"Retry-After": "3600"})
    with HttpClient(HttpSettings(max_retry_after=5, backoff_base=0.01)) as c:
        started = time.monotonic()
        with pytest.raises(HttpError, match=r"retry after 3600 s, longer than the 5 s") as exc:
            c.get(identify_url(server))
    assert time.monotonic() - started < 2
    assert exc.value.status == 503 and server.count(path="/oai") == 1


def test_connection_reset_mid_body_is_retried(server: HarvestServer, client: HttpClient) -> None:
    server.inject("reset", path="/oai")
    response = client.get(identify_url(server), expect="xml")
    assert b"</OAI-PMH>" in response.content
    assert server.count(path="/oai") == 2 and client.stats.retries == 1


def test_slow_response_past_the_read_timeout_is_retried(server: HarvestServer, client: HttpClient) -> None:
    server.inject("slow", path="/oai", delay=1.5)
    started = time.monotonic()
    assert client.get(identify_url(server)).status == 200
    assert time.monotonic() - started < 1.4  # gave up on the slow one after the 0.5 s read timeout
    assert client.stats.retries == 1


def test_persistent_failure_ends_in_a_clear_error_naming_url_and_attempts(
    server: HarvestServer, client: HttpClient
) -> None:
    server.inject("slow", path="/oai", delay=1.0, times=None)
    with pytest.raises(HttpError) as exc:
        client.get(identify_url(server))
    message = str(exc.value)
    assert message.startswith(server.oai_url + "?verb=Identify: timed out")
    assert "gave up after 3 attempts" in message
    assert exc.value.attempts == 3 and client.stats.retries == 2


def test_5xx_is_retried_but_404_is_not(server: HarvestServer, client: HttpClient) -> None:
    server.inject("status", path="/oai", status=500, times=None)
    with pytest.raises(HttpError, match="HTTP 500"):
        client.get(identify_url(server))
    assert server.count(path="/oai") == 3
    with pytest.raises(HttpStatusError, match="HTTP 404: not here") as exc:
        client.get(server.base_url + "/nowhere")
    assert exc.value.status == 404 and server.count(path="/nowhere") == 1


def test_allowed_error_status_is_returned(server: HarvestServer, client: HttpClient) -> None:
    server.inject("status", path="/oai", status=404, body=b"<x/>")
    assert client.get(identify_url(server), allow_status=(404,)).status == 404


def test_errors_never_show_api_keys(server: HarvestServer, client: HttpClient) -> None:
    server.inject("status", path="/oai", status=502, times=None)
    with pytest.raises(HttpError) as exc:
        client.get(server.oai_url, params={"verb": "Identify", "api_key": "s3cret-key"})
    assert "s3cret-key" not in str(exc.value) and "api_key=REDACTED" in str(exc.value)


# ---------------------------------------------------------------------------------------- size and type


def test_declared_length_over_the_limit_is_refused_before_the_body(server: HarvestServer, client: HttpClient) -> None:
    with pytest.raises(ResponseTooLarge, match=r"larger than the 100-byte limit"):
        client.get(identify_url(server), max_bytes=100)
    assert server.count(path="/oai") == 1  # not retried: it would be as large again


def test_streamed_body_is_aborted_past_the_limit(server: HarvestServer, client: HttpClient) -> None:
    server.inject("big", path="/oai", size=5_000_000)
    with pytest.raises(ResponseTooLarge, match=r"passed the 200000-byte limit; download aborted"):
        client.get(identify_url(server), max_bytes=200_000)
    assert client.stats.bytes == 0  # nothing counted as received: the body was dropped


def test_html_error_page_is_not_taken_for_xml_or_json(server: HarvestServer, client: HttpClient) -> None:
    page = b"<!DOCTYPE html><html><body><h1>Service temporarily unavailable</h1></body></html>"
    server.inject("body", path="/oai", body=page, content_type="text/html", times=2)
    with pytest.raises(UnexpectedContentType, match=r"expected XML but got text/html starting with '<!DOCTYPE html>"):
        client.get(identify_url(server), expect="xml")
    with pytest.raises(UnexpectedContentType, match="expected JSON"):
        client.get(identify_url(server), expect="json")


def test_xml_without_a_content_type_is_sniffed(server: HarvestServer, client: HttpClient) -> None:
    server.inject("body", path="/oai", body=b'<?xml version="1.0"?><OAI-PMH/>', content_type="application/octet-stream")
    assert client.get(identify_url(server), expect="xml").content.endswith(b"<OAI-PMH/>")


# ---------------------------------------------------------------------------------------- shared client


def test_one_shared_client_per_process_and_a_new_one_after_fork() -> None:
    http.close_client()
    first = http.get_client()
    assert http.get_client() is first
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must not reuse the parent's pooled connections
        os.close(read)
        os.write(write, b"new" if http.get_client() is not first else b"same")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 10)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == b"new"
    http.close_client()
    assert http.get_client() is not first
    http.close_client()
