"""Schema drift: fingerprints of real chunks, and each classification of a change against the profile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from museum_sync.core.drift import Change, DriftReport, Fingerprint, FingerprintBuilder, compare
from museum_sync.core.field_types import infer_type
from museum_sync.core.lido import iter_lido_elements, parse_lido
from museum_sync.core.profiles import Policy, Profile, load_profile
from museum_sync.core.sources import csv_header, iter_csv

TATE_CSV = "csv/tate_artwork_data_first52rows.csv"
AIC_CSV = "csv/aic_someArtworks.csv"

Row = dict[str, Any]


@pytest.fixture(scope="module")
def tate(shared_data: Path) -> tuple[list[str], list[Row]]:
    header, _, _ = csv_header(shared_data / TATE_CSV)
    return list(header), [raw for _, raw in iter_csv(shared_data / TATE_CSV)]


def csv_fingerprint(header: list[str], rows: list[Row]) -> Fingerprint:
    builder = FingerprintBuilder(header=tuple(header))
    for row in rows:
        builder.add(row)
    return builder.finish()


def drift(header: list[str], rows: list[Row], profile: str | Profile = "tate_artworks_csv") -> DriftReport:
    prof = load_profile(profile) if isinstance(profile, str) else profile
    return compare(csv_fingerprint(header, rows), prof)


def codes(report: DriftReport) -> list[tuple[str, str, str | None]]:
    return [(c.severity, c.code, c.field) for c in report.changes]


def rename(header: list[str], rows: list[Row], old: str, new: str) -> tuple[list[str], list[Row]]:
    return (
        [new if h == old else h for h in header],
        [{(new if k == old else k): v for k, v in row.items()} for row in rows],
    )


def drop(header: list[str], rows: list[Row], column: str) -> tuple[list[str], list[Row]]:
    return [h for h in header if h != column], [{k: v for k, v in r.items() if k != column} for r in rows]


# ------------------------------------------------------------------------------------ infer_type


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ({}, None),
        ([], None),
        (True, "boolean"),
        (False, "boolean"),
        (0, "integer"),
        (1922, "integer"),
        (3.0, "integer"),
        (3.5, "number"),
        ("1922", "integer"),
        (" -7 ", "integer"),
        ("+12", "integer"),
        ("394.5", "number"),
        (".5", "number"),
        ("1e5", "number"),
        ("-2.5E-3", "number"),
        ("true", "boolean"),
        ("False", "boolean"),
        ("yes", "boolean"),  # what a declared boolean field accepts (field_types, one rule with validation)
        ("2024-01-05", "date"),
        ("2024-01", "date"),
        ("2024-01-05T10:00:00Z", "date"),
        ("2023-12-07T14:12:37-06:00", "date"),
        ("http://www.tate.org.uk/art/images/work/A/A00/A00001_8.jpg", "url"),
        ("HTTPS://EXAMPLE.ORG", "url"),
        ("//example.org/a.jpg", "url"),  # scheme-relative: a declared url field accepts it
        ("1,5", "string"),
        ("c.1785", "string"),
        ("support: 394 x 419 mm", "string"),
        ({"a": 1}, "object"),
        ([1], "array"),
    ],
)
def test_infer_type(value: Any, expected: str | None) -> None:
    assert infer_type(value) == expected


# ------------------------------------------------------------------------------------ fingerprints


def test_csv_fingerprint_of_the_real_tate_rows(tate: tuple[list[str], list[Row]]) -> None:
    header, rows = tate
    fp = csv_fingerprint(header, rows)
    assert fp.records == 52
    assert fp.fields == tuple(header)
    assert fp.fields[:5] == ("id", "accession_number", "artist", "artistId", "title")
    assert fp.fields[-3:] == ("units", "inscription", "thumbnailUrl")
    assert fp.present["id"] == 52
    assert fp.present["thumbnailUrl"] == 48
    assert fp.present["dateText"] == 47
    assert "depth" not in fp.present and "inscription" not in fp.present  # always empty in these rows
    assert fp.types["id"] == {"integer": 52}
    assert fp.types["width"] == {"integer": 50}
    assert fp.types["thumbnailUrl"] == {"url": 48}
    # "1795", "1785-90": a declared date field accepts them (field_types, as validation does); "c.1785" not.
    assert fp.types["dateText"] == {"string": 13, "date": 34}
    assert fp.samples["id:integer"] == "1035"
    assert fp.samples["dateText:string"] == "?c.1785"
    assert (fp.encoding, fp.mojibake_records, dict(fp.lido_versions)) == ("utf-8", 0, {})


def test_csv_fingerprint_uses_header_order_not_dict_order(tate: tuple[list[str], list[Row]]) -> None:
    header, rows = tate
    shuffled = [dict(reversed(list(r.items()))) for r in rows]
    assert csv_fingerprint(header, shuffled) == csv_fingerprint(header, rows)


def test_json_fingerprint_orders_fields_by_first_appearance() -> None:
    builder = FingerprintBuilder()
    builder.add({"id": 1, "title": "A"})
    builder.add({"acno": "N01969", "id": 2, "title": None})
    builder.add({"contributors": [{"fc": "Henriette Browne"}], "id": "3"})
    fp = builder.finish()
    assert fp.fields == ("id", "title", "acno", "contributors")
    assert fp.records == 3
    assert fp.present == {"id": 3, "title": 1, "acno": 1, "contributors": 1}
    assert fp.types["id"] == {"integer": 3}
    assert fp.types["contributors"] == {"array": 1}
    assert "title" in fp.fields and fp.types["title"] == {"string": 1}


def test_broken_records_count_but_add_no_fields_or_types() -> None:
    """A ragged or unparseable record's values sit under the wrong columns: rejected on its own, not drift."""
    builder = FingerprintBuilder(header=("id", "depth"))
    builder.add({"id": "1", "depth": ""})
    builder.add({"id": "2", "depth": "shifted text", "__extra__": ["a", "b"]})
    builder.add({"__unparseable__": "garbage", "__error__": "NUL byte"})
    fp = builder.finish()
    assert fp.records == 3
    assert fp.present == {"id": 1}
    assert "depth" not in fp.types


