"""Fetch IIIF manifests: one pooled client per worker process, bounded per host, conditional, guarded.

Built on the harvest client (``clients.http.HttpClient``: timeouts, retries with backoff honouring
``Retry-After``, size and redirect limits), configured for manifests (``MUSEUM_SYNC_IIIF_*``):

- **SSRF**: every hop passes ``clients.address_guard`` (``allowed_hosts`` is its allow-list), and
  redirects may go to any origin the guard passes (manifests move between hosts), never https -> http;
- **per-host bound**: at most ``per_host`` requests to one host at a time from this process, whatever
  the number of fetch threads, so one museum's server is never hit by a whole worker's threads;
- **conditional**: with a cached ``ETag`` / ``Last-Modified`` the request carries ``If-None-Match`` /
  ``If-Modified-Since``; a ``304`` is ``not_modified`` (the caller reuses the cached verdict);
- **keep-alive**: one ``httpx`` pool per process (``get_fetcher``), rebuilt after a fork (prefork
  children); HTTP/2 when ``http2`` is set *and* the optional ``h2`` package is installed (it is not a
  dependency: ALPN offers HTTP/2 over TLS only, and per-host bounds already keep connections few).

Outcomes: ``fetched`` (a body to validate), ``not_modified``, ``http_error`` (a 4xx: the link is broken),
``refused`` (the guard said no: broken), ``too_large`` (broken) and ``unavailable`` (timeouts, connection
errors, 5xx after the retries: not the museum's data's fault; the link is kept and tried next sync).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from museum_sync.clients.address_guard import AddressGuard
from museum_sync.clients.catalog.iiif_cache import CachedManifest
from museum_sync.clients.http import (
    HttpClient,
    HttpError,
    HttpSettings,
    OriginRefused,
    ResponseTooLarge,
)
from museum_sync.settings import IiifSettings, get_settings

__all__ = ["ACCEPT", "FetchOutcome", "FetchResult", "IiifFetcher", "close_fetcher", "get_fetcher"]

FetchOutcome = Literal["fetched", "not_modified", "http_error", "refused", "too_large", "unavailable"]
#: The Presentation 3 media type first (3.0 section 6.1), plain JSON accepted.
ACCEPT = 'application/ld+json;profile="http://iiif.io/api/presentation/3/context.json", application/json;q=0.9'


@dataclass(frozen=True)
class FetchResult:
    """What one manifest URL gave."""

    url: str
    outcome: FetchOutcome
    status: int | None = None
    content: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    conditional: bool = False  # the request carried If-None-Match / If-Modified-Since


def _http_settings(s: IiifSettings) -> HttpSettings:
    http2 = s.http2 and importlib.util.find_spec("h2") is not None
    return HttpSettings(
        connect_timeout=s.connect_timeout,
        read_timeout=s.timeout,
        total_timeout=s.total_timeout,
        max_attempts=s.attempts,
        backoff_base=0.5,
        backoff_max=10.0,
        max_retry_after=s.max_retry_after,
        max_bytes=s.max_bytes,
        max_connections=max(s.fetch_threads, s.per_host),
        max_redirects=s.max_redirects,
        allowed_origins=frozenset(),
        guard=AddressGuard(trusted=s.allowed_host_set),
        any_origin=True,
        http2=http2,
    )


class IiifFetcher:
    """Thread-safe; one per process (``get_fetcher``)."""

    def __init__(self, settings: IiifSettings | None = None) -> None:
        self.settings = settings or get_settings().iiif
        self.http = HttpClient(_http_settings(self.settings))
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    @contextmanager
    def _host_slot(self, url: str) -> Iterator[None]:
        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            slot = self._hosts.setdefault(host, threading.BoundedSemaphore(self.settings.per_host))
        with slot:
            yield

    def fetch(self, url: str, cached: CachedManifest | None = None) -> FetchResult:
        """GET one manifest, conditionally when ``cached`` has validators."""
        headers = {"Accept": ACCEPT}
        if cached is not None and cached.outcome != "unavailable":
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                headers["If-Modified-Since"] = cached.last_modified
        conditional = len(headers) > 1
        try:
            with self._host_slot(url):
                response = self.http.get(url, headers=headers, allow_status=range(400, 500))
        except OriginRefused as exc:
            return FetchResult(url, "refused", error=str(exc), conditional=conditional)
        except ResponseTooLarge as exc:
            return FetchResult(url, "too_large", status=exc.status, error=str(exc), conditional=conditional)
        except HttpError as exc:
            return FetchResult(url, "unavailable", status=exc.status, error=str(exc), conditional=conditional)
        etag = response.headers.get("etag")
        last_modified = response.headers.get("last-modified")
        if response.status == 304:
            return FetchResult(url, "not_modified", 304, None, etag, last_modified, conditional=conditional)
        if response.status >= 400:
            error = f"HTTP {response.status}"
            return FetchResult(url, "http_error", response.status, None, etag, last_modified, error, conditional)
        return FetchResult(url, "fetched", response.status, response.content, etag, last_modified, None, conditional)

    def fetch_many(self, urls: Iterable[str], cached: Mapping[str, CachedManifest]) -> dict[str, FetchResult]:
        """``fetch`` every URL with ``fetch_threads`` threads (network-bound: threads wait, not compute)."""
        unique = list(dict.fromkeys(urls))
        if not unique:
            return {}
        with ThreadPoolExecutor(max_workers=min(self.settings.fetch_threads, len(unique))) as pool:
            results = pool.map(lambda u: self.fetch(u, cached.get(u)), unique)
            return {r.url: r for r in results}


_shared: IiifFetcher | None = None
_shared_pid: int | None = None
_shared_lock = threading.Lock()


def get_fetcher() -> IiifFetcher:
    """This process's fetcher (built from the settings on first use, again after a fork)."""
    global _shared, _shared_pid
    with _shared_lock:
        if _shared is None or _shared_pid != os.getpid():
            _shared = IiifFetcher()
            _shared_pid = os.getpid()
        return _shared


def close_fetcher() -> None:
    """Close this process's fetcher (tests that change the settings between uses)."""
    global _shared
    with _shared_lock:
        if _shared is not None and _shared_pid == os.getpid():
            _shared.close()
        _shared = None
