"""Export ids and partition keys: written in one place, read back exactly, anything else refused. The shape
written now is ``<source>-<7 hex>-<YYYYMMDD>``; the old ``<source>-<YYYYMMDD>-<8 hex>`` still parses (stored
catalogues, quarantines and snapshots carry it)."""

from __future__ import annotations

import hashlib
from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from museum_sync.core.exceptions import MuseumSyncError
from museum_sync.core.keys import (
    EXPORT_ID_PATTERN,
    ExportName,
    InvalidKey,
    check_export_id,
    export_id_for,
    export_label,
    export_tag,
    is_snapshot_of,
    parse_export_id,
    partition_key,
    slug,
    split_partition_key,
)

SHA = hashlib.sha256(b"tate artworks, night 1").hexdigest()
NIGHT = datetime(2026, 11, 25, 3, 15)
EXPORT_ID = "tate-20261125-1a2b3c4d"  # the old shape: still read everywhere
NEW_EXPORT_ID = "tate-1a2b3c4-20261125"


def test_export_id_is_slug_hash_and_night() -> None:
    export_id = export_id_for("Tate", SHA, NIGHT)
    assert export_id == f"tate-{SHA[:7]}-20261125"
    assert check_export_id(export_id) == export_id
    # Same source, same day, same bytes: same id (the time of day does not matter).
    assert export_id_for("Tate", SHA, NIGHT.replace(hour=23)) == export_id
    assert export_id_for("Tate", SHA, datetime(2026, 11, 26)) != export_id
    assert export_id_for("Tate", hashlib.sha256(b"other bytes").hexdigest(), NIGHT) != export_id


@pytest.mark.parametrize("export_id", [NEW_EXPORT_ID, EXPORT_ID])
@pytest.mark.parametrize("index", [0, 3, 999, 1000, 9999, 10000, 999999])
def test_partition_key_round_trip(export_id: str, index: int) -> None:
    key = partition_key(export_id, index)
    assert key.startswith(export_id + "/")
    assert split_partition_key(key) == (export_id, index)


@pytest.mark.parametrize(
    ("export_id", "name"),
    [
        (NEW_EXPORT_ID, ExportName("tate", date(2026, 11, 25), "1a2b3c4")),
        (EXPORT_ID, ExportName("tate", date(2026, 11, 25), "1a2b3c4d")),  # written before: still read
        # A hash of digits only that looks like a date: the group lengths (7 before the night, 8 in the old
        # shape) decide, never a guess.
        ("tate-2026112-20261125", ExportName("tate", date(2026, 11, 25), "2026112")),
        ("tate-20261125-20261126", ExportName("tate", date(2026, 11, 25), "20261126")),
    ],
)
def test_both_shapes_parse_to_source_night_and_snapshot(export_id: str, name: ExportName) -> None:
    assert parse_export_id(export_id) == name
    assert check_export_id(export_id) == export_id


def test_a_night_that_is_no_date_is_refused_when_parsed() -> None:
    with pytest.raises(InvalidKey, match="not a date"):
        parse_export_id("tate-1a2b3c4-20261399")


@pytest.mark.parametrize(
    ("export_id", "label"),
    [
        (NEW_EXPORT_ID, "tate, night of 2026-11-25 (snapshot 1a2b3c4)"),
        (EXPORT_ID, "tate, night of 2026-11-25 (snapshot 1a2b3c4d)"),
    ],
)
def test_export_label_names_source_and_night(export_id: str, label: str) -> None:
    assert export_label(export_id) == label


def test_export_tag_puts_the_night_first() -> None:
    assert export_tag(NEW_EXPORT_ID) == "2026-11-25 · tate · snapshot 1a2b3c4"
    assert export_tag(EXPORT_ID) == "2026-11-25 · tate · snapshot 1a2b3c4d"


def test_is_snapshot_of_matches_either_shape_and_nothing_else() -> None:
    assert is_snapshot_of(export_id_for("Tate", SHA, NIGHT), "Tate", SHA)
    assert is_snapshot_of(f"tate-20240101-{SHA[:8]}", "tate", SHA)  # an old folder, another night
    assert not is_snapshot_of(export_id_for("Tate", SHA, NIGHT), "tate_modern", SHA)
    assert not is_snapshot_of(export_id_for("Tate", SHA, NIGHT), "Tate", hashlib.sha256(b"x").hexdigest())
    assert not is_snapshot_of("tate-x", "tate", SHA)


def _middle_truncated(text: str, keep: int) -> str:
    """What Dagster's ``MiddleTruncate`` shows when ``keep`` characters fit on each side of the ellipsis."""
    return text if len(text) <= 2 * keep else f"{text[:keep]}…{text[-keep:]}"


@given(st.text(max_size=80), st.integers(min_value=0, max_value=999999))
def test_source_night_and_chunk_survive_the_ui_middle_truncation(source: str, index: int) -> None:
    """The 292 px partition list keeps about 16 characters each side (docs/img/01: ``tate_steward-202…``)."""
    key = partition_key(export_id_for(source, SHA, NIGHT), index)
    shown = _middle_truncated(key, 16)
    assert shown.startswith(slug(source)[:12])
    assert shown.endswith(f"-20261125/{index:04d}")


def test_partition_key_is_zero_padded_to_four_digits() -> None:
    assert partition_key(NEW_EXPORT_ID, 3) == "tate-1a2b3c4-20261125/0003"
    assert partition_key(NEW_EXPORT_ID, 12345) == "tate-1a2b3c4-20261125/12345"


def test_negative_chunk_index_is_refused() -> None:
    with pytest.raises(InvalidKey, match="chunk index must be >= 0"):
        partition_key(EXPORT_ID, -1)


