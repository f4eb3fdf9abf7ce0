"""URL rules every setting shares: Redis URL forms and the result-db rule, Redis Sentinel URL lists, http(s)
origins.

Plain functions over strings, so the CLI, the Celery config and the tests derive URLs the way settings do.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from museum_sync.core.exceptions import MuseumSyncError
from museum_sync.redaction import redact

ENV_PREFIX = "MUSEUM_SYNC_"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/museum_sync"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class SettingsError(MuseumSyncError, ValueError):
    """A ``MUSEUM_SYNC_*`` variable cannot be used as set. One line: variable, value, what is expected."""


# ------------------------------------------------------------------- Redis URLs and the result-db rule


def redis_urls(url: str, db: int | None = None) -> tuple[str, str]:
    """``(kombu_url, redis_py_url)`` for a Redis URL in any supported form, optionally on another db number.

    Accepts ``redis://``, ``rediss://`` (same form for both libraries, db in the path), redis-py's
    ``unix:///path?db=N`` and kombu's ``redis+socket:///path?virtual_host=N``. Other query options are kept.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if parts.scheme in ("redis", "rediss"):
        path_db = parts.path.strip("/")
        current = int(path_db) if path_db.isdigit() else int(dict(query).get("db", "0"))
        rest = [(k, v) for k, v in query if k != "db"]
        same = urlunsplit(parts._replace(path=f"/{current if db is None else db}", query=urlencode(rest)))
        return same, same
    if parts.scheme in ("unix", "redis+socket", "socket"):
        key = "db" if parts.scheme == "unix" else "virtual_host"
        current = int(dict(query).get(key, "0") or "0")
        others = urlencode([(k, v) for k, v in query if k not in ("db", "virtual_host")])
        n = current if db is None else db
        path = quote(unquote(parts.path), safe="/")
        tail = f"&{others}" if others else ""
        return (
            f"redis+socket://{parts.netloc}{path}?virtual_host={n}{tail}",
            f"unix://{parts.netloc}{path}?db={n}{tail}",
        )
    raise SettingsError(f"unsupported Redis URL {redact(url)}: use redis://, rediss://, unix:// or redis+socket://")


def redis_db(url: str) -> int:
    """The Redis db number a URL (any form ``redis_urls`` accepts) names; 0 when it names none."""
    parts = urlsplit(redis_urls(url)[1])
    if parts.scheme == "unix":
        return int(dict(parse_qsl(parts.query)).get("db") or 0)
    return int(parts.path.strip("/") or 0)


def result_backend_for(broker_url: str) -> str:
    """Where Celery results go for ``broker_url``: the same Redis server on the next db (n+1, or 14 when the
    broker is on db 15), so results never share a keyspace with queues. Credentials and query options are
    kept; a Sentinel list keeps its sentinels and master. Not Redis (``amqp://``): returned unchanged, and
    ``RedisSettings`` requires MUSEUM_SYNC_RESULT_BACKEND."""
    if is_sentinel_url(broker_url):
        try:
            sentinel = parse_sentinel_url(broker_url)
        except SettingsError:  # reported as the broker URL's own error
            return broker_url
        return sentinel.with_db(sentinel.db + 1 if sentinel.db < 15 else sentinel.db - 1)
    try:
        db = redis_db(broker_url)
        return redis_urls(broker_url, db + 1 if db < 15 else db - 1)[0]
    except ValueError:  # not a Redis URL (SettingsError), or one whose db is not a number
        return broker_url


# --------------------------------------------------------------------------------- Redis Sentinel URLs

SENTINEL_SCHEME = "sentinel"
_SENTINEL_LIST = "sentinel://host:port;sentinel://host:port/db?master_name=NAME"


def _url_list(url: str) -> list[str]:
    """``a;b;c`` split where a new URL starts (``;scheme://``), so a ``;`` inside a password stays."""
    parts: list[str] = []
    for piece in url.strip().split(";"):
        if parts and "://" not in piece:
            parts[-1] += ";" + piece
        else:
            parts.append(piece)
    return parts


