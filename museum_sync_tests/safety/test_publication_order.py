"""Nothing publishes stale data: an older export never goes public over a newer one of its source.

The scenario of issue #12: night 2 is quarantined, night 3 is published, then a steward fixes night 2 and
replays it. Every way a publication can be asked for must now refuse night 2 (the catalogue's gate, the
publication sensor, the UI's publish job, ``museum-sync publish``), naming both exports and their snapshot
times, while ``museum-sync rollback`` still makes it public on purpose. Also: the publication sensor asks
again after a failed publication (and only then), and ``quarantine replay`` is scoped to one export, checks
its keys before anything runs, and exits non-zero when its publication fails.

Real PostgreSQL (catalogue and Dagster instance), real snapshots made by ``pipeline.extract`` from generated
Tate exports, real Dagster runs (``execute_in_process`` on a PostgreSQL instance) and, for ``quarantine
replay``, the ``museum-sync`` command with its Celery workers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from museum_sync import pipeline
from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.clients.catalog import Catalog, PublicationRefused
from museum_sync.core.profiles import load_profile
from museum_sync.runtime import configure_environment, dagster_instance, runtime_env
from museum_sync.samples.generate import ExportSpec, write_export
from museum_sync.services import ServiceUrls

CHUNK = 100
PROFILE = "tate_artworks_csv"


@dataclass
class Deployment:
    """One museum-sync deployment on the session's servers: its own catalogue schema, home and source."""

    env: dict[str, str]
    catalog: Catalog
    store: ArtifactStore
    instance: Any
    source: str
    folder: Path
    profile_path: Path

    def night(self, day: int, *, drift_chunks: tuple[int, ...] = (), records: int | None = None) -> Any:
        """The export the source sent on 2026-11-<day> (snapshot time 02:00 UTC), registered as a sync does."""
        spec = ExportSpec(records=records or 300 + day, seed=day, chunk_size=CHUNK, drift_chunks=drift_chunks)
        path = write_export(spec, self.folder / f"night{day}.csv")
        export = pipeline.extract(
            path,
            load_profile(self.profile_path),
            self.store,
            source=self.source,
            chunk_size=CHUNK,
            now=datetime(2026, 11, day, 2, 0, tzinfo=UTC),
        )
        manifest = export.manifest
        self.catalog.register_export(
            export.export_id,
            manifest.source,
            export.profile,
            manifest.to_dict(),
            len(export.plan.chunks),
            export.plan.total_records,
            kind=manifest.kind,
        )
        self.instance.add_dynamic_partitions("exports", [export.export_id])
        self.instance.add_dynamic_partitions("chunks", export.partition_keys)
        return export

    def sync_chunks(self, export: Any, indices: list[int] | None = None) -> dict[int, bool]:
        """What each chunk step does: validate, record the outcome (quarantine), load it if it passed."""
        passed: dict[int, bool] = {}
        for index in range(len(export.plan.chunks)) if indices is None else indices:
            report = pipeline.validate_chunk(self.store, export, index)
            pipeline.record_chunk_outcome(self.catalog, self.store, report, None)
            if report.passed:
                pipeline.load_chunk(self.catalog, self.store, export.export_id, index, None)
            passed[index] = report.passed
        return passed

    def publish(self, export: Any, keep: int = 3) -> Any:
        return pipeline.publish(self.store, self.catalog, None, export.export_id, keep=keep)

    def fix_profile(self) -> None:
        """The steward's fix of the drift: the CMS now writes units into width/height, the profile accepts text."""
        text = self.profile_path.read_text(encoding="utf-8")
        for dim in ("width", "height"):
            text = text.replace(f'{{ name = "{dim}", type = "number" }}', f'{{ name = "{dim}", type = "string" }}')
        self.profile_path.write_text(text, encoding="utf-8")

    def public(self) -> str | None:
        current = self.catalog.current_publication()
        return current.export_id if current is not None else None

    def run_publish_job(self, export_id: str) -> Any:
        """The UI's (and the publication sensor's) publish run of one export partition, as a real Dagster run."""
        from museum_sync.definitions import defs

        job = defs.resolve_job_def("publish_job")
        return job.execute_in_process(instance=self.instance, partition_key=export_id, raise_on_error=False)

    def cli(self, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 300) -> Any:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MUSEUM_SYNC_")}
        env.update(self.env)
        env.update(extra_env or {})
        return subprocess.run(
            [sys.executable, "-m", "museum_sync.cli", "--state-dir", str(self.folder / "state"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@contextmanager
def deployment_on(services: ServiceUrls, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    """A deployment whose environment this process (resources, the Dagster instance) and its CLI share."""
    tag = uuid.uuid4().hex[:8]
    schema = f"cat_{tag}"
    env = runtime_env(services, folder / "home", catalog_schema=schema)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    configure_environment(env)
    catalog = Catalog(services.pg_url, schema=schema)
    catalog.migrate()
    profile_path = folder / f"tate_{tag}.toml"
    shutil.copyfile(load_profile(PROFILE).origin, profile_path)
    instance = dagster_instance()
    try:
        yield Deployment(
            env=env,
            catalog=catalog,
            store=ArtifactStore(Path(env["MUSEUM_SYNC_ARTIFACT_ROOT"])),
            instance=instance,
            source=f"museum{tag}",  # export ids unique to this test in the session's shared Dagster storage
            folder=folder,
            profile_path=profile_path,
        )
    finally:
        instance.dispose()


@pytest.fixture
def deployment(services: ServiceUrls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    with deployment_on(services, tmp_path, monkeypatch) as dep:
        yield dep


def evaluate_publication_sensor(dep: Deployment) -> dg.SensorResult:
    """One tick of the publication sensor, as the daemon evaluates it: the instance and the resources."""
    from museum_sync.defs.resources import CatalogResource
    from museum_sync.defs.sensors import publication_sensor

    context = dg.build_sensor_context(
        instance=dep.instance,
        resources={"catalog": CatalogResource(pg_url=dep.env["MUSEUM_SYNC_PG_URL"], schema_name=dep.catalog.schema)},
    )
    result = publication_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def run_keys(result: dg.SensorResult) -> list[str]:
    return [request.run_key or "" for request in result.run_requests or []]


def skip_message(result: dg.SensorResult) -> str:
    return result.skip_reason.skip_message if result.skip_reason is not None else ""


class RefusePublications:
    """A trigger that makes every publication transaction fail (a real PostgreSQL error, as a lost server)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def _run(self, statement: sql.Composable) -> None:
        with psycopg.connect(self.catalog.conninfo, autocommit=True) as conn:
            conn.execute(statement)

    def on(self) -> None:
        schema = sql.Identifier(self.catalog.schema)
        self._run(
            sql.SQL(
                "CREATE FUNCTION {}.refuse() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN RAISE EXCEPTION 'injected: the publications row is refused'; END $$"
            ).format(schema)
        )
        self._run(
            sql.SQL("CREATE TRIGGER refuse BEFORE INSERT ON {} FOR EACH ROW EXECUTE FUNCTION {}.refuse()").format(
                sql.Identifier(self.catalog.schema, "publications"), schema
            )
        )

    def off(self) -> None:
        self._run(sql.SQL("DROP FUNCTION {}.refuse() CASCADE").format(sql.Identifier(self.catalog.schema)))


def step_failure_messages(result: Any) -> list[str]:
    return [e.step_failure_data.error.message for e in result.get_step_failure_events()]


# ---------------------------------------------------------------------------------------------------------
# Finding 1: an older export is never published over a newer one


def test_a_replayed_older_night_is_refused_everywhere_but_a_rollback(deployment: Deployment) -> None:
    dep = deployment
    night1 = dep.night(22)
    dep.sync_chunks(night1)
    dep.publish(night1)
    night2 = dep.night(23, drift_chunks=(1,))
    assert dep.sync_chunks(night2) == {0: True, 1: False, 2: True, 3: True}  # chunk 1 quarantined
    night3 = dep.night(24)
    dep.sync_chunks(night3)
    dep.publish(night3)
    assert dep.public() == night3.export_id
    # 8 am: the steward fixes the profile and replays night 2's quarantined chunk. Night 2 is complete.
    dep.fix_profile()
    assert dep.sync_chunks(night2, [1]) == {1: True}
    assert {s.state for s in dep.catalog.chunk_states(night2.export_id)} == {"loaded"}
    old, new = night2.export_id, night3.export_id
    both = (f"export {old!r} (snapshot 2026-11-23T02:00:00+00:00) is older than export {new!r}"
            " (snapshot 2026-11-24T02:00:00+00:00)")  # fmt: skip

    # Nothing asks for it: not "ready", and the sensor names both exports in its skip reason.
    assert old not in dep.catalog.exports_ready_to_publish()
    tick = evaluate_publication_sensor(dep)
    assert run_keys(tick) == [] and both in skip_message(tick)

    # The catalogue refuses it, whoever asks: the protocol, the UI's publish job, the command line.
    with pytest.raises(PublicationRefused, match="is older than export"):
        dep.publish(night2)
    run = dep.run_publish_job(old)
    assert not run.success and any(both in m for m in step_failure_messages(run))
    published = dep.cli("publish", old)
    assert published.returncode == 2, published.stdout + published.stderr
    assert published.stderr.strip().splitlines() == [
        f"museum-sync: error: {both}, the one of source {dep.source!r} in force: publishing it would take the"
        f" public catalogue back; to do that on purpose, roll back to it (museum-sync rollback {old})"
    ]
    assert dep.public() == new and dep.catalog.count() == dep.catalog.count(new)

    # A rollback to it is the steward's deliberate choice: it goes through the gate and is public.
    rolled = dep.cli("rollback", old)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert f"public catalogue now shows {old}" in rolled.stdout and both in rolled.stdout
    assert dep.public() == old and dep.catalog.catalogue_digest() == dep.catalog.catalogue_digest(old)
    assert dep.catalog.count(new) > 0, "a rollback applies no retention: the newer export stays for a roll forward"


def test_the_sensor_publishes_one_export_per_source_oldest_first(deployment: Deployment) -> None:
    """Two nights ready after a stall: night 2 first (an incremental night 3 would apply on it), then night 3."""
    dep = deployment
    night1 = dep.night(22)
    dep.sync_chunks(night1)
    dep.publish(night1)
    night2, night3 = dep.night(23), dep.night(24)
    dep.sync_chunks(night2)
    dep.sync_chunks(night3)
    tick = evaluate_publication_sensor(dep)
    assert [r.partition_key for r in tick.run_requests or []] == [night2.export_id]
    assert dep.run_publish_job(night2.export_id).success
    tick = evaluate_publication_sensor(dep)
    assert [r.partition_key for r in tick.run_requests or []] == [night3.export_id]


# ---------------------------------------------------------------------------------------------------------
# Finding 2: a failed publication is asked for again, and the same state is never asked for twice


def test_the_sensor_asks_again_after_a_failed_publication_and_only_then(deployment: Deployment) -> None:
    dep = deployment
    night1 = dep.night(22)
    dep.sync_chunks(night1)
    dep.publish(night1)
    night2 = dep.night(23)
    dep.sync_chunks(night2)  # loaded; its bulk run's publication did not happen
    first = run_keys(evaluate_publication_sensor(dep))
    assert len(first) == 1
    assert run_keys(evaluate_publication_sensor(dep)) == first, "the same state must give the same run key"

    refuse = RefusePublications(dep.catalog)
    refuse.on()
    try:
        failed = dep.run_publish_job(night2.export_id)  # a transient failure of the publication itself
    finally:
        refuse.off()
    assert not failed.success and any("injected" in m for m in step_failure_messages(failed))
    assert dep.public() == night1.export_id

    second = run_keys(evaluate_publication_sensor(dep))
    assert len(second) == 1 and second != first, "after a failure the sensor must ask for a new run"
    assert run_keys(evaluate_publication_sensor(dep)) == second
    assert dep.run_publish_job(night2.export_id).success
    assert dep.public() == night2.export_id
    assert run_keys(evaluate_publication_sensor(dep)) == []


# ---------------------------------------------------------------------------------------------------------
# Findings 11 and 13: quarantine replay


def test_replay_checks_its_keys_before_anything_runs(deployment: Deployment) -> None:
    runs_before = len(deployment.instance.get_run_records())
    bad = deployment.cli("quarantine", "replay", "../../etc/passwd")
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert bad.stderr.strip().splitlines() == [
        "museum-sync: error: not a chunk partition key: '../../etc/passwd' (expected <export_id>/<nnnn>)"
    ]
    assert len(deployment.instance.get_run_records()) == runs_before


def test_replay_all_is_one_export_and_fails_when_its_publication_fails(deployment: Deployment) -> None:
    dep = deployment
    night1 = dep.night(22)
    dep.sync_chunks(night1)
    dep.publish(night1)
    night2 = dep.night(23, drift_chunks=(1,))
    night3 = dep.night(24, drift_chunks=(2,))
    dep.sync_chunks(night2)
    dep.sync_chunks(night3)
    dep.fix_profile()
    refuse = RefusePublications(dep.catalog)
    refuse.on()
    try:
        replay = dep.cli("quarantine", "replay", "--all", timeout=600)
    finally:
        refuse.off()
    out = replay.stdout
    assert f"will replay 1 open partition(s) of export {night3.export_id}: {night3.export_id}/0002" in out, out
    assert f"{night2.export_id} (1)" in out and "name them with --export" in out
    assert f"replay {night3.export_id}/0002: SUCCESS" in out
    assert f"replay {night2.export_id}/0001" not in out, "--all replayed an older export too"
    assert f"publish {night3.export_id}: FAILURE" in out and "injected" in out
    assert replay.returncode == 1, "a replay whose publication failed must not exit 0"
    assert dep.public() == night1.export_id
    assert [q.partition_key for q in dep.catalog.list_quarantined()] == [f"{night2.export_id}/0001"]
