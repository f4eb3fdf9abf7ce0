"""The fault suite's stack: real Dagster runs on PostgreSQL, Redis and Celery worker processes, then a fault.

Each test gets its own catalogue schema, artifact root, Dagster home, broker and result Redis dbs, and starts
its own ``WorkerPool`` (kill scenarios destroy them), so a killed worker's leftover messages or a duplicate
step can never reach another test. A session-scoped *clean* run of the same export bytes under another
source name gives the reference digest every faulted run must reproduce.

Tools every scenario uses:

- ``RunHandle``: a run executing in a background thread, so the test can strike while it runs; its
  ``wait()`` is the watchdog (fails the test if the run is still going after ``RUN_TIMEOUT_S``), and the
  run carries ``dagster/max_runtime`` with the same bound.
- ``CatalogReader``: a thread polling ``SELECT count(*), count(DISTINCT export_id) FROM <schema>.objects``
  throughout, which must only ever see a whole published export.
- ``StagingWatcher``: a thread polling rows per chunk in the export's staging table: a chunk is absent or
  whole, never partly loaded.
- ``wait_for`` with ``FaultStack.step_starts``/``load_open``/``unfinished_partitions``: coordination through
  the Dagster event log, the broker and the catalogue, not blind sleeps.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg import sql

from museum_sync.clients.catalog import Catalog, staging_table_name
from museum_sync.runtime import WorkerPool, configure_environment, dagster_instance, run_job, runtime_env
from museum_sync.samples.generate import ExportSpec, write_export
from museum_sync.services import ServiceUrls

__all__ = [
    "CHUNKS",
    "RUN_TIMEOUT_S",
    "CatalogReader",
    "FaultStack",
    "Reference",
    "RunHandle",
    "StagingWatcher",
    "wait_for",
]

RECORDS = 1800
CHUNK = 300
CHUNKS = RECORDS // CHUNK
RUN_TIMEOUT_S = 180.0
PROFILE = "tate_artworks_csv"
# Non-blocking rejects only, and no duplicate ids: which copy of an id repeated *across* chunks wins depends
# on the order the chunks load in, which faults change on purpose; the digest must not depend on it.
BAD_KINDS = ("unknown_rights", "invalid_date", "invalid_url", "missing_title")
T = TypeVar("T")


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll ``predicate`` until it returns something truthy; fail the test naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@dataclass(frozen=True)
class Reference:
    """The clean run: what every faulted run of the same bytes must end with."""

    export_path: Path
    export_id: str
    digest: str
    count: int
    rejected: int
    quarantine_rows: int
    chunk_rows: tuple[int, ...]  # rows each chunk loads, by chunk index
    seconds: float


class _PgPoller(threading.Thread):
    """Polls PostgreSQL every ``interval`` until stopped; a restart shows up as ``errors`` (it reconnects)."""

    def __init__(self, pg_url: str, name: str, interval: float) -> None:
        super().__init__(daemon=True, name=name)
        self.pg_url = pg_url
        self.interval = interval
        self.errors = 0
        self._halt = threading.Event()

    def _poll_once(self, conn: psycopg.Connection[Any]) -> None:
        raise NotImplementedError

    def run(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        while not self._halt.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(self.pg_url, autocommit=True, connect_timeout=2)
                self._poll_once(conn)
            except psycopg.Error:  # PostgreSQL restarting, or the table not created yet
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
            self._halt.wait(self.interval)
        if conn is not None:
            conn.close()


class CatalogReader(_PgPoller):
    """A reader of the public view during the whole scenario, as a website querying the catalogue would be.

    Each poll records ``(rows, distinct export ids, export id)``; PostgreSQL restarts show up as
    ``errors`` (the reader reconnects), never as observations.
    """

    def __init__(self, pg_url: str, schema: str, interval: float = 0.05) -> None:
        super().__init__(pg_url, f"reader-{schema}", interval)
        self.seen: Counter[tuple[int, int, str | None]] = Counter()
        self._query = sql.SQL(
            "SELECT count(*), count(DISTINCT record->>'export_id'), min(record->>'export_id') FROM {}"
        ).format(sql.Identifier(schema, "objects"))

    def _poll(self, conn: psycopg.Connection[Any]) -> tuple[int, int, str | None]:
        row = conn.execute(self._query).fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), row[2]

    def _poll_once(self, conn: psycopg.Connection[Any]) -> None:
        self.seen[self._poll(conn)] += 1

    @property
    def polls(self) -> int:
        return sum(self.seen.values())

    def stop(self) -> tuple[int, int, str | None]:
        """Stop polling; one last poll after the scenario is what the public sees now."""
        self._halt.set()
        self.join(10)
        with psycopg.connect(self.pg_url, autocommit=True, connect_timeout=5) as conn:
            final = self._poll(conn)
        self.seen[final] += 1
        return final

    def assert_only_whole_publications(self, catalog: Catalog) -> None:
        allowed = {(0, 0, None)} | {(p.record_count, 1, p.export_id) for p in catalog.publications(limit=1000)}
        partial = {seen: n for seen, n in self.seen.items() if seen not in allowed}
        assert self.polls > 20, f"the reader polled only {self.polls} times"
        assert not partial, f"readers saw a partial or mixed catalogue {partial}; allowed only {sorted(allowed)}"


class StagingWatcher(_PgPoller):
    """Polls rows per chunk in an export's staging table: a chunk is either absent or whole, never partial."""

    def __init__(self, pg_url: str, schema: str, table: str, chunk_rows: tuple[int, ...], interval: float = 0.05):
        super().__init__(pg_url, f"staging-{table}", interval)
        self.chunk_rows = chunk_rows
        self.polls = 0
        self.partial: Counter[tuple[str, int]] = Counter()
        self.whole: set[str] = set()
        self._query = sql.SQL("SELECT chunk_key, count(*) FROM {} GROUP BY chunk_key").format(
            sql.Identifier(schema, table)
        )

    def _poll_once(self, conn: psycopg.Connection[Any]) -> None:
        for key, rows in conn.execute(self._query).fetchall():
            index = int(key.rpartition("/")[2])
            if rows == self.chunk_rows[index]:
                self.whole.add(key)
            else:
                self.partial[(key, int(rows))] += 1
        self.polls += 1

    def stop(self) -> None:
        self._halt.set()
        self.join(10)
        assert self.polls > 20, f"the staging watcher polled only {self.polls} times"
        assert not self.partial, f"chunks seen partly loaded (chunk, rows): {dict(self.partial)}"


