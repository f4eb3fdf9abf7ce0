"""The bad-input corpus (``fixtures/bad``): every case through ``pipeline.extract`` + ``pipeline.validate_chunk``.

Each case in ``cases.toml`` states its outcome exactly: the exception class, message and position for a file
that cannot be read, or the valid count, rejected counts by reason, drift verdict and check verdict for one
that can. Beyond that, every case must keep the promises a steward relies on:

- nothing is lost: valid + rejected = the records in the source, every source record (found by its own
  id in the raw bytes) is either in ``valid.jsonl`` or in ``rejects.jsonl``, and every reject carries the
  record's raw text and a locator that points at it in the museum's own file (for JSON documents and XML
  the original file name and JSON pointer / XPath, not the one-record-per-line snapshot);
- an error names the file (and the line and byte, checked against the bytes themselves), fits on one
  line and leaves no half-written snapshot behind;
- no entity is ever expanded and no local file is ever read: ``root:`` (from /etc/passwd) and ``lollol``
  appear in no artifact, message or output;
- no case crashes the process: the whole corpus also runs through ``museum-sync validate``.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lxml import etree

from museum_sync import pipeline
from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.core.exceptions import MuseumSyncError, SourceError
from museum_sync.core.locator import where
from museum_sync.core.profiles import Profile, load_profile
from museum_sync_tests.conftest import FIXTURES, REPO

BAD = FIXTURES / "bad"
CASES: list[dict[str, Any]] = tomllib.loads((BAD / "cases.toml").read_text(encoding="utf-8"))["case"]
BY_FILE = {case["file"]: case for case in CASES}
FORBIDDEN = (b"root:", b"lollol")  # /etc/passwd content; an expanded billion-laughs entity


def _make_cases() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bad_make_cases", BAD / "make_cases.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def make_cases() -> ModuleType:
    return _make_cases()


@pytest.fixture(scope="module")
def generated(make_cases: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder with the cases written at test time (the 10 MB field)."""
    folder = tmp_path_factory.mktemp("generated")
    for case in CASES:
        if "generate" in case:
            getattr(make_cases, case["generate"])(folder / case["file"])
    return folder


def case_path(case: dict[str, Any], generated: Path) -> Path:
    return generated / case["file"] if "generate" in case else BAD / case["file"]


def profile_arg(case: dict[str, Any]) -> str:
    name = str(case["profile"])
    return str(BAD / name) if name.endswith(".toml") else name


# ------------------------------------------------------------------------------------------ running a case


