"""End to end on real services: Dagster on PostgreSQL, Redis, Celery worker processes, the catalogue.

The exports are derived from real Tate rows by ``museum_sync.samples.generate``; each test states the
outcome a museum data engineer would expect and checks it in the catalogue, the quarantine and the
Dagster event log.
"""

from __future__ import annotations

import shutil

import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterEventType

from museum_sync.core.profiles import load_profile
from museum_sync.samples.generate import ExportSpec, generate, write_export

pytestmark = pytest.mark.integration

CHUNK = 200


def _export_of(stack, run_id: str) -> str:
    for record in stack.instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records:
        mat = record.event_log_entry.asset_materialization
        if mat.asset_key == AssetKey("export_snapshot"):
            return str(mat.metadata["export_id"].value)
    raise AssertionError(f"run {run_id} recorded no export_snapshot materialization")


def _expected_valid(spec: ExportSpec) -> int:
    """Records the generator did not break (a broken record carries a changed field)."""
    return sum(1 for _ in generate(spec))


@pytest.fixture(scope="module")
def clean(sync_stack, tmp_path_factory):
    spec = ExportSpec(records=800, seed=11, chunk_size=CHUNK, bad_share=0.02)
    path = write_export(spec, tmp_path_factory.mktemp("exports") / "clean.csv")
    result = sync_stack.sync(path, "tate_artworks_csv", source="tate-clean", chunk_size=CHUNK)
    return path, result, _export_of(sync_stack, result.run_id)


def test_clean_export_publishes_every_valid_record(sync_stack, clean):
    path, result, export_id = clean
    assert result.success, "a clean export (non-blocking rejects only) must sync successfully"
    catalog = sync_stack.catalog
    states = catalog.chunk_states(export_id)
    assert [s.state for s in states] == ["loaded"] * 4
    valid = sum(s.record_count for s in states)
    rejected = sum(s.reject_count for s in states)
    assert valid + rejected == 800
    assert rejected > 0, "the export has ~2% bad records"
    # The public catalogue shows exactly the valid records of this export.
    assert catalog.current_publication().export_id == export_id
    assert catalog.count() == valid
    # Every rejected record is in quarantine with its reason; no partition is held back.
    rows = [r for s in states for r in catalog.quarantine_rows(s.partition_key, limit=1000)]
    assert len({(r.partition_key, r.file, r.line) for r in rows}) == rejected
    assert {r.reason for r in rows} <= {
        "unknown_rights",
        "invalid_date",
        "invalid_url",
        "missing_required",
        "duplicate_id",
    }
    assert catalog.list_quarantined(export_id=export_id) == []


