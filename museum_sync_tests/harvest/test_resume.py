"""A harvest killed with SIGKILL half way resumes from its checkpoint, fetching only the missing pages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from museum_sync import pipeline
from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.clients.http import HttpClient, HttpSettings
from museum_sync.core.profiles import load_profile
from museum_sync.harvest import HarvestBusy, PartialHarvest, harvest_json_api, harvest_oai, json_api_config
from museum_sync.harvest.snapshot import recorded_url
from museum_sync_tests.conftest import REPO
from museum_sync_tests.harvest_server import HarvestServer

# The harvest as an operator's worker runs it: its own process, the shared client, default settings.
HARVEST = """
import sys
from pathlib import Path
from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.harvest import harvest_json_api, harvest_oai, json_api_config
kind, url, root = sys.argv[1:4]
store = ArtifactStore(Path(root))
if kind == "oai":
    harvest_oai({"base_url": url, "chunk_size": 5}, store, source="kenom")
else:
    config = json_api_config("aic_artworks_api", url=url, params={"limit": "3"}, page_size=3, chunk_size=5)
    harvest_json_api(config, store, source="aic")
"""


@pytest.fixture
def client() -> Iterator[HttpClient]:
    with HttpClient(HttpSettings(read_timeout=2.0, backoff_base=0.02, max_attempts=3)) as c:
        yield c


def published(store: ArtifactStore) -> list[str]:
    base = store.root / "snapshots"
    return sorted(p.name for p in base.iterdir() if not p.name.startswith(".")) if base.is_dir() else []


def start_and_kill(kind: str, url: str, store: ArtifactStore, arrived: object) -> None:
    """Run the harvest in a child process and SIGKILL it while it waits for the held page."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HARVEST, kind, url, str(store.root)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        if not arrived.wait(timeout=30):  # type: ignore[attr-defined]
            out, err = proc.communicate(timeout=5)
            pytest.fail(f"the harvester never asked for the held page: {err.decode()[-2000:]}")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def the_partial(store: ArtifactStore, source: str) -> Path:
    (partial,) = (store.root / "snapshots").glob(f".partial-{source}-*")
    return partial


@pytest.mark.parametrize("tokens", ["still_valid", "expired"])
def test_oai_harvest_killed_half_way_resumes_with_the_same_bytes(
    shared_data: Path, tmp_path: Path, client: HttpClient, tokens: str
) -> None:
    store = ArtifactStore(tmp_path / "killed")
    with HarvestServer(shared_data, page_size=5) as server:
        hold = server.hold(path="/oai", params={"resumptionToken": "*"}, after=1)  # park page 3 of 4
        start_and_kill("oai", server.oai_url, store, hold.arrived)

        partial = the_partial(store, "kenom")
        checkpoint = json.loads((partial / "checkpoint.json").read_text())
        assert checkpoint["pages"] == 2 and checkpoint["records"] == 10 and not checkpoint["done"]
        assert (partial / "snapshot.part").stat().st_size == checkpoint["bytes"]
        assert published(store) == []  # a killed harvest is never visible as an export
        with (partial / "snapshot.part").open("ab") as torn:  # as if killed while appending page 3
            torn.write(b'<lido:lido xmlns:lido="http://www.lido-schema.org"><lido:lidoRecID>half')

        hold.release()
        if tokens == "expired":
            server.expire_tokens()
        server.reset_log()
        result = harvest_oai({"base_url": server.oai_url, "chunk_size": 5}, store, source="kenom", client=client)
        pages = [r.params for r in server.logged(path="/oai", verb="ListRecords")]

    assert result.resumed and result.records == 20
    manifest = pipeline.open_export(store, result.export_id or "").manifest
    assert manifest.harvest.resumes == 1
    if tokens == "still_valid":
        # Only the pages after the checkpoint, each once: page 3 (its token from the checkpoint), page 4.
        assert [p.get("resumptionToken", "").rsplit("-", 1)[-1] for p in pages] == ["p2", "p3"]
        assert result.fetched_records == 10
    else:
        # The checkpointed token is dead: the list restarts from its first request (no token needed).
        assert pages[0] == {"verb": "ListRecords", "resumptionToken": pages[0]["resumptionToken"]}
        assert pages[1] == {"verb": "ListRecords", "metadataPrefix": "lido"} and len(pages) == 5
        assert manifest.harvest.restarts == 1

    clean = ArtifactStore(tmp_path / "uninterrupted")
    with HarvestServer(shared_data, page_size=5) as server:
        straight = harvest_oai({"base_url": server.oai_url, "chunk_size": 5}, clean, source="kenom", client=client)
    assert straight.export_id == result.export_id
    assert manifest.sha256 == pipeline.open_export(clean, straight.export_id or "").manifest.sha256
    extracted = pipeline.extract(
        shared_data / "oaipmh" / "kenom_ListRecords_lido.xml", load_profile("lido_xml"),
        ArtifactStore(tmp_path / "extract"), source="kenom", chunk_size=5,
    )  # fmt: skip
    assert manifest.sha256 == extracted.manifest.sha256
    assert published(store) == [result.export_id] and not list((store.root / "snapshots").glob(".partial-*"))


