"""HTTP for the harvesters: one pooled httpx client per process, polite, bounded and counted.

Why a wrapper and not bare httpx: harvesting a museum's API or OAI-PMH endpoint for hours must survive
the network (connection resets, timeouts, 429/5xx with ``Retry-After``) without hammering the server,
must never hold an unbounded body in memory (a misconfigured endpoint can stream gigabytes), and must
say *which* URL failed without leaking the API key in its query string (``museum_sync.redaction.redact``,
with ``REDACTED`` as the placeholder). Callers also need to report how many requests were retried, so
every attempt is counted (``HttpStats``).

Retry policy: connection errors, timeouts (including a body slower than ``total_timeout``), 429 and
5xx other than 501 are retried up to ``max_attempts`` in total, waiting ``Retry-After`` when the
server sends one (seconds or an HTTP-date) and otherwise an exponential backoff with jitter. A
``Retry-After`` longer than ``max_retry_after`` is not waited for: the error says what the server asked.
Other 4xx, an oversized body and an unexpected content type fail at once (retrying cannot fix them).

Addresses: every hop (the first request and each redirect) passes the SSRF guard (``clients.address_guard``)
first; a harvest's guard trusts the hosts its operator declared (the request's origin, the allow-list) but
never a cloud-metadata address. Origins: a request stays on the origin (scheme, host, port) it was made for.
Redirects are followed here, hop by hop (at most ``max_redirects``), and only to the same origin or one on the
allow-list (``MUSEUM_SYNC_HTTP_ALLOWED_ORIGINS``, plus what a caller passes); never from https to http.
Credentials (a ``BoundCredential``, and any ``Authorization``/``Cookie``/``Proxy-Authorization`` header) go
only to their own origin: a hop elsewhere is sent without them. Error messages quote at most ``SNIPPET_CHARS``
characters of a response body, control characters removed and secrets masked.

``get_client()`` returns the process's shared client; after a fork (Celery prefork workers) the child
builds its own, because a pooled connection must never be shared between processes.
"""

from __future__ import annotations

import email.utils
import os
import random
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import httpx

from museum_sync import __version__
from museum_sync.clients.address_guard import AddressGuard, AddressRefused, HostUnresolvable
from museum_sync.redaction import MASK, redact
from museum_sync.settings import HttpClientSettings, env_name, get_settings, origin_of

__all__ = [
    "DEFAULT_MAX_BYTES",
    "SNIPPET_CHARS",
    "BoundCredential",
    "HttpClient",
    "HttpError",
    "HttpResponse",
    "HttpSettings",
    "HttpStats",
    "HttpStatusError",
    "REDACTED",
    "ResponseTooLarge",
    "OriginRefused",
    "UnexpectedContentType",
    "body_snippet",
    "check_redirect",
    "close_client",
    "get_client",
    "origin_of",
    "parse_retry_after",
    "user_agent",
]

# The settings own the defaults (``MUSEUM_SYNC_HTTP_*``); a client built in code starts from the same ones.
_DEFAULTS = HttpClientSettings()
DEFAULT_MAX_BYTES = _DEFAULTS.max_bytes
# What stands for a secret in a URL this client (or a harvest) shows: kept from before the one redactor,
# so errors and the URLs harvests record read as they always did.
REDACTED = "REDACTED"
Expect = Literal["json", "xml"]
_NO_RETRY_5XX = frozenset({501, 505})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Headers that carry credentials: never sent across origins.
_SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
#: Characters of a response body an error message may quote.
SNIPPET_CHARS = 80
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069]+")
_VALUE = r"[^\s\"',;&<>]+"
# "api_key=...", "token: ...", "Authorization: Bearer ...", and a bare "Bearer ...": the value is masked.
_KEYED = re.compile(
    r"(?i)\b(token|access_token|api[_-]?key|apikey|password|passwd|secret|session|auth|authorization)"
    rf"(\s*[:=]\s*\"?)(?:(?:bearer|basic)\s+)?{_VALUE}"
)
_SCHEMED = re.compile(rf"(?i)\b(bearer|basic)(\s+){_VALUE}")


