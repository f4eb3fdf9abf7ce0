"""IIIF on the real stack: a sync of Tate rows whose records link to manifests on a local IIIF server.

One module, one stack (Dagster on PostgreSQL, Redis, a Celery worker serving ingestion_high and iiif), one
run shared by every assertion (the suite's time budget allows one): it fetches and validates every manifest
and drops the broken links (policy ``warn``) after publication. The next sync's IIIF stage is then run on
the same records through the function the ``check_iiif_chunk`` step calls (``check_chunk_manifests``): it
sends only conditional requests and validates nothing again. Last, the ``block`` policy the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetKey, DagsterEventType

from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.clients.iiif import IiifFetcher
from museum_sync.pipeline.iiif import check_chunk_manifests
from museum_sync.pipeline.validation import iter_valid_records
from museum_sync.settings import IiifSettings
from museum_sync_tests.iiif_server import IiifServer, iiif_profile, with_manifest_links
from museum_sync_tests.integration.conftest import build_stack
from museum_sync_tests.integration.test_sync_e2e import _export_of

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[2] / "museum_sync" / "samples" / "tate_artwork_data_first52rows.csv"
# What each linked row points at on the server, and what the policy must make of it.
LINKS = {
    "m/cookbook/0001-mvm-image.json": "kept",
    "m/cookbook/0005-image-service.json": "kept",
    "m/manifests/wellcome_b18035723.json": "kept",
    "redirect/cookbook/0004-canvas-size.json": "kept",
    "flaky/cookbook/0008-rights.json": "kept",
    "v2": "kept",  # Presentation 2.x: reported, not broken
    "slow/0.5/cookbook/0002-mvm-audio.json": "kept",  # a slow server
    "m/manifests/vam_ocean_liners.json": "link_dropped",  # AnnotationPage without id
    "m/manifests/bodleian_lp44.json": "link_dropped",  # top-level logo
    "status/404": "link_dropped",
    "redirect-private": "link_dropped",  # the SSRF guard refuses the hop to 10.255.255.1
}


def _write_export(path: Path, base: str, *, edit: bool = False) -> Path:
    links = [f"{base}/{link}" for link in LINKS]
    return with_manifest_links(SAMPLE.read_text(encoding="utf-8"), path, links, edit=edit)


def _iiif_metadata(stack, run_id: str) -> dict:
    records = stack.instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records
    found = [r.event_log_entry.asset_materialization for r in records]
    (mat,) = [m for m in found if m.asset_key == AssetKey("iiif_chunk")]
    return {k: v.value for k, v in mat.metadata.items()}


@pytest.fixture(scope="module")
def synced(services, shared_data, tmp_path_factory):
    home = tmp_path_factory.mktemp("iiif-home")
    folder = tmp_path_factory.mktemp("iiif-exports")
    with IiifServer(shared_data / "iiif") as server:
        env = {"MUSEUM_SYNC_IIIF_ALLOWED_HOSTS": "127.0.0.1"}
        with build_stack(services, home, env) as stack:
            profile = str(iiif_profile(folder))
            first = stack.sync(_write_export(folder / "a.csv", server.base), profile, source="tate-iiif")
            first_requests = list(server.requests)
            server.reset_log()
            again = _check_again(stack, _export_of(stack, first.run_id), policy=None)
            yield stack, server, first, first_requests, again


def _check_again(stack, export_id: str, policy: str | None, search=None):
    """What the next sync's iiif step does for the chunk (the same function, the same cache)."""
    store = ArtifactStore(Path(stack.env["MUSEUM_SYNC_ARTIFACT_ROOT"]))
    fetcher = IiifFetcher(IiifSettings(allowed_hosts="127.0.0.1", attempts=2))
    try:
        return check_chunk_manifests(stack.catalog, store, export_id, 0, fetcher, policy=policy, search=search)
    finally:
        fetcher.close()


def test_broken_manifest_links_are_dropped_from_the_published_records(synced) -> None:
    stack, _, first, _, _ = synced
    assert first.success
    export_id = _export_of(stack, first.run_id)
    outcomes = {r["url"].split("/", 3)[3]: r for r in stack.catalog.iiif_record_findings(export_id)}
    assert {path: row["action"] for path, row in outcomes.items()} == LINKS
    assert outcomes["status/404"]["findings"][0]["rule"] == "http_status"
    assert outcomes["redirect-private"]["findings"][0]["rule"] == "address_refused"
    vam = outcomes["m/manifests/vam_ocean_liners.json"]["findings"]
    assert {"pointer": "/items/0/items/0", "rule": "schema"}.items() <= vam[0].items()
    with stack.catalog._connect() as conn:
        rows = dict(conn.execute(f"SELECT record_id, iiif_manifest FROM {stack.catalog.schema}.objects").fetchall())
        stored = conn.execute(
            f"SELECT count(*) FROM {stack.catalog.schema}.objects WHERE record ->> 'iiif_manifest' IS NOT NULL"
        ).fetchone()[0]
    kept = [r for r in outcomes.values() if r["action"] == "kept"]
    assert sum(1 for v in rows.values() if v) == len(kept) == stored == 7
    for row in outcomes.values():
        assert (rows[row["record_id"]] is not None) == (row["action"] == "kept"), row
    assert stack.catalog.iiif_summary(export_id) == {
        "checked": 11, "valid": 7, "broken": 4, "kept": 7, "link_dropped": 4,
    }  # fmt: skip