def test_every_row_carries_its_lineage_and_trace_follows_a_record(sync_stack, clean, tmp_path_factory):
    """Lineage on every catalogue row (run, chunk, file:line of the source), and ``museum-sync trace`` for a
    loaded record and a rejected one, on the clean export's sync (no run of its own)."""
    import csv
    import os
    import subprocess
    import sys

    path, result, export_id = clean
    catalog = sync_stack.catalog
    source_lines = path.read_text(encoding="utf-8").splitlines()
    key = f"{export_id}/0001"
    lineage = catalog.chunk_lineage(export_id, key)
    assert lineage and {row["run_id"] for row in lineage.values()} == {result.run_id}
    for record_id, row in lineage.items():
        file, line = row["source_locator"].rsplit(":", 1)
        assert file == path.name
        staged = catalog.staged_row(export_id, record_id)
        assert staged is not None and staged["chunk_key"] == key and staged["source_locator"] == row["source_locator"]
    # The UI shows the same path: catalog_chunk's materialization links the run and names the chunk's source lines.
    (mat,) = sync_stack.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("catalog_chunk"), asset_partitions=[key]), limit=1
    ).records
    meta = mat.asset_materialization.metadata
    assert meta["lineage_run_id"].value == result.run_id

    def line_of(locator: str) -> int:
        file, line = locator.rsplit(":", 1)
        assert file == path.name
        return int(line)

    row_lines = sorted(line_of(r["source_locator"]) for r in lineage.values())
    # the chunk's first and last valid record (a duplicate among them is valid but not kept as a row)
    assert line_of(meta["source_first"].value) <= row_lines[0] and line_of(meta["source_last"].value) >= row_lines[-1]
    assert meta["trace"].value == f"museum-sync trace <record_id> --export {export_id}"
    record_id, row = sorted(lineage.items())[0]
    line = int(row["source_locator"].rsplit(":", 1)[1])
    header = next(csv.reader([source_lines[0]]))
    fields = next(csv.reader([source_lines[line - 1]]))
    assert fields[header.index("id")] == record_id.rsplit(":", 1)[-1], f"line {line} of {path.name} is {record_id}"
    reject = next(
        r
        for s in catalog.chunk_states(export_id)
        for r in catalog.quarantine_rows(s.partition_key, limit=1000)
        if r.record_id and r.reason != "duplicate_id" and catalog.staged_row(export_id, r.record_id) is None
    )

    def trace(record: str) -> subprocess.CompletedProcess[str]:
        state = tmp_path_factory.mktemp("trace") / "state"
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "museum_sync.cli",
                "--state-dir",
                str(state),
                "trace",
                record,
                "--export",
                export_id,
            ],
            env={**os.environ, **sync_stack.env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    loaded = trace(record_id)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    lines = loaded.stdout.splitlines()
    assert f"source       {path.name}:{line}" in lines[1]
    assert f"chunk        {key} (loaded)" in lines[2]
    assert f"validation   run {result.run_id}" in lines[3]
    assert f"content hash {staged_hash(catalog, export_id, record_id)}" in lines[4]
    assert "index not configured" in lines[5]
    assert "publish #" in lines[6] and "public now" in lines[6]
    rejected = trace(reject.record_id)
    assert rejected.returncode == 1, rejected.stdout + rejected.stderr
    assert f"source       {reject.file}:{reject.line}" in rejected.stdout
    assert f"in quarantine: {reject.reason} ({reject.field})" in rejected.stdout
    assert "MISSING  not loaded: the record is in quarantine" in rejected.stdout
    assert "not in the published export" in rejected.stdout
    print(loaded.stdout, rejected.stdout, sep="\n")  # the steward's view, with -s


def staged_hash(catalog, export_id: str, record_id: str) -> str:
    row = catalog.staged_row(export_id, record_id)
    assert row is not None
    return str(row["content_hash"])


def test_chunk_partitions_and_checks_recorded_per_partition(sync_stack, clean):
    _, result, export_id = clean
    keys = [f"{export_id}/{i:04d}" for i in range(4)]
    assert set(keys) <= set(sync_stack.instance.get_dynamic_partitions("chunks"))
    assert export_id in sync_stack.instance.get_dynamic_partitions("exports")
    evaluations = sync_stack.instance.get_records_for_run(
        result.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    seen = {
        (
            e.event_log_entry.dagster_event.event_specific_data.check_name,
            e.event_log_entry.dagster_event.event_specific_data.partition,
        )
        for e in evaluations
    }
    assert seen == {(check, key) for check in ("schema_drift", "record_validity") for key in keys}
    for asset in ("validated_chunk", "catalog_chunk"):
        mats = sync_stack.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=keys), limit=100
        ).records
        assert {m.partition_key for m in mats} == set(keys)


def test_second_sync_of_same_export_changes_nothing(sync_stack, clean):
    path, _, export_id = clean
    before = sync_stack.catalog.catalogue_digest()
    publications = len(sync_stack.catalog.publications(limit=100))
    again = sync_stack.sync(path, "tate_artworks_csv", source="tate-clean", chunk_size=CHUNK)
    assert again.success
    assert _export_of(sync_stack, again.run_id) == export_id, "same bytes, same export id"
    assert sync_stack.catalog.catalogue_digest() == before
    assert len(sync_stack.catalog.publications(limit=100)) == publications


