"""Security properties on the real stack: no XML fetches, no secrets in messages or logs, a read-only role.

(a) XML is parsed without resolving entities or fetching anything: LIDO exports whose DOCTYPE, entities,
    XInclude and schema location all point at an HTTP server started here sync through Dagster and the
    Celery workers, and the server receives no request. (The libxml2 bundled with lxml 6 has no HTTP
    client of its own any more; the server also catches a Python resolver or a pre-fetch added later.)
(b) The database password never leaves the environment: a real sync runs with MUSEUM_SYNC_PG_URL and
    MUSEUM_SYNC_DAGSTER_PG_URL carrying a password, the raw Redis traffic (queue lists, unacked hashes,
    result keys) is sampled while it runs, and afterwards the worker log, the Dagster event log, the stored
    run, its snapshots, the Dagster and catalogue tables and every file under the stack's home are searched.
(c) ``Catalog.grant_reader``: the reader role reads the public view and nothing else, not even staging
    tables created after the grant.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg
import pytest
import redis
from dagster import DagsterEventType
from psycopg import sql

from museum_sync import pipeline
from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.clients.catalog import Catalog, staging_table_name
from museum_sync.core import lido
from museum_sync.core.exceptions import SourceFormatError
from museum_sync.core.profiles import load_profile
from museum_sync.runtime import WorkerPool, configure_environment, dagster_instance, run_job, runtime_env
from museum_sync.samples.generate import ExportSpec, write_export
from museum_sync.services import ServiceUrls, redis_urls
from museum_sync.services.postgres import libpq_url
from museum_sync_tests.conftest import FIXTURES

pytestmark = pytest.mark.integration

LIDO_RECORD = "lido/records/ddb_Deutsche_Fotothek.xml"  # real record (DDB metadata, CC0)
BAD = FIXTURES / "bad"
ARTISTS = str(BAD / "profiles" / "tate_artists_csv.toml")
LIDO_TITLE = b"Verden, Museum : Verden (Aller). Museum, Raumaufnahme"


# ------------------------------------------------------------------------------------------- the stack


def _with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


@dataclass
class SecretStack:
    """A museum-sync stack whose PostgreSQL URLs carry a password (trust auth ignores it; the URL has it)."""

    role: str
    password: str
    env: dict[str, str]
    home: Path
    instance: Any
    catalog: Catalog
    workers: WorkerPool
    services: ServiceUrls
    dagster_db_url: str

    def sync(self, path: Path, profile: str, *, source: str, chunk_size: int | None = None) -> Any:
        from museum_sync.defs.run_config import sync_run_config

        config: dict[str, Any] = sync_run_config(path, profile, source)
        if chunk_size:
            config["ops"]["snapshot_and_plan"]["config"]["chunk_size"] = chunk_size
        return run_job("sync_export_job_def", instance=self.instance, run_config=config)


@pytest.fixture(scope="module")
def secret_stack(services: ServiceUrls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretStack]:
    role = f"ms_secret_{uuid.uuid4().hex[:8]}"
    password = f"Pw{uuid.uuid4().hex}"
    admin_urls = [services.pg_url, libpq_url(services.dagster_pg_url)]
    try:
        with psycopg.connect(services.pg_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
    except psycopg.errors.InsufficientPrivilege:
        pytest.skip(reason="creating a role with a password needs a superuser in MUSEUM_SYNC_PG_URL")
    home = tmp_path_factory.mktemp("secret-home")
    schema = f"cat_{uuid.uuid4().hex[:10]}"
    env = runtime_env(services, home, catalog_schema=schema)
    env["MUSEUM_SYNC_PG_URL"] = _with_credentials(services.pg_url, role, password)
    env["MUSEUM_SYNC_DAGSTER_PG_URL"] = _with_credentials(services.dagster_pg_url, role, password)
    try:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            configure_environment(env)
            catalog = Catalog(env["MUSEUM_SYNC_PG_URL"], schema=schema)
            catalog.migrate()
            pool = WorkerPool(env=env, log_dir=home / "logs", processes=1, concurrency=2)
            pool.start()
            try:
                yield SecretStack(
                    role=role,
                    password=password,
                    env=env,
                    home=home,
                    instance=dagster_instance(),
                    catalog=catalog,
                    workers=pool,
                    services=services,
                    dagster_db_url=libpq_url(services.dagster_pg_url),
                )
            finally:
                pool.stop()
    finally:
        for url in admin_urls:  # the role owns the catalogue schema and may own Dagster rows' objects
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(sql.Identifier(role)))
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        with psycopg.connect(services.pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


# ------------------------------------------------------------------------------ (a) no XML fetches


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers anything with content that would show up in a record if it were ever fetched and used."""

    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).requests.append(self.path)
        body = b'<!ENTITY inner "FETCHED-BY-PARSER">' if self.path.endswith(".dtd") else b"FETCHED-BY-PARSER"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_recorder() -> Iterator[tuple[str, list[str]]]:
    requests: list[str] = []
    handler = type("Recorder", (_Recorder,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        # Control: the server is reachable from this host (the workers run here too), then forget it.
        with urllib.request.urlopen(f"{base}/control", timeout=5) as response:
            assert response.read() == b"FETCHED-BY-PARSER"
        assert requests == ["/control"]
        requests.clear()
        yield base, requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


LIDO_XSD = b"http://www.lido-schema.org/schema/v1.0/lido-v1.0.xsd"


def _lido(shared_data: Path, doctype: str = "", title: bytes = LIDO_TITLE, schema_url: str = "") -> bytes:
    """The real record with a DOCTYPE, another title and (optionally) its xsi:schemaLocation moved."""
    data = (shared_data / LIDO_RECORD).read_bytes()
    decl, _, rest = data.partition(b"\n")
    assert LIDO_TITLE in rest and LIDO_XSD in rest
    rest = rest.replace(LIDO_TITLE, title, 1)
    if schema_url:
        rest = rest.replace(LIDO_XSD, schema_url.encode(), 1)
    return decl + b"\n" + (doctype.encode() + b"\n" if doctype else b"") + rest


def _failure_messages(stack: SecretStack, result: Any) -> list[str]:
    """The run's step and run failures, from its event log (what the UI shows)."""
    kinds = {DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}
    events = [r.dagster_event for r in stack.instance.all_logs(result.run_id, of_type=kinds) if r.dagster_event]
    return [e.step_failure_data.error.message if e.is_step_failure else (e.message or "") for e in events]


def test_xml_entities_dtds_and_includes_are_never_fetched(
    secret_stack: SecretStack, http_recorder: tuple[str, list[str]], shared_data: Path, tmp_path: Path
) -> None:
    base, requests = http_recorder
    # 1. Entities pointing at the server (general and parameter): refused before parsing goes further.
    attack = _lido(
        shared_data,
        f'<!DOCTYPE lido:lido [<!ENTITY % remote SYSTEM "{base}/evil.dtd"> %remote;'
        f' <!ENTITY xxe SYSTEM "{base}/entity">]>',
        title=LIDO_TITLE + b" &xxe; &inner;",
    )
    # 2. No entity, but an external DTD, an XInclude and a schema location on the server: a valid record.
    include = f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{base}/xinclude" parse="text"/>'
    quiet = _lido(
        shared_data,
        f'<!DOCTYPE lido:lido SYSTEM "{base}/lido.dtd">',
        title=LIDO_TITLE + include.encode(),
        schema_url=f"{base}/schema/v1.0/lido-v1.0.xsd",
    )
    attack_path, quiet_path = tmp_path / "xxe_http.xml", tmp_path / "dtd_xinclude.xml"
    attack_path.write_bytes(attack)
    quiet_path.write_bytes(quiet)

    # In this process: every reader of XML bytes.
    with pytest.raises(SourceFormatError, match="entity declarations are not allowed"):
        list(lido.iter_lido_elements(attack_path))
    with pytest.raises(SourceFormatError, match="entit"):
        lido.parse_lido(attack)
    ((_, line),) = list(lido.iter_lido_elements(quiet_path))
    draft = lido.parse_lido(line)
    assert "FETCHED" not in json.dumps(draft, default=str)
    lido.validate_xml(line, "lido-1.1")  # validation against the shipped XSD, not the named one
    assert requests == [], f"the parser fetched {requests}"

    # On the real stack: snapshot and validation run in Celery workers.
    failed = secret_stack.sync(attack_path, "lido_xml", source="xxe-attack")
    assert not failed.success
    messages = _failure_messages(secret_stack, failed)
    assert any("entity declarations are not allowed" in m for m in messages), messages
    passed = secret_stack.sync(quiet_path, "lido_xml", source="xxe-quiet")
    assert passed.success, _failure_messages(secret_stack, passed)
    assert "FETCHED" not in json.dumps([r.model_dump(mode="json") for r in _published(secret_stack)])
    assert requests == [], f"the pipeline fetched {requests}"


def _published(stack: SecretStack) -> list[Any]:
    publication = stack.catalog.current_publication()
    assert publication is not None
    store = ArtifactStore(Path(stack.env["MUSEUM_SYNC_ARTIFACT_ROOT"]))
    export = pipeline.open_export(store, publication.export_id)
    return [r for i in range(len(export.plan.chunks)) for r in pipeline.iter_valid_records(store, export.export_id, i)]


# ---------------------------------------------------------------------- (b) no secrets in messages or logs


@dataclass
class RedisSampler:
    """Copies every key's raw value from the broker and result-backend dbs, over and over, while a run goes."""

    urls: list[str]
    blobs: dict[bytes, str] = field(default_factory=dict)  # value -> "db:key"
    task_messages: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def sample_once(self) -> None:
        for url in self.urls:
            client = redis.Redis.from_url(url)
            try:
                for key in client.scan_iter(count=1000):
                    kind = client.type(key)
                    if kind == b"list":
                        values = client.lrange(key, 0, -1)
                    elif kind == b"hash":
                        values = list(client.hgetall(key).values())
                    elif kind == b"string":
                        values = [client.get(key)]
                    elif kind == b"set":
                        values = list(client.smembers(key))
                    elif kind == b"zset":
                        values = client.zrange(key, 0, -1)
                    else:
                        values = []
                    for value in values:
                        if value is not None and value not in self.blobs:
                            self.blobs[value] = f"{url}:{key!r}"
                            if b'"task": "execute_plan"' in value or b"execute_plan" in value:
                                self.task_messages += 1
            finally:
                client.close()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.sample_once()
                time.sleep(0.01)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def decoded(self) -> Iterator[tuple[str, bytes]]:
        """Each blob, and inside kombu envelopes the base64 message body too."""
        for blob, where in self.blobs.items():
            yield where, blob
            try:
                value = json.loads(blob)
            except ValueError:
                continue
            for envelope in value if isinstance(value, list) else [value]:
                if isinstance(envelope, dict) and isinstance(envelope.get("body"), str):
                    if envelope.get("properties", {}).get("body_encoding") == "base64":
                        yield where + " (body)", base64.b64decode(envelope["body"])


def _grep(password: str, label: str, data: bytes | str) -> list[str]:
    text = data if isinstance(data, bytes) else data.encode("utf-8", errors="replace")
    return [label] if password.encode() in text else []


def test_database_password_appears_in_no_message_log_or_record(
    secret_stack: SecretStack, tmp_path: Path, services: ServiceUrls
) -> None:
    from dagster import serialize_value

    password = secret_stack.password
    export = write_export(ExportSpec(records=1000, seed=23, chunk_size=500, bad_share=0.02), tmp_path / "night.csv")
    backend = redis_urls(services.result_backend_url)[1]
    sampler = RedisSampler(urls=[services.redis_py_url, backend])
    thread = threading.Thread(target=sampler.run, daemon=True)
    thread.start()
    try:
        result = secret_stack.sync(export, "tate_artworks_csv", source="secret-night", chunk_size=500)
    finally:
        sampler.stop.set()
        thread.join(10)
    sampler.sample_once()  # results stay in the backend: take them all once more
    assert sampler.error is None, sampler.error
    assert result.success, _failure_messages(secret_stack, result)
    assert sampler.task_messages > 0, "no Celery task message was sampled: the check would prove nothing"
    # Controls: the workers and this process really ran on the password-bearing URLs.
    for proc in secret_stack.workers.procs:
        environ = psutil.Process(proc.pid).environ()
        assert password in environ["MUSEUM_SYNC_PG_URL"] and password in environ["MUSEUM_SYNC_DAGSTER_PG_URL"]
    with psycopg.connect(services.pg_url) as conn:
        owner = conn.execute(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", (secret_stack.catalog.schema,)
        ).fetchone()
    assert owner is not None and owner[0] == secret_stack.role, "the catalogue was not created through the URL"

    found: list[str] = []
    for where, blob in sampler.decoded():
        found += _grep(password, f"redis {where}", blob)
    for log in secret_stack.workers.logs:
        found += _grep(password, f"worker log {log.name}", log.read_bytes())
    instance = secret_stack.instance
    run = instance.get_run_by_id(result.run_id)
    found += _grep(password, "stored run (config, tags)", serialize_value(run))
    found += _grep(password, "run config", json.dumps(run.run_config, default=str))
    found += _grep(password, "job snapshot", serialize_value(instance.get_job_snapshot(run.job_snapshot_id)))
    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    found += _grep(password, "execution plan snapshot", serialize_value(plan))
    for entry in instance.all_logs(result.run_id):
        found += _grep(password, f"event log {entry.dagster_event_type}", serialize_value(entry))
    for path in (p for p in secret_stack.home.rglob("*") if p.is_file()):
        found += _grep(password, f"file {path.relative_to(secret_stack.home)}", path.read_bytes())
    found += _tables_containing(secret_stack.dagster_db_url, "public", password, "dagster db")
    found += _tables_containing(services.pg_url, secret_stack.catalog.schema, password, "catalogue")
    assert not found, f"the database password leaked into: {sorted(set(found))}"


def _tables_containing(url: str, schema: str, password: str, label: str) -> list[str]:
    hits = []
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
        for (table,) in tables:
            query = sql.SQL("SELECT count(*) FROM {} t WHERE strpos(t::text, %s) > 0").format(
                sql.Identifier(schema, table)
            )
            row = conn.execute(query, (password,)).fetchone()
            if row and row[0]:
                hits.append(f"{label} table {schema}.{table} ({row[0]} rows)")
    return hits


# ------------------------------------------------------------------------------- (c) the reader role


def _load_and_publish(catalog: Catalog, path: Path, profile_name: str, store: ArtifactStore, source: str) -> str:
    """A real export through the stages, without Dagster: extract, validate, quarantine, load, publish."""
    profile = load_profile(profile_name)
    export = pipeline.extract(path, profile, store, source=source)
    catalog.register_export(
        export.export_id,
        source,
        profile.name,
        export.manifest.to_dict(),
        len(export.plan.chunks),
        export.plan.total_records,
    )
    for index in range(len(export.plan.chunks)):
        report = pipeline.validate_chunk(store, export, index, profile)
        pipeline.record_chunk_outcome(catalog, store, report, None)
        pipeline.load_chunk(catalog, store, export.export_id, index, None)
    catalog.publish(export.export_id, expected_chunks=len(export.plan.chunks))
    return export.export_id


def _default_acl_entries(conn: psycopg.Connection[Any], role: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_default_acl d, aclexplode(d.defaclacl) a"
        " WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %s)",
        (role,),
    ).fetchone()
    return int(row[0]) if row else 0


def test_reader_role_reads_the_public_view_and_nothing_else(fresh_db: str, tmp_path: Path) -> None:
    catalog = Catalog(fresh_db, schema="catalog")
    catalog.migrate()
    store = ArtifactStore(tmp_path / "artifacts")
    role = f"reader_{uuid.uuid4().hex[:8]}"
    first = _load_and_publish(catalog, BAD / "csv_control.csv", "tate_artworks_csv", store, "night-one")
    try:
        catalog.grant_reader(role)
        # A DBA's default privileges and a stray grant that would open everything up: grant_reader undoes them.
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            r = sql.Identifier(role)
            conn.execute(sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA catalog GRANT SELECT ON TABLES TO {}").format(r))
            conn.execute(sql.SQL("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO {}").format(r))
            conn.execute(sql.SQL("GRANT SELECT ON catalog.quarantine TO {}").format(r))
            assert _default_acl_entries(conn, role) == 2
        catalog.grant_reader(role)
        catalog.grant_reader(role)  # idempotent
        # The next night's staging table is created after the grant, then published (the view re-pointed).
        # One of its 25 records is rejected, so quarantine holds a row the reader must not see.
        second = _load_and_publish(catalog, BAD / "csv_artists_bom_in_middle.csv", ARTISTS, store, "night-two")
        assert catalog.current_publication().export_id == second
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            assert _default_acl_entries(conn, role) == 0, "default privileges still hand the reader future tables"
            login = conn.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            assert login == (False,)
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            assert conn.execute("SELECT count(*) FROM catalog.objects").fetchone() == (catalog.count(),)
            assert conn.execute("SELECT count(*) FROM catalog.publications").fetchone() == (2,)
            private = [
                "quarantine",
                "quarantined_partitions",
                "chunk_status",
                "chunk_loads",
                "exports",
                "objects__empty",
                staging_table_name(first),
                staging_table_name(second),
            ]
            for table in private:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier("catalog", table)))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM catalog.objects")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("CREATE TABLE catalog.mine (x int)")
            conn.execute("RESET ROLE")
    finally:
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
