"""One type system for drift and validation (issue #14, defect 2), on the real NGA historical-data CSV.

``effectivedate`` in the National Gallery of Art's ``objects_historical_data.csv`` holds ISO dates and
year-only dates (``1937``) and whitespace-only cells. Declared as a date, every value passes validation, so
drift must not call the column "integer, expected date" when the years are the majority of a chunk, and a
whitespace-only cell must be empty for both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from museum_sync.core.drift import FingerprintBuilder, compare
from museum_sync.core.field_types import (
    FIELD_TYPES,
    fits,
    fitting_types,
    infer_type,
    is_blank,
    null_set,
    text_fits_kind,
)
from museum_sync.core.locator import Locator
from museum_sync.core.profiles import FieldSpec, Profile
from museum_sync.core.sources import csv_header, iter_csv
from museum_sync.core.validation import Reason, validate

NGA = "onboarding/csv/nga_objects_historical_data.csv"


@pytest.fixture(scope="module")
def nga(shared_data: Path) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    header, _, _ = csv_header(shared_data / NGA)
    return tuple(header), [raw for _, raw in iter_csv(shared_data / NGA)]


def nga_profile(*, required: bool = False) -> Profile:
    return Profile(
        name="nga_test",
        format="csv",
        institution="National Gallery of Art",
        default_rights="http://creativecommons.org/publicdomain/zero/1.0/",
        fields=(
            FieldSpec(name="objectid", type="integer", required=True),
            FieldSpec(name="effectivedate", type="date", required=required),
        ),
        map={"record_id": "objectid", "title": "forwardtext"},
    )


def test_a_chunk_of_year_only_dates_is_no_drift_and_every_value_validates(
    nga: tuple[tuple[str, ...], list[dict[str, Any]]],
) -> None:
    header, rows = nga
    years = [r for r in rows if r["effectivedate"].strip().isdigit()]
    iso = [r for r in rows if "-" in r["effectivedate"]]
    assert len(years) == 90 and len(iso) == 300
    chunk = years + iso[:40]  # a chunk in which year-only dates are the majority, as in the defect
    builder = FingerprintBuilder(header=header)
    for row in chunk:
        builder.add(row)
    fp = builder.finish()
    assert fp.types["effectivedate"]["integer"] == len(years)  # narrowest type, for reports
    assert fp.fits["effectivedate"]["date"] == len(chunk)  # but every value is a date
    report = compare(fp, nga_profile())
    assert [c.code for c in report.changes if c.field == "effectivedate"] == []
    assert not report.blocks
    profile = nga_profile()
    for row in chunk:
        result = validate(row, profile, export_id="nga-test", locator=Locator(file="nga.csv", line=1))
        assert all(p.field != "effectivedate" for p in getattr(result, "problems", ())), result


def test_whitespace_only_cells_are_empty_for_validation_and_drift(
    nga: tuple[tuple[str, ...], list[dict[str, Any]]],
) -> None:
    header, rows = nga
    blank_rows = [r for r in rows if r["effectivedate"] and not r["effectivedate"].strip()]
    assert len(blank_rows) == 35  # real cells holding only spaces
    profile = nga_profile(required=True)
    for row in blank_rows:
        result = validate(row, profile, export_id="nga-test", locator=Locator(file="nga.csv", line=1))
        problems = [(p.field, p.reason) for p in getattr(result, "problems", ())]
        assert ("effectivedate", Reason.MISSING_REQUIRED) in problems
        assert ("effectivedate", Reason.INVALID_VALUE) not in problems
    builder = FingerprintBuilder(header=header)
    for row in blank_rows:
        builder.add(row)
    report = compare(builder.finish(), profile)
    assert [c.code for c in report.changes if c.field == "effectivedate"] == ["required_field_empty"]


@pytest.mark.parametrize(
    ("value", "kinds"),
    [
        ("1937", {"string", "integer", "number", "date"}),
        ("1984-05-02", {"string", "date"}),
        ("19370", {"string", "integer", "number"}),  # a fifth digit: not a year
        ("1", {"string", "integer", "number", "boolean"}),
        (3.0, {"string", "integer", "number"}),
        ("//example.org/a.jpg", {"string", "url"}),
        ({"a": 1}, {"string", "object"}),
        (" \t ", set()),
        ([], set()),
    ],
)
def test_fitting_types_is_fits_over_every_type(value: Any, kinds: set[str]) -> None:
    assert set(fitting_types(value)) == kinds
    assert is_blank(value) == (not kinds)
    if kinds:
        assert all(fits(value, k) == (k in kinds) for k in FIELD_TYPES)
        assert infer_type(value) in kinds


def test_a_profiles_null_placeholders_are_blank_for_validation_and_drift(
    nga: tuple[tuple[str, ...], list[dict[str, Any]]],
) -> None:
    header, rows = nga
    dated = [r for r in rows if r["effectivedate"].strip()][:40]
    chunk = [{**r, "effectivedate": "n.d."} for r in dated[:30]] + dated[30:]  # most cells say "no date"
    profile = nga_profile().model_copy(update={"nulls": ("N.D.",)})
    for row in chunk:
        result = validate(row, profile, export_id="nga-test", locator=Locator(file="nga.csv", line=1))
        assert all(p.field != "effectivedate" for p in getattr(result, "problems", ())), result
    builder = FingerprintBuilder(header=header, nulls=null_set(profile.nulls))
    for row in chunk:
        builder.add(row)
    fp = builder.finish()
    assert fp.present["effectivedate"] == 10 and fp.fits["effectivedate"]["date"] == 10
    assert not [c for c in compare(fp, profile).changes if c.field == "effectivedate"]


EDGE_TEXTS = ["1", "0", "1.0", "-1", "+2.50", ".5", "1e5", "1.", "0.000", "2012", "2012-03", "2012-03-04T10:00",
              "20123", "yes", "No", "T", "n", "FALSE", "//example.org/x", "http://a", "https://x y", "ftp://x",
              "https://", "http://.x", "c. 1850", "oil on canvas"]  # fmt: skip


def test_texts_fit_the_same_types_through_the_fast_path(nga: tuple[tuple[str, ...], list[dict[str, Any]]]) -> None:
    """``fitting_types`` and ``fits`` classify a text with one pass over the patterns (cached); they must answer
    exactly what the rule answers kind by kind (``text_fits_kind``), here for every distinct value of the NGA
    export and the edge cases."""
    texts = {v.strip() for row in nga[1] for v in row.values() if isinstance(v, str) and v.strip()}
    texts.update(EDGE_TEXTS)
    assert len(texts) > 1000
    by_kind = {t: frozenset(k for k in FIELD_TYPES if text_fits_kind(t, k)) for t in texts}
    assert [t for t in sorted(texts) if fitting_types(t) != by_kind[t]] == []
    assert [(t, k) for t in sorted(texts) for k in FIELD_TYPES if fits(t, k) != (k in by_kind[t])] == []
    assert all(fits(f"  {t}\t", k) == (k in by_kind[t]) for t in EDGE_TEXTS for k in FIELD_TYPES)  # stripped first
    assert {k for t in texts for k in fitting_types(t)} == set(FIELD_TYPES) - {"object", "array"}
