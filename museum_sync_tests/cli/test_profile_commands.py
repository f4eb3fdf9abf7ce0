"""``museum-sync profile init`` and ``profile check`` (#14), and ``validate --show``'s value and counts, run
in-process on real onboarding exports (offline commands: no services)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from museum_sync import cli
from museum_sync.core.profiles import load_profile


def run(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(list(argv)) in (0, 1)
    return out.getvalue()


@pytest.fixture(autouse=True)
def _no_extra_profile_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MUSEUM_SYNC_PROFILE_PATH", raising=False)


def test_profile_init_drafts_a_loadable_profile_with_types_and_guesses(tmp_path: Path, shared_data: Path) -> None:
    export = shared_data / "onboarding" / "csv" / "nga_objects_historical_data.csv"
    target = tmp_path / "nga.toml"
    assert "next: museum-sync profile check" in run("profile", "init", str(export), "-o", str(target))
    text = target.read_text(encoding="utf-8")
    assert '{ name = "objectid", type = "integer", required = true }' in text
    assert '{ name = "effectivedate", type = "date" }' in text  # year-only and full dates: one type system
    assert 'record_id = "objectid"' in text and 'title = "forwardtext"' in text
    draft = text.replace('institution = "TODO: the holding institution"', 'institution = "NGA"')
    target.write_text(draft, encoding="utf-8")
    assert load_profile(target).map["date_display"] == "effectivedate"  # the draft loads (and type-checks)


def test_profile_init_on_a_folder_of_json_documents(shared_data: Path) -> None:
    text = run("profile", "init", str(shared_data / "onboarding" / "json"), "--records", "5")
    assert 'format = "json"' in text and 'item_path = ""' in text
    assert '{ name = "artist_ids", type = "array" }' in text


def test_profile_check_shows_fields_sources_results_and_empty_fields(shared_data: Path) -> None:
    export = shared_data / "onboarding" / "csv" / "nga_objects_historical_data.csv"
    out = run("profile", "check", "nga_objects_historical_csv", str(export), "--records", "4").splitlines()
    assert out[0] == "record 1  nga_objects_historical_data.csv:2"
    assert "  record_id            0-previous_attribution-3  <- objectid,datatype,displayorder" in out
    assert out.count("  => valid") == 4
    assert out[-2] == "4 sample records, 4 valid, 0 rejected"
    assert out[-1].startswith("canonical fields empty in every sample: acquisition, acquisition_year, ")
    assert "creators" in out[-1] and "record_id" not in out[-1]


def test_validate_show_prints_the_value_and_counts_rejected_records(tmp_path: Path) -> None:
    export = tmp_path / "e.csv"
    export.write_text("id,title,year\n1,A,1900\n2,,c. 1900\n3,C,   \n", encoding="utf-8")
    profile = tmp_path / "p.toml"
    profile.write_text(
        'format = "csv"\ninstitution = "M"\ndefault_rights = "http://creativecommons.org/publicdomain/zero/1.0/"\n'
        'fields = [{ name = "id" }, { name = "title" }, { name = "year", type = "integer" }]\n'
        '[map]\nrecord_id = "id"\ntitle = "title"\n',
        encoding="utf-8",
    )
    out = run("validate", str(export), "--profile", str(profile), "--show")
    # record 2: two problems, one record; record 3's whitespace-only year is empty, not a type failure
    assert "e.csv:3  record 2  year: invalid_value: expected integer (value: 'c. 1900')" in out
    assert (
        out.splitlines()[-2:][0].startswith(
            "3 records, 2 valid, 1 rejected; problems found: 2, rejected records by reason: "
        )
        or "3 records, 2 valid, 1 rejected; problems found: 2" in out
    )
