"""Onboarding real exports with profile files only (#14): the shipped profiles for ``../shared/data/onboarding``
read every row and reject only what is wrong, for the reason it is wrong; and the shipped JSON Schema of
profiles equals the generated one and accepts every shipped profile."""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from museum_sync.core.locator import Locator
from museum_sync.core.profile_language.schema import profile_json_schema, schema_text
from museum_sync.core.profiles import load_profile
from museum_sync.core.sources import iter_csv
from museum_sync.core.validation import ChunkValidator, Valid

PROFILES = Path(__file__).resolve().parents[2] / "museum_sync" / "core" / "profiles"


@pytest.fixture(scope="module")
def onboarding(shared_data: Path) -> Path:
    return shared_data / "onboarding"


def test_nga_historical_rows_all_read_rejects_have_their_true_reasons(onboarding: Path) -> None:
    export = onboarding / "csv" / "nga_objects_historical_data.csv"
    validator = ChunkValidator(load_profile("nga_objects_historical_csv"), "e", side_dirs=(export.parent,))
    results = [validator.validate(loc, raw) for loc, raw in iter_csv(export)]
    assert len(results) == 6134  # = the file's rows (CRLF, quoted new lines), counted by the csv module
    assert (validator.valid, validator.rejected) == (6067, 67)
    # 60 rows have no forwardtext (nothing to title them with); 7 repeat (objectid, datatype, displayorder)
    assert validator.reasons == Counter({"missing_required": 60, "duplicate_id": 7})
    records = [r.record for r in results if isinstance(r, Valid)]
    joined = [r for r in records if r.creators]
    assert len(joined) == 1643  # valid attributions naming an NGA constituent, joined to constituents.csv
    bellini = next(r for r in joined if r.record_id == "32-previous_attribution-1")
    assert bellini.title == "Previous attribution: Giovanni Bellini"
    assert [(c.name, c.source_id) for c in bellini.creators] == [("Bellini, Giovanni", "936")]
    assert bellini.culture == "Italian"  # a second column of the same lookup
    titles = [r for r in records if r.record_id.endswith("-previous_title-1")]
    assert titles and all(not r.title.startswith("Previous attribution") for r in titles)  # conditional title


@pytest.mark.parametrize(("profile", "count"), [("cmoa_objects_json", 9), ("aic_artwork_json", 3)])
def test_one_object_per_document_exports_map_every_document(onboarding: Path, profile: str, count: int) -> None:
    loaded = load_profile(profile)
    validator = ChunkValidator(loaded, "e")
    files = sorted((onboarding / "json").glob(loaded.documents))
    results = [validator.validate(Locator(f.name, 1), json.loads(f.read_bytes())) for f in files]
    assert (len(files), validator.valid, validator.rejected) == (count, count, 0)
    records = {r.record.record_id: r.record for r in results if isinstance(r, Valid)}
    if profile == "aic_artwork_json":
        piranesi = records["19"]
        assert [(c.name, c.source_id) for c in piranesi.creators] == [("Giovanni Battista Piranesi", "36210")]
        assert piranesi.places == ("Italy",)
        assert [(m.dimension.value, m.value, m.unit, m.extent) for m in piranesi.measurements][:2] == [
            ("height", 45.2, "cm", "image"),
            ("width", 66.1, "cm", "image"),
        ]
    else:
        hall = records["cmoa:things/5ab49873-faf5-4e66-9486-32752be20b63"]
        assert [c.role.label for c in hall.creators] == ["after", "printmaker", "publisher", "engraver"]
        assert hall.culture == "British"
        assert {m.dimension.value for m in hall.measurements} == {"height", "width"}  # 0.0 depth is a null


def test_shipped_profile_schema_is_the_generated_one_and_accepts_every_shipped_profile() -> None:
    shipped = PROFILES / "profile.schema.json"
    assert shipped.read_text(encoding="utf-8") == schema_text(), (
        "regenerate: python -m museum_sync.core.profile_language.schema > museum_sync/core/profiles/profile.schema.json"
    )
    validator = jsonschema.Draft202012Validator(profile_json_schema())
    for path in sorted(PROFILES.glob("*.toml")):
        errors = [e.message for e in validator.iter_errors(tomllib.loads(path.read_text(encoding="utf-8")))]
        assert errors == [], path.name
    typo = {"format": "csv", "map": {"titel": "t", "creators": {"name": {"pth": "x"}}}}
    messages = sorted(e.message for e in validator.iter_errors(typo))
    assert messages == [
        "Additional properties are not allowed ('titel' was unexpected)",
        "{'name': {'pth': 'x'}} is not valid under any of the given schemas",
    ]


EXTRA = Path(__file__).resolve().parents[1] / "fixtures" / "onboarding-extra"


