"""Dynamic partitions do not grow forever: the keys of exports retention dropped are retired.

A year of nightly 500-chunk exports was ~180k chunk keys that the UI, the daemon and every partition query
walk (``benchmarks/bench_partitions.py`` measures it). After a publication applies retention, the publish
step (and ``museum-sync publish``) deletes the chunk and export keys of every export retention dropped, but
never those of an export kept for rollback, still loading, or with an open quarantine a steward may replay.
``MUSEUM_SYNC_KEEP_EXPORTS=1`` is honoured (the public export only) and ``status`` says rollback has nothing
to go back to. Real PostgreSQL for the catalogue and the Dagster instance; real Dagster runs of the publish job.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from museum_sync.services import ServiceUrls
from museum_sync_tests.safety.test_publication_order import Deployment, deployment_on


@pytest.fixture
def deployment(services: ServiceUrls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    with deployment_on(services, tmp_path, monkeypatch) as dep:
        yield dep


def keys_of(dep: Deployment, export: object) -> tuple[bool, set[str]]:
    """(export key present, chunk keys present) of one export in the Dagster instance."""
    export_id = export.export_id  # type: ignore[attr-defined]
    chunks = {k for k in dep.instance.get_dynamic_partitions("chunks") if k.startswith(f"{export_id}/")}
    return dep.instance.has_dynamic_partition("exports", export_id), chunks


def test_the_publish_step_retires_dropped_exports_and_keeps_the_rest(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    dep = deployment
    monkeypatch.setenv("MUSEUM_SYNC_KEEP_EXPORTS", "1")
    held = dep.night(20, drift_chunks=(1,))  # quarantined, never replayed: a steward may still look at it
    dep.sync_chunks(held)
    night1, night2 = dep.night(21), dep.night(22)
    dep.sync_chunks(night1)
    assert dep.run_publish_job(night1.export_id).success
    dep.sync_chunks(night2)
    loading = dep.night(23)
    dep.sync_chunks(loading, [0, 1])  # tonight's export, half loaded
    run = dep.run_publish_job(night2.export_id)
    assert run.success
    assert dep.public() == night2.export_id

    # MUSEUM_SYNC_KEEP_EXPORTS=1 is honoured: only the public export's table is kept (and the loading one's).
    assert dep.catalog.export_row_count(night1.export_id) is None
    assert set(dep.catalog.live_exports()) == {night2.export_id, loading.export_id}
    # Night 1 was dropped: its keys are gone. The public, the loading and the quarantined export keep theirs.
    assert keys_of(dep, night1) == (False, set())
    for export in (night2, loading, held):
        assert keys_of(dep, export) == (True, set(export.partition_keys)), export.export_id
    records = dep.instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    materializations = [r.event_log_entry.asset_materialization for r in records]  # the event log, as the UI
    (published,) = [m.metadata for m in materializations if m and m.asset_key == dg.AssetKey("published_export")]
    assert published["retired_exports"].value == [night1.export_id]
    assert published["chunks"].value == len(night2.plan.chunks)

    status = dep.cli("status", extra_env={"MUSEUM_SYNC_KEEP_EXPORTS": "1"})
    assert status.returncode == 0, status.stderr
    assert "rollback: nothing to go back to (MUSEUM_SYNC_KEEP_EXPORTS=1 keeps the public export only)" in status.stdout


def test_museum_sync_publish_retires_too(deployment: Deployment) -> None:
    dep = deployment
    exports = [dep.night(day) for day in (21, 22, 23)]
    for export in exports[:2]:
        dep.sync_chunks(export)
        dep.publish(export, keep=3)
    dep.sync_chunks(exports[2])
    published = dep.cli("publish", exports[2].export_id, extra_env={"MUSEUM_SYNC_KEEP_EXPORTS": "1"})
    assert published.returncode == 0, published.stdout + published.stderr
    assert f"retired the partition keys of 2 export(s) retention dropped: {exports[0].export_id}" in published.stdout
    assert [keys_of(dep, e)[0] for e in exports] == [False, False, True]
    assert keys_of(dep, exports[2])[1] == set(exports[2].partition_keys)
    gone = (exports[0].export_id, exports[1].export_id)
    assert not any(k.startswith(gone) for k in dep.instance.get_dynamic_partitions("chunks"))
    status = dep.cli("status", extra_env={"MUSEUM_SYNC_KEEP_EXPORTS": "1"})
    assert "rollback: nothing to go back to" in status.stdout
    status = dep.cli("status")  # with the default, what is kept is listed (none: retention dropped them)
    assert "rollback: nothing to go back to (MUSEUM_SYNC_KEEP_EXPORTS=3 keeps 3 versions" in status.stdout


def test_an_export_registered_again_is_not_retired(deployment: Deployment) -> None:
    """Same bytes synced again after retention dropped it: it is live and loading again, its keys stay."""
    from museum_sync.defs.partitions import retire_partitions

    dep = deployment
    night1, night2 = dep.night(21), dep.night(22)
    for export in (night1, night2):
        dep.sync_chunks(export)
        dep.publish(export, keep=1)
    assert retire_partitions(dep.instance, dep.catalog) == [night1.export_id]
    assert keys_of(dep, night1) == (False, set())
    again = dep.night(21)  # the museum re-sends night 1's file: the same export id, registered again
    assert again.export_id == night1.export_id
    assert retire_partitions(dep.instance, dep.catalog) == []
    assert keys_of(dep, night1) == (True, set(night1.partition_keys))
