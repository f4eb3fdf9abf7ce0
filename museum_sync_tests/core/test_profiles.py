"""Mapping profiles: the shipped TOML files, the search path, errors that name file and field, the cache.

Loaded through ``museum_sync.pipeline.profiles`` (the configured search path, ``MUSEUM_SYNC_PROFILE_PATH``);
the pure core functions take the extra folders as an argument (tested at the end).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from museum_sync.core import profiles as core_profiles
from museum_sync.core.exceptions import ProfileError
from museum_sync.core.mapping import compile_mapper
from museum_sync.core.profiles import FieldSpec, Policy, Profile
from museum_sync.pipeline.profiles import list_profiles, load_profile, profile_search_path

SHIPPED = [
    "aic_artwork_json",
    "aic_artworks_api",
    "aic_artworks_csv",
    "cmoa_objects_json",
    "colby_objects_csv",
    "cooperhewitt_objects_json",
    "eur_dspace_oai_dc",
    "fitzwilliam_objects_json",
    "lido_xml",
    "mkg_hamburg_lido",
    "nga_objects_historical_csv",
    "tate_artworks_csv",
    "tate_artworks_json",
]
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "museum_sync" / "core" / "profiles"
CC0 = "http://creativecommons.org/publicdomain/zero/1.0/"

MINIMAL = """\
format = "csv"
institution = "Test Museum"
[map]
record_id = "id"
title = "title"
"""


@pytest.fixture(autouse=True)
def _no_extra_profile_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start from the shipped profiles only, whatever the developer's shell exports."""
    monkeypatch.delenv("MUSEUM_SYNC_PROFILE_PATH", raising=False)


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------ shipped profiles


