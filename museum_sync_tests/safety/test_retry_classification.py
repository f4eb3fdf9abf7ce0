"""Finding 6 of issue #12: which step failures are retried is one table (``defs.retries.RETRY_TABLE``), and each
row does what it says, on real errors wherever they are cheap to produce.

PostgreSQL errors come from the session's real server (a refused port, a terminated backend, a real deadlock
between two connections, a serialization failure, ``LOCK TABLE ... NOWAIT`` against a held lock, a statement
timeout, a missing database, a role over its connection limit); Redis errors from a real Redis; HTTP errors from
the suite's harvest server through the real HTTP client (and a real OAI-PMH harvest wrapping them); search from
the real client against a closed port. A disk-full PostgreSQL and a class 08 error are the only ones built
(psycopg's own classes for those SQLSTATEs: no cheap way to fill a disk). Each error goes through
``retry_only_connection_errors`` as a step body would raise it: re-raised for Dagster's RetryPolicy, or turned
into ``dg.Failure(allow_retries=False)`` saying why. The harvest op has the policy too, and a harvest whose
server answers 503 once is retried by Dagster and succeeds.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import redis
from psycopg.conninfo import make_conninfo

from museum_sync.clients.catalog import Catalog, PublicationRefused
from museum_sync.clients.http import HttpClient, HttpError, HttpSettings, close_client
from museum_sync.core.profiles import load_profile
from museum_sync.defs.retries import CONNECTION_RETRY, RETRY_TABLE, RetryRule, classify, retry_only_connection_errors
from museum_sync.publication import PublicationFailed
from museum_sync_tests.es_server import fast_client
from museum_sync_tests.harvest_server import HarvestServer
from museum_sync_tests.services_fixtures import FreshRedisDb

CLOSED = "127.0.0.1:1"  # nothing listens on port 1
FAST_HTTP = HttpSettings(read_timeout=0.3, connect_timeout=2.0, backoff_base=0.01, backoff_max=0.02, max_attempts=2)


def _caught(action: Callable[[], object]) -> BaseException:
    try:
        action()
    except BaseException as exc:  # noqa: BLE001 - the error is what the test is about
        return exc
    raise AssertionError("expected an error")


def _as_step(error: BaseException) -> str:
    """``"retried"`` when a step body raising ``error`` leaves it to the RetryPolicy, else the Failure's text."""

    @retry_only_connection_errors
    def step() -> None:
        raise error

    try:
        step()
    except dg.Failure as failure:
        assert failure.allow_retries is False
        return failure.description or ""
    except BaseException as exc:  # noqa: BLE001
        assert exc is error
        return "retried"
    raise AssertionError("the step did not raise")


def _row(name_start: str) -> RetryRule:
    rows = [r for r in RETRY_TABLE if r.error.startswith(name_start)]
    assert len(rows) == 1, name_start
    return rows[0]


def assert_row(error: BaseException, name_start: str) -> None:
    """``error`` is decided by the row whose name starts with ``name_start``, and the step does what it says."""
    row = _row(name_start)
    retried, decided_by = classify(error)
    assert decided_by is row, (error, decided_by)
    assert retried is row.retried
    outcome = _as_step(error)
    if row.retried:
        assert outcome == "retried", outcome
    else:
        assert outcome.startswith(type(error).__name__) and f"not retried: {row.why}" in outcome, outcome
    EXERCISED.add(row.error)


EXERCISED: set[str] = set()


# ---------------------------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg(fresh_db: str) -> Iterator[Callable[[], psycopg.Connection]]:
    conns: list[psycopg.Connection] = []

    def connect() -> psycopg.Connection:
        conn = psycopg.connect(fresh_db, autocommit=True)
        conns.append(conn)
        return conn

    setup = connect()
    setup.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    setup.execute("INSERT INTO t VALUES (1, 0), (2, 0)")
    yield connect
    for conn in conns:
        conn.close()


@pytest.mark.integration
def test_postgres_unreachable_is_retried() -> None:
    direct = _caught(lambda: psycopg.connect(f"postgresql://postgres@{CLOSED}/x", connect_timeout=2))
    assert isinstance(direct, psycopg.OperationalError) and direct.sqlstate is None
    assert_row(direct, "PostgreSQL connection failure")
    through_catalog = _caught(lambda: Catalog(f"postgresql://museum:pw@{CLOSED}/x", connect_timeout_s=2).migrate())
    assert_row(through_catalog, "PostgreSQL connection failure")


def test_postgres_class_08_connection_exception_is_retried() -> None:
    assert_row(psycopg.errors.lookup("08006")("connection failure"), "PostgreSQL connection failure")