def test_same_input_gives_byte_identical_catalogue_content(sync_stack, clean):
    path, _, export_id = clean
    copy = path.with_name("clean_copy.csv")
    shutil.copyfile(path, copy)
    other = sync_stack.sync(copy, "tate_artworks_csv", source="tate-clean-twin", chunk_size=CHUNK)
    assert other.success
    twin = _export_of(sync_stack, other.run_id)
    assert twin != export_id
    assert sync_stack.catalog.catalogue_digest(twin) == sync_stack.catalog.catalogue_digest(export_id)


@pytest.fixture(scope="module")
def drifted(sync_stack, tmp_path_factory, clean):
    """The next night: chunk 1 has malformed rights, chunk 2 switched width/height to '394 mm' text."""
    folder = tmp_path_factory.mktemp("drift")
    profile_path = folder / "tate_local.toml"
    shutil.copyfile(load_profile("tate_artworks_csv").origin, profile_path)
    spec = ExportSpec(
        records=800, seed=12, chunk_size=CHUNK, bad_share=0.0, bad_chunks={"malformed_rights": [1]}, drift_chunks=[2]
    )
    path = write_export(spec, folder / "night2.csv")
    published_before = sync_stack.catalog.current_publication().export_id
    result = sync_stack.sync(path, str(profile_path), source="tate-clean", chunk_size=CHUNK)
    return path, profile_path, result, _export_of(sync_stack, result.run_id), published_before


def test_bad_chunks_are_quarantined_and_block_only_themselves(sync_stack, drifted):
    _, _, result, export_id, published_before = drifted
    assert not result.success, "an export with quarantined chunks must not end successful"
    states = {s.partition_key: s.state for s in sync_stack.catalog.chunk_states(export_id)}
    key = lambda i: f"{export_id}/{i:04d}"  # noqa: E731
    assert states == {key(0): "loaded", key(1): "quarantined", key(2): "quarantined", key(3): "loaded"}
    open_parts = {q.partition_key: q for q in sync_stack.catalog.list_quarantined(export_id=export_id)}
    assert set(open_parts) == {key(1), key(2)}
    assert "malformed_rights" in open_parts[key(1)].reasons
    assert "schema_drift" in open_parts[key(2)].check_name
    # The drifted chunk's downstream was not materialized by this run.
    mats = sync_stack.instance.get_records_for_run(
        result.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
    ).records
    loaded = {
        m.event_log_entry.asset_materialization.partition
        for m in mats
        if m.event_log_entry.asset_materialization.asset_key == AssetKey("catalog_chunk")
    }
    assert loaded == {key(0), key(3)}
    # The public catalogue still shows the previous export, whole.
    assert sync_stack.catalog.current_publication().export_id == published_before


def test_catalog_chunk_alone_is_refused_for_a_quarantined_partition(sync_stack, drifted):
    """What the UI's 're-execute from failure' does: run only catalog_chunk, skipping the checks."""
    _, _, _, export_id, _ = drifted
    key = f"{export_id}/0002"
    from dagster import execute_job, reconstructable

    from museum_sync import definitions

    result = execute_job(
        reconstructable(definitions.chunk_job_def),
        instance=sync_stack.instance,
        tags={"dagster/partition": key},
        asset_selection=[AssetKey("catalog_chunk")],
        raise_on_error=False,
    )
    assert not result.success
    failures = sync_stack.instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_FAILURE)  # as the UI
    assert failures and "gate refused" in str(failures[0].dagster_event.step_failure_data.error.message)
    assert sync_stack.catalog.chunk_state(key).state == "quarantined"