def test_ingestion_publishes_without_waiting_for_the_iiif_step(synced) -> None:
    stack, _, first, _, _ = synced
    logs = stack.instance.all_logs(first.run_id)
    submitted: dict[str, float] = {}
    for e in logs:
        if e.dagster_event_type == DagsterEventType.ENGINE_EVENT and e.step_key:
            submitted.setdefault(e.step_key, e.timestamp)  # the executor's first word on a step: sent to Celery
    started = {e.step_key: e.timestamp for e in logs if e.dagster_event_type == DagsterEventType.STEP_START}
    done = {e.step_key: e.timestamp for e in logs if e.dagster_event_type == DagsterEventType.STEP_SUCCESS}
    # Publication depends on the loaded chunks only: the executor sent it to the workers while the iiif step
    # had not even started; and the iiif step started only after the chunk was loaded (it edits loaded rows).
    assert submitted["publish_synced_export"] < started["check_iiif_chunk[c0000]"]
    assert done["sync_chunk[c0000]"] < started["plan_iiif"] < started["check_iiif_chunk[c0000]"]


def test_findings_are_in_the_check_metadata_and_the_sync_summary(synced) -> None:
    stack, _, first, _, _ = synced
    checks = [
        e.dagster_event.event_specific_data
        for e in stack.instance.all_logs(first.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    ]
    (iiif,) = [c for c in checks if c.check_name == "iiif_manifests"]
    assert not iiif.passed and iiif.partition is not None
    table = iiif.metadata["findings"].value
    assert "/items/0/items/0" in table and "address_refused" in table and "http_status" in table
    assert iiif.metadata["links_dropped"].value == 4
    from museum_sync.cli.sync import _summarise

    summary = _summarise(stack.instance, first.run_id, 0.0)
    assert summary["iiif"]["link_dropped"] == 4 and summary["iiif"]["checked"] == 11


def test_the_next_sync_sends_conditional_requests_and_validates_nothing_again(synced) -> None:
    stack, server, first, first_requests, again = synced
    assert _iiif_metadata(stack, first.run_id)["validated"] == 9  # every body: 7 kept, vam and bodleian
    # Those with an ETag come back 304; the v2 server sends none: its body is hashed, equal, not validated.
    assert (again.validated, again.not_modified, again.requests_conditional, again.unchanged) == (0, 8, 8, 1)
    manifest_requests = [r for r in server.requests if r.path.startswith(("/m/", "/slow/", "/flaky/"))]
    assert manifest_requests and all("If-None-Match" in r.headers for r in manifest_requests)
    assert {r.status for r in manifest_requests} == {304} and server.bodies_sent == 1  # the v2 one
    assert not any("If-None-Match" in r.headers for r in first_requests)
    assert (again.outcomes, again.links_dropped) == ({"valid": 7, "broken": 4}, 0)  # already dropped: idempotent


def test_block_policy_withholds_the_records_with_broken_manifests(synced, search) -> None:
    """In both stores: the search index (the suite's Elasticsearch test server) loses the link (warn), then
    the document (block), like the staging table."""
    stack, _, first, _, _ = synced
    export_id = _export_of(stack, first.run_id)
    store = ArtifactStore(Path(stack.env["MUSEUM_SYNC_ARTIFACT_ROOT"]))
    search.ensure_index(export_id)
    records = list(iter_valid_records(store, export_id, 0))
    search.index_records(export_id, records)
    search.finish_load(export_id)
    dropped = {r["record_id"] for r in stack.catalog.iiif_record_findings(export_id) if r["action"] == "link_dropped"}
    assert _check_again(stack, export_id, "warn", search).links_dropped == 0  # PostgreSQL: done by the run
    search.finish_load(export_id)
    assert all(search.get_document(export_id, rid).get("iiif_manifest") is None for rid in dropped)
    kept = next(r.record_id for r in records if r.iiif_manifest and r.record_id not in dropped)
    assert search.get_document(export_id, kept)["iiif_manifest"]
    before = stack.catalog.count()
    result = _check_again(stack, export_id, "block", search)
    search.finish_load(export_id)
    assert (result.withheld, result.validated, result.outcomes["broken"]) == (4, 0, 4)
    assert stack.catalog.count() == before - 4 == search.count(export_id)
    assert {r["action"] for r in stack.catalog.iiif_record_findings(export_id)} == {"kept", "withheld"}
    # The export stays publishable (rollback, re-publication): staged rows = what its chunk loads count.
    check = stack.catalog.check_publishable(export_id, 1, allow_older=True)
    assert check.staged == check.loaded == before - 4
