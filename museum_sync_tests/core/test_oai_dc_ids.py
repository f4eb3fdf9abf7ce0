"""oai_dc record ids: the OAI header identifier, never a dc:identifier (issue #14, defect 1).

On the real DSpace ListRecords response in ``shared/data/onboarding/oaipmh`` (Erasmus University
Rotterdam, 2004): its ``dc:identifier`` values repeat across records (ISSNs, a shared series handle...),
while every header identifier is unique. Deleted records are reported by header identifier, so the ids of
live records must be in the same key space for an incremental publication to delete the right rows.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from museum_sync.core import lido as lx
from museum_sync.core.locator import Locator
from museum_sync.core.profiles import Profile
from museum_sync.core.validation import ChunkValidator, Valid

LISTRECORDS = "onboarding/oaipmh/eur_dspace_ListRecords_oai_dc_2004.xml"


@pytest.fixture(scope="module")
def dspace(shared_data: Path) -> Path:
    return shared_data / LISTRECORDS


def test_header_identifier_is_the_record_id_and_header_fields_are_kept(dspace: Path) -> None:
    headers = list(lx.iter_oai_records(dspace))
    live = [h for h in headers if not h.deleted]
    lines = list(lx.iter_lido_elements(dspace))
    assert len(lines) == len(live) == 79 and len(headers) - len(live) == 2
    drafts = [lx.parse_oai_dc(data) for _, data in lines]
    assert [d["record_id"] for d in drafts] == [h.identifier for h in live]
    assert len({d["record_id"] for d in drafts}) == len(drafts)
    # The first dc:identifier repeats across records: the old id, which made duplicate_id rejects.
    repeated = Counter(d.get("dc_identifier") for d in drafts)
    assert max(repeated.values()) > 1
    first = drafts[0]
    assert first["record_id"] == "hdl:1765/9"
    assert first["dc_identifier"] == "http://hdl.handle.net/1765/9"
    assert first["source_datestamp"] == "2004-02-03T10:58:05Z" and first["source_sets"] == ["1:1"]
    # The snapshot line and the harvested line are the same bytes, and both carry the header.
    assert lines[0][1] == live[0].metadata
    assert lines[0][0] == Locator(file=dspace.name, line=2, pointer="/OAI-PMH/ListRecords/record[1]")


def test_records_validate_without_false_duplicates_and_keep_source_metadata(dspace: Path) -> None:
    profile = Profile(
        name="dspace_test",
        format="oai_dc",
        institution="Erasmus University Rotterdam",
        default_rights="http://rightsstatements.org/vocab/CNE/1.0/",
    )
    validator = ChunkValidator(profile, "dspace-test")
    results = list(validator.run(lx.iter_lido_elements(dspace)))
    assert "duplicate_id" not in validator.reasons
    valid = [r.record for r in results if isinstance(r, Valid)]
    assert valid, validator.reasons
    record = valid[0]
    assert record.record_id == record.provenance.source_record_id
    assert record.record_id.startswith("hdl:1765/")
    assert record.provenance.source_datestamp and record.provenance.source_sets
    deleted = {h.identifier for h in lx.iter_oai_records(dspace) if h.deleted}
    assert all(i.startswith("hdl:1765/") for i in deleted)  # the same key space as the live ids


def test_a_bare_dc_record_keeps_its_first_identifier_as_id() -> None:
    bare = (
        b'<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>T</dc:title>'
        b"<dc:identifier>obj-1</dc:identifier><dc:identifier>obj-2</dc:identifier></oai_dc:dc>"
    )
    draft = lx.parse_oai_dc(bare)
    assert draft["record_id"] == draft["dc_identifier"] == "obj-1"
    assert "source_datestamp" not in draft