def test_replay_after_fixing_the_profile_publishes_the_export(sync_stack, drifted):
    _, profile_path, _, export_id, _ = drifted
    # The steward learns the CMS now writes units into width/height: the profile accepts text there.
    text = profile_path.read_text(encoding="utf-8")
    text = text.replace('{ name = "width", type = "number" }', '{ name = "width", type = "string" }')
    text = text.replace('{ name = "height", type = "number" }', '{ name = "height", type = "string" }')
    profile_path.write_text(text, encoding="utf-8")
    drift_key = f"{export_id}/0002"
    replay = sync_stack.run_partition("chunk_job_def", drift_key)
    assert replay.success
    assert sync_stack.catalog.chunk_state(drift_key).state == "loaded"
    # Chunk 1 (malformed rights) is still quarantined: the export is not published yet.
    assert export_id not in sync_stack.catalog.exports_ready_to_publish()
    assert sync_stack.catalog.current_publication().export_id != export_id
    # The curators decide malformed rights in this feed are quarantined without holding the export back.
    text = profile_path.read_text(encoding="utf-8")
    text = text.replace(
        'blocking_reasons = ["malformed_rights", "missing_provenance"]', 'blocking_reasons = ["missing_provenance"]'
    )
    profile_path.write_text(text, encoding="utf-8")
    rights_key = f"{export_id}/0001"
    assert sync_stack.run_partition("chunk_job_def", rights_key).success
    assert export_id in sync_stack.catalog.exports_ready_to_publish()
    published = sync_stack.run_partition("publish_job_def", export_id)
    assert published.success
    publication = sync_stack.catalog.current_publication()
    assert publication.export_id == export_id
    states = sync_stack.catalog.chunk_states(export_id)
    assert publication.record_count == sum(s.record_count for s in states) == sync_stack.catalog.count()
    # The malformed-rights records stay in quarantine, and the partitions are resolved, not forgotten.
    assert any(r.reason == "malformed_rights" for r in sync_stack.catalog.quarantine_rows(rights_key, limit=1000))
    assert sync_stack.catalog.list_quarantined(export_id=export_id) == []
    assert {
        q.partition_key for q in sync_stack.catalog.list_quarantined(export_id=export_id, include_resolved=True)
    } >= {rights_key, drift_key}


def test_steward_cli_lists_shows_and_replays_a_quarantined_chunk(sync_stack, tmp_path_factory):
    """What a steward does at 8 am, through the `museum-sync` command on the same deployment state."""
    import os
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("steward")
    profile_path = folder / "tate_steward.toml"
    shutil.copyfile(load_profile("tate_artworks_csv").origin, profile_path)
    spec = ExportSpec(records=400, seed=21, chunk_size=CHUNK, drift_chunks=[1])
    path = write_export(spec, folder / "drifted.csv")
    result = sync_stack.sync(path, str(profile_path), source="tate-steward", chunk_size=CHUNK)
    assert not result.success
    export_id = _export_of(sync_stack, result.run_id)
    key = f"{export_id}/0001"

    env = {**os.environ, **sync_stack.env}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "museum_sync.cli", "--state-dir", str(folder / "state"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    listed = cli("quarantine", "list", "--export", export_id)
    assert listed.returncode == 0, listed.stderr
    assert key in listed.stdout and "OPEN" in listed.stdout and "schema_drift" in listed.stdout
    shown = cli("quarantine", "show", key, "--limit", "5")
    assert shown.returncode == 0, shown.stderr
    assert "drifted.csv:" in shown.stdout and "invalid_value" in shown.stdout and "width" in shown.stdout
    # The fix: the CMS now writes units into width/height; the profile accepts text there.
    text = profile_path.read_text(encoding="utf-8")
    for dim in ("width", "height"):
        text = text.replace(f'{{ name = "{dim}", type = "number" }}', f'{{ name = "{dim}", type = "string" }}')
    profile_path.write_text(text, encoding="utf-8")
    replayed = cli("quarantine", "replay", key)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert f"replay {key}: SUCCESS" in replayed.stdout
    assert f"publish {export_id}: SUCCESS" in replayed.stdout
    assert sync_stack.catalog.current_publication().export_id == export_id
    assert sync_stack.catalog.list_quarantined(export_id=export_id) == []
