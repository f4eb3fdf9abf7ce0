"""The zero-setup service layer, on real processes: embedded PostgreSQL/Redis lifecycles, crash recovery,
no orphans after the parent is killed, and the env-var path (run with MUSEUM_SYNC_PG_URL/_REDIS_URL set to
exercise it against real servers)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
import redis

from museum_sync.core.exceptions import MuseumSyncError
from museum_sync.redaction import redact
from museum_sync.services import (
    EmbeddedPostgres,
    EmbeddedRedis,
    ServiceUnavailable,
    ServiceUrls,
    check_reachable,
    make_scratch_dir,
    start_services,
)
from museum_sync.services.postgres import database_name, to_sqlalchemy_url, with_database
from museum_sync.settings import env_name, redis_urls
from museum_sync_tests.services_fixtures import FreshRedisDb

REPO = Path(__file__).resolve().parent.parent
PG_ENV, REDIS_ENV = env_name("postgres.pg_url"), env_name("redis.redis_url")
BROKER_ENV, RESULT_BACKEND_ENV = env_name("redis.broker_url"), env_name("redis.result_backend")
integration = pytest.mark.integration


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short scratch dir: pytest's tmp_path can push unix socket paths past their ~100-byte limit."""
    path = make_scratch_dir("ms-t-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _postgres_serving(data_dir: Path) -> list[int]:
    """Pids of every postgres process (postmaster and backends) whose working directory is ``data_dir``."""
    found = []
    for proc in psutil.process_iter(["name"]):
        try:
            if proc.info["name"] == "postgres" and Path(proc.cwd()) == data_dir.resolve():
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return [pid for pid in found if not _gone(pid)]


# --------------------------------------------------------------------------------- embedded PostgreSQL


@integration
def test_embedded_postgres_runs_sql_and_keeps_data_across_stop_start(short_tmp: Path) -> None:
    pg = EmbeddedPostgres(short_tmp / "pg")
    pg.start()
    try:
        assert pg.url("museum") == f"postgresql://postgres@/museum?host={short_tmp}/pg"
        assert pg.sqlalchemy_url("museum") == f"postgresql+psycopg2://postgres@/museum?host={short_tmp}/pg"
        url = pg.ensure_database("museum")
        assert pg.ensure_database("museum") == url  # idempotent
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE objects (id text PRIMARY KEY, title text)")
            conn.execute("INSERT INTO objects VALUES ('SK-A-1', 'De Nachtwacht')")
            settings = dict(
                conn.execute(
                    "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', "
                    "'full_page_writes', 'max_connections', 'listen_addresses', 'shared_buffers')"
                ).fetchall()
            )
        assert settings == {
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "listen_addresses": "",
            "shared_buffers": "16384",  # 8 kB pages = 128MB
        }
        pg_version_mtime = (pg.data_dir / "PG_VERSION").stat().st_mtime_ns
        first_pid = pg.pid
        pg.stop()
        assert not pg.running and first_pid is not None and _gone(first_pid)
        assert not (pg.data_dir / "postmaster.pid").exists()

        started = time.monotonic()
        pg.start()
        warm = time.monotonic() - started
        assert warm < 3.0, f"warm start took {warm:.2f} s"
        assert (pg.data_dir / "PG_VERSION").stat().st_mtime_ns == pg_version_mtime  # no second initdb
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT title FROM objects").fetchall() == [("De Nachtwacht",)]

        # The SQLAlchemy form is what dagster-postgres gets: check it really connects through psycopg2.
        import sqlalchemy

        engine = sqlalchemy.create_engine(pg.sqlalchemy_url("museum"), poolclass=sqlalchemy.pool.NullPool)
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT count(*) FROM objects")).scalar() == 1
        engine.dispose()
    finally:
        pg.stop()


@integration
def test_crashed_postgres_and_stale_postmaster_pid_are_recovered(short_tmp: Path) -> None:
    pg = EmbeddedPostgres(short_tmp / "pg")
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        url = (pg.start(), pg.ensure_database("museum"))[1]
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (n int)")
            conn.execute("INSERT INTO t VALUES (1)")
            conn.execute("CHECKPOINT")  # synchronous_commit=off: only flushed commits survive a crash

        pg.kill()  # as a crash: postmaster.pid and socket lock stay behind, backends may linger briefly
        assert (pg.data_dir / "postmaster.pid").exists()
        pg.start()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT n FROM t").fetchall() == [(1,)]

        # A stale pid file whose pid now belongs to an unrelated live process: PostgreSQL alone refuses to
        # start ("lock file already exists"); pid reuse after a container restart makes this common.
        pidfile = pg.data_dir / "postmaster.pid"
        socklock = pg.socket_dir / ".s.PGSQL.5432.lock"
        pid_lines, sock_lines = pidfile.read_text().splitlines(), socklock.read_text().splitlines()
        pg.stop()
        pidfile.write_text("\n".join([str(sleeper.pid), *pid_lines[1:]]) + "\n")
        socklock.write_text("\n".join([str(sleeper.pid), *sock_lines[1:]]) + "\n")
        pg.start()
        assert pg.pid is not None and pidfile.read_text().splitlines()[0] == str(pg.pid)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT n FROM t").fetchall() == [(1,)]
        assert sleeper.poll() is None  # the unrelated process was left alone
    finally:
        pg.stop()
        sleeper.kill()
        sleeper.wait()


@integration
def test_startup_failure_reports_the_log_tail(short_tmp: Path) -> None:
    pg = EmbeddedPostgres(short_tmp / "pg", settings={"shared_buffers": "lots"})
    with pytest.raises(ServiceUnavailable, match=r"(?s)exited with code.*shared_buffers"):
        pg.start()
    assert not pg.running
    # the directory lock was released: a correct configuration starts on the same data dir
    with EmbeddedPostgres(short_tmp / "pg") as ok:
        assert ok.running


@integration
def test_a_state_dir_serves_one_owner_at_a_time(short_tmp: Path) -> None:
    with EmbeddedPostgres(short_tmp / "pg") as first, EmbeddedRedis(short_tmp / "redis") as rfirst:
        with pytest.raises(ServiceUnavailable, match=f"in use by another process \\(pid {os.getpid()}"):
            EmbeddedPostgres(short_tmp / "pg").start()
        with pytest.raises(ServiceUnavailable, match="in use by another process"):
            EmbeddedRedis(short_tmp / "redis").start()
        assert first.running and rfirst.running
        psycopg.connect(first.url()).close()


@integration
def test_killing_the_parent_leaves_no_orphan_servers(short_tmp: Path) -> None:
    script = textwrap.dedent(
        """
        import json, sys, time
        from pathlib import Path
        from museum_sync.services import start_services
        import psycopg

        with start_services(Path(sys.argv[1])) as urls:
            held = psycopg.connect(urls.pg_url)  # an open session must not keep the server alive
            print(json.dumps({"pg": urls.postgres.pid, "redis": urls.redis.pid}), flush=True)
            time.sleep(120)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    for var in (PG_ENV, REDIS_ENV):
        env.pop(var, None)
    child = subprocess.Popen([sys.executable, "-c", script, str(short_tmp)], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, f"child exited with {child.wait()} before starting the services"
        pids = json.loads(line)
        servers = [pids["pg"], pids["redis"], *_postgres_serving(short_tmp / "pg")]
        assert len(servers) > 3  # postmaster, its backends and helpers, redis-server
        assert all(psutil.Process(p).is_running() for p in servers)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        if child.stdout is not None:
            child.stdout.close()

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(_gone(p) for p in servers):
        time.sleep(0.05)
    assert [p for p in servers if not _gone(p)] == []
    assert _postgres_serving(short_tmp / "pg") == []

    # and the next run starts cleanly on the same state directory
    with start_services(short_tmp, env={}) as urls, psycopg.connect(urls.pg_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


# --------------------------------------------------------------------------------------- embedded Redis


@integration
def test_embedded_redis_restart_keeps_the_same_urls(short_tmp: Path) -> None:
    started = time.monotonic()
    rd = EmbeddedRedis(short_tmp / "redis")
    rd.start()
    assert time.monotonic() - started < 2.0
    try:
        sock = short_tmp / "redis" / "redis.sock"
        assert rd.url(1) == f"redis+socket://{sock}?virtual_host=1"
        assert rd.redis_py_url(1) == f"unix://{sock}?db=1"
        client = redis.Redis.from_url(rd.redis_py_url(2))
        client.set("k", "v")
        assert client.config_get("port") == {"port": "0"}  # no TCP listener
        urls_before, pid_before = (rd.url(0), rd.redis_py_url(0)), rd.pid

        rd.restart(keep_data=True)
        assert (rd.url(0), rd.redis_py_url(0)) == urls_before and rd.pid != pid_before
        assert client.get("k") == b"v"  # same URL: the client reconnects by itself

        rd.restart()  # default: a fresh, empty broker
        assert client.get("k") is None
        client.close()

        # kombu (what Celery uses) speaks the redis+socket form with virtual_host as the db number
        from kombu import Connection

        with Connection(rd.url(3)) as conn:
            queue = conn.SimpleQueue("ms-test")
            queue.put({"n": 1})
            assert queue.get(timeout=5).payload == {"n": 1}
            queue.close()
        assert redis.Redis.from_url(rd.redis_py_url(3)).dbsize() > 0  # it really used db 3
    finally:
        rd.stop()
    assert not sock.exists()


# ------------------------------------------------------------------------------------ URLs, reachability


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://museum:s3cret@db.example:5432/cat", "postgresql://museum:***@db.example:5432/cat"),
        ("postgresql://museum@db.example/cat?password=s3cret&sslmode=require",
         "postgresql://museum@db.example/cat?password=***&sslmode=require"),
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("unix://:s3cret@/tmp/ms-x/redis.sock?db=2", "unix://:***@/tmp/ms-x/redis.sock?db=2"),
        ("postgresql://u:p%40ss@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:s3cret@[broken/x", "postgresql://u:***@[broken/x"),
        ("redis+socket:///tmp/ms-x/redis.sock?virtual_host=1", "redis+socket:///tmp/ms-x/redis.sock?virtual_host=1"),
        ("postgresql://postgres@/museum_sync?host=/tmp/ms-x/pg", "postgresql://postgres@/museum_sync?host=/tmp/ms-x/pg"),
    ],
)  # fmt: skip
def test_describe_url_hides_passwords(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_redis_url_forms_and_postgres_url_helpers() -> None:
    assert redis_urls("redis://:pw@h:6379/0", 5) == ("redis://:pw@h:6379/5", "redis://:pw@h:6379/5")
    assert redis_urls("redis://h:6379") == ("redis://h:6379/0", "redis://h:6379/0")
    assert redis_urls("unix:///tmp/r.sock?db=3") == (
        "redis+socket:///tmp/r.sock?virtual_host=3",
        "unix:///tmp/r.sock?db=3",
    )
    assert redis_urls("redis+socket:///tmp/r.sock?virtual_host=2", 7)[1] == "unix:///tmp/r.sock?db=7"
    with pytest.raises(MuseumSyncError, match="unsupported Redis URL amqp://guest:\\*\\*\\*@"):
        redis_urls("amqp://guest:guest@localhost//")
    assert to_sqlalchemy_url("postgres://u:p@h:5432/db") == "postgresql+psycopg2://u:p@h:5432/db"
    assert with_database("postgresql://u@h:5432/test?sslmode=require", "test_dagster") == (
        "postgresql://u@h:5432/test_dagster?sslmode=require"
    )
    assert with_database("postgresql+psycopg2://postgres@/a?host=/tmp/ms-x/pg", "b") == (
        "postgresql://postgres@/b?host=/tmp/ms-x/pg"
    )
    assert database_name("postgresql://alice@h") == "alice"
    assert database_name("postgresql://postgres@/museum_sync?host=/tmp/x") == "museum_sync"  # fmt: skip


def _unreachable(pg_url: str, redis_py_url: str) -> ServiceUrls:
    return ServiceUrls(
        pg_url=pg_url,
        dagster_pg_url=to_sqlalchemy_url(pg_url),
        broker_url=redis_urls(redis_py_url)[0],
        result_backend_url=redis_urls(redis_py_url, 1)[0],
        redis_py_url=redis_py_url,
        pg_embedded=False,
        redis_embedded=False,
    )


@pytest.mark.parametrize(
    ("pg_url", "redis_py_url", "pg_shown", "redis_shown"),
    [
        ("postgresql://museum:s3cret@127.0.0.1:1/cat", "redis://:s3cret@127.0.0.1:1/0",
         "postgresql://museum:***@127.0.0.1:1/cat", "redis://:***@127.0.0.1:1/0"),
        ("postgresql://museum:s3cret@/cat?host=/tmp/ms-no-such-dir", "unix://:s3cret@/tmp/ms-no-such-dir/redis.sock?db=0",
         "postgresql://museum:***@/cat?host=/tmp/ms-no-such-dir", "unix://:***@/tmp/ms-no-such-dir/redis.sock?db=0"),
    ],
    ids=["closed-port", "missing-socket"],
)  # fmt: skip
def test_check_reachable_names_the_url_without_its_password(
    pg_url: str, redis_py_url: str, pg_shown: str, redis_shown: str
) -> None:
    urls = _unreachable(pg_url, redis_py_url)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as caught:
        check_reachable(urls)
    assert time.monotonic() - started < 3.5
    message = str(caught.value)
    assert isinstance(caught.value, MuseumSyncError)
    assert f"PostgreSQL at {pg_shown} is not reachable: " in message
    assert f"Redis at {redis_shown} is not reachable: " in message
    assert "s3cret" not in message and "s3cret" not in repr(urls)
    assert "refused" in message.lower() or "no such file" in message.lower()  # the underlying error


# ------------------------------------------------------------------ start_services and the test fixtures


@integration
def test_services_fixture_uses_env_servers_or_embedded(services: ServiceUrls) -> None:
    assert services.pg_embedded == (not os.environ.get(PG_ENV))
    assert services.redis_embedded == (not os.environ.get(REDIS_ENV))
    check_reachable(services)
    assert services.broker_url != services.result_backend_url
    assert database_name(services.dagster_pg_url) == database_name(services.pg_url) + "_dagster"
    import sqlalchemy

    engine = sqlalchemy.create_engine(services.dagster_pg_url, poolclass=sqlalchemy.pool.NullPool)
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text("SELECT current_database()")).scalar() == database_name(
            services.dagster_pg_url
        )
    engine.dispose()


@integration
@pytest.mark.parametrize("turn", [1, 2])
def test_fresh_db_and_redis_db_are_isolated_per_test(
    turn: int, fresh_db: str, fresh_redis_db: FreshRedisDb, services: ServiceUrls
) -> None:
    with psycopg.connect(fresh_db) as conn:
        # the table of the other turn is not visible: each test has its own database
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'mine'").fetchone() == (0,)
        conn.execute("CREATE TABLE mine (turn int)")
        conn.execute("INSERT INTO mine VALUES (%s)", (turn,))
    assert fresh_redis_db.redis_py_url == services.redis_py_url_for(fresh_redis_db.db)
    assert fresh_redis_db.url not in (services.broker_url, services.result_backend_url)
    client = redis.Redis.from_url(fresh_redis_db.redis_py_url)
    assert client.dbsize() == 0
    client.set("turn", turn)
    client.close()


@integration
def test_start_services_env_path_derives_dagster_db_and_result_backend(short_tmp: Path) -> None:
    """The external-server path, pointed at embedded servers so it runs without machine services."""
    with EmbeddedPostgres(short_tmp / "pg") as pg, EmbeddedRedis(short_tmp / "redis") as rd:
        env = {PG_ENV: pg.ensure_database("catalog"), REDIS_ENV: rd.redis_py_url(4)}
        with start_services(env=env) as urls:
            assert not urls.pg_embedded and not urls.redis_embedded and urls.state_dir is None
            assert urls.pg_url == pg.url("catalog")
            assert urls.dagster_pg_url == pg.sqlalchemy_url("catalog_dagster")  # created on first start
            assert (urls.broker_url, urls.result_backend_url) == (rd.url(4), rd.url(5))
            assert urls.redis_py_url == rd.redis_py_url(4)
            check_reachable(urls)
            assert urls.as_env()[BROKER_ENV] == rd.url(4) and urls.as_env()[RESULT_BACKEND_ENV] == rd.url(5)
            # a child process handed as_env() uses the very same servers and databases
            with start_services(env=urls.as_env()) as again:
                assert (again.pg_url, again.dagster_pg_url, again.broker_url) == (
                    urls.pg_url,
                    urls.dagster_pg_url,
                    urls.broker_url,
                )

    with pytest.raises(ServiceUnavailable, match=r"PostgreSQL at postgresql://u:\*\*\*@127\.0\.0\.1:1/x"):
        with start_services(env={PG_ENV: "postgresql://u:pw@127.0.0.1:1/x", REDIS_ENV: "redis://127.0.0.1:1/0"}):
            pass