@pytest.mark.integration
def test_postgres_terminated_backend_is_retried(pg) -> None:
    victim, killer = pg(), pg()
    killer.execute("SELECT pg_terminate_backend(%s)", (victim.info.backend_pid,))
    error = _caught(lambda: victim.execute("SELECT 1"))
    assert isinstance(error, psycopg.OperationalError)
    if error.sqlstate is None:  # the FATAL message lost with the socket: the connection-lost row
        assert_row(error, "PostgreSQL connection failure")
    else:
        assert error.sqlstate == "57P01"
        assert_row(error, "PostgreSQL shutting down")


@pytest.mark.integration
def test_postgres_deadlock_is_retried(pg) -> None:
    a, b = pg(), pg()
    a.execute("BEGIN")
    b.execute("BEGIN")
    a.execute("UPDATE t SET v = 1 WHERE id = 1")
    b.execute("UPDATE t SET v = 2 WHERE id = 2")
    errors: list[BaseException] = []

    def a_wants_2() -> None:
        try:
            a.execute("UPDATE t SET v = 1 WHERE id = 2")
        except psycopg.Error as exc:
            errors.append(exc)

    waiter = threading.Thread(target=a_wants_2)
    waiter.start()
    try:
        b.execute("UPDATE t SET v = 2 WHERE id = 1")
    except psycopg.Error as exc:
        errors.append(exc)
        b.execute("ROLLBACK")
    waiter.join(30)
    a.execute("ROLLBACK")
    b.execute("ROLLBACK")
    deadlocks = [e for e in errors if isinstance(e, psycopg.errors.DeadlockDetected)]
    assert len(deadlocks) == 1, errors
    assert_row(deadlocks[0], "PostgreSQL deadlock")


@pytest.mark.integration
def test_postgres_serialization_failure_is_retried(pg) -> None:
    a, b = pg(), pg()
    a.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    a.execute("SELECT v FROM t WHERE id = 1")
    b.execute("UPDATE t SET v = 5 WHERE id = 1")
    error = _caught(lambda: a.execute("UPDATE t SET v = 6 WHERE id = 1"))
    a.execute("ROLLBACK")
    assert isinstance(error, psycopg.errors.SerializationFailure) and error.sqlstate == "40001"
    assert_row(error, "PostgreSQL deadlock")


