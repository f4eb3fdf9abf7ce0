"""URL rules every setting shares: Redis URL forms and the result-db rule, http(s) origins.

Plain functions over strings, so the CLI, the Celery config and the tests derive URLs the way settings do.
"""

from __future__ import annotations

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
    kept. Not Redis (``amqp://``): returned unchanged, and ``RedisSettings`` requires MUSEUM_SYNC_RESULT_BACKEND."""
    try:
        db = redis_db(broker_url)
        return redis_urls(broker_url, db + 1 if db < 15 else db - 1)[0]
    except ValueError:  # not a Redis URL (SettingsError), or one whose db is not a number
        return broker_url


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