def test_real_exports_have_no_drift(shared_data: Path, tate: tuple[list[str], list[Row]]) -> None:
    header, rows = tate
    tate_report = drift(header, rows)
    assert tate_report.changes == () and not tate_report.blocks  # `rights` is absent but may_be_absent
    assert tate_report.diff_text() == "no drift from profile tate_artworks_csv"
    aic_header, _, _ = csv_header(shared_data / AIC_CSV)
    aic = drift(list(aic_header), [r for _, r in iter_csv(shared_data / AIC_CSV)], "aic_artworks_csv")
    assert aic.changes == ()
    for profile, pattern in [
        ("aic_artworks_api", "aic_artwork_*.json"),
        ("tate_artworks_json", "tate_artwork_*.json"),
        ("cooperhewitt_objects_json", "cooperhewitt_object_*.json"),
    ]:
        builder = FingerprintBuilder()
        for path in sorted((shared_data / "json").glob(pattern)):
            builder.add(json.loads(path.read_text(encoding="utf-8")))
        report = compare(builder.finish(), load_profile(profile))
        assert report.changes == (), (profile, report.diff_text())


# ------------------------------------------------------------------------------------ classifications


def test_new_field_is_additive(tate: tuple[list[str], list[Row]]) -> None:
    header, rows = tate
    report = drift([*header, "medium"], [{**r, "medium": "Graphite on paper"} for r in rows])
    assert codes(report) == [("additive", "new_field", "medium")]
    assert report.changes[0].actual == "string"
    assert not report.blocks and report.breaking == () and len(report.additive) == 1


def test_new_empty_field_is_additive(tate: tuple[list[str], list[Row]]) -> None:
    header, rows = tate
    report = drift([*header, "notes"], [{**r, "notes": ""} for r in rows])
    assert [(c.code, c.actual) for c in report.changes] == [("new_field", "empty")]


def test_optional_field_missing_is_additive(tate: tuple[list[str], list[Row]]) -> None:
    report = drift(*drop(*tate, "inscription"))
    assert codes(report) == [("additive", "optional_field_missing", "inscription")]
    assert not report.blocks


