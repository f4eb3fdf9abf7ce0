"""A museum's export file -> an immutable snapshot and its chunk plan (the first stage of a sync).

CSV and JSONL are copied byte for byte; a JSON document or a LIDO/XML file is rewritten one record per line,
its original locators kept in a sidecar in the same pass. Memory stays flat at any export size. Same bytes,
same export id, same plan: a rerun is a no-op.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from museum_sync.clients.artifacts import ArtifactStore, atomic_writer
from museum_sync.core import chunking, sources
from museum_sync.core.exceptions import EmptySource, SourceError, SourceNotFound
from museum_sync.core.keys import export_id_for, slug
from museum_sync.core.locator import Locator
from museum_sync.core.profiles import Profile
from museum_sync.core.source_locators import ENTRIES, INDEX, LocatorWriter, SourceLocators
from museum_sync.pipeline.snapshot import (
    ExportRef,
    LocatorSidecar,
    Manifest,
    find_existing,
    is_copied_verbatim,
    publish_snapshot,
    snapshot_file_name,
    snapshot_format_for,
    staging_folder,
)

__all__ = ["extract"]


def extract(
    source_path: Path,
    profile: Profile,
    store: ArtifactStore,
    *,
    source: str | None = None,
    chunk_size: int | None = None,
    now: datetime | None = None,
) -> ExportRef:
    """Snapshot an export and plan its chunks. Same bytes, same export id, same plan: a rerun is a no-op."""
    source_path = Path(source_path)
    documents = profile.format == "json" and profile.item_path == ""  # one record per JSON document
    if not (source_path.is_file() or (documents and source_path.is_dir())):
        raise SourceNotFound("export file not found", file=str(source_path))
    if source_path.is_file() and source_path.stat().st_size == 0:
        raise EmptySource("export file is empty (0 bytes)", file=str(source_path))
    source = slug(source or profile.name)
    fmt = snapshot_format_for(profile.format)
    fetched_at = now or datetime.now(UTC)
    with staging_folder(store, source, datetime.now(UTC).strftime("%H%M%S%f")) as staging:
        snapshot = staging / snapshot_file_name(fmt)
        sha256, size, records_located = _write_snapshot(source_path, profile, snapshot)
        located = None if records_located is None else SourceLocators(staging, source_path.name, records_located)
        existing = find_existing(store, source, sha256)
        if existing is not None:
            return existing
        try:
            plan = chunking.plan_chunks(
                snapshot, fmt, chunk_size or profile.chunk_size, encoding=profile.encoding, delimiter=profile.delimiter
            )
        except SourceError as exc:
            raise _source_error(exc, source_path, located) from exc
        if plan.total_records == 0:
            raise EmptySource("export has no records", file=str(source_path))
        manifest = Manifest(
            export_id=export_id_for(source, sha256, fetched_at),
            source=source,
            source_path=str(source_path.resolve()),
            profile=profile.name,
            profile_origin=profile.origin,
            format=fmt,
            sha256=sha256,
            bytes=size,
            records=plan.total_records,
            chunk_size=plan.chunk_size,
            chunks=len(plan.chunks),
            lido_schema_version=profile.lido_schema_version,
            fetched_at=fetched_at,
            kind="full",
            copied_verbatim=is_copied_verbatim(profile.format),
            source_locators=None if located is None else LocatorSidecar(file=located.file, records=located.records),
        )
        return publish_snapshot(store, staging, manifest, plan).export


class _HashedOut:
    """The snapshot being written: hashes and counts every byte on its way to the file."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.size += len(data)
        self.out.write(data)


def _write_snapshot(source_path: Path, profile: Profile, target: Path) -> tuple[str, int, int | None]:
    """Stream the source into the snapshot file; returns (sha256, bytes, records located). Memory stays flat.

    A rewritten export (JSON document, XML) gets its original locators in a sidecar beside the snapshot,
    in the same pass; a byte-for-byte copy needs none (records located: ``None``).
    """
    with atomic_writer(target) as handle:
        out = _HashedOut(handle)
        if is_copied_verbatim(profile.format):
            with source_path.open("rb") as src:
                for block in iter(lambda: src.read(1 << 20), b""):
                    out.write(block)
            located = None
        else:
            located = _write_rewritten(source_path, profile, out, target.parent)
    return out.digest.hexdigest(), out.size, located


def _write_rewritten(source_path: Path, profile: Profile, out: _HashedOut, folder: Path) -> int:
    """One record per snapshot line, its original locator as the same entry of the sidecar."""
    with atomic_writer(folder / ENTRIES) as entries, atomic_writer(folder / INDEX) as index:
        writer = LocatorWriter(entries, index)
        for locator, line in _record_lines(source_path, profile):
            writer.add(locator)
            out.write(line + b"\n")
    return writer.records


def _record_lines(source_path: Path, profile: Profile) -> Iterator[tuple[Locator, bytes]]:
    if profile.format == "json":
        assert profile.item_path is not None
        items = (
            sources.iter_json_documents(source_path, profile.documents)
            if profile.item_path == ""
            else sources.iter_json_items(source_path, profile.item_path)
        )
        for locator, item in items:
            line = json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            yield locator, line
    else:
        from museum_sync.core import lido

        expect = "oai_dc" if profile.format == "oai_dc" else "lido"
        yield from lido.iter_lido_elements(source_path, expect=expect)


def _source_error(exc: SourceError, source_path: Path, located: SourceLocators | None) -> SourceError:
    """A planning error, named in the operator's file rather than in the snapshot being built.

    A byte-for-byte copy keeps line and offset; a rewritten export names the record's original locator.
    """
    if located is None:
        return exc.at(str(source_path))
    if exc.line is None or not 1 <= exc.line <= located.records:
        return type(exc)(exc.reason, file=str(source_path))
    original = located.at(exc.line - 1)  # snapshot line n holds record n - 1
    return type(exc)(f"{exc.reason} (record {original.pointer})", file=str(source_path), line=original.line or None)
