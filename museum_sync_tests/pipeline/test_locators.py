"""Rejects of JSON-document and LIDO exports name the museum's own file, not the snapshot it was rewritten into.

Real records (shared data) with one thing broken, through ``pipeline.extract`` + ``pipeline.validate_chunk`` over
several chunks: the reject's locator is the original file name, the record element's line (LIDO) and the
item's pointer, read from the locator sidecar kept beside the snapshot.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from museum_sync import pipeline
from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.core import chunking
from museum_sync.core.exceptions import ChunkPlanError, SourceFormatError
from museum_sync.core.profiles import Profile, load_profile
from museum_sync.core.source_locators import ENTRIES, INDEX
from museum_sync.pipeline.snapshot import LocatorSidecar
from museum_sync_tests.conftest import REPO

INP = "inp_ro_science_technology_486records.xml"
CC0_TERM = b'xml:lang="en">CC0</lido:term>'
BROKEN_TERM = b'xml:lang="en">htp://creativecommons.org/publicdomain/zero/1.0/</lido:term>'


class RecordingCatalog:
    """Just enough of the catalogue for ``record_chunk_outcome`` and ``quarantine_unreadable_chunk``: keeps rows."""

    def __init__(self) -> None:
        self.rows: list[Any] = []

    def quarantine_records(self, export_id: str, key: str, rows: Any, *args: Any, **kwargs: Any) -> None:
        self.rows.extend(rows)

    def record_validation(self, *args: Any) -> None:
        pass


def all_rejects(store: ArtifactStore, export: pipeline.ExportRef, profile: Profile) -> dict[int, list[dict[str, Any]]]:
    """Validate every chunk; the rejects of each, by chunk index."""
    rejects = {}
    for index in range(len(export.plan.chunks)):
        pipeline.validate_chunk(store, export, index, profile)
        rejects[index] = list(pipeline.iter_rejects(store, export.export_id, index))
    return rejects


def locators(rejects: dict[int, list[dict[str, Any]]]) -> dict[int, list[dict[str, Any]]]:
    return {index: [row["locator"] for row in rows] for index, rows in rejects.items() if rows}


@pytest.fixture
def aic_page(shared_data: Path, tmp_path: Path) -> Path:
    """A real AIC API page of 7 artworks; the fifth (``/data/4``) has a rights flag the profile cannot read."""
    items = [
        json.loads(p.read_text(encoding="utf-8")) for p in sorted((shared_data / "json").glob("aic_artwork_*.json"))
    ]
    assert len(items) == 7
    items[4]["is_public_domain"] = "maybe"
    path = tmp_path / "aic_artworks_page_2.json"
    path.write_text(json.dumps({"data": items, "pagination": {"current_page": 2}}, indent=4), encoding="utf-8")
    return path


@pytest.fixture
def inp_broken(shared_data: Path, tmp_path: Path) -> Path:
    """The 486-record Romanian LIDO file with malformed rights in records 100, 101 and 250."""
    data = (shared_data / "lido" / "records" / INP).read_bytes()
    parts = data.split(CC0_TERM)
    assert len(parts) == 487  # one CC0 record rights term per record
    path = tmp_path / INP
    path.write_bytes(
        b"".join(p + (BROKEN_TERM if n in (99, 100, 249) else CC0_TERM) for n, p in enumerate(parts[:-1])) + parts[-1]
    )
    return path


def lido_start_lines(data: bytes) -> list[int]:
    """Line of every record's start tag, found in the bytes (the oracle, independent of lxml)."""
    return [n for n, text in enumerate(data.split(b"\n"), 1) if text.lstrip().startswith(b"<lido:lido>")]


def test_json_reject_names_the_file_and_item_pointer(aic_page: Path, tmp_path: Path) -> None:
    profile = load_profile("aic_artworks_api")
    store = ArtifactStore(tmp_path / "artifacts")
    export = pipeline.extract(aic_page, profile, store, chunk_size=3)
    assert [span.records for span in export.plan.chunks] == [3, 3, 1]
    rejects = all_rejects(store, export, profile)
    assert locators(rejects) == {
        1: [{"file": "aic_artworks_page_2.json", "line": 0, "offset": None, "pointer": "/data/4"}]
    }
    (row,) = rejects[1]
    assert row["record_id"] == str(json.loads(aic_page.read_bytes())["data"][4]["id"])
    assert [p["reason"] for p in row["problems"]] == ["unknown_rights"]
    # What catalog.quarantine gets: the museum's file and the item's pointer; no line (NULL), no offset.
    catalog = RecordingCatalog()
    report = pipeline.read_report(store, export.export_id, 1)
    assert report is not None
    pipeline.record_chunk_outcome(catalog, store, report, None)
    (quarantined,) = catalog.rows
    assert (quarantined.file, quarantined.line, quarantined.byte_offset, quarantined.pointer) == (
        "aic_artworks_page_2.json",
        None,
        None,
        "/data/4",
    )