def test_may_be_absent_field_missing_is_no_change(tate: tuple[list[str], list[Row]]) -> None:
    header, rows = tate
    assert "rights" not in header  # Tate's own release has no rights column...
    assert drift(header, rows).changes == ()
    # ...and a museum export that has one is not drift either.
    with_rights = drift(
        [*header, "rights"],
        [{**r, "rights": "http://creativecommons.org/publicdomain/zero/1.0/"} for r in rows],
    )
    assert with_rights.changes == ()


def test_required_field_missing_is_breaking(tate: tuple[list[str], list[Row]]) -> None:
    report = drift(*drop(*tate, "title"))
    assert codes(report) == [("breaking", "required_field_missing", "title")]
    assert report.blocks


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("creditLine", "credit_line"),  # case/underscore variant
        ("thumbnailUrl", "ThumbnailURL"),
        ("accession_number", "accession_numbr"),  # close match
        ("title", "Title"),
    ],
)
def test_renamed_field_is_breaking(tate: tuple[list[str], list[Row]], old: str, new: str) -> None:
    report = drift(*rename(*tate, old, new))
    assert codes(report) == [("breaking", "field_renamed", old)]  # not also a new field or a missing one
    change = report.changes[0]
    assert (change.expected, change.actual) == (old, new)
    assert change.message == f"field '{old}' renamed to '{new}'"
    assert report.blocks


def test_unrelated_new_name_is_not_a_rename(tate: tuple[list[str], list[Row]]) -> None:
    report = drift(*rename(*tate, "inscription", "markings"))
    assert codes(report) == [
        ("additive", "optional_field_missing", "inscription"),
        ("additive", "new_field", "markings"),
    ]


def test_required_field_empty_in_all_records_is_breaking(tate: tuple[list[str], list[Row]]) -> None:
    header, rows = tate
    report = drift(header, [{**r, "title": "  "} for r in rows])
    assert codes(report) == [("breaking", "required_field_empty", "title")]
    assert report.changes[0].message == "required field 'title' is empty in all 52 records"
    # One record with a title is enough: empty titles in the others are rejected record by record.
    some = drift(header, [{**r, "title": "" if i else r["title"]} for i, r in enumerate(rows)])
    assert some.changes == ()


def test_type_change_by_majority_is_breaking(tate: tuple[list[str], list[Row]]) -> None:
    header, rows = tate
    report = drift(header, [{**r, "width": f"{r['width']} mm"} if r["width"] else r for r in rows])
    assert codes(report) == [("breaking", "type_changed", "width")]
    change = report.changes[0]
    assert (change.expected, change.actual) == ("number", "string")
    assert change.message == "'width': expected number, found string in 50 of 50 values (e.g. '394 mm')"


def test_single_bad_value_is_not_a_type_change(tate: tuple[list[str], list[Row]]) -> None:
    header, rows = tate
    bad = [dict(r) for r in rows]
    bad[3]["width"] = "abc"
    bad[7]["id"] = "A-1"
    assert drift(header, bad).changes == ()  # validation rejects those two records with invalid_value


def test_type_change_threshold_is_a_majority(tate: tuple[list[str], list[Row]]) -> None:
    header, rows = tate
    half = [{**r, "artistId": "unknown" if i % 2 else r["artistId"]} for i, r in enumerate(rows)]
    assert drift(header, half).changes == ()  # 26 of 52 fit: exactly half is still the declared type
    most = [{**r, "artistId": "unknown" if i % 3 else r["artistId"]} for i, r in enumerate(rows)]
    assert codes(drift(header, most)) == [("breaking", "type_changed", "artistId")]


def test_integer_values_in_a_number_column_are_fine(tate: tuple[list[str], list[Row]]) -> None:
    header, rows = tate
    report = drift(header, [{**r, "height": f"{r['height']}.5"} if r["height"] else r for r in rows])
    assert report.changes == ()