def test_colby_csv_excerpt_materials_with_aat_measurements_and_creators() -> None:
    validator = ChunkValidator(load_profile("colby_objects_csv"), "e")
    results = [validator.validate(loc, raw) for loc, raw in iter_csv(EXTRA / "colby_data_first120.csv")]
    assert (len(results), validator.valid, validator.rejected) == (120, 120, 0)
    katahdin = next(r.record for r in results if isinstance(r, Valid) and r.record.record_id == "5771")
    assert [(m.label, m.aat) for m in katahdin.materials] == [
        ("oil paint (paint)", "http://vocab.getty.edu/aat/300015050"),
        ("canvas", "http://vocab.getty.edu/aat/300014078"),
    ]
    assert [(m.dimension.value, m.value, m.unit) for m in katahdin.measurements] == [
        ("height", 66.68, "cm"),
        ("width", 101.6, "cm"),
    ]
    higgins = next(r.record for r in results if isinstance(r, Valid) and r.record.record_id == "7974")
    assert [(m.dimension.value, m.value) for m in higgins.measurements] == [("diameter", 73.66)]


def test_colby_printer_column_is_a_second_creators_table(tmp_path: Path) -> None:
    export = tmp_path / "colby.csv"
    header = (EXTRA / "colby_data_first120.csv").read_text(encoding="utf-8").splitlines()[0]
    export.write_text(header + "\n1,1.2008,Alex Katz,Bank Street Atelier,Ada,1990,2008,,,,,,\n", encoding="utf-8")
    validator = ChunkValidator(load_profile("colby_objects_csv"), "e")
    (result,) = [validator.validate(loc, raw) for loc, raw in iter_csv(export)]
    assert isinstance(result, Valid)
    assert [(c.name, c.role.label) for c in result.record.creators] == [
        ("Alex Katz", "artist"),
        ("Bank Street Atelier", "printer"),
    ]


def test_fitzwilliam_documents_through_one_item_lists_and_conditional_dimensions() -> None:
    loaded = load_profile("fitzwilliam_objects_json")
    validator = ChunkValidator(loaded, "e")
    files = sorted((EXTRA / "fitzwilliam").glob(loaded.documents))
    results = [validator.validate(Locator(f.name, 1), json.loads(f.read_bytes())) for f in files]
    assert (len(files), validator.valid, validator.rejected) == (2, 2, 0)
    morris = next(r.record for r in results if isinstance(r, Valid) and r.record.record_id == "object-100")
    assert (morris.title, morris.object_number, morris.culture) == ("William Morris", "P.194-1990", "British")
    assert [(c.name, c.role.label) for c in morris.creators] == [("Bryden, Robert", "printmaker")]
    assert [(m.dimension.value, m.value, m.unit) for m in morris.measurements] == [
        ("height", 432.0, "mm"),
        ("width", 290.0, "mm"),
    ]
    assert morris.provenance.acquisition == "given: The Friends of the Fitzwilliam Museum"
    assert [t.label for t in morris.materials] == ["paper"] and morris.tags and morris.tags[0].label == "print"


def test_readme_documents_every_canonical_field_and_shipped_profile() -> None:
    from museum_sync.core.mapping import CANONICAL_FIELDS

    readme = (PROFILES.parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Mapping profiles") : readme.index("## Search, publication and rollback")]
    words = set(section.replace("`", " ").replace(",", " ").split())
    assert sorted(f for f in CANONICAL_FIELDS if f not in words) == []
    assert sorted(p.stem for p in PROFILES.glob("*.toml") if f"`{p.stem}`" not in section) == []


def test_onboarded_records_write_back_as_xsd_valid_lido_and_dc(onboarding: Path) -> None:
    from museum_sync.core.lido.schemas import validate_xml
    from museum_sync.core.lido.write import record_to_dc, record_to_lido

    records = []
    for profile, folder in (
        ("cmoa_objects_json", onboarding / "json"),
        ("fitzwilliam_objects_json", EXTRA / "fitzwilliam"),
    ):
        loaded = load_profile(profile)
        validator = ChunkValidator(loaded, "e")
        for f in sorted(folder.glob(loaded.documents)):
            result = validator.validate(Locator(f.name, 1), json.loads(f.read_bytes()))
            assert isinstance(result, Valid)
            records.append(result.record)
    validator = ChunkValidator(load_profile("colby_objects_csv"), "e")
    colby = [validator.validate(loc, raw) for loc, raw in iter_csv(EXTRA / "colby_data_first120.csv")]
    records += [r.record for r in colby if isinstance(r, Valid)]
    assert len(records) == 131
    assert [r.record_id for r in records if validate_xml(record_to_lido(r), "lido-1.1")] == []
    assert [r.record_id for r in records if validate_xml(record_to_dc(r), "oai_dc")] == []
