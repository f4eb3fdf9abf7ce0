"""Onboarding the XML exports by profile only (#14): MKG Hamburg's LIDO fragments and Erasmus University's
DSpace oai_dc response, through the same extract -> chunk -> validate path as ``museum-sync validate``;
counts read = records in the file, and every accepted record of the five onboarded institutions writes back
as LIDO 1.1 and oai_dc that the XSDs accept."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from museum_sync.cli.offline import cmd_validate
from museum_sync.core import lido
from museum_sync.core.locator import Locator
from museum_sync.core.models import MuseumRecord
from museum_sync.core.profiles import load_profile
from museum_sync.core.sources import iter_csv, iter_json_documents
from museum_sync.core.validation import ChunkValidator, Valid

DSPACE = "oaipmh/eur_dspace_ListRecords_oai_dc_2004.xml"


@pytest.fixture(scope="module")
def onboarding(shared_data: Path) -> Path:
    return shared_data / "onboarding"


def run_validate(path: Path, profile: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert cmd_validate(argparse.Namespace(file=str(path), profile=profile, show=False)) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_validate_counts_every_record_of_the_xml_exports(onboarding: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (onboarding / DSPACE).read_text(encoding="utf-8")
    in_file = len(re.findall(r"<record>", text)) - len(re.findall(r'status="deleted"', text))
    assert in_file == 79
    assert run_validate(onboarding / DSPACE, "eur_dspace_oai_dc", capsys).startswith("79 records, 79 valid, 0 rejected")
    for n in (1, 2, 3):
        summary = run_validate(onboarding / "lido" / f"mkg_hamburg_beispiel-{n}.xml", "mkg_hamburg_lido", capsys)
        assert summary.startswith("1 records, 1 valid, 0 rejected"), summary


def accepted(validator: ChunkValidator, records: list[tuple[Locator, object]]) -> list[MuseumRecord]:
    results = [validator.validate(loc, raw) for loc, raw in records]  # type: ignore[arg-type]
    return [r.record for r in results if isinstance(r, Valid)]


def test_onboarded_records_write_back_as_xsd_valid_lido_and_dc(onboarding: Path) -> None:
    records: list[MuseumRecord] = []
    mkg = [
        item for n in (1, 2, 3) for item in lido.iter_lido_elements(onboarding / f"lido/mkg_hamburg_beispiel-{n}.xml")
    ]
    records += accepted(ChunkValidator(load_profile("mkg_hamburg_lido"), "e"), mkg)  # type: ignore[arg-type]
    dspace = list(lido.iter_lido_elements(onboarding / DSPACE, expect="oai_dc"))
    records += accepted(ChunkValidator(load_profile("eur_dspace_oai_dc"), "e"), dspace)  # type: ignore[arg-type]
    aic = load_profile("aic_artwork_json")
    records += accepted(ChunkValidator(aic, "e"), list(iter_json_documents(onboarding / "json", aic.documents)))
    nga = list(iter_csv(onboarding / "csv/nga_objects_historical_data.csv"))[::25]  # every 25th row
    records += accepted(
        ChunkValidator(load_profile("nga_objects_historical_csv"), "e", side_dirs=(onboarding / "csv",)), nga
    )
    assert len(records) > 3 + 79 + 3 + 230
    assert [r.record_id for r in records if lido.validate_xml(lido.record_to_lido(r), "lido-1.1")] == []
    assert [r.record_id for r in records if lido.validate_xml(lido.record_to_dc(r), "oai_dc")] == []
    header_ids = [r for r in records if r.record_id.startswith("hdl:1765/")]
    assert len(header_ids) == 79 and all(r.provenance.source_datestamp for r in header_ids)
