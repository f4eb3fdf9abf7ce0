"""One object per JSON document: a folder or a ``.zip`` of documents (or one file) as one export.

Museums dump their collection API this way (the Carnegie Museum of Art's ``cmoa/<uuid>.json``, the Art
Institute of Chicago's ``artworks/<id>.json``). Each document whose name matches the profile's
``documents`` glob is one record, in sorted name order, so the same folder always gives the same snapshot.
A document that is not a JSON object (broken JSON, an array, bytes that are not UTF-8) is yielded as an
``__unparseable__`` record with its text and the reason, so the rest of the export still loads and the bad
document is quarantined, not lost. A document larger than ``MAX_RECORD_BYTES`` raises: in a zip that is a
bomb, not a record.
"""

from __future__ import annotations

import codecs
import fnmatch
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

from museum_sync.core.exceptions import EmptySource, SourceFormatError
from museum_sync.core.locator import Locator
from museum_sync.core.sources.reading import (
    ERROR,
    MAX_RECORD_BYTES,
    UNPARSEABLE,
    RawRecord,
    check_exists,
    json_kind,
    nul_record,
)

__all__ = ["iter_json_documents"]


def iter_json_documents(path: Path, pattern: str = "*.json") -> Iterator[tuple[Locator, RawRecord]]:
    """Every JSON document of a folder, a ``.zip`` or a single file, as one record each.

    The locator's ``file`` is the document's name inside the folder or archive (line 1, pointer ``""``:
    the whole document is the record). Raises ``SourceNotFound`` for a missing path and ``EmptySource``
    when no document matches ``pattern``.
    """
    if not path.is_dir():
        check_exists(path)
    return _documents(path, pattern)


def _documents(path: Path, pattern: str) -> Iterator[tuple[Locator, RawRecord]]:
    count = 0
    for name, data in _members(path, pattern):
        count += 1
        yield Locator(name, 1, None, ""), _record(name, data)
    if count == 0:
        raise EmptySource(f"no JSON documents matching {pattern!r}", file=str(path))


def _members(path: Path, pattern: str) -> Iterator[tuple[str, bytes]]:
    if path.is_dir():
        for member in sorted(p for p in path.iterdir() if p.is_file() and fnmatch.fnmatchcase(p.name, pattern)):
            _check_size(member.name, member.stat().st_size, path)
            yield member.name, member.read_bytes()
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            infos = sorted(
                (
                    i
                    for i in archive.infolist()
                    if not i.is_dir() and fnmatch.fnmatchcase(Path(i.filename).name, pattern)
                ),
                key=lambda i: i.filename,
            )
            for info in infos:
                _check_size(info.filename, info.file_size, path)
                yield info.filename, archive.read(info)
    else:
        _check_size(path.name, path.stat().st_size, path)
        yield path.name, path.read_bytes()


def _name(info: zipfile.ZipInfo) -> str:
    return info.filename


def _check_size(name: str, size: int, container: Path) -> None:
    if size > MAX_RECORD_BYTES:
        raise SourceFormatError(
            f"document {name} is {size} bytes, more than one record may be ({MAX_RECORD_BYTES})", file=str(container)
        )


def _record(name: str, data: bytes) -> RawRecord:
    if data.startswith(codecs.BOM_UTF8):
        data = data[3:]
    if b"\0" in data:
        return nul_record(data, codec="utf-8", start=0, what=f"document {name}")
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        reason = f"{name}: bytes at offset {exc.start} are not UTF-8 ({exc.reason}); JSON must be UTF-8"
        return {UNPARSEABLE: data.decode("utf-8", errors="replace"), ERROR: reason}
    except json.JSONDecodeError as exc:
        reason = f"{name}: invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        return {UNPARSEABLE: data.decode("utf-8"), ERROR: reason}
    if not isinstance(value, dict):
        return {UNPARSEABLE: data.decode("utf-8"), ERROR: f"{name}: expected a JSON object, got {json_kind(value)}"}
    return value