class RunHandle:
    """A run of a job of the code location executing in a daemon thread of this process (steps on Celery).

    ``wait()`` is the watchdog: a run still going ``RUN_TIMEOUT_S`` after launch fails the test with the
    run's step events and the worker logs, instead of hanging the suite.
    """

    def __init__(
        self,
        stack: FaultStack,
        job: str,
        *,
        tags: dict[str, str],
        run_config: dict[str, Any] | None,
        max_runtime: float = RUN_TIMEOUT_S,
    ) -> None:
        self.stack = stack
        self.job = job
        self.marker = uuid.uuid4().hex
        self.tags = {"dagster/max_runtime": str(int(max_runtime)), "museum-sync/fault-test": self.marker, **tags}
        self.run_config = run_config
        self.result: Any = None
        self.error: BaseException | None = None
        self.started = time.monotonic()
        self.seconds: float | None = None
        self._run_id: str | None = None
        self.thread = threading.Thread(target=self._execute, daemon=True, name=f"run-{job}")
        self.thread.start()

    def _execute(self) -> None:
        try:
            self.result = run_job(self.job, instance=self.stack.instance, run_config=self.run_config, tags=self.tags)
        except BaseException as exc:  # reported by wait()
            self.error = exc
        finally:
            self.seconds = time.monotonic() - self.started

    @property
    def run_id(self) -> str:
        if self._run_id is None:
            from dagster import RunsFilter

            def find() -> str | None:
                runs = self.stack.instance.get_runs(
                    filters=RunsFilter(tags={"museum-sync/fault-test": self.marker}), limit=1
                )
                return runs[0].run_id if runs else None

            self._run_id = wait_for(find, 60, f"run of {self.job} to be created")
        return self._run_id

    @property
    def done(self) -> bool:
        return not self.thread.is_alive()

    def wait(self) -> Any:
        self.thread.join(max(0.0, self.started + RUN_TIMEOUT_S - time.monotonic()))
        if self.thread.is_alive():
            pytest.fail(
                f"watchdog: run {self._run_id or '?'} of {self.job} still going {RUN_TIMEOUT_S:.0f} s after launch\n"
                + self.stack.diagnostics(self._run_id)
            )
        if self.error is not None:
            raise AssertionError(f"run of {self.job} raised instead of ending: {self.error!r}") from self.error
        return self.result


