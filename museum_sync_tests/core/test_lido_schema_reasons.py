"""Reasons that name the real cause in broken LIDO, and the wrong format named once (issue #14, defect 5).

Real records: Kunsthalle Bremen's LIDO with its ``objectIdentificationWrap`` capitalised as a museum's
own XSLT wrote it, the AQinDa manipulated MKG records (``lido/invalid``), MKG Hamburg's bare ``lido:``
fragments that never declare the prefix (``onboarding/lido``), and a DSpace oai_dc response fed to the
LIDO profile.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.core import lido as lx
from museum_sync.core.exceptions import SourceFormatError
from museum_sync.core.profiles import load_profile
from museum_sync.core.validation import Reason, Rejected, Valid, validate
from museum_sync.pipeline.extraction import extract

DSPACE = "onboarding/oaipmh/eur_dspace_ListRecords_oai_dc_2004.xml"


def test_a_misnamed_wrap_is_reported_as_the_schema_error_not_as_missing_fields(
    shared_data: Path, tmp_path: Path
) -> None:
    (locator, data), *_ = lx.iter_lido_elements(shared_data / "lido" / "records" / "ddb_KHB.xml")
    broken = data.replace(b"lido:objectIdentificationWrap", b"lido:ObjectIdentificationWrap")
    result = validate(broken, load_profile("lido_xml"), export_id="e", locator=locator)
    assert isinstance(result, Rejected)
    assert {p.reason for p in result.problems} == {Reason.SCHEMA_INVALID}  # not "no title", "no institution"
    first = result.problems[0]
    assert first.field == "lido:ObjectIdentificationWrap"
    assert first.value == "/lido:lido/lido:descriptiveMetadata/lido:ObjectIdentificationWrap"
    assert "This element is not expected" in first.message and f"record at line {locator.line}" in first.message
    assert locator.line == 4 and locator.file == "ddb_KHB.xml"
    # The misnamed element's own line in the museum's file, though the record is one line in the snapshot.
    text = (shared_data / "lido" / "records" / "ddb_KHB.xml").read_text(encoding="utf-8")
    misnamed = text.replace("lido:objectIdentificationWrap", "lido:ObjectIdentificationWrap")
    source = tmp_path / "ddb_KHB_misnamed.xml"
    source.write_text(misnamed, encoding="utf-8")
    (marked_locator, marked), *_ = lx.iter_lido_elements(source)
    result = validate(marked, load_profile("lido_xml"), export_id="e", locator=marked_locator)
    assert isinstance(result, Rejected)
    line = 1 + text[: text.index("<lido:objectIdentificationWrap")].count("\n")
    assert line == 22 and f"(line {line}, at /lido:lido/lido:descriptiveMetadata" in result.problems[0].message
    # The same record, well named, is valid: the schema check costs nothing on good records.
    assert isinstance(validate(data, load_profile("lido_xml"), export_id="e", locator=locator), Valid)


def test_missing_content_keeps_the_builders_reasons(shared_data: Path) -> None:
    [(locator, data)] = lx.iter_lido_elements(shared_data / "lido" / "invalid" / "aqinda_manipulated_2_MKG.xml")
    result = validate(data, load_profile("lido_xml"), export_id="e", locator=locator)
    assert isinstance(result, Rejected)
    reasons = {(p.field, p.reason) for p in result.problems}
    assert ("record_id", Reason.MISSING_PROVENANCE) in reasons  # no lidoRecID: said as the builder says it
    assert Reason.SCHEMA_INVALID not in {reason for _, reason in reasons}


def test_bare_mkg_fragments_without_a_namespace_declaration_are_read(shared_data: Path) -> None:
    profile = load_profile("lido_xml")
    for n, schema_valid in ((1, True), (2, False), (3, False)):
        path = shared_data / "onboarding" / "lido" / f"mkg_hamburg_beispiel-{n}.xml"
        [(locator, data)] = lx.iter_lido_elements(path)
        assert (locator.line, locator.pointer) == (1, "/lidoWrap/lido[1]")
        errors = lx.schema_errors(data, "lido-1.1")
        assert (errors == []) == schema_valid
        assert all(e.element == "lido:resourceRepresentation" for e in errors)  # withheld images as text
        result = validate(data, profile, export_id="e", locator=locator)
        assert isinstance(result, Valid), result
        assert result.record.provenance.institution == "digiCULT-Verbund eG"


def test_oai_dc_fed_to_the_lido_profile_is_one_error(shared_data: Path, tmp_path: Path) -> None:
    message = r"this is oai_dc \(simple Dublin Core\), not LIDO: use a profile with format = 'oai_dc'"
    with pytest.raises(SourceFormatError, match=message) as caught:
        list(lx.iter_lido_elements(shared_data / DSPACE, expect="lido"))
    assert caught.value.line == 2  # the first record
    with pytest.raises(SourceFormatError, match=message):
        extract(shared_data / DSPACE, load_profile("lido_xml"), ArtifactStore(tmp_path))
    mkg = shared_data / "onboarding" / "lido" / "mkg_hamburg_beispiel-1.xml"
    with pytest.raises(SourceFormatError, match=r"this is LIDO, not oai_dc"):
        list(lx.iter_lido_elements(mkg, expect="oai_dc"))
