"""Finding 4 of issue #12: ``museum-sync demo`` runs only on what it owns, whatever the shell's settings say.

The shell names a real PostgreSQL database (with a ``catalog`` schema holding a sentinel table and row), a real
Redis db (with a sentinel key) and a real Elasticsearch endpoint (the suite's ES server); the demo runs for real
in a subprocess (``museum_sync.cli.main(["--state-dir", dir, "demo"])``). Nothing of the named servers changes,
no ``<db>_dagster`` database appears, Elasticsearch gets no request, and the demo's state lands under the
given ``--state-dir``, nowhere else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from museum_sync.services import ServiceUrls, make_scratch_dir
from museum_sync.services.postgres import database_name
from museum_sync_tests.es_server import EsTestServer
from museum_sync_tests.services_fixtures import FreshRedisDb

pytestmark = pytest.mark.integration

_DEMO = "import sys; from museum_sync.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A folder embedded PostgreSQL can reach when the suite runs as root (pytest's tmp_path is 0700)."""
    path = make_scratch_dir("ms-demo-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _plant_sentinels(pg_url: str, redis_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA catalog")
        conn.execute("CREATE TABLE catalog.objects_sentinel (id text PRIMARY KEY, title text)")
        conn.execute("INSERT INTO catalog.objects_sentinel VALUES ('T00001', 'production row: never touch')")
        conn.execute("CREATE TABLE catalog.publications (export_id text)")
        conn.execute("INSERT INTO catalog.publications VALUES ('tate-20261124-0badc0de')")
    client = redis.Redis.from_url(redis_url)
    try:
        client.set("production-sentinel", b"never touch")
    finally:
        client.close()


def _picture(pg_url: str, server_url: str, redis_url: str) -> dict[str, Any]:
    """Everything the demo must leave alone: schemas, tables, rows, databases on the server, Redis keys."""
    with psycopg.connect(pg_url) as conn:
        schemas = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'"
            " ORDER BY 1"
        ).fetchall()
        tables = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            " ORDER BY 1, 2"
        ).fetchall()
        rows = {
            table: conn.execute(f"SELECT * FROM catalog.{table} ORDER BY 1").fetchall()
            for table in ("objects_sentinel", "publications")
        }
    with psycopg.connect(server_url) as conn:
        databases = conn.execute("SELECT datname FROM pg_database ORDER BY 1").fetchall()
    client = redis.Redis.from_url(redis_url)
    try:
        keys = {key: client.get(key) for key in client.keys("*")}
    finally:
        client.close()
    return {"schemas": schemas, "tables": tables, "rows": rows, "databases": databases, "redis": keys}


def test_demo_never_touches_the_servers_the_shell_names(
    services: ServiceUrls, fresh_db: str, fresh_redis_db: FreshRedisDb, es_server: EsTestServer, scratch: Path
) -> None:
    _plant_sentinels(fresh_db, fresh_redis_db.redis_py_url)
    before = _picture(fresh_db, services.pg_url, fresh_redis_db.redis_py_url)
    state, cwd, prod_home = scratch / "demo-state", scratch / "cwd", scratch / "production-home"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MUSEUM_SYNC_", "DAGSTER_"))}
    env.update(
        MUSEUM_SYNC_PG_URL=fresh_db,
        MUSEUM_SYNC_REDIS_URL=fresh_redis_db.redis_py_url,
        MUSEUM_SYNC_ES_URL=es_server.url,
        MUSEUM_SYNC_CATALOG_SCHEMA="catalog",
        MUSEUM_SYNC_HOME=str(prod_home),
    )

    result = subprocess.run(
        [sys.executable, "-c", _DEMO, "--state-dir", str(state), "demo"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("demo: embedded PostgreSQL and Redis in ") and "museum_sync_demo" in lines[0], lines[:2]
    assert str(state) in lines[0]
    assert lines[1] == (
        "demo: ignoring MUSEUM_SYNC_PG_URL, MUSEUM_SYNC_CATALOG_SCHEMA, MUSEUM_SYNC_REDIS_URL, MUSEUM_SYNC_ES_URL,"
        " MUSEUM_SYNC_HOME: the demo runs only on its own embedded services and folder"
    )
    assert "SUCCESS" in result.stdout, result.stdout  # night 1 published (in the demo's own catalogue)
    # The servers the shell named: identical, and no Dagster database was created next to the catalogue.
    after = _picture(fresh_db, services.pg_url, fresh_redis_db.redis_py_url)
    assert after == before
    assert (database_name(fresh_db) + "_dagster",) not in after["databases"]
    assert es_server.requests == [], [f"{r.method} {r.path}" for r in es_server.requests][:5]
    # The demo's state: under --state-dir, and nowhere else.
    assert (state / ".museum-sync-demo").is_file()
    assert (state / "pg").is_dir() and (state / "redis").is_dir() and (state / "logs").is_dir()
    assert (state / "home" / "artifacts" / "snapshots").is_dir()
    assert not prod_home.exists(), "the demo wrote into the shell's MUSEUM_SYNC_HOME"
    assert list(cwd.iterdir()) == [], "the demo wrote into the working directory (.state/demo)"

    # The demo's own hint, run in the same shell: it reads the demo's catalogue, not the servers the shell names.
    status = subprocess.run(
        [sys.executable, "-c", _DEMO, "--state-dir", str(state), "status"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert status.returncode == 0, status.stdout[-2000:] + status.stderr[-2000:]
    assert "public catalogue: tate_demo-" in status.stdout, status.stdout
    assert _picture(fresh_db, services.pg_url, fresh_redis_db.redis_py_url) == before
    assert es_server.requests == []


def test_demo_refuses_to_empty_a_folder_that_is_not_a_demos(scratch: Path) -> None:
    """The demo empties its folder on every run; a --state-dir that holds anything else is refused, untouched."""
    state = scratch / "production-state"
    (state / "pg").mkdir(parents=True)
    (state / "pg" / "PG_VERSION").write_text("18\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MUSEUM_SYNC_", "DAGSTER_"))}

    result = subprocess.run(
        [sys.executable, "-c", _DEMO, "--state-dir", str(state), "demo"],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"{state} is not a demo folder" in result.stderr
    assert (state / "pg" / "PG_VERSION").read_text(encoding="utf-8") == "18\n"
    assert sorted(p.name for p in state.iterdir()) == ["pg"]