def test_json_top_level_array_gets_item_pointers(shared_data: Path, tmp_path: Path) -> None:
    """Tate artworks as one JSON array (the Tate profile read with ``item_path = "item"``); one lost its title."""
    text = (REPO / "museum_sync" / "core" / "profiles" / "tate_artworks_json.toml").read_text(encoding="utf-8")
    assert 'format = "jsonl"' in text
    profile_path = tmp_path / "tate_artworks_array.toml"
    profile_path.write_text(text.replace('format = "jsonl"', 'format = "json"\nitem_path = "item"'), encoding="utf-8")
    profile = load_profile(profile_path)
    items = [
        json.loads(p.read_text(encoding="utf-8")) for p in sorted((shared_data / "json").glob("tate_artwork_*.json"))
    ]
    assert len(items) == 10
    del items[7]["title"]
    path = tmp_path / "tate_artworks.json"
    path.write_text(json.dumps(items, indent=2), encoding="utf-8")
    store = ArtifactStore(tmp_path / "artifacts")
    export = pipeline.extract(path, profile, store, chunk_size=4)
    rejects = all_rejects(store, export, profile)
    assert locators(rejects) == {1: [{"file": "tate_artworks.json", "line": 0, "offset": None, "pointer": "/7"}]}
    assert rejects[1][0]["record_id"] == str(items[7]["id"])


def test_lido_rejects_in_several_chunks_name_file_line_and_pointer(inp_broken: Path, tmp_path: Path) -> None:
    """Chunks of 100: records 100 | 101 straddle a chunk boundary; record 396 (a real bad date) is past line 65535."""
    profile = load_profile("lido_xml")
    store = ArtifactStore(tmp_path / "artifacts")
    export = pipeline.extract(inp_broken, profile, store, chunk_size=100)
    assert len(export.plan.chunks) == 5
    starts = lido_start_lines(inp_broken.read_bytes())
    assert len(starts) == 486

    def at(record: int) -> dict[str, Any]:
        return {"file": INP, "line": starts[record - 1], "offset": None, "pointer": f"/lidoWrap/lido[{record}]"}

    rejects = all_rejects(store, export, profile)
    assert locators(rejects) == {0: [at(100)], 1: [at(101)], 2: [at(250)], 3: [at(396)]}
    assert starts[395] > 65535
    reasons = {i: [p["reason"] for row in rows for p in row["problems"]] for i, rows in rejects.items() if rows}
    assert reasons == {0: ["malformed_rights"], 1: ["malformed_rights"], 2: ["malformed_rights"], 3: ["invalid_date"]}


