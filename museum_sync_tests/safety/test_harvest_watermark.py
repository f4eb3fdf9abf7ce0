"""Finding 12 of issue #12: incremental harvests start where the last successful one ended, so a missed or
failed night loses nothing. A real local OAI-PMH/JSON server plays the repository: its clock
(``response_date``) and record edits (``touch``) move from night to night."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.clients.http import HttpClient, HttpSettings
from museum_sync.harvest import HarvestError, harvest_json_api, harvest_oai, json_api_config
from museum_sync.harvest.oai import DAY
from museum_sync.harvest.watermarks import watermark_path
from museum_sync_tests.harvest_server import HarvestServer

NIGHT_1 = "2024-07-20T02:00:05Z"
NIGHT_2 = "2024-07-21T02:00:04Z"
NIGHT_3 = "2024-07-22T02:00:06Z"
EDITED_AFTER_NIGHT_1 = ("record_DE-68_kenom_124387", "2024-07-20T14:00:00Z")  # a fixed 25 h window misses it
EDITED_AFTER_NIGHT_2 = ("record_DE-68_kenom_126169", "2024-07-21T09:30:00Z")


@pytest.fixture
def client() -> Iterator[HttpClient]:
    with HttpClient(HttpSettings(read_timeout=0.5, backoff_base=0.02, backoff_max=0.1, max_attempts=2)) as c:
        yield c


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


def kenom(server: HarvestServer, **extra: object) -> dict[str, object]:
    return {"base_url": server.oai_url, "chunk_size": 5, **extra}


def list_requests(server: HarvestServer) -> list[dict[str, str]]:
    """Parameters of each first ListRecords request (those without a resumption token)."""
    return [r.params for r in server.logged(path="/oai", verb="ListRecords") if "resumptionToken" not in r.params]


def mark(store: ArtifactStore, source: str) -> dict[str, object]:
    return dict(json.loads(watermark_path(store, source).read_text(encoding="utf-8")))


def harvested_ids(store: ArtifactStore, export_id: str | None) -> set[str]:
    snapshot = (store.snapshot_dir(export_id or "") / "snapshot.xmll").read_bytes()
    return {line.split(b"</lido:lidoRecID>")[0].rsplit(b">", 1)[1].decode() for line in snapshot.splitlines()}


# ------------------------------------------------------------------------------------------------ OAI-PMH


def test_a_missed_night_loses_nothing_and_a_failed_harvest_does_not_move_the_mark(
    shared_data: Path, client: HttpClient, store: ArtifactStore
) -> None:
    with HarvestServer(shared_data, page_size=5) as srv:
        srv.response_date = NIGHT_1
        first = harvest_oai(kenom(srv), store, source="kenom", client=client, incremental=True)
        assert first.kind == "full" and first.records == 20  # no mark yet: everything
        assert [("from" in p) for p in list_requests(srv)] == [False]
        assert mark(store, "kenom")["next_from"] == NIGHT_1 and mark(store, "kenom")["export_id"] == first.export_id
        before = watermark_path(store, "kenom").read_bytes()

        srv.touch(*EDITED_AFTER_NIGHT_1)
        srv.response_date = NIGHT_2  # night 2: the repository is down for ListRecords
        srv.inject("status", path="/oai", params={"verb": "ListRecords"}, status=503, times=None)
        with pytest.raises(HarvestError):
            harvest_oai(kenom(srv), store, source="kenom", client=client, incremental=True)
        assert watermark_path(store, "kenom").read_bytes() == before  # the failure moved nothing

        srv.clear_faults()
        srv.reset_log()
        srv.touch(*EDITED_AFTER_NIGHT_2)
        srv.response_date = NIGHT_3
        third = harvest_oai(kenom(srv), store, source="kenom", client=client, incremental=True)
        assert [p.get("from") for p in list_requests(srv)] == [NIGHT_1]  # from the last success, not "25 h ago"
    assert third.kind == "incremental" and third.records == 2
    assert harvested_ids(store, third.export_id) == {EDITED_AFTER_NIGHT_1[0], EDITED_AFTER_NIGHT_2[0]}
    assert mark(store, "kenom")["next_from"] == NIGHT_3 and mark(store, "kenom")["window_from"] == NIGHT_1


def test_a_day_granular_repository_gets_a_day_granular_from(
    shared_data: Path, client: HttpClient, store: ArtifactStore
) -> None:
    with HarvestServer(shared_data, page_size=5, granularity=DAY) as srv:
        srv.response_date = NIGHT_1
        harvest_oai(kenom(srv), store, source="kenom", client=client, incremental=True)
        assert mark(store, "kenom")["next_from"] == NIGHT_1[:10]
        srv.touch(EDITED_AFTER_NIGHT_1[0], EDITED_AFTER_NIGHT_1[1][:10])
        srv.response_date = NIGHT_3
        srv.reset_log()
        result = harvest_oai(kenom(srv), store, source="kenom", client=client, incremental=True)
        assert [p.get("from") for p in list_requests(srv)] == [NIGHT_1[:10]]  # the server refuses a finer one
    assert result.records == 1 and mark(store, "kenom")["next_from"] == NIGHT_3[:10]


def test_an_empty_night_still_moves_the_mark(shared_data: Path, client: HttpClient, store: ArtifactStore) -> None:
    with HarvestServer(shared_data, page_size=5) as srv:
        srv.response_date = NIGHT_1
        harvest_oai(kenom(srv), store, source="kenom", client=client, incremental=True)
        srv.response_date = NIGHT_2
        empty = harvest_oai(kenom(srv), store, source="kenom", client=client, incremental=True)
    assert empty.export_id is None and empty.records == 0  # noRecordsMatch
    assert mark(store, "kenom")["next_from"] == NIGHT_2


def test_windows_that_do_not_reach_the_mark_leave_it_alone(
    shared_data: Path, client: HttpClient, store: ArtifactStore
) -> None:
    with HarvestServer(shared_data, page_size=5) as srv:
        srv.response_date = NIGHT_1
        harvest_oai(kenom(srv), store, source="kenom", client=client, incremental=True)
        srv.response_date = NIGHT_3
        # Starting after the mark would leave a gap behind it; an `until` leaves the time after it.
        harvest_oai(kenom(srv, **{"from": NIGHT_2}), store, source="kenom", client=client, incremental=True)
        harvest_oai(kenom(srv, until="2024-07-21"), store, source="kenom", client=client, incremental=True)
        assert mark(store, "kenom")["next_from"] == NIGHT_1
        # Another set is another scope: the mark does not apply and the harvest is a full one.
        srv.reset_log()
        other = harvest_oai(kenom(srv, set="institution:DE-68"), store, source="kenom", client=client, incremental=True)
        assert other.kind == "full" and [("from" in p) for p in list_requests(srv)] == [False]


def test_without_incremental_the_mark_is_not_used(shared_data: Path, client: HttpClient, store: ArtifactStore) -> None:
    with HarvestServer(shared_data, page_size=5) as srv:
        srv.response_date = NIGHT_1
        harvest_oai(kenom(srv), store, source="kenom", client=client)
        srv.reset_log()
        again = harvest_oai(kenom(srv), store, source="kenom", client=client)
        assert again.kind == "full" and [("from" in p) for p in list_requests(srv)] == [False]


def test_a_damaged_mark_is_an_error_naming_the_file(
    shared_data: Path, client: HttpClient, store: ArtifactStore
) -> None:
    path = watermark_path(store, "kenom")
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    with HarvestServer(shared_data, page_size=5) as srv, pytest.raises(HarvestError, match=f"{path} is damaged"):
        harvest_oai(kenom(srv), store, source="kenom", client=client, incremental=True)


# --------------------------------------------------------------------------------------------- JSON API


def test_a_json_api_resumes_from_the_last_successful_start(
    shared_data: Path, client: HttpClient, store: ArtifactStore
) -> None:
    with HarvestServer(shared_data, json_page_size=3) as srv:
        config = json_api_config(
            "aic_artworks_api",
            url=srv.aic_url,
            params={"limit": "3"},
            page_size=3,
            since_url=srv.aic_url + "/search",
            since_params={"limit": "3"},
        )
        started = datetime.now(UTC)
        first = harvest_json_api(config, store, source="aic", client=client, incremental=True)
        assert first.kind == "full" and first.records == 7 and srv.count(path="/aic/artworks/search") == 0
        next_from = str(mark(store, "aic")["next_from"])
        expected = started - timedelta(seconds=config.since_overlap_s)
        assert abs((datetime.fromisoformat(next_from.replace("Z", "+00:00")) - expected).total_seconds()) < 5

        edited = datetime.now(UTC).isoformat()
        for artwork in srv.artworks[2:4]:
            artwork["updated_at"] = edited  # changed since the first harvest
        srv.inject("status", path="/aic/artworks/search", status=500, times=None)  # the missed night
        with pytest.raises(HarvestError):
            harvest_json_api(config, store, source="aic", client=client, incremental=True)
        assert mark(store, "aic")["next_from"] == next_from

        srv.clear_faults()
        srv.reset_log()
        again = harvest_json_api(config, store, source="aic", client=client, incremental=True)
        (search,) = srv.logged(path="/aic/artworks/search")
    assert search.params["query[range][updated_at][gte]"] == next_from
    assert again.kind == "incremental" and again.records == 2
