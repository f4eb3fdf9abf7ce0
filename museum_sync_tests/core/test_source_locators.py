"""The locator sidecar: each record's place in the museum's file, read back per chunk by seeking."""

from __future__ import annotations

from pathlib import Path

import pytest

from museum_sync.core import lido
from museum_sync.core.exceptions import ChunkPlanError
from museum_sync.core.locator import Locator, where
from museum_sync.core.source_locators import ENTRIES, INDEX, LocatorWriter, SourceLocators
from museum_sync.core.sources import iter_json_items

KENOM = "kenom_20records.xml"


def write_sidecar(folder: Path, locators: list[Locator], file: str) -> SourceLocators:
    with (folder / ENTRIES).open("wb") as entries, (folder / INDEX).open("wb") as index:
        writer = LocatorWriter(entries, index)
        for locator in locators:
            writer.add(locator)
    located = SourceLocators(folder, file, writer.records)
    located.check()
    return located


@pytest.fixture
def kenom(shared_data: Path, tmp_path: Path) -> tuple[list[Locator], SourceLocators]:
    originals = [loc for loc, _ in lido.iter_lido_elements(shared_data / "lido" / "records" / KENOM)]
    return originals, write_sidecar(tmp_path, originals, KENOM)


def test_any_range_reads_back_the_original_locators(kenom: tuple[list[Locator], SourceLocators]) -> None:
    originals, located = kenom
    assert len(originals) == 20 and located.records == 20
    for first, count in [(0, 20), (0, 1), (7, 6), (19, 1), (13, 0)]:
        assert list(located.read(first, count)) == originals[first : first + count]
    assert located.at(13) == originals[13] == Locator(KENOM, originals[13].line, None, "/lidoWrap/lido[14]")
    with pytest.raises(ChunkPlanError, match="outside"):
        list(located.read(15, 6))


def test_relocate_swaps_snapshot_locators_in_order(kenom: tuple[list[Locator], SourceLocators]) -> None:
    originals, located = kenom
    snapshot = [(Locator("snapshot.xmll", n + 1, 1000 * n), f"record {n}") for n in range(6, 12)]
    assert list(located.relocate(snapshot, 6)) == [(originals[n], f"record {n}") for n in range(6, 12)]
    # A record on another snapshot line than its ordinal says: snapshot and sidecar disagree.
    with pytest.raises(ChunkPlanError, match="holds record 6 where the locator sidecar expects 5"):
        list(located.relocate(snapshot, 5))


def test_json_items_keep_their_pointer_and_no_line(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "json" / "moma_Artists_2016-05.json"  # 14,839 items
    originals = [loc for loc, _ in iter_json_items(path, "item")]
    located = write_sidecar(tmp_path, originals, path.name)
    (last,) = located.read(14_838, 1)
    assert last == Locator(path.name, 0, None, "/14838")
    assert where(last.file, last.line, last.pointer) == "moma_Artists_2016-05.json /14838" == str(last)


def test_a_damaged_sidecar_is_an_error_not_a_wrong_answer(kenom: tuple[list[Locator], SourceLocators]) -> None:
    _, located = kenom
    with pytest.raises(ChunkPlanError, match="expected 168"):
        SourceLocators(located.folder, KENOM, 21).check()
    entries = located.folder / ENTRIES
    lines = entries.read_bytes().split(b"\n")
    lines[3] = b'["four",null]'
    entries.write_bytes(b"\n".join(lines))
    with pytest.raises(ChunkPlanError, match="damaged entry for record 3"):
        list(located.read(2, 3))
    (located.folder / INDEX).unlink()
    with pytest.raises(ChunkPlanError, match="sidecar missing"):
        located.check()


def test_any_pointer_text_survives(tmp_path: Path) -> None:
    odd = [Locator("f.json", 0, None, '/a~1b/"quoted"\t/ünï/\u2028/0'), Locator("f.json", 7, None, None)]
    located = write_sidecar(tmp_path, odd, "f.json")
    assert list(located.read(0, 2)) == odd
    assert len((tmp_path / ENTRIES).read_bytes().splitlines()) == 2