def test_list_profiles_is_exactly_the_shipped_ones() -> None:
    assert list_profiles() == SHIPPED
    assert sorted(p.stem for p in SHIPPED_DIR.glob("*.toml")) == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_loads_and_compiles(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert Path(profile.origin) == (SHIPPED_DIR / f"{name}.toml").resolve()
    assert 500 <= profile.chunk_size <= 1000
    assert profile.policy.drift in ("evolve", "freeze")
    assert profile.description
    if profile.format in ("csv", "jsonl", "json"):
        assert "record_id" in profile.map
        assert profile.institution  # provenance needs a holding institution for non-LIDO sources
        assert profile.required_fields  # every tabular profile declares its schema for the drift check
        mapper = compile_mapper(profile)
        assert mapper.sources["record_id"]


def test_shipped_tate_csv_profile_contents() -> None:
    p = load_profile("tate_artworks_csv")
    assert (p.format, p.encoding, p.delimiter) == ("csv", "utf-8", ",")
    assert p.institution == "Tate"
    assert p.language == "en"
    assert p.default_rights == CC0
    assert p.require_acquisition is True
    assert p.chunk_size == 1000
    assert p.required_fields == ("id", "accession_number", "title")
    assert p.field_type("width") == "number"
    assert p.field_type("thumbnailUrl") == "url"
    assert p.field_type("not_a_column") is None
    rights = next(f for f in p.fields if f.name == "rights")
    assert rights.may_be_absent and not rights.required
    assert p.policy == Policy(max_reject_ratio=0.05, blocking_reasons=("malformed_rights", "missing_provenance"))


def test_shipped_lido_and_json_profiles_contents() -> None:
    lido = load_profile("lido_xml")
    assert lido.format == "lido"
    assert lido.lido_schema_version == "1.1"
    assert lido.accepted_lido_versions == ("1.0",)
    assert lido.map == {} and lido.fields == ()
    assert lido.institution is None  # LIDO names its own institution (recordSource / repositoryName)

    api = load_profile("aic_artworks_api")
    assert (api.format, api.item_path) == ("json", "data.item")
    assert api.field_type("is_public_domain") == "boolean"

    ch = load_profile("cooperhewitt_objects_json")
    assert ch.format == "jsonl"
    assert ch.map["creators"]["skip_roles"] == ["Donor"]


def test_profiles_are_frozen() -> None:
    p = load_profile("tate_artworks_csv")
    with pytest.raises(ValidationError):
        p.institution = "Someone else"
    with pytest.raises(ValidationError):
        FieldSpec(name="x", colour="red")


# ------------------------------------------------------------------------------------ lookup


def test_load_by_path_str_and_path(tmp_path: Path) -> None:
    path = write(tmp_path, "my_museum", MINIMAL)
    by_path = load_profile(path)
    by_str = load_profile(str(path))
    assert by_path == by_str
    assert by_path.name == "my_museum"  # defaults to the file stem
    assert by_path.origin == str(path.resolve())
    assert by_path.institution == "Test Museum"
    # a shipped file by path is the same profile as by name
    assert load_profile(SHIPPED_DIR / "tate_artworks_csv.toml") == load_profile("tate_artworks_csv")


def test_name_in_file_wins_over_file_stem(tmp_path: Path) -> None:
    path = write(tmp_path, "file_stem", 'name = "declared_name"\n' + MINIMAL)
    assert load_profile(path).name == "declared_name"


def test_missing_profile_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(ProfileError, match="profile file not found") as exc:
        load_profile(missing)
    assert "nowhere.toml" in str(exc.value)


def test_unknown_profile_lists_known_ones() -> None:
    with pytest.raises(ProfileError) as exc:
        load_profile("rijksmuseum_api")
    message = str(exc.value)
    assert "unknown profile 'rijksmuseum_api'" in message
    assert "known profiles: " + ", ".join(SHIPPED) in message


def test_search_path_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("MUSEUM_SYNC_PROFILE_PATH", os.pathsep.join([str(a), "", str(b)]))
    path = profile_search_path()
    assert path[:2] == [a, b]  # empty entries are skipped
    assert path[2].resolve() == SHIPPED_DIR
    assert len(path) == 3


def test_env_folder_adds_profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "profiles"
    write(folder, "vam_objects_csv", MINIMAL.replace("Test Museum", "Victoria and Albert Museum"))
    with pytest.raises(ProfileError):
        load_profile("vam_objects_csv")
    monkeypatch.setenv("MUSEUM_SYNC_PROFILE_PATH", str(folder))
    assert list_profiles() == sorted([*SHIPPED, "vam_objects_csv"])
    profile = load_profile("vam_objects_csv")
    assert profile.institution == "Victoria and Albert Museum"
    assert profile.origin == str(folder / "vam_objects_csv.toml")


def test_env_folder_first_wins_on_name_clash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write(first, "tate_artworks_csv", MINIMAL.replace("Test Museum", "Tate (local override)"))
    write(second, "tate_artworks_csv", MINIMAL.replace("Test Museum", "second folder"))
    monkeypatch.setenv("MUSEUM_SYNC_PROFILE_PATH", os.pathsep.join([str(first), str(second)]))
    assert load_profile("tate_artworks_csv").institution == "Tate (local override)"
    assert list_profiles() == SHIPPED  # no duplicate names


def test_env_folder_that_does_not_exist_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUSEUM_SYNC_PROFILE_PATH", str(tmp_path / "absent"))
    assert list_profiles() == SHIPPED
    assert load_profile("lido_xml").format == "lido"


# ------------------------------------------------------------------------------------ invalid profiles


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(MINIMAL.replace('"csv"', '"xml"'), "format: Input should be", id="bad-format"),
        pytest.param('colour = "red"\n' + MINIMAL, "colour: Extra inputs are not permitted", id="unknown-key"),
        pytest.param(
            "chunk_size = 499\n" + MINIMAL,
            "chunk_size: Input should be greater than or equal to 500",
            id="chunk-size-499",
        ),
        pytest.param(
            "chunk_size = 1001\n" + MINIMAL,
            "chunk_size: Input should be less than or equal to 1000",
            id="chunk-size-1001",
        ),
        pytest.param("chunk_size = 50000\n" + MINIMAL, "chunk_size", id="chunk-size-50000"),
        pytest.param(MINIMAL.replace('"csv"', '"json"'), "format 'json' needs item_path", id="json-no-item-path"),
        pytest.param(
            'delimiter = ";;"\n' + MINIMAL,
            "delimiter: Value error, delimiter must be one character",
            id="delimiter",
        ),
        pytest.param(MINIMAL.replace('record_id = "id"\n', ""), "[map] needs record_id", id="no-record-id"),
        pytest.param(
            'fields = [{ name = "id", type = "text" }]\n' + MINIMAL,
            "fields.0.type: Input should be",
            id="field-type",
        ),
        pytest.param(
            'fields = [{ name = "id" }, { name = "id" }]\n' + MINIMAL,
            "duplicate field names",
            id="duplicate-fields",
        ),
        pytest.param(MINIMAL + '[policy]\ndrift = "strict"\n', "policy.drift: Input should be", id="drift-mode"),
        pytest.param(MINIMAL + "[policy]\nmax_reject_ratio = 1.5\n", "policy.max_reject_ratio", id="reject-ratio"),
        pytest.param('name = "Bad Name"\n' + MINIMAL, "name: String should match pattern", id="name-pattern"),
    ],
)
def test_invalid_profile_names_file_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, "broken", text)
    with pytest.raises(ProfileError) as exc:
        load_profile(path)
    message = str(exc.value)
    assert message.startswith(f"{path.resolve()}: invalid profile: ")
    assert expected in message