def test_json_api_harvest_killed_half_way_fetches_only_the_missing_page(
    shared_data: Path, tmp_path: Path, client: HttpClient
) -> None:
    store = ArtifactStore(tmp_path / "killed")
    with HarvestServer(shared_data, json_page_size=3) as server:
        hold = server.hold(path="/aic/artworks", params={"page": "3"})
        start_and_kill("json", server.aic_url, store, hold.arrived)
        checkpoint = json.loads((the_partial(store, "aic") / "checkpoint.json").read_text())
        assert checkpoint["pages"] == 2 and checkpoint["records"] == 6
        assert checkpoint["cursor"]["url"].endswith("page=3")
        hold.release()
        server.reset_log()
        config = json_api_config(
            "aic_artworks_api", url=server.aic_url, params={"limit": "3"}, page_size=3, chunk_size=5
        )
        result = harvest_json_api(config, store, source="aic", client=client)
        assert [r.params["page"] for r in server.logged(path="/aic/artworks")] == ["3"]
        artworks = server.artworks
    document = tmp_path / "aic_artworks.json"
    document.write_text(json.dumps({"data": artworks}), encoding="utf-8")
    extracted = pipeline.extract(
        document, load_profile("aic_artworks_api"), ArtifactStore(tmp_path / "extract"), source="aic", chunk_size=5
    )
    assert result.export_id == extracted.export_id and result.records == 7 and result.fetched_records == 1


def test_a_second_harvest_of_the_same_key_is_refused_while_one_runs(tmp_path: Path) -> None:
    args: dict[str, Any] = {
        "source": "kenom",
        "key": "k1",
        "protocol": "oai-pmh",
        "fmt": "xmllines",
        "params": {"a": 1},
    }
    with PartialHarvest.open(tmp_path, **args):
        with pytest.raises(HarvestBusy, match="another harvest with key k1 is running"):
            PartialHarvest.open(tmp_path, **args)
    with PartialHarvest.open(tmp_path, **args) as again:
        assert again.checkpoint.pages == 0


def test_partial_with_other_parameters_or_too_old_starts_over(tmp_path: Path) -> None:
    args: dict[str, Any] = {"source": "kenom", "key": "k1", "protocol": "oai-pmh", "fmt": "xmllines"}
    with PartialHarvest.open(tmp_path, params={"from": "2023-01-01"}, **args) as partial:
        partial.append_page([b"<a/>", b"<b/>"], ["gone"], cursor={"resumption_token": "t1"}, done=False)
    with PartialHarvest.open(tmp_path, params={"from": "2023-01-01"}, **args) as partial:
        assert partial.checkpoint.records == 2 and partial.deleted_ids() == ["gone"] and partial.resumed
    with PartialHarvest.open(tmp_path, params={"from": "2023-01-01"}, max_age_s=0.0, **args) as partial:
        assert partial.checkpoint.records == 0 and partial.data_path.stat().st_size == 0
    with PartialHarvest.open(tmp_path, params={"from": "2023-01-01"}, **args) as partial:
        partial.append_page([b"<a/>"], cursor=None, done=False)
    with PartialHarvest.open(tmp_path, params={"from": "2024-01-01"}, **args) as partial:
        assert partial.checkpoint.records == 0


def test_urls_are_recorded_as_httpx_spells_them_with_secrets_masked() -> None:
    """The recorded URL is part of the harvest key: its spelling must not drift, or partials stop resuming."""
    raw = "https://User:pw@API.Example.org/v1/search?fields=id,title&q=a b&api_key=s3cret&resumptionToken=r1"
    expected = "https://api.example.org/v1/search?fields=id%2Ctitle&q=a+b&api_key=REDACTED&resumptionToken=r1"
    assert recorded_url(raw) == expected
    assert recorded_url(expected) == expected
    assert recorded_url("http://127.0.0.1:8080/oai") == "http://127.0.0.1:8080/oai"