@dataclass(frozen=True)
class BoundCredential:
    """A secret sent only to ``origin``: as a header (``header``: ``prefix`` + value) or a query parameter.

    Built by the harvesters from a declared ``settings.Credential``; the client attaches it to each hop
    whose origin is ``origin`` and to no other.
    """

    origin: str  # origin_of(): scheme://host:port
    value: str = field(repr=False)
    header: str | None = "Authorization"
    prefix: str = ""
    query_param: str | None = None
    name: str = ""

    def __repr__(self) -> str:
        return f"BoundCredential(name={self.name!r}, origin={self.origin!r})"


def body_snippet(content: bytes, secrets: Collection[str] = (), *, limit: int = SNIPPET_CHARS) -> str:
    """At most ``limit`` characters of a body for an error message: control characters stripped, known
    ``secrets`` and token-looking values masked. A body is the server's text, not ours: it may echo a key."""
    text = content[: limit * 8].decode("utf-8", errors="replace")
    text = " ".join(_CONTROL.sub(" ", text).split())
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _KEYED.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _SCHEMED.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def user_agent(contact: str | None = None) -> str:
    """``museum-sync/<version>``, with an operator contact when one is configured (polite harvesting)."""
    base = f"museum-sync/{__version__} (collection harvester; httpx/{httpx.__version__})"
    return f"{base} {contact.strip()}" if contact and contact.strip() else base


