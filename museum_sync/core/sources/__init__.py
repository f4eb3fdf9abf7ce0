"""Streaming readers for export files: CSV, JSON Lines, one-XML-record-per-line, and JSON documents.

Every reader streams: memory stays flat whatever the file size (one record plus I/O buffers), and every
record comes with a ``Locator`` whose ``offset`` is the exact byte offset of its first byte, so that a
chunk plan (``chunking.py``) can later read one range of records by seeking, with the same locators as a
full read.

Bad *records* never raise; they are yielded with special keys that validation turns into an
``unparseable_record`` rejection (the raw text travels with them, so quarantine loses nothing):

=================  =====================================================================================
``__unparseable__``  the record's text; the record could not be parsed at all. ``__error__`` says why.
                     Used for a JSON line that is not a JSON object, a CSV record the csv module rejects
                     (e.g. a bare CR in an unquoted field), and a record holding NUL bytes.
``__extra__``        (CSV) the values beyond the header's width, in order; the header's fields are kept.
``__missing__``      (CSV) the header names a short row has no value for; those keys are absent.
=================  =====================================================================================

NUL bytes: Python's csv module accepts them, but PostgreSQL text cannot store them, so a record holding one
is yielded as ``__unparseable__`` with the byte offset of each NUL in ``__error__``. In that text the NULs
appear as U+FFFD, so the quarantine row can be stored anywhere; the exact bytes stay in the immutable
snapshot at the locator's offset. JSON Lines records with a ``\\u0000`` escape get the same treatment.

Whole-file problems raise (``exceptions.py``), always naming file, line and byte offset:
``SourceNotFound``; ``EmptySource`` when a CSV has no header at all or a JSON document is empty;
``SourceDecodeError`` for bytes the declared encoding cannot decode (it points at the exact byte: decoding
is per line, so the error names the bad byte's line and offset and the record it belongs to);
``SourceFormatError`` for an unterminated quoted field (it would swallow the rest of the file), a record
larger than ``max_record_bytes``, duplicate CSV header names (a dict would silently drop a column) and
invalid JSON documents. A file with a header but no records is *not* an error for the iterators (a chunk
read is never empty anyway); ``ensure_not_empty`` and ``chunking.plan_chunks`` raise ``EmptySource`` for
it, because an empty nightly dump is almost always a broken export job.

Line numbers count ``\\n``-terminated lines (CRLF counts once); blank lines are skipped but counted.
Encodings must be ASCII-compatible (``utf-8``, ``utf-8-sig``, ``latin-1``, ``cp1252``...): the readers
split on the byte ``\\n`` before decoding. A UTF-8 BOM is stripped (``csv_header`` reports it); a BOM in
a file declared as another encoding raises ``SourceDecodeError`` rather than leaking ``ï»¿`` into the
first column's name.

One module per job; this package restates the readers' API (the helpers they share, and the
per-format ``*_boundaries`` behind ``record_boundaries``, stay inside the package):

- ``reading``: what every reader shares: the record markers, ``open_checked``, BOMs, encodings, errors.
- ``csv_files``: ``csv_header`` and ``iter_csv``.
- ``line_files``: one record per line: ``iter_jsonl`` and ``iter_xmllines``.
- ``snapshot_records``: a snapshot in any of its three formats: ``iter_records``, ``record_boundaries``.
- ``json_documents``: the items of an array inside a JSON document: ``iter_json_items``.
- ``json_folders``: one object per JSON document, a folder or ``.zip`` of them: ``iter_json_documents``.
- ``empty``: ``ensure_not_empty``.
"""

from __future__ import annotations

from museum_sync.core.sources.csv_files import csv_header, iter_csv
from museum_sync.core.sources.empty import ensure_not_empty
from museum_sync.core.sources.json_documents import iter_json_items
from museum_sync.core.sources.json_folders import iter_json_documents
from museum_sync.core.sources.line_files import iter_jsonl, iter_xmllines
from museum_sync.core.sources.reading import (
    ERROR,
    EXTRA,
    MAX_RECORD_BYTES,
    MISSING,
    UNPARSEABLE,
    RawRecord,
    open_checked,
)
from museum_sync.core.sources.snapshot_records import SnapshotFormat, iter_records, record_boundaries

__all__ = [
    "ERROR",
    "EXTRA",
    "MAX_RECORD_BYTES",
    "MISSING",
    "UNPARSEABLE",
    "RawRecord",
    "SnapshotFormat",
    "csv_header",
    "ensure_not_empty",
    "iter_csv",
    "iter_json_documents",
    "iter_json_items",
    "iter_jsonl",
    "iter_records",
    "iter_xmllines",
    "open_checked",
    "record_boundaries",
]