@pytest.mark.integration
def test_postgres_lock_not_available_is_retried_with_backoff(pg) -> None:
    holder, other = pg(), pg()
    holder.execute("BEGIN")
    holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
    other.execute("BEGIN")
    nowait = _caught(lambda: other.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE NOWAIT"))
    other.execute("ROLLBACK")
    other.execute("SET lock_timeout = '50ms'")
    timed_out = _caught(lambda: other.execute("SELECT * FROM t"))
    holder.execute("ROLLBACK")
    for error in (nowait, timed_out):
        assert isinstance(error, psycopg.errors.LockNotAvailable) and error.sqlstate == "55P03"
        assert_row(error, "PostgreSQL lock_not_available")
    # "with backoff": the policy every retried row runs under waits longer each time.
    assert CONNECTION_RETRY.backoff == dg.Backoff.EXPONENTIAL and CONNECTION_RETRY.delay and CONNECTION_RETRY.delay > 0


def test_postgres_disk_full_and_other_resource_errors_are_not_retried() -> None:
    for state in ("53100", "53200", "53300", "53400"):
        error = psycopg.errors.lookup(state)(f"resource error {state}")
        assert_row(error, "PostgreSQL insufficient resources")
        assert "an operator must act" in _as_step(error)


@pytest.mark.integration
def test_postgres_refused_logins_are_not_retried(pg, fresh_db: str) -> None:
    missing_db = _caught(lambda: psycopg.connect(make_conninfo(fresh_db, dbname=f"nope_{uuid.uuid4().hex[:8]}")))
    assert_row(missing_db, "PostgreSQL refused the login")
    role = f"limited_{uuid.uuid4().hex[:8]}"
    admin = pg()
    admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")
    try:
        over_limit = _caught(lambda: psycopg.connect(make_conninfo(fresh_db, user=role)))
    finally:
        admin.execute(f"DROP ROLE {role}")
    assert "too many connections" in str(over_limit)
    assert_row(over_limit, "PostgreSQL refused the login")


@pytest.mark.integration
def test_postgres_statement_timeout_is_not_retried(pg) -> None:
    conn = pg()
    conn.execute("SET statement_timeout = '100ms'")
    error = _caught(lambda: conn.execute("SELECT pg_sleep(2)"))
    assert isinstance(error, psycopg.errors.QueryCanceled) and error.sqlstate == "57014"
    assert_row(error, "PostgreSQL query_canceled")


# ---------------------------------------------------------------------------------------- Redis, search, net


@pytest.mark.integration
def test_redis_connection_and_timeout_errors_are_retried(fresh_redis_db: FreshRedisDb) -> None:
    refused = redis.Redis.from_url(f"redis://{CLOSED}/0", socket_connect_timeout=1)
    assert_row(_caught(refused.ping), "Redis ConnectionError")
    slow = redis.Redis.from_url(fresh_redis_db.redis_py_url, socket_timeout=0.2)
    try:
        timed_out = _caught(lambda: slow.blpop(["museum-sync-nothing"], timeout=2))
    finally:
        slow.close()
    assert isinstance(timed_out, redis.TimeoutError), timed_out
    assert_row(timed_out, "Redis ConnectionError")


def test_search_unavailable_is_retried() -> None:
    client = fast_client(f"http://{CLOSED}", max_retries=0)
    try:
        error = _caught(client.alias_target)
    finally:
        client.close()
    assert_row(error, "SearchUnavailable")


def test_socket_errors_are_retried() -> None:
    assert_row(_caught(lambda: socket.create_connection(("127.0.0.1", 1), timeout=2)), "ConnectionError / TimeoutError")


# ------------------------------------------------------------------------------------------- publication


def test_publication_failed_is_retried_only_when_rolled_back() -> None:
    def failed(rolled_back: bool) -> PublicationFailed:
        return PublicationFailed(
            "publication of 'tate-20261125-1a2b3c4d' failed", export_id="tate-20261125-1a2b3c4d", step="postgres",
            rolled_back=rolled_back, pending=not rolled_back,
        )  # fmt: skip

    assert_row(failed(True), "PublicationFailed(rolled_back=True)")
    assert_row(failed(False), "PublicationFailed(rolled_back=False)")
    # Rolled back, but because the disk is full or the gate refused: the cause decides, not retried.
    for cause, row in (
        (psycopg.errors.DiskFull("could not extend file"), "PostgreSQL insufficient resources"),
        (PublicationRefused("2 chunks quarantined", quarantined=["tate-20261125-1a2b3c4d/0001"]), "PublicationRefused"),
    ):
        error = failed(True)
        error.__cause__ = cause
        retried, decided_by = classify(error)
        assert retried is False and decided_by is _row(row)
        EXERCISED.add(decided_by.error)
    lost = failed(True)
    lost.__cause__ = psycopg.OperationalError("server closed the connection unexpectedly")
    assert classify(lost) == (True, _row("PublicationFailed(rolled_back=True)"))


def test_a_busy_harvest_is_not_retried(tmp_path: Path) -> None:
    from museum_sync.harvest import HarvestBusy, PartialHarvest

    options = {"source": "kenom", "key": "0123456789abcdef", "protocol": "oai-pmh", "fmt": "xmllines", "params": {}}
    running = PartialHarvest.open(tmp_path, **options)  # holds the partial's lock, as a running harvest does
    try:
        error = _caught(lambda: PartialHarvest.open(tmp_path, **options))
    finally:
        running.close()
    assert isinstance(error, HarvestBusy)
    assert_row(error, "HarvestBusy")


# ------------------------------------------------------------------------------------------------- HTTP


@pytest.fixture
def server(shared_data: Path) -> Iterator[HarvestServer]:
    with HarvestServer(shared_data) as srv:
        yield srv


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_http_5xx_and_429_are_retried(server: HarvestServer, status: int) -> None:
    server.inject("status", status=status, times=None)
    with HttpClient(FAST_HTTP) as client:
        error = _caught(lambda: client.get(server.oai_url, params={"verb": "Identify"}))
    assert isinstance(error, HttpError) and error.status == status
    assert_row(error, "HTTP 5xx / 429")


def test_http_timeouts_are_retried(server: HarvestServer) -> None:
    server.inject("slow", delay=1.0, times=None)
    with HttpClient(FAST_HTTP) as client:
        error = _caught(lambda: client.get(server.oai_url, params={"verb": "Identify"}))
    assert isinstance(error, HttpError) and error.status is None and "timed out" in str(error)
    assert_row(error, "HTTP 5xx / 429")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 501])
def test_http_4xx_are_not_retried(server: HarvestServer, status: int) -> None:
    server.inject("status", status=status, times=None)
    with HttpClient(FAST_HTTP) as client:
        error = _caught(lambda: client.get(server.aic_url))
    assert isinstance(error, HttpError) and error.status == status
    assert_row(error, "HTTP 4xx")