@dataclass
class Outcome:
    error: BaseException | None = None
    reports: list[pipeline.ChunkReport] = field(default_factory=list)
    valid_lines: list[bytes] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)

    @property
    def valid(self) -> int:
        return sum(r.valid for r in self.reports)

    @property
    def rejected(self) -> int:
        return sum(r.rejected for r in self.reports)

    @property
    def reasons(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for report in self.reports:
            counts.update(report.reasons)
        return dict(counts)

    @property
    def drift_codes(self) -> set[str]:
        return {c["code"] for r in self.reports for c in r.drift["changes"]}


def run_case(path: Path, profile: Profile, store: ArtifactStore) -> Outcome:
    """extract + validate_chunk for every chunk; a whole-file error is the outcome, not a test crash."""
    try:
        export = pipeline.extract(path, profile, store)
    except MuseumSyncError as exc:
        return Outcome(error=exc)
    outcome = Outcome()
    for index in range(len(export.plan.chunks)):
        outcome.reports.append(pipeline.validate_chunk(store, export, index, profile))
        outcome.valid_lines += (store.chunk_dir(export.export_id, index) / "valid.jsonl").read_bytes().splitlines()
        outcome.rejects += pipeline.iter_rejects(store, export.export_id, index)
    return outcome


def artifact_files(root: Path) -> Iterator[Path]:
    return (p for p in root.rglob("*") if p.is_file())


# ------------------------------------------------------------------------ independent oracles on the bytes


# What identifies each source record in its raw bytes, per profile: used to prove no record went missing
# (LIDO records are identified by their lidoRecID, read with lxml: see lido_record_id).
EVIDENCE = {
    "tate_artworks_csv": re.compile(rb"A\d{5}"),  # accession number, also in the thumbnail URL
    "tate_artists_csv": re.compile(rb"http://www\.tate\.org\.uk/art/artists/[a-z0-9-]+"),
    "tate_artists_latin1": re.compile(rb"http://www\.tate\.org\.uk/art/artists/[a-z0-9-]+"),
    "tate_artworks_json": re.compile(rb'"acno": "([A-Z]\d{5})"'),
    "aic_artworks_api": re.compile(rb'"main_reference_number": "([^"]+)"'),
}


def lido_record_id(data: bytes) -> str:
    """The first lidoRecID of a one-record LIDO file, read by lxml (any encoding, with or without namespace)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(data, parser)
    ids = root.xpath("//*[local-name()='lidoRecID']/text()")
    return str(ids[0]).strip() if ids else ""


def source_line(data: bytes, line: int) -> bytes:
    """Physical line ``line`` (1-based) of the source, without its line ending."""
    text = data.split(b"\n")[line - 1]
    return text[:-1] if text.endswith(b"\r") else text


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def json_pointer(document: Any, pointer: str) -> Any:
    """The value at an RFC 6901 JSON pointer (``/data/3``)."""
    value = document
    for token in pointer.split("/")[1:]:
        key = token.replace("~1", "/").replace("~0", "~")
        value = value[int(key)] if isinstance(value, list) else value[key]
    return value


def xml_pointer(data: bytes, pointer: str) -> etree._Element:
    """The element at an XPath-like pointer (``/lidoWrap/lido[3]``), namespaces ignored, read by a full parse."""
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    steps = [re.fullmatch(r"([\w.-]+)(?:\[(\d+)\])?", step) for step in pointer.strip("/").split("/")]
    assert all(steps), pointer
    path = "/" + "/".join(f"*[local-name()='{m[1]}']" + (f"[{m[2]}]" if m[2] else "") for m in steps if m is not None)
    found = root.getroottree().xpath(path)
    assert len(found) == 1, f"{pointer} names {len(found)} elements"
    return found[0]


def check_reject_points_at_its_record(row: dict[str, Any], data: bytes, profile: Profile, path: Path) -> None:
    """The reject's raw text is the record at its locator, checked against the source bytes."""
    raw = row["raw"]
    loc = row["locator"]
    assert raw, f"reject without raw text: {row}"
    if profile.format in ("csv", "jsonl"):
        assert loc["file"] and loc["line"] >= 1, f"reject without a usable locator: {loc}"
        offset = loc["offset"]
        assert offset is not None, f"CSV/JSONL reject without a byte offset: {loc}"
        assert offset == 0 or data[offset - 1 : offset] == b"\n", f"offset {offset} is not a line start"
        assert data[:offset].count(b"\n") + 1 == loc["line"], f"line {loc['line']} and byte {offset} disagree"
        text = source_line(data, loc["line"]).decode(profile.encoding, errors="replace").lstrip("\ufeff")
        parsed = json.loads(raw)
        if profile.format == "csv":
            values = "\x1f".join(strings(parsed))
            for token in re.split(r'[,;"\r\n]+', text.replace("\0", "\ufffd")):
                if token.strip():
                    assert token in values, f"{token!r} of line {loc['line']} is not in the quarantined raw text"
        elif "__unparseable__" in parsed:
            assert parsed["__unparseable__"] == text
        else:
            assert parsed == json.loads(text)
        return
    # JSON documents and XML are rewritten into the snapshot: the locator must still name the museum's file.
    assert loc["file"] == path.name and loc["offset"] is None, f"not the original file: {loc}"
    if profile.format == "json":
        assert loc["line"] == 0, f"ijson knows no line, yet the locator claims one: {loc}"
        item = json_pointer(json.loads(data), loc["pointer"])
        parsed = json.loads(raw)
        assert (json.loads(parsed["__unparseable__"]) if "__unparseable__" in parsed else parsed) == item
    else:
        element = xml_pointer(data, loc["pointer"])
        assert etree.QName(element).localname == "lido"
        assert loc["line"] == element.sourceline, f"{loc} is not the line of {loc['pointer']}"
        assert re.search(rb"<([\w.-]+:)?lido[\s>]", source_line(data, loc["line"])), "no lido start tag there"
        root = etree.fromstring(raw.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True))
        assert etree.QName(root).localname == "lido"
        if row["record_id"]:
            assert row["record_id"].encode("utf-8") in data
            assert element.xpath("string(.//*[local-name()='lidoRecID'])").strip() == row["record_id"]


# ------------------------------------------------------------------------------------------------ the cases


