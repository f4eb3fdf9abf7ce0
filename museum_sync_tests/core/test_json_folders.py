"""One object per JSON document: a folder or a .zip of the real CMOA and AIC dumps as one export."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from museum_sync.core.exceptions import EmptySource, SourceNotFound
from museum_sync.core.sources import ERROR, UNPARSEABLE, iter_json_documents

CMOA = "cmoa_*-*-*-*-*.json"  # object and Teenie Harris records, not the datapackage descriptor


def test_a_folder_gives_one_record_per_matching_document_in_name_order(shared_data: Path) -> None:
    folder = shared_data / "onboarding" / "json"
    records = list(iter_json_documents(folder, CMOA))
    names = [loc.file for loc, _ in records]
    assert len(records) == 9 and names == sorted(names) and "cmoa_datapackage.json" not in names
    assert all(loc.line == 1 and loc.pointer == "" for loc, _ in records)
    assert all(loc.file.endswith(raw["id"].rsplit("/", 1)[1] + ".json") for loc, raw in records)
    assert len(list(iter_json_documents(folder, "aic_artwork_*.json"))) == 3


def test_a_zip_reads_like_the_folder_and_bad_documents_are_kept_as_unparseable(
    shared_data: Path, tmp_path: Path
) -> None:
    folder = shared_data / "onboarding" / "json"
    archive = tmp_path / "dump.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for doc in sorted(folder.glob("aic_artwork_*.json"), reverse=True):
            out.write(doc, f"artworks/{doc.name}")
        out.writestr("artworks/aic_artwork_broken.json", '{"id": 5, "title": "cut off')
        out.writestr("artworks/aic_artwork_list.json", "[1, 2]")
        out.writestr("README.txt", "not a document")
    records = list(iter_json_documents(archive, "aic_artwork_*.json"))
    assert [loc.file for loc, _ in records] == [
        "artworks/aic_artwork_19.json",
        "artworks/aic_artwork_23.json",
        "artworks/aic_artwork_4.json",
        "artworks/aic_artwork_broken.json",
        "artworks/aic_artwork_list.json",
    ]
    assert [raw["id"] for _, raw in records[:3]] == [19, 23, 4]
    broken, listed = records[3][1], records[4][1]
    assert broken[UNPARSEABLE] == '{"id": 5, "title": "cut off'
    assert "invalid JSON: Unterminated string" in broken[ERROR] and "line 1" in broken[ERROR]
    assert listed[ERROR] == "artworks/aic_artwork_list.json: expected a JSON object, got an array"


def test_nothing_matching_is_empty_and_a_missing_path_is_not_found(shared_data: Path, tmp_path: Path) -> None:
    with pytest.raises(EmptySource, match=r"no JSON documents matching 'nga_\*\.json'"):
        list(iter_json_documents(shared_data / "onboarding" / "json", "nga_*.json"))
    with pytest.raises(SourceNotFound):
        list(iter_json_documents(tmp_path / "absent"))
