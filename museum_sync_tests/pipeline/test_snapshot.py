"""The snapshot layout has one owner: manifests written so far read back (and write back) unchanged, a file export
and a harvest of the same bytes publish the same snapshot, and a publisher that loses the rename race gets the
winner's snapshot.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.core.profiles import load_profile
from museum_sync.harvest.snapshot import PartialHarvest
from museum_sync.pipeline import snapshot
from museum_sync.pipeline.extraction import extract
from museum_sync.pipeline.snapshot import HarvestInfo, LocatorSidecar, Manifest, open_export, publish_snapshot

SHA = "1a2b3c4d" + "0" * 56
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)

# The manifest.json objects museum-sync has written, literally: a CSV export from before the locator
# sidecar and the copied_verbatim flag, a JSON document export with both, and two harvests.
OLD_FILE_EXPORT: dict[str, Any] = {
    "export_id": "tate-20261125-1a2b3c4d",
    "source": "tate",
    "source_path": "/srv/inbox/tate_artworks_csv/artwork_data.csv",
    "profile": "tate_artworks_csv",
    "profile_origin": "/srv/museum-sync/museum_sync/core/profiles/tate_artworks_csv.toml",
    "format": "csv",
    "sha256": SHA,
    "bytes": 123456,
    "records": 1000,
    "chunk_size": 500,
    "chunks": 2,
    "lido_schema_version": None,
    "fetched_at": "2026-11-25T02:00:00.123456+00:00",
    "kind": "full",
}
JSON_DOCUMENT_EXPORT: dict[str, Any] = {
    **OLD_FILE_EXPORT,
    "export_id": "aic_artworks_api-20250301-1a2b3c4d",
    "source": "aic_artworks_api",
    "source_path": "/srv/inbox/aic_artworks_api/aic_artworks_page_2.json",
    "profile": "aic_artworks_api",
    "profile_origin": "",
    "format": "jsonl",
    "fetched_at": "2025-03-01T00:00:00+00:00",
    "copied_verbatim": False,
    "source_locators": {"file": "aic_artworks_page_2.json", "records": 7},
}
OAI_HARVEST: dict[str, Any] = {
    "export_id": "kenom-20261125-1a2b3c4d",
    "source": "kenom",
    "profile": "lido_xml",
    "profile_origin": "/srv/museum-sync/museum_sync/core/profiles/lido_xml.toml",
    "format": "xmllines",
    "sha256": SHA,
    "bytes": 98765,
    "records": 20,
    "chunk_size": 5,
    "chunks": 4,
    "lido_schema_version": "1.1",
    "fetched_at": "2026-11-25T02:00:00.000001+00:00",
    "kind": "incremental",
    "harvest": {
        "protocol": "oai-pmh",
        "key": "0123456789abcdef",
        "base_url": "https://oai.example.org/oai",
        "metadata_prefix": "lido",
        "set": None,
        "from": "2023-09-01T00:00:00Z",
        "until": None,
        "repository_name": "KENOM",
        "granularity": "YYYY-MM-DDThh:mm:ssZ",
        "deleted_record": "persistent",
        "response_date": "2026-11-25T01:59:58Z",
        "complete_list_size": "20",
        "pages": 4,
        "skipped_records": 0,
        "restarts": 0,
        "resumes": 1,
        "started_at": "2026-11-25T01:59:00.000000+00:00",
        "next_from": "2026-11-25T01:59:58Z",
    },
    "deleted_ids": ["oai:oai.example.org:1585310"],
    "requests": 6,
    "retries": 1,
    "source_url": "https://oai.example.org/oai",
}
API_HARVEST_UNKNOWN_PROFILE: dict[str, Any] = {
    "export_id": "aic-20261125-1a2b3c4d",
    "source": "aic",
    "profile": "/srv/profiles/gone.toml",
    "format": "jsonl",
    "sha256": SHA,
    "bytes": 4321,
    "records": 7,
    "chunk_size": 1000,
    "chunks": 1,
    "lido_schema_version": None,
    "fetched_at": "2026-11-25T02:00:00+00:00",
    "kind": "full",
    "harvest": {
        "protocol": "json_api",
        "key": "fedcba9876543210",
        "url": "https://api.example.org/artworks",
        "params": {"limit": "100"},
        "items": "data",
        "since": None,
        "since_param": None,
        "pages": 3,
        "skipped_records": 0,
        "restarts": 0,
        "resumes": 0,
        "started_at": "2026-11-25T01:59:00+00:00",
        "next_from": "2026-11-25T01:59:00Z",
    },
    "deleted_ids": [],
    "requests": 3,
    "retries": 0,
}


@pytest.mark.parametrize(
    "written",
    [OLD_FILE_EXPORT, JSON_DOCUMENT_EXPORT, OAI_HARVEST, API_HARVEST_UNKNOWN_PROFILE],
    ids=lambda m: m["source"],
)
def test_every_manifest_written_so_far_reads_and_writes_back_unchanged(written: dict[str, Any], tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    path = tmp_path / "manifest.json"
    store.write_json(path, written)  # how they were written
    manifest = Manifest.from_json(path.read_text(encoding="utf-8"))
    assert manifest.to_dict() == written
    assert manifest.to_json() == path.read_text(encoding="utf-8")
    assert Manifest.from_dict(written) == manifest


def test_the_manifest_is_typed() -> None:
    old = Manifest.from_dict(OLD_FILE_EXPORT)
    assert old.fetched_at == datetime(2026, 11, 25, 2, 0, 0, 123456, tzinfo=UTC)
    assert old.kind == "full" and old.copied_verbatim is None and old.source_locators is None and old.harvest is None
    assert Manifest.from_dict(JSON_DOCUMENT_EXPORT).source_locators == LocatorSidecar(
        file="aic_artworks_page_2.json", records=7
    )
    oai = Manifest.from_dict(OAI_HARVEST)
    assert oai.deleted_ids == ("oai:oai.example.org:1585310",) and oai.requests == 6
    assert isinstance(oai.harvest, HarvestInfo) and oai.harvest.resumes == 1
    assert oai.harvest.details["from"] == "2023-09-01T00:00:00Z" and "resumes" not in oai.harvest.details
    without_kind = {k: v for k, v in OLD_FILE_EXPORT.items() if k != "kind"}
    assert Manifest.from_dict(without_kind).kind == "full"
    with pytest.raises(ValueError):
        Manifest.from_dict({**OLD_FILE_EXPORT, "format": "xml"})


@pytest.fixture
def tate_lines(shared_data: Path) -> list[bytes]:
    """Ten real Tate artworks, one compact JSON object a line (what a JSONL export and a JSON API harvest hold)."""
    items = [json.loads(p.read_bytes()) for p in sorted((shared_data / "json").glob("tate_artwork_*.json"))]
    assert len(items) == 10
    return [json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8") for item in items]


def _harvest(store: ArtifactStore, lines: list[bytes], state: Path) -> Any:
    with PartialHarvest.open(state, source="tate", key="k1", protocol="json_api", fmt="jsonl", params={}) as partial:
        partial.append_page(lines[:6], cursor={"page": 2}, done=False)
        partial.append_page(lines[6:], cursor=None, done=True)
        return partial.publish(store, kind="full", profile="tate_artworks_json", chunk_size=4, now=NOW)


def test_extract_and_harvest_of_the_same_bytes_publish_the_same_snapshot(
    tate_lines: list[bytes], tmp_path: Path
) -> None:
    export_file = tmp_path / "tate.jsonl"
    export_file.write_bytes(b"".join(line + b"\n" for line in tate_lines))
    extracted = extract(export_file, load_profile("tate_artworks_json"), ArtifactStore(tmp_path / "a"), source="tate",
                        chunk_size=4, now=NOW)  # fmt: skip
    harvested_store = ArtifactStore(tmp_path / "b")
    result = _harvest(harvested_store, tate_lines, tmp_path / "state")
    harvested = open_export(harvested_store, result.export_id)

    assert harvested.export_id == extracted.export_id == f"tate-{extracted.manifest.sha256[:7]}-20261125"
    assert result.manifest == harvested.manifest and not result.reused
    a, b = extracted.snapshot.parent, harvested.snapshot.parent
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir()) == [
        "manifest.json", "plan.json", "snapshot.jsonl",
    ]  # fmt: skip
    assert (a / "snapshot.jsonl").read_bytes() == (b / "snapshot.jsonl").read_bytes()
    assert (a / "plan.json").read_bytes() == (b / "plan.json").read_bytes()
    shared = {"export_id", "source", "profile", "format", "sha256", "bytes", "records", "chunk_size", "chunks",
              "lido_schema_version", "fetched_at", "kind", "profile_origin"}  # fmt: skip
    file_keys, harvest_keys = extracted.manifest.to_dict(), harvested.manifest.to_dict()
    assert {k: file_keys[k] for k in shared} == {k: harvest_keys[k] for k in shared}
    assert set(file_keys) - shared == {"source_path", "copied_verbatim"}
    assert set(harvest_keys) - shared == {"harvest", "deleted_ids", "requests", "retries"}
    assert not [p.name for p in (tmp_path / "b" / "snapshots").iterdir() if p.name.startswith(".")]


def test_the_same_bytes_reuse_the_existing_snapshot(tate_lines: list[bytes], tmp_path: Path) -> None:
    """Same source, same bytes, on another day or through the other door: the snapshot already there."""
    store = ArtifactStore(tmp_path / "artifacts")
    export_file = tmp_path / "tate.jsonl"
    export_file.write_bytes(b"".join(line + b"\n" for line in tate_lines))
    profile = load_profile("tate_artworks_json")
    first = extract(export_file, profile, store, source="tate", chunk_size=4, now=NOW)
    manifest_bytes = (first.snapshot.parent / "manifest.json").read_bytes()
    assert (
        extract(export_file, profile, store, source="tate", chunk_size=4, now=datetime(2026, 12, 1, tzinfo=UTC))
        == first
    )
    result = _harvest(store, tate_lines, tmp_path / "state")
    assert result.reused and result.export_id == first.export_id and result.manifest == first.manifest
    assert (first.snapshot.parent / "manifest.json").read_bytes() == manifest_bytes
    assert [p.name for p in (store.root / "snapshots").iterdir()] == [first.export_id]


def test_losing_the_rename_race_returns_the_winners_snapshot(
    tate_lines: list[bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent publisher of the same bytes renamed its folder between our check and our rename."""
    store = ArtifactStore(tmp_path / "artifacts")
    export_file = tmp_path / "tate.jsonl"
    export_file.write_bytes(b"".join(line + b"\n" for line in tate_lines))
    winner = extract(export_file, load_profile("tate_artworks_json"), store, source="tate", chunk_size=4, now=NOW)
    manifest_bytes = (winner.snapshot.parent / "manifest.json").read_bytes()
    monkeypatch.setattr(snapshot, "find_existing", lambda *_: None)  # the winner was not there yet when we looked
    with snapshot.staging_folder(store, "tate", "loser") as staging:
        shutil.copyfile(winner.snapshot, staging / winner.snapshot.name)
        later = winner.manifest.model_copy(update={"fetched_at": datetime(2026, 11, 25, 3, 0, tzinfo=UTC)})
        published = publish_snapshot(store, staging, later, winner.plan)
    assert published.reused and published.export == winner
    assert (winner.snapshot.parent / "manifest.json").read_bytes() == manifest_bytes  # the winner's, untouched
    assert [p.name for p in (store.root / "snapshots").iterdir()] == [winner.export_id]  # no staging left
