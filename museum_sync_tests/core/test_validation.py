"""Validation on the real exports, one minimal bad record per reason code, LIDO records, and properties."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from museum_sync.core.lido import iter_lido_elements
from museum_sync.core.locator import Locator
from museum_sync.core.models import (
    Creator,
    DateSpan,
    Dimension,
    ImageRef,
    Measurement,
    MuseumRecord,
    Term,
    canonical_json,
)
from museum_sync.core.profiles import Profile, load_profile
from museum_sync.core.sources import iter_csv, iter_jsonl
from museum_sync.core.validation import (
    ChunkValidator,
    Problem,
    Reason,
    Rejected,
    Valid,
    raw_text,
    validate,
)

CC0 = "http://creativecommons.org/publicdomain/zero/1.0/"
INC = "http://rightsstatements.org/vocab/InC/1.0/"
CC_BY = "http://creativecommons.org/licenses/by/4.0/"
ARTIST_AAT = "http://vocab.getty.edu/aat/300025103"
TATE_CSV = "csv/tate_artwork_data_first52rows.csv"
AIC_CSV = "csv/aic_someArtworks.csv"
LOC = Locator("export.csv", 2, 128)
HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def tate_rows(shared_data: Path) -> list[tuple[Locator, dict[str, Any]]]:
    return list(iter_csv(shared_data / TATE_CSV))


@pytest.fixture(scope="module")
def tate_row(tate_rows: list[tuple[Locator, dict[str, Any]]]) -> dict[str, Any]:
    """A00001: valid, with every kind of field the Tate profile maps (but no date)."""
    return dict(tate_rows[0][1])


def check(
    raw: dict[str, Any] | bytes, profile: str | Profile = "tate_artworks_csv", **changes: Any
) -> Valid | Rejected:
    prof = load_profile(profile) if isinstance(profile, str) else profile
    if isinstance(raw, dict):
        raw = {**raw, **changes}
    return validate(raw, prof, export_id="export-1", locator=LOC)


def problems(result: Valid | Rejected) -> list[tuple[str, str, str | None]]:
    assert isinstance(result, Rejected), result
    assert result.problems
    return [(p.field, p.reason.value, p.value) for p in result.problems]


def only_problem(result: Valid | Rejected) -> Problem:
    assert isinstance(result, Rejected), result
    assert len(result.problems) == 1, result.problems
    return result.problems[0]


def read_json(shared_data: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((shared_data / "json" / name).read_text(encoding="utf-8"))
    return data


def write_profile(tmp_path: Path, name: str, text: str) -> Profile:
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return load_profile(path)


# ------------------------------------------------------------------------------------ real exports: all valid


@pytest.mark.parametrize(
    ("profile", "file", "count", "institution"),
    [
        ("tate_artworks_csv", TATE_CSV, 52, "Tate"),
        ("aic_artworks_csv", AIC_CSV, 422, "Art Institute of Chicago"),
    ],
)
def test_every_real_csv_record_is_valid(
    shared_data: Path, profile: str, file: str, count: int, institution: str
) -> None:
    validator = ChunkValidator(load_profile(profile), "export-1")
    results = list(validator.run(iter_csv(shared_data / file)))
    assert (validator.valid, validator.rejected, validator.reasons) == (count, 0, Counter())
    assert all(isinstance(r, Valid) for r in results)
    records = [r.record for r in results if isinstance(r, Valid)]
    assert len({r.record_id for r in records}) == count
    assert {r.provenance.institution for r in records} == {institution}
    assert {(r.source_profile, r.export_id, r.rights) for r in records} == {(profile, "export-1", CC0)}


@pytest.mark.parametrize(
    ("profile", "pattern", "count"),
    [
        ("aic_artworks_api", "aic_artwork_*.json", 7),
        ("tate_artworks_json", "tate_artwork_*.json", 10),
        ("cooperhewitt_objects_json", "cooperhewitt_object_*.json", 1),
    ],
)
def test_every_real_json_record_is_valid(shared_data: Path, profile: str, pattern: str, count: int) -> None:
    validator = ChunkValidator(load_profile(profile), "export-1")
    files = sorted((shared_data / "json").glob(pattern))
    results = [validator.validate(Locator(p.name, 1), read_json(shared_data, p.name)) for p in files]
    assert len(results) == count
    assert (validator.valid, validator.rejected) == (count, 0), [r for r in results if isinstance(r, Rejected)]


def test_tate_csv_record_is_coerced(tate_rows: list[tuple[Locator, dict[str, Any]]]) -> None:
    locator, raw = tate_rows[2]  # A00003
    result = validate(raw, load_profile("tate_artworks_csv"), export_id="e", locator=locator)
    assert isinstance(result, Valid) and result.locator == locator
    rec = result.record
    assert (rec.record_id, rec.object_number) == ("1037", "A00003")
    assert rec.creators == (Creator(name="Blake, Robert", role=Term(label="artist", aat=ARTIST_AAT), source_id="38"),)
    assert rec.production_date == DateSpan(
        display="?c.1785",
        earliest=date(1780, 1, 1),
        latest=date(1790, 12, 31),
        edtf="1785%",
        approximate=True,
    )
    assert rec.measurements == (
        Measurement(dimension=Dimension.HEIGHT, value=467.0, unit="mm"),
        Measurement(dimension=Dimension.WIDTH, value=343.0, unit="mm"),
    )
    assert rec.images == (ImageRef(url="http://www.tate.org.uk/art/images/work/A/A00/A00003_8.jpg", is_primary=True),)
    assert rec.provenance.acquisition == "Presented by Mrs John Richmond 1922"
    assert rec.provenance.source_record_id == "1037"
    assert rec.language == "en" and rec.titles[0].lang == "en"


def test_json_records_are_coerced(shared_data: Path) -> None:
    tate = check(read_json(shared_data, "tate_artwork_p79473-101118.json"), "tate_artworks_json")
    assert isinstance(tate, Valid)
    assert tate.record.rights == INC  # thumbnailCopyright names a holder
    assert tate.record.provenance.acquisition_year == 2008
    assert tate.record.creators[0].birth_year == 1966

    ch = check(read_json(shared_data, "cooperhewitt_object_18100461.json"), "cooperhewitt_objects_json")
    assert isinstance(ch, Valid)
    assert ch.record.creators == ()  # the donor is not a maker
    assert ch.record.provenance.acquisition_year == 1896  # "1896" string coerced
    assert ch.record.images[0].is_primary is True  # "1"
    assert ch.record.production_date is not None and ch.record.production_date.display == "late 19th century"

    aic = check(read_json(shared_data, "aic_artwork_20.json"), "aic_artworks_api")
    assert isinstance(aic, Valid)
    assert [(m.dimension.value, m.value, m.unit) for m in aic.record.measurements][:2] == [
        ("height", 17.0, "cm"),
        ("width", 15.0, "cm"),
    ]
    assert aic.record.iiif_manifest == "https://api.artic.edu/api/v1/artworks/20/manifest.json"


# ------------------------------------------------------------------------------- one bad record per reason


def test_valid_baseline(tate_row: dict[str, Any]) -> None:
    assert isinstance(check(tate_row), Valid)


@pytest.mark.parametrize("title", ["", "   ", None])
def test_missing_required_title(tate_row: dict[str, Any], title: str | None) -> None:
    p = only_problem(check(tate_row, title=title))
    assert (p.field, p.reason, p.message) == ("title", Reason.MISSING_REQUIRED, "no title")


def test_missing_required_title_column_absent(tate_row: dict[str, Any]) -> None:
    raw = {k: v for k, v in tate_row.items() if k != "title"}
    p = only_problem(check(raw))
    assert (p.field, p.reason) == ("title", Reason.MISSING_REQUIRED)


def test_missing_required_field_declared_by_the_profile(tate_row: dict[str, Any]) -> None:
    p = only_problem(check(tate_row, accession_number=""))
    assert (p.field, p.reason, p.message) == (
        "accession_number",
        Reason.MISSING_REQUIRED,
        "required by the profile",
    )


def test_missing_rights_names_the_source_column(shared_data: Path) -> None:
    raw = read_json(shared_data, "aic_artwork_11.json")
    raw["is_public_domain"] = None
    p = only_problem(check(raw, "aic_artworks_api"))
    assert (p.field, p.reason) == ("is_public_domain", Reason.MISSING_REQUIRED)
    assert "no rights statement" in p.message


def test_malformed_rights(tate_row: dict[str, Any]) -> None:
    bad = "htp://creativecommons.org/licenses/by/4.0/"
    p = only_problem(check(tate_row, rights=bad))
    assert (p.field, p.reason, p.value) == ("rights", Reason.MALFORMED_RIGHTS, bad)


def test_unknown_rights(tate_row: dict[str, Any]) -> None:
    p = only_problem(check(tate_row, rights="All rights reserved"))
    assert (p.field, p.reason, p.value) == ("rights", Reason.UNKNOWN_RIGHTS, "All rights reserved")


def test_known_rights_column_overrides_the_default(tate_row: dict[str, Any]) -> None:
    result = check(tate_row, rights=CC_BY)
    assert isinstance(result, Valid) and result.record.rights == CC_BY


def test_missing_provenance_empty_id(tate_row: dict[str, Any]) -> None:
    result = check(tate_row, id="")
    p = only_problem(result)
    assert (p.field, p.reason) == ("id", Reason.MISSING_PROVENANCE)  # not also missing_required
    assert "source record id" in p.message
    assert isinstance(result, Rejected) and result.record_id is None


def test_missing_provenance_no_credit_line_where_required(tate_row: dict[str, Any], shared_data: Path) -> None:
    p = only_problem(check(tate_row, creditLine=""))
    assert (p.field, p.reason) == ("creditLine", Reason.MISSING_PROVENANCE)
    assert "credit line" in p.message
    # The Tate JSON profile requires it too...
    tate_json = read_json(shared_data, "tate_artwork_n01969-1625.json")
    p = only_problem(check(tate_json, "tate_artworks_json", creditLine=None))
    assert (p.field, p.reason) == ("creditLine", Reason.MISSING_PROVENANCE)
    # ...AIC's does not (its CSV has no credit line at all).
    assert isinstance(check({"id": "1", "title": "t", "main_reference_number": "x"}, "aic_artworks_csv"), Valid)


def test_missing_provenance_no_institution(tmp_path: Path, shared_data: Path) -> None:
    profile = write_profile(
        tmp_path,
        "nameless",
        'format = "csv"\ndefault_rights = "http://creativecommons.org/publicdomain/zero/1.0/"\n'
        '[map]\nrecord_id = "id"\ntitle = "title"\nobject_number = "main_reference_number"\n',
    )
    _, raw = next(iter_csv(shared_data / AIC_CSV))
    p = only_problem(check(raw, profile))
    assert (p.field, p.reason) == ("institution", Reason.MISSING_PROVENANCE)
    assert "holding institution" in p.message


def test_invalid_date(tate_row: dict[str, Any]) -> None:
    p = only_problem(check(tate_row, dateText="sometime in spring"))
    assert (p.field, p.reason, p.value) == ("dateText", Reason.INVALID_DATE, "sometime in spring")
    assert "cannot read 'sometime in spring' as a date" in p.message


def test_invalid_date_earliest_after_latest(shared_data: Path) -> None:
    raw = read_json(shared_data, "tate_artwork_t02508-3104.json")  # dateText "date not known"
    raw["dateRange"] = {"startYear": 1900, "endYear": 1800}
    p = only_problem(check(raw, "tate_artworks_json"))
    assert (p.field, p.reason) == ("dateRange.startYear", Reason.INVALID_DATE)
    assert p.message == "earliest 1900-01-01 after latest 1800-12-31"


@pytest.mark.parametrize("url", ["www.tate.org.uk/art/images/A00001_8.jpg", "ftp://tate.org.uk/a.jpg", "http:// x"])
def test_invalid_url(tate_row: dict[str, Any], url: str) -> None:
    p = only_problem(check(tate_row, thumbnailUrl=url))  # not also reported as a bad declared `url` value
    assert (p.field, p.reason, p.value) == ("thumbnailUrl", Reason.INVALID_URL, url)


def test_protocol_relative_image_url_becomes_https(shared_data: Path) -> None:
    raw = read_json(shared_data, "tate_artwork_n01969-1625.json")
    raw["thumbnailUrl"] = "//www.tate.org.uk/art/images/work/N/N01/N01969_8.jpg"
    result = check(raw, "tate_artworks_json")
    assert isinstance(result, Valid)
    assert result.record.images[0].url == "https://www.tate.org.uk/art/images/work/N/N01/N01969_8.jpg"


def test_invalid_language(tmp_path: Path, tate_row: dict[str, Any]) -> None:
    text = (Path(load_profile("tate_artworks_csv").origin).read_text(encoding="utf-8")).replace(
        'language = "en"', 'language = "xx"'
    )
    profile = write_profile(tmp_path, "tate_xx", text)
    assert profile.language == "xx"
    assert problems(check(tate_row, profile)) == [
        ("title", "invalid_language", "xx"),  # the title's language comes from the profile
        ("language", "invalid_language", "xx"),
    ]


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("artistId", "abc", "expected integer"),
        ("id", "abc", "expected integer"),
        ("width", "abc", "width is not a number"),
        ("height", "4 1/2", "height is not a number"),
    ],
)
def test_invalid_value(tate_row: dict[str, Any], column: str, value: str, message: str) -> None:
    p = only_problem(check(tate_row, **{column: value}))
    assert (p.field, p.reason, p.message, p.value) == (column, Reason.INVALID_VALUE, message, value)


def test_measurement_without_unit(tate_row: dict[str, Any]) -> None:
    assert problems(check(tate_row, units="")) == [
        ("height", "invalid_value", "419"),
        ("width", "invalid_value", "394"),
    ]


def test_duplicate_id(tate_rows: list[tuple[Locator, dict[str, Any]]]) -> None:
    validator = ChunkValidator(load_profile("tate_artworks_csv"), "export-1")
    (loc1, row1), (loc2, row2) = tate_rows[0], tate_rows[1]
    assert isinstance(validator.validate(loc1, row1), Valid)
    assert isinstance(validator.validate(loc2, row2), Valid)
    again = Locator(loc1.file, 99, 12345)
    result = validator.validate(again, dict(row1))
    p = only_problem(result)
    assert (p.field, p.reason, p.value) == ("id", Reason.DUPLICATE_ID, "1035")
    assert p.message == "record id 1035 appears earlier in this export"
    assert isinstance(result, Rejected) and result.locator == again and result.record_id == "1035"
    assert (validator.valid, validator.rejected, validator.reasons) == (2, 1, Counter({"duplicate_id": 1}))
    # A rejected record does not claim its id: a later good record with that id is still accepted.
    fresh = ChunkValidator(load_profile("tate_artworks_csv"), "export-1")
    assert isinstance(fresh.validate(loc2, {**row2, "title": ""}), Rejected)
    assert isinstance(fresh.validate(loc2, row2), Valid)


def test_unparseable_rows_from_a_ragged_csv(tmp_path: Path, shared_data: Path) -> None:
    lines = (shared_data / TATE_CSV).read_text(encoding="utf-8").splitlines()
    header, good = lines[0], lines[1]
    path = tmp_path / "ragged.csv"
    path.write_text("\n".join([header, good, good + ",surplus,values", "1036,A00002,short row"]) + "\n")
    results = list(ChunkValidator(load_profile("tate_artworks_csv"), "e").run(iter_csv(path)))
    assert isinstance(results[0], Valid)
    extra, short = results[1], results[2]
    assert problems(extra) == [("record", "unparseable_record", None)]
    assert isinstance(extra, Rejected)
    assert extra.problems[0].message == "row has 2 more fields than the header"
    assert extra.locator.line == 3 and extra.record_id is None
    assert json.loads(extra.raw)["__extra__"] == ["surplus", "values"]
    assert isinstance(short, Rejected) and short.problems[0].reason == Reason.UNPARSEABLE_RECORD
    assert short.problems[0].message.startswith("row lacks fields ['artistId', 'title', 'dateText', ")


def test_unparseable_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "objects.jsonl"
    path.write_text('[1, 2]\n{"id": \n', encoding="utf-8")
    results = [check(raw, "cooperhewitt_objects_json") for _, raw in iter_jsonl(path)]
    assert [only_problem(r).message for r in results] == [
        "expected a JSON object, got an array",
        "invalid JSON: Expecting value at column 8",
    ]
    assert {only_problem(r).reason for r in results} == {Reason.UNPARSEABLE_RECORD}
    assert isinstance(results[1], Rejected) and json.loads(results[1].raw)["__unparseable__"] == '{"id": '


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"__unparseable__": "\x00garbage", "__error__": "NUL byte at offset 17"}, "NUL byte at offset 17"),
        ({"__unparseable__": "garbage"}, "cannot parse"),
        ({"id": "1", "title": "t", "__extra__": ["x"]}, "row has 1 more fields than the header"),
        ({"id": "1", "__missing__": ["title", "year"]}, "row lacks fields ['title', 'year']"),
    ],
)
def test_unparseable_markers(raw: dict[str, Any], message: str) -> None:
    p = only_problem(check(raw))
    assert (p.field, p.reason, p.message) == ("record", Reason.UNPARSEABLE_RECORD, message)


def test_unparseable_lido_bytes() -> None:
    result = check(b"this is not <lido> XML", "lido_xml")
    p = only_problem(result)
    assert (p.field, p.reason) == ("record", Reason.UNPARSEABLE_RECORD)
    assert "XML does not parse" in p.message
    assert isinstance(result, Rejected) and result.raw == "this is not <lido> XML"


def test_a_record_with_several_problems_reports_all_of_them(tate_row: dict[str, Any]) -> None:
    result = check(
        tate_row,
        title="",
        rights="All rights reserved",
        dateText="sometime in spring",
        thumbnailUrl="not a url",
        artistId="abc",
        creditLine="",
        width="wide",
    )
    assert sorted((f, r) for f, r, _ in problems(result)) == [
        ("artistId", "invalid_value"),
        ("creditLine", "missing_provenance"),
        ("dateText", "invalid_date"),
        ("rights", "unknown_rights"),
        ("thumbnailUrl", "invalid_url"),
        ("title", "missing_required"),
        ("width", "invalid_value"),
    ]
    assert isinstance(result, Rejected)
    assert set(result.reasons) == {
        Reason.INVALID_VALUE,
        Reason.MISSING_PROVENANCE,
        Reason.INVALID_DATE,
        Reason.UNKNOWN_RIGHTS,
        Reason.INVALID_URL,
        Reason.MISSING_REQUIRED,
    }
    assert len(result.reasons) == 6  # deduplicated, in first-seen order


def test_rejected_carries_locator_and_raw_text(tate_rows: list[tuple[Locator, dict[str, Any]]]) -> None:
    locator, row = tate_rows[5]
    bad = {**row, "dateText": "sometime in spring"}
    result = validate(bad, load_profile("tate_artworks_csv"), export_id="e", locator=locator)
    assert isinstance(result, Rejected)
    assert result.locator == locator and locator.offset is not None
    assert result.record_id == row["id"]
    assert result.raw == raw_text(bad)
    assert json.loads(result.raw) == bad  # quarantine loses nothing
    summary = result.summary()
    assert summary.startswith(f"{locator} record {row['id']}: dateText: invalid_date: cannot read")
    assert raw_text(b"<lido>\xff</lido>") == "<lido>\ufffd</lido>"
    assert raw_text("as is") == "as is"


def test_long_offending_values_are_shortened(tate_row: dict[str, Any]) -> None:
    p = only_problem(check(tate_row, artistId="9" * 150 + "x" * 150))
    assert p.value is not None and len(p.value) == 200 and p.value.endswith("…")


# ------------------------------------------------------------------------------------ properties

TATE_FIELDS = [f.name for f in load_profile("tate_artworks_csv").fields]
TEXT = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"[0-9 .,x?c/-]{0,12}", fullmatch=True),
    st.sampled_from(["", "c.1785", "1850-1820", "n.d.", "http://a.b/c.jpg", "//a.b/c", "1e400", "mm", "0", "-3"]),
)


@HYPOTHESIS
@given(st.dictionaries(st.one_of(st.sampled_from(TATE_FIELDS), st.text(max_size=12)), TEXT, max_size=20))
def test_validation_never_raises_on_garbage(raw: dict[str, str]) -> None:
    result = check(raw)
    event(type(result).__name__)
    assert isinstance(result, Valid | Rejected)
    if isinstance(result, Rejected):
        assert result.problems and all(isinstance(p.reason, Reason) for p in result.problems)
        assert json.loads(result.raw) == raw


def _same(a: Valid | Rejected, b: Valid | Rejected) -> None:
    assert type(a) is type(b)
    if isinstance(a, Valid) and isinstance(b, Valid):
        assert a.record.content() == b.record.content()
        assert a.record.content_hash == b.record.content_hash
    else:
        assert a == b


@HYPOTHESIS
@given(data=st.data())
def test_validation_is_deterministic(tate_rows: list[tuple[Locator, dict[str, Any]]], data: st.DataObject) -> None:
    # Real Tate rows with up to three values replaced: a mix of valid and rejected records.
    row = data.draw(st.sampled_from([raw for _, raw in tate_rows]), label="row")
    raw = {
        **row,
        **data.draw(st.dictionaries(st.sampled_from(TATE_FIELDS), TEXT, max_size=3), label="changes"),
    }
    profile = load_profile("tate_artworks_csv")
    first = validate(raw, profile, export_id="export-1", locator=LOC)
    event(type(first).__name__)
    again = validate(dict(raw), profile, export_id="export-1", locator=LOC)
    assert first == again
    reordered = validate(dict(reversed(list(raw.items()))), profile, export_id="export-1", locator=LOC)
    _same(first, reordered)
    other_export = validate(raw, profile, export_id="export-2", locator=LOC)
    _same(first, other_export)
    if isinstance(first, Valid) and isinstance(other_export, Valid):
        assert first.record.export_id != other_export.record.export_id
        assert first.record.content_hash == other_export.record.content_hash
        expected = hashlib.sha256(canonical_json(first.record.content()).encode("utf-8")).hexdigest()
        assert first.record.content_hash == expected


def test_real_rows_give_distinct_stable_hashes(tate_rows: list[tuple[Locator, dict[str, Any]]]) -> None:
    profile = load_profile("tate_artworks_csv")
    hashes = []
    for locator, raw in tate_rows:
        a = validate(raw, profile, export_id="monday", locator=locator)
        b = validate(raw, profile, export_id="tuesday", locator=Locator("other.csv", 1))
        assert isinstance(a, Valid) and isinstance(b, Valid)
        assert a.record.content_hash == b.record.content_hash
        hashes.append(a.record.content_hash)
    assert len(set(hashes)) == 52


# ------------------------------------------------------------------------------------ LIDO

LIDO_REJECTED = [
    # (file, pointer, problems): every rejection among the 533 records of shared/data/lido/records
    ("ddb_dkult-Benrath.xml", "/lidoWrap/lido[1]", (("rights", "unknown_rights"),)),
    ("inp_ro_science_technology_486records.xml", "/lidoWrap/lido[396]", (("date_display", "invalid_date"),)),
    ("lidowg_v1.0_FontanaDelMoro.xml", "/lidoWrap/lido[1]", (("rights", "missing_required"),)),
    ("lidowg_v1.0_FontanaDelMoro.xml", "/lidoWrap/lido[2]", (("rights", "missing_required"),)),
    ("lidowg_v1.0_FontanaDelMoro.xml", "/lidoWrap/lido[3]", (("rights", "missing_required"),)),
    ("lidowg_v1.0_LaPrimavera.xml", "/lido[1]", (("rights", "missing_required"),)),
    ("vkc_groeningemuseum.xml", "/lido[1]", (("rights", "missing_required"),)),
    ("vkc_kmska.xml", "/lido[1]", (("rights", "missing_required"),)),
    ("vkc_msk_gent.xml", "/lido[1]", (("rights", "missing_required"),)),
]


def test_every_shared_lido_record(shared_data: Path) -> None:
    validator = ChunkValidator(load_profile("lido_xml"), "export-1")
    assert validator.mapper is None  # LIDO is parsed by core.lido, not mapped
    rejected = []
    per_file: Counter[str] = Counter()
    for path in sorted((shared_data / "lido/records").glob("*.xml")):
        for locator, raw in iter_lido_elements(path):
            per_file[path.name] += 1
            result = validator.validate(locator, raw)
            if isinstance(result, Rejected):
                assert result.problems and all(isinstance(p.reason, Reason) for p in result.problems)
                assert result.raw.startswith("<") and result.record_id
                rejected.append(
                    (locator.file, locator.pointer, tuple((p.field, p.reason.value) for p in result.problems))
                )
            else:
                assert result.record.provenance.institution and result.record.rights
    assert sum(per_file.values()) == 533
    assert per_file["inp_ro_science_technology_486records.xml"] == 486
    assert (validator.valid, validator.rejected) == (524, 9)
    assert rejected == LIDO_REJECTED
    assert validator.reasons == Counter({"missing_required": 7, "unknown_rights": 1, "invalid_date": 1})


def test_lido_rejection_details(shared_data: Path) -> None:
    """The messages a steward reads for the non-obvious LIDO rejections."""
    profile = load_profile("lido_xml")

    def rejected(name: str, index: int = 0) -> Rejected:
        locator, raw = list(iter_lido_elements(shared_data / "lido/records" / name))[index]
        result = validate(raw, profile, export_id="e", locator=locator)
        assert isinstance(result, Rejected)
        return result

    benrath = rejected("ddb_dkult-Benrath.xml").problems[0]
    assert benrath.value == "https://www.deutsche-digitale-bibliothek.de/content/lizenzen/rv-fz/"
    inp = rejected("inp_ro_science_technology_486records.xml", 395).problems[0]
    assert inp.value == "4/4 sec."


def test_lido_measurement_quirks_are_read_not_rejected(shared_data: Path) -> None:
    """Compound "Höhe x Breite" = "39,8 x 28,1" and units written "gr." are how real records look."""
    profile = load_profile("lido_xml")

    def record(name: str) -> MuseumRecord:
        locator, raw = next(iter(iter_lido_elements(shared_data / "lido/records" / name)))
        result = validate(raw, profile, export_id="e", locator=locator)
        assert isinstance(result, Valid), result
        return result.record

    wallraf = {(m.dimension.value, m.value) for m in record("aqinda_graphics_WallrafRichartz.xml").measurements}
    assert {("height", 39.8), ("width", 28.1)} <= wallraf
    koeln = record("ddb_Uni_Koeln.xml").measurements
    assert any(m.unit == "gr" for m in koeln)
    vfg = {m.dimension.value for m in record("ddb_Museum_Vor-Fruehgeschichte.xml").measurements}
    assert {"height", "width", "depth"} <= vfg


def test_kenom_records_are_valid_with_institution_and_rights(shared_data: Path) -> None:
    profile = load_profile("lido_xml")
    records = []
    for locator, raw in iter_lido_elements(shared_data / "lido/records/kenom_20records.xml"):
        result = validate(raw, profile, export_id="e", locator=locator)
        assert isinstance(result, Valid), result
        records.append(result.record)
    assert len(records) == 20
    first = records[0]
    assert first.record_id == "record_DE-68_kenom_123644"
    assert first.title == "Geldschein / Notgeld, 50 Pfennig, 7.1921"
    assert first.provenance.institution == "kenom"  # recordSource, the portal that publishes the record
    assert first.repository == "Schleswig-Holsteinische Landesbibliothek"
    assert first.rights == CC_BY
    assert first.language == "de"
    assert first.lido_schema_version == "1.1"  # none declared: the profile's version
    assert first.production_date is not None and first.production_date.earliest == date(1921, 7, 1)
    assert {r.rights for r in records} == {CC_BY}
    assert all(r.record_id.startswith("record_DE-68_kenom_") for r in records)


def test_vkc_kmska_has_no_rights_unless_the_profile_supplies_them(tmp_path: Path, shared_data: Path) -> None:
    [(locator, raw)] = list(iter_lido_elements(shared_data / "lido/records/vkc_kmska.xml"))
    p = only_problem(validate(raw, load_profile("lido_xml"), export_id="e", locator=locator))
    assert (p.field, p.reason) == (
        "rights",
        Reason.MISSING_REQUIRED,
    )  # the record has no rights element at all
    profile = write_profile(
        tmp_path, "vkc_lido", f'format = "lido"\nlido_schema_version = "1.1"\ndefault_rights = "{CC0}"\n'
    )
    result = validate(raw, profile, export_id="e", locator=locator)
    assert isinstance(result, Valid)
    rec = result.record
    assert rec.record_id == "http://resolver.kmska.be/collection/7"
    assert rec.object_number == "http://resolver.kmska.be/collection/work/data/7"
    assert rec.title == 'Oorlogsschip "De Jacob" voor anker'
    assert rec.provenance.institution == "KMSKA"
    assert rec.rights == CC0
    assert rec.creators[0].role.label == "schilder"
    assert rec.language == "nl"


def test_lido_institution_from_the_profile_when_the_record_has_none(tmp_path: Path) -> None:
    xml = (
        b'<lido:lido xmlns:lido="http://www.lido-schema.org"><lido:lidoRecID>obj-1</lido:lidoRecID>'
        b'<lido:descriptiveMetadata xml:lang="en"><lido:objectIdentificationWrap><lido:titleWrap>'
        b"<lido:titleSet><lido:appellationValue>Jug</lido:appellationValue></lido:titleSet>"
        b"</lido:titleWrap></lido:objectIdentificationWrap></lido:descriptiveMetadata></lido:lido>"
    )
    bare = problems(check(xml, "lido_xml"))
    assert ("institution", "missing_provenance", None) in bare and (
        "rights",
        "missing_required",
        None,
    ) in bare
    profile = write_profile(
        tmp_path, "museum_lido", f'format = "lido"\ninstitution = "Small Museum"\ndefault_rights = "{CC0}"\n'
    )
    result = check(xml, profile)
    assert isinstance(result, Valid)
    assert (result.record.provenance.institution, result.record.title) == ("Small Museum", "Jug")


def test_namespace_stripped_finna_records(shared_data: Path) -> None:
    profile = load_profile("lido_xml")
    folder = shared_data / "lido/nonamespace"
    [(loc, musketti)] = list(iter_lido_elements(folder / "finna_musketti_heritage_agency.xml"))
    result = validate(musketti, profile, export_id="e", locator=loc)
    assert isinstance(result, Rejected)
    assert result.record_id == "musketti_www.M012:S3168:23"
    assert [(p.field, p.reason.value, p.value) for p in result.problems] == [
        ("measurements.korkeus, suurin", "invalid_value", "12.50"),  # <measurementUnit /> is empty
        ("rights", "unknown_rights", "Undefined rights"),
    ]
    assert result.problems[0].message == "korkeus, suurin 12.50 has no unit"

    [(loc, vtm)] = list(iter_lido_elements(folder / "finna_vtm_finnish_national_gallery_painting.xml"))
    result = validate(vtm, profile, export_id="e", locator=loc)
    assert isinstance(result, Rejected)
    assert result.record_id == "vtm.urn:uuid:1A780FB4-DF16-4280-BC2C-C62AEB2E3397"
    assert problems(result) == [("rights", "missing_required", None)]  # <rightsType /> is empty