def test_field_order_change_is_additive_for_csv(tate: tuple[list[str], list[Row]]) -> None:
    header, rows = tate
    swapped = list(header)
    i, j = swapped.index("width"), swapped.index("height")
    swapped[i], swapped[j] = swapped[j], swapped[i]
    report = drift(swapped, rows)
    assert codes(report) == [("additive", "field_order_changed", None)]
    assert "width,height" in (report.changes[0].expected or "")
    assert "height,width" in (report.changes[0].actual or "")
    assert not report.blocks


def test_field_order_does_not_matter_for_json() -> None:
    profile = load_profile("aic_artworks_csv").model_copy(update={"format": "jsonl"})
    builder = FingerprintBuilder()
    builder.add(
        {
            "artist_title": "Henri Matisse",
            "title": "Interior at Nice",
            "department_title": "Modern Art",
            "main_reference_number": "1956.339",
            "id": 2816,
        }
    )
    assert compare(builder.finish(), profile).changes == ()


def double_encoded(text: str) -> str:
    return text.encode("utf-8").decode("latin-1")


def test_mojibake_is_breaking_encoding_change(tate: tuple[list[str], list[Row]]) -> None:
    header, rows = tate
    assert double_encoded("Café") == "CafÃ©"
    mangled = [dict(r) for r in rows]
    mangled[0]["title"] = double_encoded("Café Royal, Soho")
    report = drift(header, mangled)
    assert codes(report) == [("breaking", "encoding_changed", None)]
    change = report.changes[0]
    assert (change.expected, change.actual) == ("utf-8", "double-encoded")
    assert change.message.startswith("1 of 52 records look double-encoded")
    assert report.fingerprint.mojibake_records == 1


def test_mojibake_tolerance_and_real_accents(tate: tuple[list[str], list[Row]]) -> None:
    header, rows = tate
    accented = [{**r, "title": r["title"] + " (Café, Mädchen, Molé, déjà vu – ‘quoted’)"} for r in rows]
    assert drift(header, accented).changes == ()  # correctly decoded accents are not mojibake
    hundred = (rows * 2)[:100]
    one_in_100 = [{**r, "title": double_encoded("Molé")} if i == 0 else r for i, r in enumerate(hundred)]
    assert drift(header, one_in_100).changes == ()  # 1 % is tolerated
    two_in_100 = [{**r, "title": double_encoded("Molé")} if i < 2 else r for i, r in enumerate(hundred)]
    assert [c.code for c in drift(header, two_in_100).changes] == ["encoding_changed"]


def test_mojibake_in_xml_records() -> None:
    builder = FingerprintBuilder()
    builder.add(double_encoded("<lido><title>Müller</title></lido>").encode("utf-8"), lido_version="1.1")
    builder.add(b"<lido><title>plain</title></lido>", lido_version="1.1")
    fp = builder.finish()
    assert (fp.records, fp.mojibake_records, fp.fields) == (2, 1, ())
    assert [c.code for c in compare(fp, load_profile("lido_xml")).changes] == ["encoding_changed"]


def lido_fingerprint(shared_data: Path, *names: str, version: str | None = None) -> Fingerprint:
    builder = FingerprintBuilder()
    for name in names:
        for _, raw in iter_lido_elements(shared_data / "lido/records" / name):
            builder.add(raw, lido_version=version or parse_lido(raw).get("lido_schema_version"))
    return builder.finish()


def test_accepted_lido_versions_pass(shared_data: Path) -> None:
    fp = lido_fingerprint(
        shared_data, "lidowg_v1.1_FontanaDelMoro.xml", "lidowg_v1.0_FontanaDelMoro.xml", "ddb_KHB.xml"
    )
    assert dict(fp.lido_versions) == {"1.1": 3, "1.0": 4}
    report = compare(fp, load_profile("lido_xml"))
    assert report.changes == () and not report.blocks


def test_unaccepted_lido_version_is_breaking(shared_data: Path) -> None:
    fp = lido_fingerprint(shared_data, "ddb_KHB.xml", version="1.2")
    report = compare(fp, load_profile("lido_xml"))
    assert codes(report) == [("breaking", "schema_version_changed", None)]
    assert report.changes[0].message == "LIDO schema version 1.2 (1 records), profile expects 1.1"
    # A profile that accepts only v1.1 treats the v1.0-era records as drift too.
    strict = load_profile("lido_xml").model_copy(update={"accepted_lido_versions": ()})
    khb = compare(lido_fingerprint(shared_data, "ddb_KHB.xml"), strict)
    assert [c.code for c in khb.changes] == ["schema_version_changed"]