@dataclass
class FaultStack:
    name: str
    services: ServiceUrls
    env: dict[str, str]
    home: Path
    instance: Any
    catalog: Catalog
    monkeypatch: pytest.MonkeyPatch
    export_path: Path
    pools: list[WorkerPool] = field(default_factory=list)
    readers: list[CatalogReader | StagingWatcher] = field(default_factory=list)

    def setenv(self, key: str, value: str) -> None:
        """For this test's runs (executor config is read when a run starts) and pools started from now on."""
        self.env[key] = value
        self.monkeypatch.setenv(key, value)

    def start_pool(self, label: str = "a", **extra_env: str) -> WorkerPool:
        pool = WorkerPool(
            env={**self.env, **extra_env},
            log_dir=self.home / "logs",
            processes=1,
            concurrency=2,
            name=f"{self.name}-{label}-",
        )
        self.pools.append(pool)
        pool.start()
        return pool

    def start_reader(self) -> CatalogReader:
        reader = CatalogReader(self.services.pg_url, self.catalog.schema)
        reader.start()
        self.readers.append(reader)
        return reader

    def start_staging_watcher(self, export_id: str, ref: Reference) -> StagingWatcher:
        watcher = StagingWatcher(
            self.services.pg_url, self.catalog.schema, staging_table_name(export_id), ref.chunk_rows
        )
        watcher.start()
        self.readers.append(watcher)
        return watcher

    def launch_sync(self, source: str, *, max_runtime: float = RUN_TIMEOUT_S) -> RunHandle:
        from museum_sync.defs.run_config import sync_run_config

        config: dict[str, Any] = sync_run_config(self.export_path, PROFILE, source)
        config["ops"]["snapshot_and_plan"]["config"]["chunk_size"] = CHUNK
        return RunHandle(self, "sync_export_job_def", tags={}, run_config=config, max_runtime=max_runtime)

    def launch(self, job: str, partition_key: str) -> RunHandle:
        return RunHandle(self, job, tags={"dagster/partition": partition_key}, run_config=None)

    # -- observing the run ---------------------------------------------------------------------------

    def step_starts(self, run_id: str, prefix: str = "sync_chunk[") -> list[tuple[str, int | None, float]]:
        """``(step key, pid of the process running it, timestamp)`` of every STEP_START, oldest first."""
        from dagster import DagsterEventType

        records = self.instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_START).records
        return [
            (r.event_log_entry.step_key or "", r.event_log_entry.dagster_event.pid, r.event_log_entry.timestamp)
            for r in records
            if (r.event_log_entry.step_key or "").startswith(prefix)
        ]

    def finished_steps(self, run_id: str) -> set[str]:
        from dagster import DagsterEventType

        records = self.instance.get_records_for_run(
            run_id, of_type={DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}
        ).records
        return {r.event_log_entry.step_key or "" for r in records}

    def step_ends(self, run_id: str, prefix: str = "sync_chunk[") -> list[tuple[str, float]]:
        """``(step key, timestamp)`` of every STEP_SUCCESS/STEP_FAILURE, duplicates included, oldest first."""
        from dagster import DagsterEventType

        records = self.instance.get_records_for_run(
            run_id, of_type={DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}
        ).records
        return [
            (r.event_log_entry.step_key or "", r.event_log_entry.timestamp)
            for r in records
            if (r.event_log_entry.step_key or "").startswith(prefix)
        ]

    def concurrent_duplicates(self, run_id: str) -> dict[str, float]:
        """Steps started a second time before their first execution ended: ``key -> seconds of overlap``."""
        ends: dict[str, list[float]] = {}
        for key, ts in self.step_ends(run_id):
            ends.setdefault(key, []).append(ts)
        starts: dict[str, list[float]] = {}
        for key, _, ts in self.step_starts(run_id):
            starts.setdefault(key, []).append(ts)
        return {
            key: min(ends.get(key, [float("inf")])) - times[1]
            for key, times in starts.items()
            if len(times) > 1 and times[1] < min(ends.get(key, [float("inf")]))
        }

    def export_id_of(self, run_id: str) -> str:
        from dagster import AssetKey, DagsterEventType

        def find() -> str | None:
            records = self.instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records
            for record in records:
                mat = record.event_log_entry.asset_materialization
                if mat is not None and mat.asset_key == AssetKey("export_snapshot"):
                    return str(mat.metadata["export_id"].value)
            return None

        return wait_for(find, 60, f"run {run_id} to snapshot its export")

    def load_open(self, partition_key: str) -> bool:
        """The chunk's load transaction is open: validation recorded, and its chunk lock held (load_chunk
        takes it before the COPY and keeps it to commit)."""
        state = self.catalog.chunk_state(partition_key)
        if state is None or state.state != "validated":
            return False
        key = self.catalog._lock_key("chunk", partition_key) & 0xFFFF_FFFF_FFFF_FFFF
        with psycopg.connect(self.services.pg_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid = %s AND objid = %s AND objsubid = 1",
                (key >> 32, key & 0xFFFF_FFFF),
            ).fetchone()
        return bool(row and row[0])

    def unfinished_partitions(self, export_id: str) -> list[str]:
        loaded = {s.partition_key for s in self.catalog.chunk_states(export_id) if s.state == "loaded"}
        return [f"{export_id}/{i:04d}" for i in range(CHUNKS) if f"{export_id}/{i:04d}" not in loaded]

    def replay(self, export_id: str, *, after_run: str) -> tuple[list[str], float]:
        """What a steward does after a failed run: once the steps it left running in the workers have ended,
        ``museum-sync quarantine replay``: one chunk_job run per unfinished partition, one after the other,
        then publish_job. Each run is watched like the first. Returns the replayed keys and the seconds."""
        started = time.monotonic()
        wait_for(
            lambda: len(self.step_ends(after_run)) >= len(self.step_starts(after_run)),
            60,
            f"the steps run {after_run} left in the workers to end",
            interval=0.5,
        )
        keys = self.unfinished_partitions(export_id)
        for key in keys:
            result = self.launch("chunk_job_def", key).wait()
            assert result.success, f"replay of {key} failed:\n{self.diagnostics(result.run_id)}"
        assert export_id in self.catalog.exports_ready_to_publish()
        published = self.launch("publish_job_def", export_id).wait()
        assert published.success, f"publication after replay failed:\n{self.diagnostics(published.run_id)}"
        return keys, time.monotonic() - started

    def diagnostics(self, run_id: str | None) -> str:
        lines = []
        if run_id:
            from dagster import DagsterEventType

            run = self.instance.get_run_by_id(run_id)
            lines.append(f"run {run_id}: {run.status if run else '?'}")
            for record in self.instance.get_records_for_run(run_id).records:
                entry = record.event_log_entry
                event = entry.dagster_event
                if event is not None and event.event_type in (
                    DagsterEventType.STEP_START,
                    DagsterEventType.STEP_SUCCESS,
                    DagsterEventType.STEP_FAILURE,
                    DagsterEventType.STEP_UP_FOR_RETRY,
                    DagsterEventType.RUN_FAILURE,
                    DagsterEventType.ENGINE_EVENT,
                ):
                    lines.append(f"  {entry.step_key or '-'} {event.event_type_value} {(event.message or '')[:300]}")
        for log in sorted((self.home / "logs").glob("*.log")):
            text = log.read_text(encoding="utf-8", errors="replace")
            lines.append(f"--- {log.name} (last 2000 chars)\n{text[-2000:]}")
        return "\n".join(lines)

    # -- the verdict ---------------------------------------------------------------------------------

    def assert_like_reference(self, export_id: str, ref: Reference, reader: CatalogReader) -> None:
        """The faulted export ends published, whole, and byte-identical to the clean run; readers never saw
        a partial catalogue."""
        final = reader.stop()
        reader.assert_only_whole_publications(self.catalog)
        assert final == (ref.count, 1, export_id), f"the public view shows {final} at the end"
        publication = self.catalog.current_publication()
        assert publication is not None and publication.export_id == export_id
        assert publication.record_count == ref.count
        states = self.catalog.chunk_states(export_id)
        assert [s.state for s in states] == ["loaded"] * CHUNKS
        # Nothing lost: every valid record is in PostgreSQL, every other one in quarantine; nothing
        # duplicated: same ids with the same content as the clean run.
        assert sum(s.record_count or 0 for s in states) == ref.count
        assert sum(s.reject_count or 0 for s in states) == ref.rejected == RECORDS - ref.count
        assert self.catalog.count(export_id) == self.catalog.count() == ref.count
        assert self.catalog.catalogue_digest(export_id) == ref.digest
        assert self.catalog.catalogue_digest() == ref.digest
        assert quarantine_rows(self.catalog, export_id) == ref.quarantine_rows, "rejects stored twice or lost"
        assert self.catalog.list_quarantined(export_id=export_id) == []