def test_corpus_is_large_and_every_file_has_a_case(make_cases: ModuleType) -> None:
    committed = {p.name for p in BAD.iterdir() if p.suffix in (".csv", ".json", ".jsonl", ".xml")}
    listed = {c["file"] for c in CASES if "generate" not in c}
    assert len(CASES) >= 50
    assert len(BY_FILE) == len(CASES), "a file is listed twice in cases.toml"
    assert committed == listed == set(make_cases.BUILDERS) | set(make_cases.COPIED)
    kinds = Counter("error" if "error" in c["expect"] else "records" for c in CASES)
    assert kinds["error"] >= 20 and kinds["records"] >= 30, kinds


def test_corpus_is_reproducible_from_make_cases(make_cases: ModuleType, shared_data: Path) -> None:
    assert make_cases.shared_data_dir().resolve() == shared_data.resolve()
    built = make_cases.build_all(BAD)
    stale = sorted(name for name, data in built.items() if (BAD / name).read_bytes() != data)
    assert not stale, f"committed files differ from make_cases.py output (re-run it): {stale}"


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_case(case: dict[str, Any], generated: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if "xfail" in case:
        request.applymarker(pytest.mark.xfail(reason=" ".join(case["xfail"].split()), strict=True))
    path = case_path(case, generated)
    profile = load_profile(profile_arg(case))
    store = ArtifactStore(tmp_path / "artifacts")
    outcome = run_case(path, profile, store)
    expect = case["expect"]
    data = path.read_bytes()

    for file in artifact_files(store.root):
        content = file.read_bytes()
        for needle in FORBIDDEN:
            assert needle not in content, f"{needle!r} in {file.relative_to(store.root)}: an entity was expanded"

    if "error" in expect:
        exc = outcome.error
        assert exc is not None, f"expected {expect['error']}, got {outcome.valid} valid / {outcome.reasons}"
        message = str(exc)
        assert type(exc).__name__ == expect["error"], f"{type(exc).__name__}: {message}"
        assert isinstance(exc, SourceError)
        assert path.name in message, f"the message does not name the file: {message}"
        assert "\n" not in message and "Traceback" not in message
        for needle in expect["message_contains"]:
            assert needle in message, f"{needle!r} not in {message!r}"
        assert not any(needle.decode() in message for needle in FORBIDDEN)
        if "line" in expect:
            assert exc.line == expect["line"] and f":{expect['line']}" in message, message
        if "offset" in expect:
            offset = expect["offset"]
            assert exc.offset == offset and f"(byte {offset})" in message, message
            assert data[:offset].count(b"\n") + 1 == exc.line, "line and byte offset disagree"
            if exc.__class__.__name__ == "SourceDecodeError" and offset:
                assert data[offset] >= 0x80, f"byte {offset} is {data[offset : offset + 1]!r}, not the bad byte"
        assert not list(artifact_files(store.root)), "a failed extract left files behind"
        return

    assert outcome.error is None, f"unexpected {type(outcome.error).__name__}: {outcome.error}"
    records = case["records"]
    assert sum(r.records for r in outcome.reports) == records
    assert outcome.valid + outcome.rejected == records
    assert outcome.valid == expect["valid"]
    assert outcome.reasons == expect["rejected"]
    assert any(not r.drift_passed for r in outcome.reports) == expect["drift_blocks"]
    assert all(r.passed for r in outcome.reports) == expect["passed"]
    assert outcome.drift_codes == set(case.get("drift", [])), [r.drift_diff for r in outcome.reports]

    # Every rejected record is in rejects.jsonl, once, with its reasons, raw text and locator.
    assert len(outcome.valid_lines) == outcome.valid
    assert len(outcome.rejects) == outcome.rejected
    by_row: Counter[str] = Counter()
    for row in outcome.rejects:
        by_row.update({p["reason"] for p in row["problems"]})
        check_reject_points_at_its_record(row, data, profile, path)
    assert dict(by_row) == expect["rejected"]
    if "reject_locators" in case:
        located = sorted(
            {where(r["locator"]["file"], r["locator"]["line"], r["locator"]["pointer"]) for r in outcome.rejects}
        )
        assert located == sorted(case["reject_locators"])
    messages = " | ".join(p["message"] for row in outcome.rejects for p in row["problems"])
    for needle in case.get("reject_message_contains", []):
        assert needle in messages, f"{needle!r} not in reject messages: {messages}"

    # Nothing valid is dropped: each source record's own id is in the valid output or in quarantine.
    kept = b"\n".join(outcome.valid_lines).decode("utf-8") + "\n".join(row["raw"] for row in outcome.rejects)
    if profile.format == "lido":  # one record per LIDO case; of several lidoRecIDs the first is the record's id
        assert records == 1
        ids = {lido_record_id(data).encode("utf-8")} - {b""}
    else:
        ids = {m.group(1) if m.groups() else m.group(0) for m in EVIDENCE[profile.name].finditer(data)}
    assert ids or outcome.valid == 0, f"no record ids found in {path.name}: is the evidence pattern stale?"
    lost = sorted(i.decode("utf-8") for i in ids if i.decode("utf-8").strip() not in kept)
    assert not lost, f"records neither valid nor quarantined: {lost}"
    for text in case.get("valid_contains", []):
        assert any(text in line.decode("utf-8") for line in outcome.valid_lines), f"{text!r} not in valid records"


# ---------------------------------------------------------------------------------------- through the CLI


def _expected_exit(case: dict[str, Any]) -> int:
    expect = case["expect"]
    if "error" in expect:
        return 2
    return 0 if expect["passed"] else 1


CLI_CASES = [
    "csv_control.csv",
    "csv_artists_bom_in_middle.csv",
    "csv_malformed_rights.csv",
    "csv_artists_utf8_declared_latin1.csv",
    "json_items_not_objects.json",
    "csv_unterminated_quote.csv",
    "json_html_error_page.json",
    "lido_xxe_file.xml",
    "csv_empty.csv",
]


def test_museum_sync_validate_exit_codes_and_one_line_errors(generated: Path) -> None:
    """A handful of cases through ``python -m museum_sync.cli validate``, as an operator runs it."""
    procs = {
        name: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "museum_sync.cli",
                "validate",
                str(case_path(BY_FILE[name], generated)),
                "--profile",
                profile_arg(BY_FILE[name]),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in CLI_CASES
    }
    for name, proc in procs.items():
        out_b, err_b = proc.communicate(timeout=120)
        out, err = out_b.decode("utf-8"), err_b.decode("utf-8")
        case = BY_FILE[name]
        assert proc.returncode == _expected_exit(case), f"{name}: exit {proc.returncode}\n{out}\n{err}"
        assert "Traceback" not in out + err
        assert not any(needle.decode() in out + err for needle in FORBIDDEN)
        if proc.returncode == 2:
            lines = err.splitlines()
            assert len(lines) == 1 and lines[0].startswith("museum-sync: error: "), err
            assert name in lines[0] and case["expect"]["error"] != "" and out == ""
            for needle in case["expect"]["message_contains"]:
                assert needle in lines[0]
        else:
            assert err == "", err
            summary = re.search(
                r"^(\d+) records, (\d+) valid, (\d+) rejected; problems found: \d+, rejected records by "
                r"reason: (\{.*\})$",
                out,
                re.MULTILINE,
            )
            assert summary, out
            assert int(summary[1]) == case["records"] and int(summary[2]) == case["expect"]["valid"]
            # each rejected record counted once (#14); by reason, the expected counts
            assert int(summary[1]) == int(summary[2]) + int(summary[3])
            assert ast.literal_eval(summary[4]) == case["expect"]["rejected"]


_DRIVER = """
import contextlib, io, json, sys
from museum_sync import cli
for name, path, profile in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(["validate", path, "--profile", profile])
    print(json.dumps({"name": name, "rc": rc, "out": out.getvalue(), "err": err.getvalue()}), flush=True)
"""


def test_whole_corpus_through_the_cli_in_one_process(generated: Path) -> None:
    """Every case through the CLI's ``validate`` in one process: none may crash it or print a traceback."""
    jobs = [(c["file"], str(case_path(c, generated)), profile_arg(c)) for c in CASES]
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, json.dumps(jobs)], cwd=REPO, capture_output=True, timeout=300, check=False
    )
    stderr = proc.stderr.decode("utf-8", errors="replace")
    assert proc.returncode == 0, f"the process died (exit {proc.returncode}):\n{stderr[-3000:]}"
    results = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]
    assert [r["name"] for r in results] == [c["file"] for c in CASES]
    for result in results:
        case = BY_FILE[result["name"]]
        text = result["out"] + result["err"]
        assert result["rc"] == _expected_exit(case), f"{result['name']}: exit {result['rc']}: {text}"
        assert "Traceback" not in text and not any(n.decode() in text for n in FORBIDDEN), text
        if result["rc"] == 2:
            assert len(result["err"].splitlines()) == 1, result["err"]