def test_freeze_mode_blocks_additive_changes(tate: tuple[list[str], list[Row]]) -> None:
    header, rows = tate
    frozen = load_profile("tate_artworks_csv").model_copy(update={"policy": Policy(drift="freeze")})
    new_column = ([*header, "medium"], [{**r, "medium": "Graphite on paper"} for r in rows])
    evolve = drift(*new_column)
    freeze = drift(*new_column, frozen)
    assert evolve.changes == freeze.changes
    assert not evolve.blocks and freeze.blocks
    assert freeze.mode == "freeze" and freeze.breaking == freeze.changes
    assert drift(header, rows, frozen).blocks is False  # no drift, nothing to block


def test_several_changes_at_once(tate: tuple[list[str], list[Row]]) -> None:
    header, rows = drop(*rename(*tate, "creditLine", "credit_line"), "inscription")
    rows = [{**r, "medium": "Oil paint on canvas", "id": "T" + r["id"]} for r in rows]
    report = drift([*header, "medium"], rows)
    assert codes(report) == [
        ("breaking", "field_renamed", "creditLine"),
        ("additive", "optional_field_missing", "inscription"),
        ("additive", "new_field", "medium"),
        ("breaking", "type_changed", "id"),
    ]


# ------------------------------------------------------------------------------------ reports


def test_diff_text_is_readable(tate: tuple[list[str], list[Row]]) -> None:
    header, rows = drop(*rename(*tate, "creditLine", "credit_line"), "inscription")
    header, rows = drop(header, rows, "title")
    report = drift([*header, "medium"], [{**r, "medium": "Oil paint on canvas"} for r in rows])
    assert report.diff_text().splitlines() == [
        "!- required field 'title' (string) is missing",
        "!~ field 'creditLine' renamed to 'credit_line'",
        " - optional field 'inscription' is missing",
        " + new field 'medium' (string)",
    ]


def test_diff_text_marks_everything_in_freeze_mode(tate: tuple[list[str], list[Row]]) -> None:
    header, rows = tate
    frozen = load_profile("tate_artworks_csv").model_copy(update={"policy": Policy(drift="freeze")})
    report = drift([*header, "medium"], [{**r, "medium": "x"} for r in rows], frozen)
    assert report.diff_text() == "!+ new field 'medium' (string)"


def test_to_json_is_valid_and_deterministic(tate: tuple[list[str], list[Row]]) -> None:
    header, rows = rename(*tate, "creditLine", "credit_line")
    rows = [{**r, "medium": "Oil paint on canvas"} for r in rows]
    report = drift([*header, "medium"], rows)
    again = drift([*header, "medium"], [dict(reversed(list(r.items()))) for r in rows])
    text = report.to_json()
    assert text == again.to_json()
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert data["profile"] == "tate_artworks_csv" and data["mode"] == "evolve" and data["blocks"] is True
    assert data["changes"][0] == {
        "severity": "breaking",
        "code": "field_renamed",
        "field": "creditLine",
        "expected": "creditLine",
        "actual": "credit_line",
        "message": "field 'creditLine' renamed to 'credit_line'",
    }
    fp = data["fingerprint"]
    assert fp["records"] == 52 and fp["fields"][-1] == "medium"
    assert fp["present"]["credit_line"] == 52 and list(fp["present"]) == sorted(fp["present"])
    assert fp["types"]["id"] == {"integer": 52}
    assert "samples" not in fp  # sample values stay out of the stored report
    assert "Ã" not in text and json.dumps(data, sort_keys=True, ensure_ascii=False) == text


def test_change_to_dict() -> None:
    change = Change("additive", "new_field", "medium", None, "string", "new field 'medium' (string)")
    assert change.to_dict() == {
        "severity": "additive",
        "code": "new_field",
        "field": "medium",
        "expected": None,
        "actual": "string",
        "message": "new field 'medium' (string)",
    }