class HttpError(Exception):
    """A request failed for good. The message names the (redacted) URL, what happened and how often we tried."""

    def __init__(self, message: str, *, url: str, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.status = status
        self.attempts = attempts


class HttpStatusError(HttpError):
    """The server answered with an error status that retrying did not (or cannot) fix."""


class ResponseTooLarge(HttpError):
    """The body passed the size limit; the download was aborted there."""


class UnexpectedContentType(HttpError):
    """The body is not what the caller expects (an HTML error page instead of XML or JSON, say)."""


class OriginRefused(HttpError):
    """A redirect (or a credential) would leave the origin the request was made for. Not retried."""


def check_redirect(current: httpx.URL | str, target: httpx.URL | str, allowed: Collection[str] | None) -> None:
    """Refuse a hop from ``current`` to ``target``: an https -> http downgrade, or an origin not in ``allowed``.

    ``allowed``: ``origin_of`` forms (the request's own origin, the allow-list); ``None``: any origin (the
    IIIF fetcher, whose every hop the address guard checks instead). Raises ``OriginRefused``.
    """
    here, there = httpx.URL(str(current)), httpx.URL(str(target))
    shown = redact(str(there), mask=REDACTED)
    if here.scheme == "https" and there.scheme != "https":
        raise OriginRefused(f"redirected to {shown}: refusing to leave https", url=redact(str(here), mask=REDACTED))
    try:
        origin = origin_of(str(there))
    except ValueError as exc:
        raise OriginRefused(f"redirected to {shown}: {exc}", url=redact(str(here), mask=REDACTED)) from None
    if allowed is not None and origin not in allowed:
        raise OriginRefused(
            f"redirected to {shown}, outside the allowed origins ({', '.join(sorted(allowed))}); "
            f"add {origin} to {env_name('http.allowed_origins')} to follow it",
            url=redact(str(here), mask=REDACTED),
        )


@dataclass
class HttpStats:
    """Counters a caller can report: attempts sent, retries waited for, bytes received."""

    requests: int = 0
    retries: int = 0
    bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, *, requests: int = 0, retries: int = 0, received: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.retries += retries
            self.bytes += received

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {"requests": self.requests, "retries": self.retries, "bytes": self.bytes}


@dataclass(frozen=True)
class HttpSettings:
    """Timeouts, retry and size limits. ``from_env`` reads the ``MUSEUM_SYNC_HTTP_*`` settings; the fields the
    settings own default to the settings' defaults, the others are the client's own tuning."""

    connect_timeout: float = _DEFAULTS.connect_timeout
    read_timeout: float = _DEFAULTS.timeout  # per socket read: a server that sends nothing for this long is stuck
    write_timeout: float = 30.0
    pool_timeout: float = 30.0
    total_timeout: float | None = _DEFAULTS.total_timeout or None  # whole response, headers to last byte
    max_attempts: int = _DEFAULTS.attempts
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    max_retry_after: float = 600.0
    max_bytes: int = DEFAULT_MAX_BYTES
    max_connections: int = 10
    contact: str | None = _DEFAULTS.contact  # e.g. "(+mailto:collections-it@museum.example)" in the User-Agent
    trust_env: bool = True  # proxies and CA bundle from the environment
    max_redirects: int = 5
    allowed_origins: frozenset[str] = _DEFAULTS.allowed_origin_set  # besides each request's own origin
    # The SSRF guard (clients.address_guard) checked before every hop. Harvests: the system guard, trusting
    # the hosts of the request's own origin and of the allow-list (an operator declared them). IIIF: its
    # own guard with its allow-list, and ``any_origin``: redirects may go to any origin the guard passes.
    guard: AddressGuard | None = None
    any_origin: bool = False
    http2: bool = False  # needs the h2 package; used only where the server offers it (TLS ALPN)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HttpSettings:
        """From the ``http`` settings group (``environ``: a mapping instead of ``os.environ``)."""
        s = get_settings(environ).http
        return cls(
            connect_timeout=s.connect_timeout,
            read_timeout=s.timeout,
            total_timeout=s.total_timeout or None,
            max_attempts=s.attempts,
            max_bytes=s.max_bytes,
            contact=s.contact,
            allowed_origins=s.allowed_origin_set,
        )


@dataclass(frozen=True)
class HttpResponse:
    """A complete, size-checked response body."""

    url: str  # final URL after redirects, redacted
    status: int
    headers: httpx.Headers
    content: bytes
    attempts: int

    @property
    def content_type(self) -> str:
        return str(self.headers.get("content-type", ""))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date; ``None`` if absent/bad."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class _Retry(Exception):
    """Internal: this attempt failed in a way worth retrying."""

    def __init__(self, reason: str, wait: float | None = None, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait
        self.status = status


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _sniff(content: bytes) -> bytes:
    return content[:512].lstrip(b"\xef\xbb\xbf \t\r\n")[:64].lower()


def _looks_html(head: bytes) -> bool:
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


def _check_type(expect: Expect, content_type: str, content: bytes, url: str, attempts: int) -> None:
    media = _media_type(content_type)
    head = _sniff(content)
    if expect == "xml":
        ok = "html" not in media and (media.endswith("xml") or (head.startswith(b"<") and not _looks_html(head)))
    else:
        ok = "html" not in media and ("json" in media or head.startswith((b"{", b"[")))
    if not ok:
        snippet = body_snippet(content)
        raise UnexpectedContentType(
            f"expected {expect.upper()} but got {media or 'no content type'} starting with {snippet!r}",
            url=url,
            attempts=attempts,
        )


class HttpClient:
    """A pooled httpx client with the retry, size and counting rules above. Thread-safe."""

    def __init__(
        self,
        settings: HttpSettings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings or HttpSettings()
        s = self.settings
        if s.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.stats = HttpStats()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._client = httpx.Client(
            timeout=httpx.Timeout(
                connect=s.connect_timeout, read=s.read_timeout, write=s.write_timeout, pool=s.pool_timeout
            ),
            limits=httpx.Limits(max_connections=s.max_connections, max_keepalive_connections=s.max_connections),
            headers={"User-Agent": user_agent(s.contact)},
            follow_redirects=False,  # followed in _attempt, hop by hop, within the allowed origins
            trust_env=s.trust_env,
            http2=s.http2,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: half the step fixed, half random, so clients spread out."""
        step = min(self.settings.backoff_max, self.settings.backoff_base * 2.0 ** (attempt - 1))
        return step / 2 + self._rng.uniform(0, step / 2)

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        expect: Expect | None = None,
        max_bytes: int | None = None,
        allow_status: Collection[int] = (),
        stats: HttpStats | None = None,
        credential: BoundCredential | None = None,
        allowed_origins: Collection[str] = (),
    ) -> HttpResponse:
        """GET ``url`` (+ ``params``), retrying as described in the module docstring.

        ``allow_status``: error statuses returned rather than raised (OAI-PMH servers put protocol errors
        in 4xx bodies). ``stats``: also count this call's requests, retries and bytes there.
        ``credential``: sent to its own origin only; ``url`` must be on it. ``allowed_origins``: origins a
        redirect may also go to, besides ``url``'s own and the settings' allow-list.
        """
        secrets = (credential.value,) if credential else ()
        try:
            full = httpx.URL(url)
            if params:
                full = full.copy_merge_params(dict(params))
            origin = origin_of(str(full))
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise HttpError(
                f"invalid URL ({_scrub(str(exc), secrets)})", url=_scrub(redact(str(url), mask=REDACTED), secrets)
            ) from None
        shown = _scrub(redact(str(full), mask=REDACTED), secrets)
        if credential is not None and credential.origin != origin:
            raise OriginRefused(
                f"credential {credential.name or '(unnamed)'} is for {credential.origin}, not {origin}; "
                "refusing to send it",
                url=shown,
            )
        allowed = frozenset({origin, *self.settings.allowed_origins, *allowed_origins})
        guard = self.settings.guard or AddressGuard()
        if not self.settings.any_origin:
            guard = guard.with_trusted(*(httpx.URL(o).host for o in allowed))
        hop = _Hop(
            origin=origin,
            allowed=None if self.settings.any_origin else allowed,
            guard=guard,
            headers=dict(headers or {}),
            credential=credential,
            secrets=secrets,
        )
        limit = self.settings.max_bytes if max_bytes is None else max_bytes
        attempts = self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            self.stats.add(requests=1)
            if stats is not None:
                stats.add(requests=1)
            try:
                return self._attempt(full, shown, hop, expect, limit, allow_status, attempt, stats)
            except _Retry as retry:
                if attempt == attempts:
                    raise HttpError(
                        f"{retry.reason}; gave up after {attempts} attempts",
                        url=shown,
                        status=retry.status,
                        attempts=attempt,
                    ) from None
                wait = retry.wait if retry.wait is not None else self.backoff(attempt)
                if wait > self.settings.max_retry_after:
                    raise HttpError(
                        f"{retry.reason}; the server asks to retry after {wait:.0f} s, longer than the "
                        f"{self.settings.max_retry_after:.0f} s we wait",
                        url=shown,
                        status=retry.status,
                        attempts=attempt,
                    ) from None
                self.stats.add(retries=1)
                if stats is not None:
                    stats.add(retries=1)
                self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(
        self,
        url: httpx.URL,
        shown: str,
        hop: _Hop,
        expect: Expect | None,
        limit: int,
        allow_status: Collection[int],
        attempt: int,
        stats: HttpStats | None,
    ) -> HttpResponse:
        deadline = time.monotonic() + self.settings.total_timeout if self.settings.total_timeout else None
        current = url
        redirects = 0
        try:
            while True:
                request_url, request_headers = hop.request_for(current)
                hop.check_address(request_url, shown)
                with self._client.stream("GET", request_url, headers=request_headers) as response:
                    status = response.status_code
                    final = _scrub(redact(str(current), mask=REDACTED), hop.secrets)
                    location = response.headers.get("location")
                    if status in _REDIRECTS and location:
                        target = hop.without_credential(current.join(location))
                        check_redirect(current, target, hop.allowed)
                        redirects += 1
                        if redirects > self.settings.max_redirects:
                            raise HttpError(
                                f"more than {self.settings.max_redirects} redirects (last to "
                                f"{_scrub(redact(str(target), mask=REDACTED), hop.secrets)})",
                                url=shown,
                                attempts=attempt,
                            )
                        current = target
                        continue
                    if status == 429 or (status >= 500 and status not in _NO_RETRY_5XX):
                        wait = parse_retry_after(response.headers.get("retry-after"))
                        raise _Retry(f"HTTP {status} {response.reason_phrase}".strip(), wait, status)
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > limit:
                        raise ResponseTooLarge(
                            f"response of {int(declared)} bytes is larger than the {limit}-byte limit",
                            url=final,
                            status=status,
                            attempts=attempt,
                        )
                    chunks: list[bytes] = []
                    size = 0
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > limit:
                            raise ResponseTooLarge(
                                f"response passed the {limit}-byte limit; download aborted",
                                url=final,
                                status=status,
                                attempts=attempt,
                            )
                        if deadline is not None and time.monotonic() > deadline:
                            raise _Retry(f"response took longer than {self.settings.total_timeout:g} s")
                        chunks.append(chunk)
                    content = b"".join(chunks)
                    break
        except OriginRefused as exc:
            exc.attempts = attempt
            raise
        except httpx.TimeoutException as exc:
            raise _Retry(f"timed out ({type(exc).__name__}: {_scrub(str(exc), hop.secrets) or 'no detail'})") from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise HttpError(
                f"cannot request this URL: {_scrub(str(exc), hop.secrets)}", url=shown, attempts=attempt
            ) from None
        except httpx.TransportError as exc:
            detail = _scrub(str(exc), hop.secrets) or "no detail"
            raise _Retry(f"connection failed ({type(exc).__name__}: {detail})") from None
        except httpx.DecodingError as exc:
            raise HttpError(f"body does not decode ({exc})", url=shown, attempts=attempt) from None
        self.stats.add(received=size)
        if stats is not None:
            stats.add(received=size)
        if status >= 400 and status not in allow_status:
            snippet = body_snippet(content, hop.secrets)
            raise HttpStatusError(
                f"HTTP {status}{': ' + snippet if snippet else ''}", url=final, status=status, attempts=attempt
            )
        if expect is not None and status < 400:
            _check_type(expect, response.headers.get("content-type", ""), content, final, attempt)
        return HttpResponse(url=final, status=status, headers=response.headers, content=content, attempts=attempt)


def _scrub(text: str, secrets: Collection[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


@dataclass(frozen=True)
class _Hop:
    """What one request may send where: its origin, the allowed redirect origins, headers and credential."""

    origin: str
    allowed: frozenset[str] | None
    guard: AddressGuard
    headers: dict[str, str]
    credential: BoundCredential | None
    secrets: tuple[str, ...]

    def check_address(self, url: httpx.URL, shown: str) -> None:
        """The SSRF guard on this hop (before the first request and every redirect); ``OriginRefused`` if not."""
        try:
            self.guard.check(str(url))
        except HostUnresolvable as exc:  # not the address's fault: an error, not a refusal (no retry either)
            raise HttpError(_scrub(redact(str(exc), mask=REDACTED), self.secrets), url=shown) from None
        except AddressRefused as exc:
            raise OriginRefused(_scrub(redact(str(exc), mask=REDACTED), self.secrets), url=shown) from None

    def request_for(self, url: httpx.URL) -> tuple[httpx.URL, dict[str, str]]:
        """The URL and headers of a hop to ``url``: credentials only when it is on the request's origin."""
        same = origin_of(str(url)) == self.origin
        headers = {k: v for k, v in self.headers.items() if same or k.lower() not in _SENSITIVE_HEADERS}
        cred = self.credential
        if cred is not None:
            if cred.header:
                headers = {k: v for k, v in headers.items() if k.lower() != cred.header.lower()}
            if same and cred.origin == self.origin:
                if cred.query_param:
                    url = url.copy_set_param(cred.query_param, cred.value)
                elif cred.header:
                    headers[cred.header] = cred.prefix + cred.value
        return url, headers

    def without_credential(self, url: httpx.URL) -> httpx.URL:
        """``url`` without the credential's query parameter (a server may echo it into a Location)."""
        cred = self.credential
        if cred is not None and cred.query_param and cred.query_param in url.params:
            return url.copy_remove_param(cred.query_param)
        return url


_shared: HttpClient | None = None
_shared_pid: int | None = None
_shared_lock = threading.Lock()


def get_client() -> HttpClient:
    """The process's shared client (built from ``HttpSettings.from_env()`` on first use, again after fork)."""
    global _shared, _shared_pid
    with _shared_lock:
        if _shared is None or _shared_pid != os.getpid():
            # After a fork the parent's pooled sockets are not ours: drop (do not close) them.
            _shared = HttpClient(HttpSettings.from_env())
            _shared_pid = os.getpid()
        return _shared


def close_client() -> None:
    """Close the shared client (tests, orderly shutdown); the next ``get_client()`` builds a new one."""
    global _shared, _shared_pid
    with _shared_lock:
        if _shared is not None and _shared_pid == os.getpid():
            _shared.close()
        _shared = None
        _shared_pid = None
