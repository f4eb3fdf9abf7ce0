"""The Dagster code location as ``dagster dev`` / the daemon / the Celery workers load it.

A snapshot of what the UI shows (assets, checks, jobs, sensors, schedules), the guarantees the Celery
executor and the worker app must share (one config dict, read from the environment), and the inbox
sensor and nightly schedule evaluated with Dagster's own test contexts on real files.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app

from museum_sync.defs.celery_config import celery_config
from museum_sync.defs.executor import bounded_celery_executor, museum_celery_executor
from museum_sync.defs.result_backend import BACKEND_PREFIX
from museum_sync.defs.run_config import sync_run_config
from museum_sync.defs.schedules import nightly_sync_schedule
from museum_sync.defs.sensors import inbox_sensor

JOBS = ("sync_export_job", "harvest_export_job", "chunk_job", "publish_job", "replay_quarantined")
QUEUE_TAG = "dagster-celery/queue"
TATE_CSV = "csv/tate_artwork_data_first52rows.csv"

# Every variable celery_config() reads, so a developer's shell cannot change what the tests expect.
CELERY_ENV = (
    "MUSEUM_SYNC_VISIBILITY_TIMEOUT",
    "MUSEUM_SYNC_MAX_TASKS_PER_CHILD",
    "MUSEUM_SYNC_MAX_MEMORY_PER_CHILD_KB",
    "MUSEUM_SYNC_BROKER_POOL_LIMIT",
    "MUSEUM_SYNC_BROKER_HEARTBEAT",
    "MUSEUM_SYNC_BROKER_MAX_RETRIES",
    "MUSEUM_SYNC_RESULT_EXPIRES",
    "MUSEUM_SYNC_REDIS_URL",
    "MUSEUM_SYNC_BROKER_URL",
    "MUSEUM_SYNC_RESULT_BACKEND",
)


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    from museum_sync.definitions import defs

    return defs


# ---------------------------------------------------------------------------------------- code location


def test_code_location_loads_and_resolves_every_job(defs):
    for name in JOBS:
        job = defs.resolve_job_def(name)
        assert job.name == name
        assert job.executor_def.name == "museum_celery_executor"
        assert job.tags["dagster/max_runtime"] == "3600", f"{name} needs a run timeout"


def test_asset_graph_snapshot(defs):
    graph = defs.resolve_asset_graph()
    shape = {
        key.to_user_string(): (
            graph.get(key).partitions_def.name if graph.get(key).partitions_def else None,
            sorted(p.to_user_string() for p in graph.get(key).parent_keys),
        )
        for key in graph.get_all_asset_keys()
    }
    assert shape == {
        "export_snapshot": (None, []),
        "validated_chunk": ("chunks", ["export_snapshot"]),
        "catalog_chunk": ("chunks", ["validated_chunk"]),
        "search_chunk": ("chunks", ["catalog_chunk"]),
        "published_export": ("exports", ["catalog_chunk", "search_chunk"]),
        "iiif_chunk": ("chunks", ["catalog_chunk"]),
    }


def test_asset_checks_snapshot_both_blocking(defs):
    graph = defs.resolve_asset_graph()
    checks = {(k.asset_key.to_user_string(), k.name): graph.get_check_spec(k).blocking for k in graph.asset_check_keys}
    assert checks == {
        ("validated_chunk", "schema_drift"): True,
        ("validated_chunk", "record_validity"): True,
        ("iiif_chunk", "iiif_manifests"): False,  # the source's IIIF policy acts, never the chunk's gate
    }


def test_jobs_sensors_schedules_snapshot(defs):
    repo = defs.get_repository_def()
    assert {j.name for j in repo.get_all_jobs() if not j.name.startswith("__")} == set(JOBS)
    assert {s.name: s.job_name for s in repo.sensor_defs} == {
        "inbox_sensor": "sync_export_job",
        "publication_sensor": "publish_job",
    }
    assert {s.name: s.job_name for s in repo.schedule_defs} == {
        "nightly_sync_schedule": "sync_export_job",
        "nightly_harvest_schedule": "harvest_export_job",
    }
    for sensor in repo.sensor_defs:
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING, f"{sensor.name} must run without a click"
    assert nightly_sync_schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_names_the_run_storage_depends_on(defs):
    """Op, job, check and asset names are stored with every run: they change only on purpose, here."""
    from museum_sync.defs import asset_keys as names

    ops = {
        job: sorted(node.name for node in defs.resolve_job_def(job).graph.node_defs)
        for job in ("sync_export_job", "harvest_export_job", "replay_quarantined")
    }
    assert ops == {
        "sync_export_job": [
            "check_iiif_chunk",
            "plan_iiif",
            "publish_synced_export",
            "snapshot_and_plan",
            "sync_chunk",
        ],
        "harvest_export_job": [
            "check_iiif_chunk",
            "harvest_and_plan",
            "plan_iiif",
            "publish_synced_export",
            "sync_chunk",
        ],
        "replay_quarantined": ["plan_replay", "publish_replayed", "sync_chunk"],
    }
    assert (names.SNAPSHOT_AND_PLAN, names.HARVEST_AND_PLAN, names.SYNC_CHUNK, names.PUBLISH_SYNCED_EXPORT) == (
        "snapshot_and_plan",
        "harvest_and_plan",
        "sync_chunk",
        "publish_synced_export",
    )
    assert (
        names.SYNC_EXPORT_JOB,
        names.HARVEST_EXPORT_JOB,
        names.CHUNK_JOB,
        names.PUBLISH_JOB,
        names.REPLAY_QUARANTINED_JOB,
    ) == JOBS
    assert (names.SCHEMA_DRIFT, names.RECORD_VALIDITY) == ("schema_drift", "record_validity")
    assert {k.to_user_string() for k in defs.resolve_all_asset_keys()} == {
        names.EXPORT_SNAPSHOT.to_user_string(),
        names.VALIDATED_CHUNK.to_user_string(),
        names.CATALOG_CHUNK.to_user_string(),
        names.SEARCH_CHUNK.to_user_string(),
        names.PUBLISHED_EXPORT.to_user_string(),
        names.IIIF_CHUNK.to_user_string(),
    }
    assert (names.PLAN_IIIF, names.IIIF_STEP, names.IIIF_MANIFESTS) == (
        "plan_iiif",
        "check_iiif_chunk",
        "iiif_manifests",
    )
    assert names.chunk_mapping_key(42) == "c0042"  # step key sync_chunk[c0042]


def test_schedules_snapshot(defs):
    repo = defs.get_repository_def()
    schedules = {s.name: (s.cron_schedule, s.execution_timezone) for s in repo.schedule_defs}
    assert schedules == {
        "nightly_sync_schedule": ("0 2 * * *", "UTC"),
        "nightly_harvest_schedule": ("30 1 * * *", "UTC"),
    }


def test_run_config_builders_fit_their_jobs(museum_env, defs):
    from museum_sync.defs.run_config import harvest_run_config, quiet_console

    sync = sync_run_config(Path("/exports/a.csv"), "tate_artworks_csv", "tate", chunk_size=500)
    assert sync == {
        "ops": {
            "snapshot_and_plan": {
                "config": {
                    "path": "/exports/a.csv",
                    "profile": "tate_artworks_csv",
                    "source": "tate",
                    "chunk_size": 500,
                }
            }
        }
    }
    harvest = harvest_run_config("lido_xml", source="kenom", incremental=True, since="2026-03-03")
    assert harvest == {
        "ops": {
            "harvest_and_plan": {
                "config": {"profile": "lido_xml", "source": "kenom", "incremental": True, "since": "2026-03-03"}
            }
        }
    }
    assert dg.validate_run_config(defs.resolve_job_def("sync_export_job"), quiet_console(sync, verbose=False))
    assert dg.validate_run_config(defs.resolve_job_def("harvest_export_job"), quiet_console(harvest, verbose=True))


def test_job_selections(defs):
    chunk = defs.resolve_job_def("chunk_job").asset_layer.selected_asset_keys
    publish = defs.resolve_job_def("publish_job").asset_layer.selected_asset_keys
    assert {k.to_user_string() for k in chunk} == {"validated_chunk", "catalog_chunk", "search_chunk"}
    assert {k.to_user_string() for k in publish} == {"published_export"}
    ops = {node.name for node in defs.resolve_job_def("sync_export_job").graph.node_defs}
    assert ops == {"snapshot_and_plan", "sync_chunk", "publish_synced_export", "plan_iiif", "check_iiif_chunk"}


def test_every_op_and_asset_runs_on_the_ingestion_queue(defs):
    iiif = {"plan_iiif", "check_iiif_chunk", "iiif_chunk"}  # their own pool (defs.iiif)
    for name in JOBS:
        for node in defs.resolve_job_def(name).graph.node_defs:
            queue = "iiif" if node.name in iiif else "ingestion_high"
            assert node.tags.get(QUEUE_TAG) == queue, f"{name}.{node.name} would go to the default queue"
    for key in defs.resolve_all_asset_keys():
        queue = "iiif" if key.to_user_string() in iiif else "ingestion_high"
        assert defs.resolve_assets_def(key).op.tags.get(QUEUE_TAG) == queue, key


def test_every_asset_has_description_owners_and_kinds(defs):
    specs = defs.resolve_all_asset_specs()
    assert len(specs) == 6
    for spec in specs:
        assert spec.description and len(spec.description) > 40, spec.key
        assert spec.owners == ["team:collections-data"], spec.key
        assert spec.kinds, spec.key


# ------------------------------------------------------------------------------------ Celery executor


def _executor_config(executor_def: dg.ExecutorDefinition) -> dict:
    resolved = executor_def.config_schema.resolve_config({})
    assert resolved.success, resolved.errors
    config = dict(resolved.value["config"])
    config.pop("retries")  # dagster's own default, not ours
    return config


def test_every_job_runs_on_the_celery_executor_with_celery_config(defs):
    for name in JOBS:
        executor = defs.resolve_job_def(name).executor_def
        assert executor.config_schema.parent_def is bounded_celery_executor, f"{name} is not on the Celery executor"
        assert _executor_config(executor) == celery_config()


def test_celery_config_guarantees(monkeypatch):
    for key in CELERY_ENV:
        monkeypatch.delenv(key, raising=False)
    config = celery_config()
    source = config["config_source"]
    assert source["worker_prefetch_multiplier"] == 1
    assert source["task_acks_late"] is True
    assert source["task_reject_on_worker_lost"] is True
    assert source["broker_connection_retry_on_startup"] is True
    assert source["task_default_queue"] == "dagster"
    assert source["worker_max_tasks_per_child"] == 100
    assert source["worker_max_memory_per_child"] == 400_000
    assert source["broker_pool_limit"] == 10
    assert source["broker_heartbeat"] == 30
    assert source["broker_connection_max_retries"] == 100
    assert source["result_expires"] == 3600
    for options in (source["broker_transport_options"], source["result_backend_transport_options"]):
        assert options["visibility_timeout"] == 1800
        assert options["max_retries"] == 100
    assert config["broker"] == "redis://127.0.0.1:6379/0"
    assert config["backend"] == BACKEND_PREFIX + "redis://127.0.0.1:6379/1", "results must not share the broker's db"


def test_env_overrides_reach_executor_and_worker(monkeypatch):
    overrides = {
        "MUSEUM_SYNC_VISIBILITY_TIMEOUT": "7200",
        "MUSEUM_SYNC_MAX_TASKS_PER_CHILD": "7",
        "MUSEUM_SYNC_MAX_MEMORY_PER_CHILD_KB": "250000",
        "MUSEUM_SYNC_BROKER_POOL_LIMIT": "3",
        "MUSEUM_SYNC_BROKER_HEARTBEAT": "11",
        "MUSEUM_SYNC_BROKER_MAX_RETRIES": "9",
        "MUSEUM_SYNC_RESULT_EXPIRES": "60",
        "MUSEUM_SYNC_BROKER_URL": "redis://broker.example:6380/4",
        "MUSEUM_SYNC_RESULT_BACKEND": "redis://broker.example:6380/5",
    }
    for key, value in overrides.items():
        monkeypatch.setenv(key, value)
    config = celery_config()
    source = config["config_source"]
    assert (config["broker"], config["backend"]) == (
        "redis://broker.example:6380/4",
        BACKEND_PREFIX + "redis://broker.example:6380/5",
    )
    assert source["worker_max_tasks_per_child"] == 7
    assert source["worker_max_memory_per_child"] == 250_000
    assert source["broker_pool_limit"] == 3
    assert source["broker_heartbeat"] == 11
    assert source["broker_connection_max_retries"] == 9
    assert source["result_expires"] == 60
    for options in (source["broker_transport_options"], source["result_backend_transport_options"]):
        assert options["visibility_timeout"] == 7200
        assert options["max_retries"] == 9
    # Both sides are built from the same dict: the executor and the worker app follow the override.
    assert _executor_config(museum_celery_executor()) == config
    app = make_app(CeleryExecutor.for_cli(**config).app_args())
    assert app.conf.broker_transport_options["visibility_timeout"] == 7200
    assert app.conf.worker_max_tasks_per_child == 7


def test_redis_url_alone_gives_broker_and_separate_result_db(monkeypatch):
    for key in CELERY_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MUSEUM_SYNC_REDIS_URL", "redis://cache.example:6379/2")
    config = celery_config()
    assert config["broker"] == "redis://cache.example:6379/2"
    # Results on the broker's db n+1 (settings.result_backend_for). The old rule here (always db 1) disagreed
    # with the CLI stack: a hand-started worker on a broker db n != 0 wrote results where nobody polled.
    assert config["backend"] == BACKEND_PREFIX + "redis://cache.example:6379/3"


def test_worker_app_has_the_executor_config_and_declares_the_queues():
    from museum_sync.defs.worker_app import app

    config = celery_config()
    for key, value in config["config_source"].items():
        assert app.conf[key] == value, f"worker and executor disagree on {key}"
    assert app.conf.broker_url == config["broker"]
    assert app.conf.result_backend == config["backend"]
    assert {q.name for q in app.conf.task_queues} == {"ingestion_high", "iiif", "dagster"}
    assert {"execute_plan", "execute_job", "resume_job"} <= set(app.tasks)


# ----------------------------------------------------------------------------------------- inbox sensor


def _tick(cursor: str | None = None) -> dg.SensorResult:
    result = inbox_sensor(dg.build_sensor_context(cursor=cursor))
    assert isinstance(result, dg.SensorResult)
    return result


def test_inbox_sensor_waits_one_tick_then_requests_a_run(museum_env, shared_data, defs):
    folder = museum_env / "inbox" / "tate_artworks_csv"
    folder.mkdir()
    export = folder / "artwork_data.csv"
    export.write_bytes((shared_data / TATE_CSV).read_bytes())
    (folder / ".artwork_data.csv.part").write_bytes(b"half a copy")  # rsync's temp file: never picked up

    first = _tick()
    assert first.run_requests == [], "a file seen for the first time may still be growing"
    second = _tick(first.cursor)
    assert len(second.run_requests) == 1
    request = second.run_requests[0]
    assert request.run_config == {
        "ops": {"snapshot_and_plan": {"config": {"path": str(export), "profile": "tate_artworks_csv"}}}
    }
    assert request.run_config == sync_run_config(export, "tate_artworks_csv")
    size = export.stat().st_size
    assert request.run_key == f"{export}:{size}:{int(export.stat().st_mtime)}"
    assert request.tags["museum-sync/source-file"] == "artwork_data.csv"
    # The request is a valid run of sync_export_job with the resources wired from the environment.
    assert dg.validate_run_config(defs.resolve_job_def("sync_export_job"), request.run_config)
    # A later tick keeps the same run key, so Dagster starts that file version once.
    assert [r.run_key for r in _tick(second.cursor).run_requests] == [request.run_key]


def test_inbox_sensor_waits_while_a_file_grows(museum_env, shared_data):
    folder = museum_env / "inbox" / "tate_artworks_csv"
    folder.mkdir()
    data = (shared_data / TATE_CSV).read_bytes()
    export = folder / "artwork_data.csv"
    export.write_bytes(data[: len(data) // 2])
    first = _tick()
    with export.open("ab") as handle:
        handle.write(data[len(data) // 2 :])
    second = _tick(first.cursor)
    assert second.run_requests == [], "size changed since the last tick: the copy is still running"
    third = _tick(second.cursor)
    assert len(third.run_requests) == 1
    assert third.run_requests[0].run_key.startswith(f"{export}:{len(data)}:")


def test_inbox_sensor_ignores_a_folder_naming_no_profile(museum_env, shared_data):
    folder = museum_env / "inbox" / "tate_artworks"  # a typo of tate_artworks_csv
    folder.mkdir()
    (folder / "artwork_data.csv").write_bytes((shared_data / TATE_CSV).read_bytes())
    first = _tick()
    second = _tick(first.cursor)
    assert first.run_requests == second.run_requests == []


# ------------------------------------------------------------------------------------- nightly schedule


def _evaluate_schedule() -> list[dg.RunRequest] | dg.SkipReason:
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 3, 4, 2, 0, tzinfo=UTC))
    return nightly_sync_schedule(context)


def test_nightly_schedule_requests_one_run_per_configured_source(museum_env, monkeypatch, defs):
    sources = museum_env / "sources.toml"
    sources.write_text(
        "[[source]]\n"
        'name = "tate"\nprofile = "tate_artworks_csv"\npath = "/exports/tate/artwork_data.csv"\n\n'
        "[[source]]\n"
        'name = "aic"\nprofile = "aic_artworks_csv"\npath = "/exports/aic/artworks.csv"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("MUSEUM_SYNC_SOURCES", str(sources))
    requests = _evaluate_schedule()
    assert isinstance(requests, list) and len(requests) == 2
    assert {r.run_key: r.run_config for r in requests} == {
        "nightly:tate:20260304": sync_run_config(Path("/exports/tate/artwork_data.csv"), "tate_artworks_csv", "tate"),
        "nightly:aic:20260304": sync_run_config(Path("/exports/aic/artworks.csv"), "aic_artworks_csv", "aic"),
    }
    assert {r.tags["museum-sync/source"] for r in requests} == {"tate", "aic"}
    job = defs.resolve_job_def("sync_export_job")
    for request in requests:
        assert dg.validate_run_config(job, request.run_config)


def test_nightly_schedule_reads_home_sources_toml_by_default(museum_env):
    (museum_env / "sources.toml").write_text(
        '[[source]]\nname = "tate"\nprofile = "tate_artworks_csv"\npath = "/exports/tate/a.csv"\n', encoding="utf-8"
    )
    assert "MUSEUM_SYNC_SOURCES" not in os.environ
    requests = _evaluate_schedule()
    assert [r.run_key for r in requests] == ["nightly:tate:20260304"]


@pytest.mark.parametrize("setup", ["unset", "missing_file", "no_sources"])
def test_nightly_schedule_skips_when_nothing_is_configured(museum_env, monkeypatch, setup):
    if setup == "missing_file":
        monkeypatch.setenv("MUSEUM_SYNC_SOURCES", str(museum_env / "nope.toml"))
    elif setup == "no_sources":
        empty = museum_env / "empty.toml"
        empty.write_text("# sources are added by the deploy\n", encoding="utf-8")
        monkeypatch.setenv("MUSEUM_SYNC_SOURCES", str(empty))
    result = _evaluate_schedule()
    assert isinstance(result, dg.SkipReason)
    assert "no sources configured" in (result.skip_message or "")


def test_executor_config_follows_the_environment_at_run_time_not_import_time(defs, monkeypatch):
    """A long-lived process (webserver, daemon, a test session) imported the code location earlier; a run
    must still send its steps to the broker the environment names now, where the workers listen."""
    executor = defs.resolve_job_def("sync_export_job").executor_def
    monkeypatch.setenv("MUSEUM_SYNC_BROKER_URL", "redis://broker-now.example:6379/4")
    monkeypatch.setenv("MUSEUM_SYNC_RESULT_BACKEND", "redis://broker-now.example:6379/5")
    resolved = _executor_config(executor)
    assert resolved["broker"] == "redis://broker-now.example:6379/4"
    assert resolved["backend"] == BACKEND_PREFIX + "redis://broker-now.example:6379/5"


def test_nightly_harvest_schedule_asks_for_incremental_harvests_without_a_date(museum_env, tmp_path, monkeypatch):
    """No fixed window: an incremental harvest starts at the source's last successful harvest (its high-water
    mark, kept by the harvesters), so a missed night loses nothing; the request is the same every night."""
    from museum_sync.defs.jobs import harvest_export_job
    from museum_sync.defs.run_config import HarvestConfig
    from museum_sync.defs.schedules import nightly_harvest_schedule

    sources = tmp_path / "sources.toml"
    sources.write_text(
        '[[harvest]]\nname = "kenom"\nprofile = "lido_xml"\n\n'
        '[[harvest]]\nname = "aic"\nprofile = "aic_artworks_api"\nincremental = false\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("MUSEUM_SYNC_SOURCES", str(sources))
    nights = {}
    for day in (4, 7):  # two nights apart, as after a daemon outage
        when = datetime(2026, 3, day, 1, 30, tzinfo=UTC)
        requests = nightly_harvest_schedule(dg.build_schedule_context(scheduled_execution_time=when))
        nights[day] = {r.run_key: r.run_config for r in requests}
    configs = {key: config["ops"]["harvest_and_plan"]["config"] for key, config in nights[4].items()}
    assert configs == {
        "harvest:kenom:20260304": {"profile": "lido_xml", "source": "kenom", "incremental": True},
        "harvest:aic:20260304": {"profile": "aic_artworks_api", "source": "aic", "incremental": False},
    }
    assert sorted(map(str, nights[7].values())) == sorted(map(str, nights[4].values()))
    # What the harvest op is given: incremental, with no since (the harvesters then use the high-water mark).
    run_config = nights[4]["harvest:kenom:20260304"]
    assert dg.validate_run_config(harvest_export_job, run_config)["ops"]["harvest_and_plan"]["config"] == {
        "profile": "lido_xml",
        "source": "kenom",
        "incremental": True,
        "since": None,
    }
    config = HarvestConfig(**run_config["ops"]["harvest_and_plan"]["config"])
    assert (config.incremental, config.since) == (True, None)


# ------------------------------------------------------------------------- partitions: dependencies and keys


def test_an_export_partition_depends_on_no_chunk_of_another_export(defs):
    """published_export[X] must not depend on every chunk of every export (AllPartitionMapping: ~180k keys
    after a year, walked by the daemon and the UI): in the code location and in the snapshot the webserver
    and daemon read, its export partition maps to no chunk partition (lineage stays as the graph edge)."""
    from dagster._core.remote_representation.external_data import RepositorySnap

    from museum_sync.defs.asset_keys import CATALOG_CHUNK, PUBLISHED_EXPORT, SEARCH_CHUNK
    from museum_sync.defs.partitions import chunk_partitions, export_partitions

    x, y = "tate-20261124-aaaa1111", "tate-20261125-bbbb2222"
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("exports", [x, y])
    instance.add_dynamic_partitions("chunks", [f"{e}/{i:04d}" for e in (x, y) for i in range(3)])
    graph = defs.resolve_asset_graph()
    snap = RepositorySnap.from_def(defs.get_repository_def())
    node = next(n for n in snap.asset_nodes if n.asset_key == PUBLISHED_EXPORT)
    served = {edge.parent_asset_key: edge.partition_mapping for edge in node.parent_edges}
    for parent in (CATALOG_CHUNK, SEARCH_CHUNK):
        for mapping in (graph.get_partition_mapping(PUBLISHED_EXPORT, parent), served[parent]):
            upstream = mapping.get_upstream_mapped_partitions_result_for_partitions(
                export_partitions.empty_subset().with_partition_keys([x]),
                export_partitions,
                chunk_partitions,
                dynamic_partitions_store=instance,
            ).partitions_subset.get_partition_keys()
            assert not [k for k in upstream if not k.startswith(f"{x}/")], (parent, mapping, upstream)


@pytest.mark.parametrize(
    ("job", "key", "shape"),
    [
        ("chunk_job", "../../../etc/passwd", "<export_id>/<nnnn>"),
        ("chunk_job", "tate-20261125-1a2b3c4d", "<export_id>/<nnnn>"),
        ("publish_job", "../snapshots/tate-20261125-1a2b3c4d", "<source>-<7 hex>-<YYYYMMDD>"),
        ("publish_job", "tate-20261125-1a2b3c4d/0001", "<source>-<7 hex>-<YYYYMMDD>"),
    ],
)
def test_a_partition_key_added_in_the_ui_is_checked_before_anything_runs(museum_env, defs, job, key, shape):
    """Anyone can add a key to a dynamic partition in the UI: every asset body checks its key's shape first
    and fails with one message naming the key and the shape expected, before any file or table is read."""
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("chunks" if job == "chunk_job" else "exports", [key])
    result = defs.resolve_job_def(job).execute_in_process(instance=instance, partition_key=key, raise_on_error=False)
    assert not result.success
    failures = result.get_step_failure_events()
    assert len(failures) == 1
    data = failures[0].step_failure_data
    assert data.error.cls_name == "Failure", data.error.message
    assert data.user_failure_data is not None
    assert repr(key) in data.user_failure_data.description and shape in data.user_failure_data.description
    assert not (museum_env / "artifacts").exists() or not any((museum_env / "artifacts").rglob("*"))
