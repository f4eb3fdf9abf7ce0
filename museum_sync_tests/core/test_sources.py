"""Streaming readers: real museum exports plus generated edge cases, offsets checked against the bytes."""

from __future__ import annotations

import csv
import io
import json
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from museum_sync.core.exceptions import (
    EmptySource,
    ProfileError,
    SourceDecodeError,
    SourceFormatError,
    SourceNotFound,
)
from museum_sync.core.locator import Locator
from museum_sync.core.sources import (
    ERROR,
    EXTRA,
    MISSING,
    UNPARSEABLE,
    csv_header,
    ensure_not_empty,
    iter_csv,
    iter_json_items,
    iter_jsonl,
    iter_records,
    iter_xmllines,
)

REAL_CSV = [
    # file, data rows, UTF-8 BOM, CRLF line ends
    ("tate_artist_data.csv", 3532, True, True),
    ("moma_DirectorsDepartmentHeads.csv", 65, True, True),
    ("tate_artwork_data_first52rows.csv", 52, False, False),
    ("aic_someArtworks.csv", 422, False, False),
    ("moma_Artists_2016-05.csv", 14839, True, False),
]


def write(tmp_path: Path, data: bytes, name: str = "export.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def stdlib_rows(path: Path, encoding: str = "utf-8-sig") -> list[dict[str, str]]:
    with open(path, newline="", encoding=encoding) as fh:
        return list(csv.DictReader(fh))


def assert_offsets(path: Path, records: list[tuple[Locator, Any]], encoding: str = "utf-8") -> None:
    """Each record's bytes run from its offset to the next record's; csv re-parses them to the same row."""
    data = path.read_bytes()
    offsets = [loc.offset for loc, _ in records]
    assert all(o is not None for o in offsets)
    seen_to, newlines = 0, 0  # count newlines incrementally: records come in file order
    for i, (loc, record) in enumerate(records):
        assert loc.offset is not None and loc.offset >= seen_to
        assert loc.file == str(path)
        newlines += data.count(b"\n", seen_to, loc.offset)
        seen_to = loc.offset
        assert newlines + 1 == loc.line
        assert loc.offset == 0 or data[loc.offset - 1 : loc.offset] == b"\n"
        stop = offsets[i + 1] if i + 1 < len(offsets) else len(data)
        assert stop is not None
        chunk = data[loc.offset : stop].decode(encoding)
        row = next(csv.reader(io.StringIO(chunk, newline="")))
        if UNPARSEABLE not in record:
            assert [v for k, v in record.items() if not k.startswith("__")] + record.get(EXTRA, []) == row


# ---------------------------------------------------------------------------------------- real files


@pytest.mark.parametrize(("name", "rows", "bom", "crlf"), REAL_CSV)
def test_real_csv_counts_offsets_and_stdlib_equality(
    shared_data: Path, name: str, rows: int, bom: bool, crlf: bool
) -> None:
    path = shared_data / "csv" / name
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") is bom
    assert (b"\r\n" in data) is crlf

    header, data_start, has_bom = csv_header(path)
    assert has_bom is bom
    assert not header[0].startswith("\ufeff")
    assert data[data_start - 1 : data_start] == b"\n"

    records = list(iter_csv(path))
    assert len(records) == rows
    assert [r for _, r in records] == stdlib_rows(path)  # no special keys: the real files are clean
    assert records[0][0] == Locator(str(path), 2, data_start)
    assert_offsets(path, records)


def test_tate_artwork_quoted_commas_survive(shared_data: Path) -> None:
    path = shared_data / "csv" / "tate_artwork_data_first52rows.csv"
    records = [r for _, r in iter_csv(path)]
    with_commas = [r for r in records if "," in r["title"] or "," in r["creditLine"]]
    assert with_commas, "Tate titles and credit lines quote commas"
    assert all(len(r) == 15 for r in records)
    first = records[0]
    assert first["accession_number"] == "A00001"
    assert first["artist"] == "Blake, Robert"


def test_tate_artist_bom_and_crlf_values_are_clean(shared_data: Path) -> None:
    path = shared_data / "csv" / "tate_artist_data.csv"
    records = [r for _, r in iter_csv(path)]
    assert list(records[0])[0] == "id"  # BOM stripped from the first header name
    assert not any(v.endswith("\r") for r in records for v in r.values())


def test_moma_artists_json_top_level_array(shared_data: Path) -> None:
    path = shared_data / "json" / "moma_Artists_2016-05.json"
    items = list(iter_json_items(path, "item"))
    assert len(items) == 14839
    expected = json.loads(path.read_bytes())
    assert [r for _, r in items] == expected
    assert items[0][0] == Locator(str(path), 0, None, "/0")
    assert items[-1][0].pointer == "/14838"
    assert items[0][1]["DisplayName"] == "Robert Arneson"
    assert isinstance(items[0][1]["BeginDate"], int)  # numbers are int/float, not Decimal


def test_aic_artworks_wrapped_as_a_paged_api_response(shared_data: Path, tmp_path: Path) -> None:
    artworks = [json.loads((shared_data / "json" / f"aic_artwork_{n}.json").read_bytes()) for n in (11, 16, 20)]
    page = {"pagination": {"total": 3, "limit": 3, "current_page": 1}, "data": artworks, "info": {}}
    path = write(tmp_path, json.dumps(page, indent=2).encode(), "page.json")
    items = list(iter_json_items(path, "data.item"))
    assert [r for _, r in items] == artworks
    assert [loc.pointer for loc, _ in items] == ["/data/0", "/data/1", "/data/2"]


# ----------------------------------------------------------------------------- generated CSV edge cases


def test_quoted_newlines_lf_and_crlf(tmp_path: Path) -> None:
    data = b'id,title,note\r\n1,"two\nlines",a\r\n2,"crlf\r\ninside, quoted",b\r\n3,plain,c\r\n'
    path = write(tmp_path, data)
    records = list(iter_csv(path))
    assert [r for _, r in records] == [
        {"id": "1", "title": "two\nlines", "note": "a"},
        {"id": "2", "title": "crlf\r\ninside, quoted", "note": "b"},
        {"id": "3", "title": "plain", "note": "c"},
    ]
    assert [loc.line for loc, _ in records] == [2, 4, 6]  # a record's line is its first line
    assert data[records[1][0].offset or 0 :].startswith(b'2,"crlf')
    assert_offsets(path, records)


def test_escaped_quotes_and_literal_quote_in_unquoted_field(tmp_path: Path) -> None:
    path = write(tmp_path, b'id,title\n1,"he said ""hi"""\n2,12" record\n3,x\n')
    records = [r for _, r in iter_csv(path)]
    assert records == [
        {"id": "1", "title": 'he said "hi"'},
        {"id": "2", "title": '12" record'},
        {"id": "3", "title": "x"},
    ]


def test_nul_bytes_become_an_unparseable_record_not_a_crash(tmp_path: Path) -> None:
    data = b"id,title\n1,ok\n2,bro\x00ken\n3,fine\n"
    path = write(tmp_path, data)
    records = list(iter_csv(path))
    assert len(records) == 3
    loc, bad = records[1]
    assert loc == Locator(str(path), 3, data.index(b"2,bro"))
    assert bad[UNPARSEABLE] == "2,bro\ufffdken"
    nul_at = data.index(b"\x00")
    assert f"at byte {nul_at}" in bad[ERROR]
    assert records[2][1] == {"id": "3", "title": "fine"}


def test_nul_record_is_rejected_by_validation_reason(tmp_path: Path) -> None:
    """The special keys are the contract with validation: it reads __unparseable__/__error__."""
    path = write(tmp_path, b"id,title\n1,a\x00b\n")
    ((_, record),) = list(iter_csv(path))
    assert set(record) == {UNPARSEABLE, ERROR}
    assert "NUL" in record[ERROR]


def test_field_of_12_megabytes(tmp_path: Path) -> None:
    big = "x" * (12 * 1024 * 1024)
    path = write(tmp_path, f'id,description,after\n1,"{big}",tail\n2,small,t\n'.encode())
    records = list(iter_csv(path))
    assert records[0][1]["description"] == big
    assert records[0][1]["after"] == "tail"
    assert records[1][0].offset == path.stat().st_size - len(b"2,small,t\n")
    assert csv.field_size_limit() > len(big)


def test_record_larger_than_the_limit_stops_with_a_format_error(tmp_path: Path) -> None:
    path = write(tmp_path, b'id,title\n1,ok\n2,"' + b"y" * 5000 + b"\n" * 10)
    with pytest.raises(SourceFormatError) as err:
        list(iter_csv(path, max_record_bytes=1000))
    assert err.value.line == 3 and err.value.offset == 14


def test_unterminated_quote_raises_naming_the_record(tmp_path: Path) -> None:
    data = b'id,title\n1,ok\n2,"never closed\n3,swallowed\n'
    path = write(tmp_path, data)
    with pytest.raises(SourceFormatError, match="never closed") as err:
        list(iter_csv(path))
    assert (err.value.line, err.value.offset) == (3, data.index(b"2,"))


def test_latin1_bytes_in_a_utf8_file_name_line_and_offset(tmp_path: Path) -> None:
    data = b'id,title\n1,Cafe\n2,"Caf\xe9\nau lait"\n'
    path = write(tmp_path, data)
    records = iter_csv(path)
    assert next(records)[1] == {"id": "1", "title": "Cafe"}
    with pytest.raises(SourceDecodeError) as err:
        next(records)
    assert err.value.file == str(path)
    bad_at = data.index(b"\xe9")
    assert (err.value.line, err.value.offset) == (3, bad_at)
    assert "utf-8" in str(err.value) and f"{path}:3 (byte {bad_at})" in str(err.value)


def test_bad_byte_on_a_records_second_line_names_the_record(tmp_path: Path) -> None:
    data = b'id,title\n1,"first line\nsecond \xff line"\n'
    path = write(tmp_path, data)
    with pytest.raises(SourceDecodeError, match="record starting at line 2") as err:
        list(iter_csv(path))
    assert (err.value.line, err.value.offset) == (3, data.index(b"\xff"))


def test_declared_latin1_and_cp1252(tmp_path: Path) -> None:
    path = write(tmp_path, "id,title\n1,Café “quoted”\n".encode("cp1252"))
    assert [r for _, r in iter_csv(path, encoding="cp1252")] == [{"id": "1", "title": "Café “quoted”"}]
    assert [r for _, r in iter_csv(path, encoding="latin-1")][0]["title"].startswith("Café")


def test_bom_in_a_file_declared_cp1252_is_a_decode_error(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbfid,title\n1,x\n")
    with pytest.raises(SourceDecodeError, match="byte-order mark"):
        list(iter_csv(path, encoding="cp1252"))
    assert [r for _, r in iter_csv(path, encoding="utf-8-sig")] == [{"id": "1", "title": "x"}]


def test_non_ascii_compatible_encoding_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "id\n1\n".encode("utf-16"))
    with pytest.raises(ProfileError, match="ASCII-compatible"):
        iter_csv(path, encoding="utf-16")
    with pytest.raises(ProfileError, match="unknown encoding"):
        iter_csv(path, encoding="no-such-codec")


def test_ragged_rows_are_kept_with_extra_and_missing(tmp_path: Path) -> None:
    path = write(tmp_path, b"id,title,date\n1,a,1900\n2,b,1901,surplus,more\n3,c\n4\n")
    records = [r for _, r in iter_csv(path)]
    assert records == [
        {"id": "1", "title": "a", "date": "1900"},
        {"id": "2", "title": "b", "date": "1901", EXTRA: ["surplus", "more"]},
        {"id": "3", "title": "c", MISSING: ["date"]},
        {"id": "4", MISSING: ["title", "date"]},
    ]


def test_bare_cr_in_an_unquoted_field_is_one_unparseable_record(tmp_path: Path) -> None:
    data = b"id,title\n1,a\rb\n2,ok\n"
    path = write(tmp_path, data)
    records = list(iter_csv(path))
    assert len(records) == 2
    assert records[0][1][UNPARSEABLE] == "1,a\rb"
    assert "CSV error" in records[0][1][ERROR]
    assert records[1] == (Locator(str(path), 3, data.index(b"2,ok")), {"id": "2", "title": "ok"})


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    data = b"id,title\r\n\r\n1,a\r\n\r\n\r\n2,b\r\n\r\n"
    path = write(tmp_path, data)
    records = list(iter_csv(path))
    assert [(loc.line, loc.offset) for loc, _ in records] == [
        (3, data.index(b"1,a")),
        (6, data.index(b"2,b")),
    ]


def test_missing_trailing_newline(tmp_path: Path) -> None:
    path = write(tmp_path, b'id,title\n1,a\n2,"last, no newline"')
    assert [r for _, r in iter_csv(path)][-1] == {"id": "2", "title": "last, no newline"}
    path = write(tmp_path, b"id,title", "header_only_no_newline.csv")
    assert list(iter_csv(path)) == []


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    empty = write(tmp_path, b"", "empty.csv")
    with pytest.raises(EmptySource, match="0 bytes"):
        list(iter_csv(empty))
    with pytest.raises(EmptySource):
        ensure_not_empty(empty, "csv")
    blank = write(tmp_path, b"\n\r\n\n", "blank.csv")
    with pytest.raises(EmptySource, match="blank lines"):
        csv_header(blank)
    header_only = write(tmp_path, b"\xef\xbb\xbfid,title\r\n", "header_only.csv")
    assert csv_header(header_only) == (["id", "title"], 13, True)
    assert list(iter_csv(header_only)) == []  # iterators do not judge; ensure_not_empty does
    with pytest.raises(EmptySource, match="header but no records"):
        ensure_not_empty(header_only, "csv")
    ensure_not_empty(write(tmp_path, b"id\n1\n", "one.csv"), "csv")


def test_missing_file_raises_when_the_iterator_is_made(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFound, match="does not exist"):
        iter_csv(tmp_path / "nope.csv")
    with pytest.raises(SourceNotFound):
        iter_jsonl(tmp_path / "nope.jsonl")
    with pytest.raises(SourceNotFound):
        iter_json_items(tmp_path / "nope.json")
    with pytest.raises(SourceNotFound):
        csv_header(tmp_path / "nope.csv")


def test_duplicate_header_names_are_a_format_error(tmp_path: Path) -> None:
    path = write(tmp_path, b"id,title,title\n1,a,b\n")
    with pytest.raises(SourceFormatError, match="duplicate header names"):
        list(iter_csv(path))


def test_semicolon_delimiter_and_range_read(tmp_path: Path) -> None:
    data = b"id;title\n1;a,b\n2;c\n3;d\n"
    path = write(tmp_path, data)
    records = list(iter_csv(path, delimiter=";"))
    assert records[0][1] == {"id": "1", "title": "a,b"}
    start = data.index(b"2;")
    part = list(iter_csv(path, delimiter=";", start=start, end=data.index(b"3;"), first_line=3))
    assert part == records[1:2]
    part = list(iter_csv(path, delimiter=";", start=start, header=["x", "y"], first_line=3))
    assert [r for _, r in part] == [{"x": "2", "y": "c"}, {"x": "3", "y": "d"}]


# ------------------------------------------------------------------------------------------- JSON Lines


def test_jsonl_records_blank_lines_and_unparseable(tmp_path: Path) -> None:
    lines = [
        b'{"id": 1, "title": "a"}',
        b"",
        b"   ",
        b'{"id": 2, "nested": {"x": [1, 2]}}\r',
        b"[1, 2]",
        b"{bad json",
        b'"text"',
    ]
    data = b"\n".join(lines) + b"\n"
    path = write(tmp_path, data, "x.jsonl")
    records = list(iter_jsonl(path))
    assert [loc.line for loc, _ in records] == [1, 4, 5, 6, 7]
    for loc, _ in records:
        assert loc.offset is not None and data[loc.offset :].startswith(lines[loc.line - 1])
    assert records[0][1] == {"id": 1, "title": "a"}
    assert records[1][1] == {"id": 2, "nested": {"x": [1, 2]}}
    assert records[2][1] == {UNPARSEABLE: "[1, 2]", ERROR: "expected a JSON object, got an array"}
    assert records[3][1][UNPARSEABLE] == "{bad json" and "invalid JSON" in records[3][1][ERROR]
    assert records[4][1][ERROR] == "expected a JSON object, got a string"


def test_jsonl_nul_escape_is_unparseable(tmp_path: Path) -> None:
    path = write(tmp_path, b'{"t": "a\\u0000b"}\n{"t": "a\\\\u0000b"}\n', "x.jsonl")
    records = [r for _, r in iter_jsonl(path)]
    assert UNPARSEABLE in records[0] and "NUL" in records[0][ERROR]
    assert records[1] == {"t": "a\\u0000b"}  # an escaped backslash, not a NUL


def test_jsonl_decode_error_names_line_and_offset(tmp_path: Path) -> None:
    data = b'{"id": 1}\n\n{"id": "caf\xe9"}\n'
    path = write(tmp_path, data, "x.jsonl")
    with pytest.raises(SourceDecodeError) as err:
        list(iter_jsonl(path))
    assert (err.value.line, err.value.offset) == (3, data.index(b"\xe9"))


def test_jsonl_bom_and_ranges(tmp_path: Path) -> None:
    data = b'\xef\xbb\xbf{"id": 1}\n{"id": 2}\n{"id": 3}'
    path = write(tmp_path, data, "x.jsonl")
    records = list(iter_jsonl(path))
    assert [(loc.line, loc.offset) for loc, _ in records] == [(1, 3), (2, 13), (3, 23)]
    assert list(iter_jsonl(path, start=13, end=23, first_line=2)) == records[1:2]
    assert list(iter_records(path, "jsonl", start=23, first_line=3)) == records[2:]


# -------------------------------------------------------------------------------------------- XML lines


def test_xmllines_yield_raw_bytes(tmp_path: Path, shared_data: Path) -> None:
    record = (shared_data / "lido" / "records" / "ddb_KHB.xml").read_bytes()
    one_line = record.replace(b"\r", b"").replace(b"\n", b" ")
    data = one_line + b"\r\n\n" + b"<lido:lido>second</lido:lido>\n"
    path = write(tmp_path, data, "x.xmllines")
    records = list(iter_xmllines(path))
    assert [r for _, r in records] == [one_line, b"<lido:lido>second</lido:lido>"]
    assert [(loc.line, loc.offset) for loc, _ in records] == [(1, 0), (3, len(one_line) + 3)]


# ---------------------------------------------------------------------------------------- JSON documents


def test_json_error_page_says_what_it_got(tmp_path: Path) -> None:
    path = write(tmp_path, b"\n<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "page.json")
    with pytest.raises(SourceFormatError, match="DOCTYPE html") as err:
        list(iter_json_items(path, "data.item"))
    assert (err.value.line, err.value.offset) == (2, 1)


def test_invalid_json_names_the_position(tmp_path: Path) -> None:
    data = b'{"data": [\n  {"id": 1},\n  {"id": 2,}\n]}'
    path = write(tmp_path, data, "page.json")
    items = iter_json_items(path, "data.item")
    assert next(items)[1] == {"id": 1}
    with pytest.raises(SourceFormatError, match="invalid JSON") as err:
        list(items)
    assert err.value.line == 3
    assert err.value.offset == data.index(b"}\n]")


def test_truncated_json_document(tmp_path: Path) -> None:
    path = write(tmp_path, b'[{"id": 1}, {"id": 2}, {"id":', "page.json")
    with pytest.raises(SourceFormatError, match="invalid JSON"):
        list(iter_json_items(path))


def test_json_path_absent_or_not_an_array(tmp_path: Path) -> None:
    error = write(tmp_path, b'{"error": "rate limited", "status": 429}', "error.json")
    with pytest.raises(SourceFormatError, match="no /data in this document.*error, status"):
        list(iter_json_items(error, "data.item"))
    obj = write(tmp_path, b'{"data": {"id": 1}}', "obj.json")
    with pytest.raises(SourceFormatError, match="/data is an object"):
        list(iter_json_items(obj, "data.item"))
    empty = write(tmp_path, b'{"data": [], "pagination": {}}', "empty_page.json")
    assert list(iter_json_items(empty, "data.item")) == []
    with pytest.raises(EmptySource):
        ensure_not_empty(empty, "json", item_path="data.item")


def test_json_items_that_are_not_objects(tmp_path: Path) -> None:
    path = write(tmp_path, b'[{"id": 1}, 2, "x", null]', "a.json")
    items = [r for _, r in iter_json_items(path)]
    assert items[0] == {"id": 1}
    assert items[1] == {UNPARSEABLE: "2", ERROR: "expected a JSON object, got a number"}
    assert items[3][ERROR] == "expected a JSON object, got null"


def test_json_undecodable_bytes_and_empty_file(tmp_path: Path) -> None:
    data = b'[{"id": 1},\n {"title": "caf\xe9"}]'
    path = write(tmp_path, data, "a.json")
    with pytest.raises(SourceDecodeError) as err:
        list(iter_json_items(path))
    assert (err.value.line, err.value.offset) == (2, data.index(b"\xe9"))
    with pytest.raises(EmptySource):
        list(iter_json_items(write(tmp_path, b"", "empty.json")))
    with pytest.raises(ValueError, match="must name one array"):
        iter_json_items(path, "data")


def test_json_with_bom(tmp_path: Path) -> None:
    path = write(tmp_path, b'\xef\xbb\xbf{"data": [{"id": 1}]}', "a.json")
    assert [r for _, r in iter_json_items(path, "data.item")] == [{"id": 1}]


# ------------------------------------------------------------------------------------ property + memory

CELL = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
    max_size=12,
) | st.sampled_from(['"', '""', ",", "\n", "\r\n", "\r", ' "a, b" ', "é", "😀"])


def to_csv(rows: list[list[str]], terminator: str, quote_all: bool) -> str:
    """A CSV writer that always quotes CR and LF (Python 3.11's csv.writer leaves a bare CR unquoted when
    the line terminator is LF, which no reader can read back)."""
    out = []
    for row in rows:
        cells = []
        for cell in row:
            needs = quote_all or any(c in cell for c in ',"\r\n') or (cell == "" and len(row) == 1)
            cells.append('"' + cell.replace('"', '""') + '"' if needs else cell)
        out.append(",".join(cells) + terminator)
    return "".join(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    width=st.integers(1, 4),
    data=st.data(),
    terminator=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
    trailing=st.booleans(),
    quote_all=st.booleans(),
)
def test_property_csv_round_trip(
    width: int, data: st.DataObject, terminator: str, bom: bool, trailing: bool, quote_all: bool
) -> None:
    """Whatever a CSV writer produces, iter_csv reads back exactly, with offsets pointing at each record."""
    header = [f"f{i}" for i in range(width)]
    rows = data.draw(st.lists(st.lists(CELL, min_size=width, max_size=width), max_size=12))
    text = to_csv([header, *rows], terminator, quote_all)
    if not trailing and rows:
        text = text[: -len(terminator)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.csv"
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
        records = list(iter_csv(path))
        assert [r for _, r in records] == [dict(zip(header, row, strict=True)) for row in rows]
        assert [r for _, r in records] == stdlib_rows(path)
        assert_offsets(path, records)


def test_memory_stays_flat_over_200k_rows(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "title", "artist", "note"])
        for i in range(200_000):
            writer.writerow(
                [
                    i,
                    f"Title, number {i}",
                    "Turner, Joseph Mallord William",
                    "multi\nline" if i % 97 == 0 else "",
                ]
            )
    tracemalloc.start()
    try:
        count = 0
        for _loc, _record in iter_csv(path):
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200_000
    assert peak < 3 * 1024 * 1024, f"peak {peak} bytes"