def is_sentinel_url(url: str) -> bool:
    """Whether ``url`` is a Redis Sentinel list (kombu's and Celery's ``sentinel://`` form)."""
    return url.strip().lower().startswith(SENTINEL_SCHEME + "://")


@dataclass(frozen=True)
class SentinelUrl:
    """A ``sentinel://h1:p1;sentinel://h2:p2/db?master_name=NAME`` list, taken apart.

    ``master_name`` is the name the sentinels monitor; kombu and Celery take it as the transport option
    ``master_name``, not from the URL, so ``url`` is the list without it (every sentinel with the same db).
    """

    sentinels: tuple[str, ...]  # "user:password@host:port" each, as written (port 26379 when none)
    master_name: str
    db: int
    query: str  # other options, kept

    @property
    def url(self) -> str:
        """The list as kombu (broker) and Celery (result backend) read it: db on each, no ``master_name``."""
        tail = f"?{self.query}" if self.query else ""
        return ";".join(f"{SENTINEL_SCHEME}://{netloc}/{self.db}{tail}" for netloc in self.sentinels)

    def with_db(self, db: int) -> str:
        """The settings' form (``master_name`` in the URL) of the same sentinels on another db."""
        query = urlencode([*parse_qsl(self.query, keep_blank_values=True), ("master_name", self.master_name)])
        return ";".join(f"{SENTINEL_SCHEME}://{netloc}/{db}?{query}" for netloc in self.sentinels)


def parse_sentinel_url(url: str) -> SentinelUrl:
    """A Sentinel URL list taken apart; ``SettingsError`` (one line, secrets hidden) when it names no master,
    no host, a db that is not a number, or two different masters or dbs."""
    shown = redact(url)
    netlocs: list[str] = []
    masters: set[str] = set()
    dbs: set[int] = set()
    options: list[tuple[str, str]] = []
    for part in _url_list(url):
        parts = urlsplit(part)
        if parts.scheme.lower() != SENTINEL_SCHEME or not parts.hostname:
            raise SettingsError(f"{shown}: every URL of a Sentinel list is sentinel://host:port ({_SENTINEL_LIST})")
        path_db = parts.path.strip("/")
        if path_db and not path_db.isdigit():
            raise SettingsError(f"{shown}: the db {path_db!r} is not a number ({_SENTINEL_LIST})")
        if path_db:
            dbs.add(int(path_db))
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key == "master_name":
                masters.add(value)
            elif (key, value) not in options:
                options.append((key, value))
        netlocs.append(parts.netloc if parts.port else f"{parts.netloc}:26379")
    if len(masters - {""}) != 1:
        what = "names no master" if not masters - {""} else f"names {len(masters)} masters"
        raise SettingsError(f"{shown} {what}: add ?master_name=NAME, the name the sentinels monitor ({_SENTINEL_LIST})")
    if len(dbs) > 1:
        raise SettingsError(f"{shown} names {len(dbs)} dbs: one db for the whole list ({_SENTINEL_LIST})")
    return SentinelUrl(tuple(netlocs), (masters - {""}).pop(), dbs.pop() if dbs else 0, urlencode(options))


# ------------------------------------------------------------------------------------------------ origins

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str, *, bare: bool = False) -> str:
    """``scheme://host:port`` of an http(s) URL (lower case, default port spelt out): what credentials and
    redirects are bound to. ``bare``: ``url`` must be an origin alone (no path, user, query), as an operator
    writes one. ``ValueError`` otherwise, one line without the URL (it may hold a key)."""
    parts = urlsplit(url.strip())
    if bare and (parts.username or parts.password or parts.path not in ("", "/") or parts.query or parts.fragment):
        raise ValueError("expected an origin: scheme://host[:port], without path, user or query")
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("expected an http:// or https:// URL")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ValueError("the port is not a number") from None
    if not host:
        raise ValueError("the URL names no host")
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port or _DEFAULT_PORTS[scheme]}"


def origin_set(value: str) -> frozenset[str]:
    """A comma-separated list of origins (``ValueError`` on a bad one)."""
    return frozenset(origin_of(item, bare=True) for item in value.split(",") if item.strip())