def quarantine_rows(catalog: Catalog, export_id: str) -> int:
    """Rows of the export's current quarantine: each partition's latest attempt. A retried or replayed chunk
    writes a new attempt and keeps the earlier ones as history (``Catalog.quarantine_history``); its current
    rows must equal the clean run's, neither doubled nor lost."""
    query = sql.SQL(
        "SELECT count(*) FROM {rows} q JOIN (SELECT partition_key, max(attempt) AS attempt FROM {attempts}"
        " WHERE export_id = %(export)s GROUP BY partition_key) latest"
        " ON q.partition_key = latest.partition_key AND q.attempt = latest.attempt WHERE q.export_id = %(export)s"
    ).format(
        rows=sql.Identifier(catalog.schema, "quarantine"),
        attempts=sql.Identifier(catalog.schema, "quarantine_attempts"),
    )
    with psycopg.connect(catalog.conninfo, autocommit=True) as conn:
        row = conn.execute(query, {"export": export_id}).fetchone()
    assert row is not None
    return int(row[0])


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def fault_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = ExportSpec(records=RECORDS, seed=29, chunk_size=CHUNK, bad_share=0.02, bad_kinds=BAD_KINDS)
    return write_export(spec, tmp_path_factory.mktemp("fault-export") / "tate_fault.csv")


