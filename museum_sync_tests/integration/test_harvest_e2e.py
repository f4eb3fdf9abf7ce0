"""A harvest end to end: OAI-PMH LIDO pages from a real local server, through Celery workers, published."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from museum_sync.core.profiles import load_profile
from museum_sync.runtime import run_job
from museum_sync_tests.harvest_server import HarvestServer
from museum_sync_tests.integration.conftest import SyncStack, build_stack
from museum_sync_tests.integration.test_sync_e2e import _export_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(services, tmp_path_factory) -> Iterator[SyncStack]:
    with build_stack(services, tmp_path_factory.mktemp("home")) as built:
        yield built


def _oai_profile(folder: Path, base_url: str) -> Path:
    text = Path(load_profile("lido_xml").origin).read_text(encoding="utf-8")
    text += f'\n[harvest]\nprotocol = "oai-pmh"\nbase_url = "{base_url}"\nmetadata_prefix = "lido"\n'
    path = folder / "kenom_oai.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_oai_lido_harvest_runs_through_the_chunk_pipeline_and_publishes(stack, shared_data, tmp_path):
    with HarvestServer(shared_data, page_size=5) as server:
        profile = _oai_profile(tmp_path, server.oai_url)
        config = {"ops": {"harvest_and_plan": {"config": {"profile": str(profile), "source": "kenom"}}}}
        result = run_job("harvest_export_job_def", instance=stack.instance, run_config=config)
        assert result.success
        list_requests = server.count(verb="ListRecords")
    assert list_requests == 4  # 20 KENOM records in pages of 5, each page fetched once
    export_id = _export_of(stack, result.run_id)
    assert export_id.startswith("kenom-")
    states = stack.catalog.chunk_states(export_id)
    assert sum(s.record_count + s.reject_count for s in states) == 20
    publication = stack.catalog.current_publication()
    assert publication.export_id == export_id
    assert stack.catalog.count() == sum(s.record_count for s in states) == 20


def test_incremental_harvest_applies_updates_and_deletions(stack, shared_data, tmp_path):
    gone = {"record_DE-68_kenom_124387": "2024-01-02T08:00:00Z", "record_DE-68_kenom_126169": "2024-02-03T09:00:00Z"}
    with HarvestServer(shared_data, page_size=5) as server:
        profile = _oai_profile(tmp_path, server.oai_url)
        full = run_job(
            "harvest_export_job_def",
            instance=stack.instance,
            run_config={"ops": {"harvest_and_plan": {"config": {"profile": str(profile), "source": "kenom-inc"}}}},
        )
        assert full.success
    full_id = _export_of(stack, full.run_id)
    before = stack.catalog.count()
    assert {"record_DE-68_kenom_124387", "record_DE-68_kenom_126169"} <= _public_ids(stack)

    with HarvestServer(shared_data, page_size=5, deletions=gone) as server:
        profile = _oai_profile(tmp_path, server.oai_url)
        config = {"profile": str(profile), "source": "kenom-inc", "incremental": True, "since": "2023-09-01"}
        incremental = run_job(
            "harvest_export_job_def",
            instance=stack.instance,
            run_config={"ops": {"harvest_and_plan": {"config": config}}},
        )
        assert incremental.success
    inc_id = _export_of(stack, incremental.run_id)
    assert inc_id != full_id
    publication = stack.catalog.current_publication()
    assert publication.export_id == inc_id
    # The 3 updated records replace their old versions; the 2 deleted ones are withdrawn; the rest carry over.
    ids = _public_ids(stack)
    assert not ids & set(gone)
    assert stack.catalog.count() == before - len(gone)
    assert publication.withdrawn_count == len(gone)


def _public_ids(stack) -> set[str]:
    with stack.catalog._connect() as conn:  # noqa: SLF001 - read-only probe of the public view
        return {r[0] for r in conn.execute(f"SELECT record_id FROM {stack.catalog.schema}.objects").fetchall()}


def test_the_nightly_incremental_job_starts_at_the_last_harvests_mark(stack, shared_data, tmp_path):
    """What the nightly schedule asks for (incremental, no date) reaches the harvest: its first ListRecords
    asks `from` the previous successful harvest's responseDate, not a fixed window."""
    night_1, night_2 = "2026-11-30T01:30:00Z", "2026-12-01T01:30:00Z"
    config = {"profile": "", "source": "kenom-nightly", "incremental": True}
    with HarvestServer(shared_data, page_size=5) as server:
        config["profile"] = str(_oai_profile(tmp_path, server.oai_url))
        server.response_date = night_1
        first = run_job(
            "harvest_export_job_def",
            instance=stack.instance,
            run_config={"ops": {"harvest_and_plan": {"config": config}}},
        )
        assert first.success
        firsts = [r.params for r in server.logged(path="/oai", verb="ListRecords") if "resumptionToken" not in r.params]
        assert [p.get("from") for p in firsts] == [None]  # no mark yet: a full harvest
        server.reset_log()
        server.response_date = night_2
        second = run_job(
            "harvest_export_job_def",
            instance=stack.instance,
            run_config={"ops": {"harvest_and_plan": {"config": config}}},
        )
        assert second.success
        firsts = [r.params for r in server.logged(path="/oai", verb="ListRecords") if "resumptionToken" not in r.params]
    assert [p.get("from") for p in firsts] == [night_1]
