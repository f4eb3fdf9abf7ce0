"""Qualified and mapped production dates (issue #14, defect 6).

Qualifiers in any of the forms exports write them ("circa", "ca.", "c.", "um", "vers", bracketed after
the year, glued to it) are EDTF approximate; an export's empty qualifier slot ``()`` is no date error; and
a museum's own earliest/latest, when mapped, win over the ends read from its display text (the Carnegie
Museum of Art dates its "c. 1960" Teenie Harris photograph 1957-1963), or the record says they disagree.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from museum_sync.core.dates import parse_date
from museum_sync.core.draft import Draft
from museum_sync.core.models import MuseumRecord
from museum_sync.core.profiles import Profile
from museum_sync.core.validation import Reason, build_record

CMOA_TEENIE = "onboarding/json/cmoa_teenie_007abf50-8cbc-4e29-a11d-5d98483fd880.json"
PROFILE = Profile(name="dates_test", format="json", item_path="$", institution="Test", map={"record_id": "id"})


@pytest.mark.parametrize(
    ("text", "edtf"),
    [
        ("1897 (circa) - 1900 (circa)", "1897~/1900~"),
        ("1925 () - 1925 ()", "1925"),
        ("1925 ()", "1925"),
        ("circa 1897", "1897~"),
        ("ca. 1897", "1897~"),
        ("c. 1897", "1897~"),
        ("um 1897", "1897~"),
        ("vers 1897", "1897~"),
        ("1897 (c.)", "1897~"),
        ("1897 (ca.)", "1897~"),
        ("1897 (um)", "1897~"),
        ("(ca.) 1897", "1897~"),
        ("c1897", "1897~"),
        ("1890-c1897", "1890/1897~"),
    ],
)
def test_qualifiers_are_edtf_approximate(text: str, edtf: str) -> None:
    parsed = parse_date(text)
    assert parsed is not None and parsed.edtf == edtf
    assert parsed.approximate == ("~" in edtf)


def record(draft: Draft) -> MuseumRecord | list[Any]:
    base: Draft = {
        "record_id": "r1",
        "titles": [{"text": "T"}],
        "rights": "http://creativecommons.org/publicdomain/zero/1.0/",
        "institution": "Carnegie Museum of Art",
    }
    return build_record({**base, **draft}, PROFILE, export_id="e", sources={})


def test_mapped_earliest_and_latest_win_over_the_display(shared_data: Path) -> None:
    cmoa = json.loads((shared_data / CMOA_TEENIE).read_text(encoding="utf-8"))
    assert (cmoa["creation_date"], cmoa["creation_date_earliest"][:4], cmoa["creation_date_latest"][:4]) == (
        "c. 1960",
        "1957",
        "1963",
    )
    result = record({"date_display": "c. 1960", "date_earliest": "1957", "date_latest": "1963"})
    assert isinstance(result, MuseumRecord) and result.production_date is not None
    span = result.production_date
    assert (span.earliest, span.latest) == (date(1957, 1, 1), date(1963, 12, 31))  # not 1955-1965
    assert (span.display, span.edtf, span.approximate) == ("c. 1960", "1960~", True)
    # Exact ISO ends keep their day.
    result = record({"date_display": "7.1921", "date_earliest": "1921-07-01", "date_latest": "1921-07-31"})
    assert isinstance(result, MuseumRecord) and result.production_date is not None
    assert (result.production_date.earliest, result.production_date.latest) == (date(1921, 7, 1), date(1921, 7, 31))


def test_a_display_that_contradicts_the_mapped_ends_is_reported() -> None:
    result = record({"date_display": "1850", "date_earliest": 1900, "date_latest": 1910})
    assert isinstance(result, list)
    (problem,) = result
    assert (problem.field, problem.reason) == ("date_display", Reason.INVALID_DATE)
    assert "disagrees with the mapped earliest/latest 1900-1910" in problem.message


def test_qualified_ends_without_a_display_keep_both_ends_and_the_qualifier() -> None:
    result = record({"date_earliest": "1897 (circa)", "date_latest": "1900 (circa)"})
    assert isinstance(result, MuseumRecord) and result.production_date is not None
    span = result.production_date
    assert span.display == "1897 (circa) - 1900 (circa)"  # the latest end is not dropped
    assert (span.earliest, span.latest) == (date(1897, 1, 1), date(1900, 12, 31))
    assert (span.edtf, span.approximate) == ("1897~/1900~", True)
    result = record({"date_display": "1925 () - 1925 ()"})
    assert isinstance(result, MuseumRecord) and result.production_date is not None
    assert result.production_date.edtf == "1925"