@contextmanager
def _stack(
    services: ServiceUrls, redis_dbs: Any, base: Path, name: str, export_path: Path, mp: pytest.MonkeyPatch
) -> Iterator[FaultStack]:
    """A stack of its own: schema, home, broker and result dbs; pools are started by the test."""
    import redis

    dbs = (redis_dbs.take(), redis_dbs.take())

    def flush() -> None:
        for db in dbs:
            client = redis.Redis.from_url(services.redis_py_url_for(db))
            try:
                client.flushdb()
            finally:
                client.close()

    flush()
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:24]
    schema = f"flt_{slug}_{uuid.uuid4().hex[:6]}"
    env = runtime_env(services, base / "home", catalog_schema=schema)
    env["MUSEUM_SYNC_BROKER_URL"] = services.broker_url_for(dbs[0])
    env["MUSEUM_SYNC_RESULT_BACKEND"] = services.broker_url_for(dbs[1])
    env["MUSEUM_SYNC_REDIS_URL"] = services.redis_py_url_for(dbs[0])
    for key, value in env.items():
        mp.setenv(key, value)
    configure_environment(env)
    catalog = Catalog(services.pg_url, schema=schema)
    catalog.migrate()
    stack = FaultStack(
        name=slug[:8],
        services=services,
        env=env,
        home=Path(env["MUSEUM_SYNC_HOME"]),
        instance=dagster_instance(),
        catalog=catalog,
        monkeypatch=mp,
        export_path=export_path,
    )
    try:
        yield stack
    finally:
        for reader in stack.readers:
            reader._halt.set()
        for pool in stack.pools:
            pool.stop(timeout=10)
        stack.instance.dispose()
        try:
            flush()
        except redis.ConnectionError:  # a fault test may leave Redis down; nothing to clean then
            pass
        for db in dbs:
            redis_dbs.give_back(db)


@pytest.fixture(scope="session")
def fault_reference(
    services: ServiceUrls, _redis_db_pool: Any, fault_export: Path, tmp_path_factory: pytest.TempPathFactory
) -> Reference:
    """The clean run of the fault export, on a stack of its own, under its own source name."""
    with (
        pytest.MonkeyPatch.context() as mp,
        _stack(services, _redis_db_pool, tmp_path_factory.mktemp("ref"), "reference", fault_export, mp) as stack,
    ):
        stack.start_pool()
        run = stack.launch_sync("fault-reference")
        result = run.wait()
        assert result.success, f"the clean reference run failed:\n{stack.diagnostics(result.run_id)}"
        export_id = stack.export_id_of(result.run_id)
        states = stack.catalog.chunk_states(export_id)
        count = stack.catalog.count(export_id)
        rejected = sum(s.reject_count or 0 for s in states)
        assert len(states) == CHUNKS and sum(s.record_count or 0 for s in states) == count
        assert rejected > 0, "the export should carry some non-blocking rejects"
        assert count + rejected == RECORDS, "every record is either in the catalogue or in quarantine"
        return Reference(
            export_path=fault_export,
            export_id=export_id,
            digest=stack.catalog.catalogue_digest(export_id),
            count=count,
            rejected=rejected,
            quarantine_rows=quarantine_rows(stack.catalog, export_id),
            chunk_rows=tuple(s.record_count or 0 for s in states),
            seconds=run.seconds or 0.0,
        )


@pytest.fixture
def fault_stack(
    services: ServiceUrls,
    _redis_db_pool: Any,
    fault_export: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[FaultStack]:
    with _stack(services, _redis_db_pool, tmp_path, request.node.name, fault_export, monkeypatch) as stack:
        yield stack
