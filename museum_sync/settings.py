"""Runtime settings, read from the environment once per process.

Every value has a default that works for the embedded demo; production sets the env variables (the
deploy/ folder lists them). Secrets (passwords in URLs) are only ever read from the environment, never
written to config files or broker messages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "get_settings"]


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    home: Path
    artifact_root: Path
    inbox: Path
    pg_url: str
    catalog_schema: str
    broker_url: str
    result_backend: str
    keep_exports: int


def _other_db(url: str, db: int = 1) -> str:
    """The same Redis server, another database: results must not share the broker's keyspace."""
    if "virtual_host=" in url:
        head, _, tail = url.partition("virtual_host=")
        rest = tail.split("&", 1)
        return head + f"virtual_host={db}" + ("&" + rest[1] if len(rest) > 1 else "")
    if url.startswith(("redis://", "rediss://")):
        scheme, _, rest = url.partition("://")
        host, _, _path = rest.partition("/")
        return f"{scheme}://{host}/{db}"
    return url


def get_settings() -> Settings:
    """Read settings from ``MUSEUM_SYNC_*`` variables (no caching: tests and the CLI change them)."""
    home = Path(_env("MUSEUM_SYNC_HOME", str(Path.cwd() / ".state"))).resolve()
    redis_url = _env("MUSEUM_SYNC_REDIS_URL", "redis://127.0.0.1:6379/0")
    return Settings(
        home=home,
        artifact_root=Path(_env("MUSEUM_SYNC_ARTIFACT_ROOT", str(home / "artifacts"))).resolve(),
        inbox=Path(_env("MUSEUM_SYNC_INBOX", str(home / "inbox"))).resolve(),
        pg_url=_env("MUSEUM_SYNC_PG_URL", "postgresql://postgres@127.0.0.1:5432/museum_sync"),
        catalog_schema=_env("MUSEUM_SYNC_CATALOG_SCHEMA", "catalog"),
        broker_url=_env("MUSEUM_SYNC_BROKER_URL", redis_url),
        result_backend=_env("MUSEUM_SYNC_RESULT_BACKEND", _other_db(_env("MUSEUM_SYNC_BROKER_URL", redis_url))),
        keep_exports=int(_env("MUSEUM_SYNC_KEEP_EXPORTS", "3")),
    )