def _oai_profile(folder: Path, base_url: str) -> Path:
    text = Path(load_profile("lido_xml").origin).read_text(encoding="utf-8")
    text += f'\n[harvest]\nprotocol = "oai-pmh"\nbase_url = "{base_url}"\nmetadata_prefix = "lido"\n'
    path = folder / "kenom_oai.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("status", "retried"), [(503, True), (403, False)])
def test_a_real_harvest_error_is_classified_by_its_http_cause(
    server: HarvestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: int, retried: bool
) -> None:
    """A harvester wraps the HTTP client's error in a HarvestError; the cause decides."""
    from museum_sync.clients.artifacts import ArtifactStore
    from museum_sync.harvest import HarvestError, harvest_oai, oai_config

    monkeypatch.setenv("MUSEUM_SYNC_HTTP_ATTEMPTS", "1")
    close_client()
    server.inject("status", status=status, times=None)
    profile = load_profile(_oai_profile(tmp_path, server.oai_url))
    try:
        error = _caught(lambda: harvest_oai(oai_config(profile), ArtifactStore(tmp_path / "artifacts"), source="kenom"))
    finally:
        close_client()
    assert isinstance(error, HarvestError) and isinstance(error.__cause__, HttpError), repr(error)
    assert classify(error)[0] is retried
    assert (_as_step(error) == "retried") is retried


# ------------------------------------------------------------------------------------------- the table


def test_anything_unlisted_is_not_retried() -> None:
    outcome = _as_step(ValueError("a bug"))
    assert outcome.startswith("ValueError: a bug (not retried: not a transient failure")
    assert classify(ValueError("a bug")) == (False, None)


def test_the_harvest_op_has_the_retry_policy() -> None:
    from museum_sync.defs.jobs import harvest_and_plan, snapshot_and_plan

    assert harvest_and_plan.retry_policy == CONNECTION_RETRY == snapshot_and_plan.retry_policy


# ------------------------------------------------------------------------------- the harvest step, for real


@pytest.fixture(scope="module")
def harvest_stack(services, tmp_path_factory: pytest.TempPathFactory):
    from museum_sync_tests.integration.conftest import build_stack

    # One HTTP attempt per request in the workers, so the server's one 503 reaches the step itself.
    with build_stack(services, tmp_path_factory.mktemp("home"), {"MUSEUM_SYNC_HTTP_ATTEMPTS": "1"}) as built:
        yield built


def _step_events(stack, run_id: str, kind: dg.DagsterEventType) -> list[str]:
    records = stack.instance.get_records_for_run(run_id, of_type=kind).records
    return [r.event_log_entry.step_key or "" for r in records]


@pytest.mark.integration
@pytest.mark.parametrize(("status", "times"), [(503, 1), (403, None)])
def test_the_harvest_step_retries_a_server_error_and_not_a_refusal(
    harvest_stack, shared_data: Path, tmp_path: Path, status: int, times: int | None
) -> None:
    from museum_sync.runtime import run_job

    with HarvestServer(shared_data, page_size=5) as srv:
        profile = _oai_profile(tmp_path, srv.oai_url)
        srv.inject("status", status=status, times=times, params={"verb": "ListRecords"})
        config = {"profile": str(profile), "source": f"kenom-retry-{status}"}
        result = run_job(
            "harvest_export_job_def",
            instance=harvest_stack.instance,
            run_config={"ops": {"harvest_and_plan": {"config": config}}},
        )
    retried = _step_events(harvest_stack, result.run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY)
    if status == 503:
        assert result.success
        assert retried == ["harvest_and_plan"], retried  # retried once by the policy, then it went through
    else:
        assert not result.success and retried == []
        failures = result.get_step_failure_events()
        message = failures[0].step_failure_data.error.message
        assert failures[0].step_key == "harvest_and_plan"
        assert "HTTP 403" in message and "not retried: the request itself is wrong" in message, message


def test_every_row_of_the_table_is_exercised_above(request: pytest.FixtureRequest) -> None:
    """Runs last in this module (pytest keeps file order): every row was the deciding row of some real case."""
    if request.config.getoption("keyword") or request.config.getoption("markexpr"):
        pytest.skip("needs the whole module run: a -k/-m selection leaves some rows of RETRY_TABLE unexercised")
    assert isinstance(RETRY_TABLE, tuple) and all(isinstance(r, RetryRule) for r in RETRY_TABLE)
    missing = [r.error for r in RETRY_TABLE if r.error not in EXERCISED]
    assert not missing, f"rows no test above exercised: {missing}"