def test_invalid_key_is_a_museum_sync_error_and_a_value_error() -> None:
    with pytest.raises(InvalidKey) as caught:
        check_export_id("nope")
    assert isinstance(caught.value, MuseumSyncError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "export_id",
    [
        "",
        "../tate-20261125-1a2b3c4d",  # path traversal
        "..-20261125-1a2b3c4d",
        "tate/x-20261125-1a2b3c4d",  # a slash would make a folder
        "tate-20261125-1a2b3c4d/0003",  # a partition key is not an export id
        "tate artworks-20261125-1a2b3c4d",  # spaces
        " tate-20261125-1a2b3c4d",
        "tate-20261125-1a2b3c4d ",
        "Tate-20261125-1a2b3c4d",  # upper case
        "tate-20261125-1A2B3C4D",
        "tate-2026112-1a2b3c4d",  # 7 date digits
        "tate-202611250-1a2b3c4d",  # 9 date digits
        "tate-20261125-1a2b3c4",  # 7 hex digits
        "tate-20261125-1a2b3c4d5",  # 9 hex digits
        "tate-20261125-1a2b3c4g",  # not hex
        "_tate-20261125-1a2b3c4d",  # a slug never starts or ends with "_"
        "tate_-20261125-1a2b3c4d",
        "tate-x-20261125-1a2b3c4d",  # "-" is not a slug character
        "tate;drop-20261125-1a2b3c4d",  # nor are quotes or SQL punctuation
        'tate"-20261125-1a2b3c4d',
        "a" * 65 + "-20261125-1a2b3c4d",  # slug longer than 64
        "20261125-1a2b3c4d",  # no slug at all
        "1a2b3c4-20261125",
        "tate-1a2b3c-20261125",  # 6 hex digits in the new shape
        "tate-1a2b3c4d-20261125",  # 8 hex digits before the night: neither shape
        "tate-1a2b3c4-2026112",  # 7 night digits
        "tate-1A2B3C4-20261125",
        "tate-1a2b3cg-20261125",
        "tate-1a2b3c4-20261125/0003",
        "tate-1a2b3c4-20261125 ",
    ],
)
def test_check_export_id_refuses(export_id: str) -> None:
    with pytest.raises(InvalidKey, match="not an export id"):
        check_export_id(export_id)


@pytest.mark.parametrize("value", [None, 20261125, b"tate-20261125-1a2b3c4d"])
def test_check_export_id_refuses_non_strings(value: object) -> None:
    with pytest.raises(InvalidKey):
        check_export_id(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "key",
    [
        "",
        EXPORT_ID,  # no chunk index
        EXPORT_ID + "/",
        EXPORT_ID + "/003",  # 3 digits
        EXPORT_ID + "/1234567",  # 7 digits
        EXPORT_ID + "/00a3",
        EXPORT_ID + "/-001",
        EXPORT_ID + "//0003",
        EXPORT_ID + "/0003/..",  # path traversal
        EXPORT_ID + "/../0003",
        "../" + EXPORT_ID + "/0003",
        EXPORT_ID + "/0003 ",  # spaces
        " " + EXPORT_ID + "/0003",
        EXPORT_ID + " /0003",
        "Tate-20261125-1a2b3c4d/0003",  # upper case
        "tate-20261125-1A2B3C4D/0003",
        "tate-2026112-1a2b3c4d/0003",  # wrong digits in the export id
        "tate-20261125-1a2b3c4/0003",
        "tate/x-20261125-1a2b3c4d/0003",
        NEW_EXPORT_ID + "/003",
        NEW_EXPORT_ID + "/0003/..",
        "tate-1a2b3c4d-20261125/0003",
        "tate-1a2b3c4-2026112/0003",
    ],
)
def test_split_partition_key_refuses(key: str) -> None:
    with pytest.raises(InvalidKey, match="not a chunk partition key"):
        split_partition_key(key)


def test_split_partition_key_refuses_non_strings() -> None:
    with pytest.raises(InvalidKey):
        split_partition_key(None)  # type: ignore[arg-type]


# ``re.match(...$)`` would let an id or key ending in "\n" through (``$`` matches before a final newline) to a
# path or an SQL identifier; keys.py uses ``fullmatch``, and these keep it that way.
def test_export_id_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(InvalidKey):
        check_export_id(EXPORT_ID + "\n")


def test_partition_key_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(InvalidKey):
        split_partition_key(EXPORT_ID + "/0003\n")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("tate", "tate"),
        ("Tate Artworks", "tate_artworks"),
        ("AIC-API", "aic_api"),
        ("cooper_hewitt", "cooper_hewitt"),
        ("Musée d'Orsay", "mus_e_d_orsay"),  # non-ASCII letters become "_" too
        ("  Tate  ", "tate"),  # no leading or trailing "_"
        ("../../etc/passwd", "etc_passwd"),
        ("a/b c", "a_b_c"),
        ("MoMA 2016", "moma_2016"),
        ("", "export"),  # nothing usable left: a fixed name, never an empty slug
        ("___", "export"),
        ("日本美術", "export"),
        ("a" * 100, "a" * 64),  # at most 64 characters
        ("a" * 63 + " b", "a" * 63),  # and never ending in "_" after the cut
    ],
)
def test_slug(source: str, expected: str) -> None:
    assert slug(source) == expected


@given(st.text(max_size=200))
def test_any_source_name_gives_a_valid_export_id(source: str) -> None:
    name = slug(source)
    assert name and len(name) <= 64
    assert name == name.lower() and name.isascii()
    assert not set(name) - set("abcdefghijklmnopqrstuvwxyz0123456789_")
    export_id = export_id_for(source, SHA, NIGHT)
    assert EXPORT_ID_PATTERN.match(export_id)
    assert check_export_id(export_id) == export_id
    assert split_partition_key(partition_key(export_id, 7)) == (export_id, 7)
