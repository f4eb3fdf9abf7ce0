"""Every record validation accepts, from any source, writes back as LIDO v1.1 and oai_dc that the official
XSDs accept: the canonical record is never richer or looser than the standards it is published in."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from museum_sync.core import lido, sources
from museum_sync.core.locator import Locator
from museum_sync.core.models import MuseumRecord, StoredRecord
from museum_sync.core.profiles import load_profile
from museum_sync.core.validation import ChunkValidator, Valid


def _assert_standards_valid(records: list) -> None:
    assert records
    for record in records:
        lido_errors = lido.validate_xml(lido.record_to_lido(record), "lido-1.1")
        assert lido_errors == [], f"{record.record_id}: {lido_errors[:3]}"
        dc_errors = lido.validate_xml(lido.record_to_dc(record), "oai_dc")
        assert dc_errors == [], f"{record.record_id}: {dc_errors[:3]}"


def _accepted_lido_records(shared_data: Path) -> list[MuseumRecord]:
    validator = ChunkValidator(load_profile("lido_xml"), "export-1")
    accepted = []
    for path in sorted((shared_data / "lido/records").glob("*.xml")):
        for locator, raw in lido.iter_lido_elements(path):
            result = validator.validate(locator, raw)
            if isinstance(result, Valid):
                accepted.append(result.record)
    assert len(accepted) == 524  # of 533; the 9 rejections are pinned in test_validation.py
    return accepted


def _accepted_export_records(shared_data: Path) -> list[MuseumRecord]:
    accepted = []
    for profile, path in (
        ("tate_artworks_csv", "csv/tate_artwork_data_first52rows.csv"),
        ("aic_artworks_csv", "csv/aic_someArtworks.csv"),
    ):
        validator = ChunkValidator(load_profile(profile), "export-1")
        for locator, raw in sources.iter_csv(shared_data / path):
            result = validator.validate(locator, raw)
            assert isinstance(result, Valid), result
            accepted.append(result.record)
    for profile, pattern in (
        ("aic_artworks_api", "json/aic_artwork_*.json"),
        ("tate_artworks_json", "json/tate_artwork_*.json"),
        ("cooperhewitt_objects_json", "json/cooperhewitt_*.json"),
    ):
        validator = ChunkValidator(load_profile(profile), "export-1")
        for path in sorted(shared_data.glob(pattern)):
            result = validator.validate(Locator(path.name, 1), json.loads(path.read_text(encoding="utf-8")))
            assert isinstance(result, Valid), result
            accepted.append(result.record)
    assert len(accepted) == 52 + 422 + 7 + 10 + 1
    return accepted


def test_every_accepted_lido_record_writes_back_valid_lido_and_dc(shared_data: Path) -> None:
    _assert_standards_valid(_accepted_lido_records(shared_data))


def test_records_from_csv_and_json_exports_write_back_valid_lido_and_dc(shared_data: Path) -> None:
    _assert_standards_valid(_accepted_export_records(shared_data))


def _json_canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def test_stored_records_read_back_without_pydantic_give_the_same_hash_json_and_title(shared_data: Path) -> None:
    """Loading reads ``valid.jsonl`` as ``StoredRecord`` (no pydantic): it must give, for every real record of
    every format, the content hash and the JSON the ``MuseumRecord`` itself gives."""
    records = _accepted_lido_records(shared_data) + _accepted_export_records(shared_data)
    with_nones = 0
    for record in records:
        stored = StoredRecord.from_line(record.storage_json() + b"\n")
        assert stored.catalog_json() == (record.content_hash, record.model_dump_json()), record.record_id
        # ...and the hash is the one its definition gives (json.dumps, not the faster orjson path both take)
        assert record.content_hash == hashlib.sha256(_json_canonical(record.content()).encode()).hexdigest()
        assert (stored.record_id, stored.export_id, stored.title) == (record.record_id, "export-1", record.title)
        with_nones += "null" in stored.text
    assert with_nones == len(records)  # every record has unset optional fields: the hash must drop them
