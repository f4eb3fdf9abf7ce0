"""LIDO event types in any language, and whose credit line is the object's (issue #14, defect 8).

Real records: the LIDO Working Group's La Primavera and Fontana del Moro examples (their image
``creditLine`` names the photo archive and photographer), the Kunsthalle Bremen record, and MKG
Hamburg's Coding da Vinci record whose production event is LIDO ``lido00031`` "Ausführung" (Execution).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from museum_sync.core import lido as lx
from museum_sync.core.profiles import load_profile
from museum_sync.core.validation import Valid, validate

PHOTO_CREDIT = re.compile(r"Fotograf|Bildarchiv|Rheinisches Bildarchiv|Reproduktion")


def records(path: Path) -> list[tuple[object, bytes]]:
    return list(lx.iter_lido_elements(path))


@pytest.mark.parametrize(
    "name", ["lidowg_v1.1_LaPrimavera.xml", "lidowg_v1.1_FontanaDelMoro.xml", "aqinda_graphics_WallrafRichartz.xml"]
)
def test_image_credit_lines_are_not_the_objects(shared_data: Path, name: str) -> None:
    profile = load_profile("lido_xml")
    path = shared_data / "lido" / "records" / name
    assert PHOTO_CREDIT.search(path.read_text(encoding="utf-8"))  # the resource's creditLine is there
    for locator, data in lx.iter_lido_elements(path):
        result = validate(data, profile, export_id="e", locator=locator)
        assert isinstance(result, Valid), result
        record = result.record
        for text in (record.credit_line, record.provenance.acquisition):
            assert text is None or not PHOTO_CREDIT.search(text), (locator, text)


def _production_typed(data: bytes, event_type: bytes) -> bytes:
    """The record with its production event's type replaced (the first eventType, Herstellung/lido00007)."""
    new, count = re.subn(rb"<lido:eventType>.*?</lido:eventType>", event_type, data, count=1)
    assert count == 1
    return new


@pytest.mark.parametrize(
    "event_type",
    [
        b'<lido:eventType><lido:term xml:lang="de">Verfasst</lido:term></lido:eventType>',
        b"<lido:eventType><lido:conceptID>https://event-types.museum-digital.org/7</lido:conceptID>"
        b'<lido:term xml:lang="de">Verfasst</lido:term></lido:eventType>',
        b"<lido:eventType><lido:conceptID>http://www.cidoc-crm.org/cidoc-crm/E12_Production</lido:conceptID>"
        b"</lido:eventType>",
        '<lido:eventType><lido:term xml:lang="fr">Exécution</lido:term></lido:eventType>'.encode(),
    ],
)
def test_production_in_other_languages_and_vocabularies_keeps_its_date(shared_data: Path, event_type: bytes) -> None:
    (_, data), *_ = records(shared_data / "lido" / "records" / "ddb_KHB.xml")
    draft = lx.parse_lido(_production_typed(data, event_type))
    assert (draft.get("date_display"), draft.get("date_earliest")) == ("1870", "1870")
    assert draft["creators"][0]["name"] == "Lessing, Carl Friedrich"


def test_mkg_execution_event_is_the_production(shared_data: Path) -> None:
    text = (shared_data / "onboarding" / "lido" / "mkg_hamburg_beispiel-1.xml").read_bytes()
    wrapped = b'<lido:lidoWrap xmlns:lido="http://www.lido-schema.org">' + text + b"</lido:lidoWrap>"
    draft = lx.parse_lido(wrapped)
    # lido00031 "Ausführung" by Rookwood Pottery gives the date; lido00006 "Bearbeitung" adds the painter.
    assert (draft.get("date_earliest"), draft.get("date_latest")) == ("1899", "1899")
    names = [c["name"] for c in draft["creators"]]
    assert any("Rookwood" in n for n in names) and any("Valentien" in n for n in names)
    assert draft["credit_line"].startswith("Erworben von S. Bing")  # the work's creditLine stays