def test_snapshot_bytes_and_export_id_do_not_depend_on_the_sidecar(aic_page: Path, tmp_path: Path) -> None:
    profile = load_profile("aic_artworks_api")
    store = ArtifactStore(tmp_path / "artifacts")
    now = datetime(2025, 3, 1, tzinfo=UTC)
    export = pipeline.extract(aic_page, profile, store, chunk_size=3, now=now)
    items = json.loads(aic_page.read_bytes())["data"]
    expected = b"".join(json.dumps(i, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n" for i in items)
    assert export.snapshot.read_bytes() == expected
    sha = hashlib.sha256(expected).hexdigest()
    assert export.manifest.sha256 == sha and export.export_id == f"aic_artworks_api-{sha[:7]}-20250301"
    assert export.manifest.source_locators == LocatorSidecar(file=aic_page.name, records=7)
    assert (export.snapshot.parent / INDEX).stat().st_size == 8 * 7
    assert len((export.snapshot.parent / ENTRIES).read_bytes().splitlines()) == 7
    assert pipeline.extract(aic_page, profile, store, chunk_size=3, now=now).export_id == export.export_id


def test_csv_exports_keep_their_own_locators_and_get_no_sidecar(shared_data: Path, tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    export = pipeline.extract(
        shared_data / "csv" / "tate_artwork_data_first52rows.csv", load_profile("tate_artworks_csv"), store
    )
    assert pipeline.source_locators(export) is None and "source_locators" not in export.manifest.to_dict()
    assert not (export.snapshot.parent / INDEX).exists() and not (export.snapshot.parent / ENTRIES).exists()


def test_csv_rejects_name_the_museums_file_at_the_same_line_and_byte(tmp_path: Path) -> None:
    """A CSV export is copied byte for byte: its rejects keep line and offset, under the museum's file name."""
    from museum_sync.samples.generate import ExportSpec, write_export

    path = write_export(ExportSpec(records=300, seed=3, bad_share=0.05), tmp_path / "tate_nightly_2026-11-25.csv")
    profile = load_profile("tate_artworks_csv")
    store = ArtifactStore(tmp_path / "artifacts")
    export = pipeline.extract(path, profile, store, chunk_size=100)
    rows = [row for chunk in all_rejects(store, export, profile).values() for row in chunk]
    assert len(rows) >= 5
    data = path.read_bytes()
    lines = data.split(b"\n")
    for row in rows:
        where = row["locator"]
        assert where["file"] == "tate_nightly_2026-11-25.csv"
        start = where["offset"]
        assert start == 0 or data[start - 1 : start] == b"\n"  # a record starts there, in the museum's file
        assert data[start:].startswith(lines[where["line"] - 1])  # and it is the line the reject names
        if row["record_id"]:
            assert row["record_id"].encode() in lines[where["line"] - 1]


def test_an_old_snapshot_without_the_sidecar_still_validates(aic_page: Path, tmp_path: Path) -> None:
    """Snapshots extracted before the sidecar existed: the snapshot's own locator, as before."""
    profile = load_profile("aic_artworks_api")
    store = ArtifactStore(tmp_path / "artifacts")
    export = pipeline.extract(aic_page, profile, store, chunk_size=3)
    folder = export.snapshot.parent
    (folder / ENTRIES).unlink()
    (folder / INDEX).unlink()
    manifest = store.read_json(folder / "manifest.json")
    del manifest["source_locators"]
    store.write_json(folder / "manifest.json", manifest)
    old = pipeline.open_export(store, export.export_id)
    rejects = all_rejects(store, old, profile)
    offset = old.snapshot.read_bytes().split(b"\n")[:4]
    assert locators(rejects) == {
        1: [{"file": str(old.snapshot), "line": 5, "offset": sum(len(line) + 1 for line in offset), "pointer": None}]
    }


def test_a_sidecar_that_does_not_fit_the_snapshot_stops_the_chunk(aic_page: Path, tmp_path: Path) -> None:
    profile = load_profile("aic_artworks_api")
    store = ArtifactStore(tmp_path / "artifacts")
    export = pipeline.extract(aic_page, profile, store, chunk_size=3)
    index = export.snapshot.parent / INDEX
    index.write_bytes(index.read_bytes()[:-8])
    with pytest.raises(ChunkPlanError, match="expected 56 for 7 records"):
        pipeline.validate_chunk(store, export, 1, profile)


def test_an_unreadable_chunk_is_quarantined_at_the_original_record(inp_broken: Path, tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    export = pipeline.extract(inp_broken, load_profile("lido_xml"), store, chunk_size=100)
    error = SourceFormatError("line is too long", file=str(export.snapshot), line=150, offset=123)
    catalog = RecordingCatalog()
    pipeline.quarantine_unreadable_chunk(catalog, export, 1, error, None)
    (row,) = catalog.rows
    line = lido_start_lines(inp_broken.read_bytes())[149]
    assert (row.file, row.line, row.byte_offset, row.pointer) == (INP, line, None, "/lidoWrap/lido[150]")


def test_a_planning_error_names_the_original_record(
    aic_page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record too long for a snapshot line: the error names the museum's file and the item, not the snapshot."""
    data = json.loads(aic_page.read_bytes())
    data["data"][5]["description"] = "x" * 50_000
    aic_page.write_text(json.dumps(data), encoding="utf-8")
    plan = chunking.plan_chunks
    monkeypatch.setattr(chunking, "plan_chunks", lambda *a, **k: plan(*a, **k, max_record_bytes=40_000))
    with pytest.raises(SourceFormatError) as caught:
        pipeline.extract(aic_page, load_profile("aic_artworks_api"), ArtifactStore(tmp_path / "artifacts"))
    message = str(caught.value)
    assert message.startswith(f"{aic_page}: ") and "(record /data/5)" in message and "snapshot" not in message
    assert caught.value.line is None


def test_validate_show_prints_file_and_pointer(aic_page: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "museum_sync.cli", "validate", str(aic_page), "--profile", "aic_artworks_api", "--show"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 1 and out.stderr == "", out.stderr  # 1: the chunk would be quarantined
    assert out.stdout.startswith("aic_artworks_page_2.json /data/4  record ")