@pytest.mark.parametrize("size", [500, 1000])
def test_chunk_size_bounds_are_inclusive(tmp_path: Path, size: int) -> None:
    assert load_profile(write(tmp_path, "ok", f"chunk_size = {size}\n" + MINIMAL)).chunk_size == size


def test_json_with_item_path_is_fine(tmp_path: Path) -> None:
    text = MINIMAL.replace('"csv"', '"json"').replace("[map]", 'item_path = "data.item"\n[map]')
    assert load_profile(write(tmp_path, "api", text)).item_path == "data.item"


def test_invalid_toml_names_file_and_position(tmp_path: Path) -> None:
    path = write(tmp_path, "broken", 'format = "csv\n[map]\nrecord_id = "id"\n')
    with pytest.raises(ProfileError) as exc:
        load_profile(path)
    message = str(exc.value)
    assert message.startswith(f"{path.resolve()}: not valid TOML: ")
    assert "line 1" in message


def test_invalid_profile_found_by_name_names_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "broken_by_name", "chunk_size = 5\n" + MINIMAL)
    monkeypatch.setenv("MUSEUM_SYNC_PROFILE_PATH", str(tmp_path))
    with pytest.raises(ProfileError, match=r"broken_by_name\.toml: invalid profile: chunk_size"):
        load_profile("broken_by_name")


def test_lido_profile_needs_no_map(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, "lido_local", 'format = "lido"\ninstitution = "KMSKA"\n'))
    assert profile.map == {}
    assert isinstance(profile, Profile)


# ------------------------------------------------------------------------------------ cache


def test_unchanged_file_is_served_from_cache(tmp_path: Path) -> None:
    path = write(tmp_path, "cached", MINIMAL)
    assert load_profile(path) is load_profile(path)


def test_profile_edited_on_disk_is_reread(tmp_path: Path) -> None:
    path = write(tmp_path, "edited", 'description = "version A"\n' + MINIMAL)
    before = load_profile(path)
    assert before.description == "version A"
    mtime = path.stat().st_mtime_ns
    # Same size, new mtime: a long-lived worker must still see the fix.
    path.write_text('description = "version B"\n' + MINIMAL, encoding="utf-8")
    os.utime(path, ns=(mtime, mtime + 2_000_000_000))
    after = load_profile(path)
    assert after.description == "version B"
    assert after is not before
    # Different size with the very same mtime (coarse clocks): re-read as well.
    path.write_text('description = "version C, longer"\n' + MINIMAL, encoding="utf-8")
    os.utime(path, ns=(mtime, mtime + 2_000_000_000))
    assert load_profile(path).description == "version C, longer"


def test_edited_profile_is_reread_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "by_name", MINIMAL)
    monkeypatch.setenv("MUSEUM_SYNC_PROFILE_PATH", str(tmp_path))
    assert load_profile("by_name").institution == "Test Museum"
    mtime = path.stat().st_mtime_ns
    path.write_text(MINIMAL.replace("Test Museum", "Best Museum"), encoding="utf-8")
    os.utime(path, ns=(mtime, mtime + 5_000_000_000))
    assert load_profile("by_name").institution == "Best Museum"


# ------------------------------------------------------------------------------------ the pure core


def test_core_takes_extra_folders_as_an_argument_and_reads_no_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "profiles"
    write(folder, "vam_objects_csv", MINIMAL.replace("Test Museum", "Victoria and Albert Museum"))
    monkeypatch.setenv("MUSEUM_SYNC_PROFILE_PATH", str(folder))
    assert core_profiles.list_profiles() == SHIPPED  # the environment is the pipeline's business
    with pytest.raises(ProfileError, match="unknown profile 'vam_objects_csv'"):
        core_profiles.load_profile("vam_objects_csv")
    assert core_profiles.list_profiles([folder]) == sorted([*SHIPPED, "vam_objects_csv"])
    assert core_profiles.load_profile("vam_objects_csv", [str(folder)]).institution == "Victoria and Albert Museum"
    assert core_profiles.profile_search_path([folder])[0] == folder
    assert core_profiles.profile_search_path()[0].resolve() == SHIPPED_DIR
