"""Harvest throughput from the local server (records/s and requests retried), printed for the record.

The server repeats the 20 KENOM records (50x, 100 a page) and the 7 AIC artworks (200x, 100 a page);
duplicate ids do not matter to the harvester. One 503 with ``Retry-After: 0`` is injected per run so
the "requests retried" figure is exercised, not assumed. The tests assert what was harvested; the rates are
printed, not asserted (speed is a benchmark's business: a loaded CI machine must not fail a test).
"""

from __future__ import annotations

from pathlib import Path

from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.clients.http import HttpClient, HttpSettings
from museum_sync.harvest import harvest_json_api, harvest_oai, json_api_config
from museum_sync_tests.harvest_server import HarvestServer


def test_oai_lido_harvest_throughput(shared_data: Path, tmp_path: Path) -> None:
    with HarvestServer(shared_data, page_size=100, repeat=50) as server, HttpClient(HttpSettings()) as client:
        server.inject("status", path="/oai", params={"resumptionToken": "*"}, headers={"Retry-After": "0"})
        result = harvest_oai({"base_url": server.oai_url}, ArtifactStore(tmp_path), source="kenom", client=client)
    assert result.records == 1000 and result.pages == 10 and result.retries == 1
    mib = result.bytes / result.seconds / 2**20
    print(
        f"\nOAI-PMH LIDO: {result.records} records, {result.pages} pages, {result.requests} requests "
        f"({result.retries} retried) in {result.seconds:.2f} s = {result.records_per_second:.0f} records/s, "
        f"{mib:.1f} MiB/s of snapshot"
    )


def test_json_api_harvest_throughput(shared_data: Path, tmp_path: Path) -> None:
    with HarvestServer(shared_data, json_page_size=100, repeat=200) as server, HttpClient(HttpSettings()) as client:
        server.inject("status", path="/aic/artworks", params={"page": "2"}, headers={"Retry-After": "0"})
        config = json_api_config("aic_artworks_api", url=server.aic_url)
        result = harvest_json_api(config, ArtifactStore(tmp_path), source="aic", client=client)
    assert result.records == 1400 and result.pages == 14 and result.retries == 1
    print(
        f"\nJSON API (AIC): {result.records} records, {result.pages} pages, {result.requests} requests "
        f"({result.retries} retried) in {result.seconds:.2f} s = {result.records_per_second:.0f} records/s"
    )
