"""The snapshot layout, in one place: what an export looks like on shared storage and how it gets there.

Layout of one snapshot (immutable, content-addressed)::

    snapshots/<export_id>/snapshot.<csv|jsonl|xmll>   the export: CSV/JSONL byte for byte, JSON/XML one record a line
    snapshots/<export_id>/manifest.json               ``Manifest``: where it came from, sha256, records, chunks...
    snapshots/<export_id>/plan.json                   ``ChunkPlan``: the byte range of every chunk
    snapshots/<export_id>/<locator sidecar>           original locators of a rewritten export (core.source_locators)

``export_id = <source slug>-<first 7 hex of the sha256>-<UTC date>`` (``core.keys.export_id_for``). A file
export (``pipeline.extraction``) and a harvest (``harvest.snapshot``) both fill a ``staging_folder`` and hand
it to ``publish_snapshot``, which writes manifest and plan and renames the folder into place in one step:
a reader sees a whole snapshot or none, and the same bytes of the same source reuse the existing export.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_serializer

from museum_sync.clients.artifacts import ArtifactStore, atomic_writer
from museum_sync.core.chunking import ChunkPlan
from museum_sync.core.exceptions import ChunkPlanError
from museum_sync.core.keys import InvalidKey, check_export_id, is_snapshot_of, partition_key, slug
from museum_sync.core.profiles import Profile
from museum_sync.core.source_locators import SourceLocators
from museum_sync.core.sources import SnapshotFormat
from museum_sync.pipeline.profiles import load_profile

__all__ = [
    "MANIFEST",
    "PLAN",
    "ExportRef",
    "HarvestInfo",
    "LocatorSidecar",
    "Manifest",
    "Published",
    "SnapshotKind",
    "copied_file_name",
    "find_existing",
    "is_copied_verbatim",
    "open_export",
    "publish_snapshot",
    "resolve_profile",
    "snapshot_file_name",
    "snapshot_format_for",
    "source_locators",
    "staging_folder",
]

MANIFEST = "manifest.json"
PLAN = "plan.json"

SnapshotKind = Literal["full", "incremental"]

# Profile format -> snapshot format: CSV and JSONL are copied byte for byte (their own locators hold); a JSON
# document and XML are rewritten one record per line, with their original locators in the sidecar.
_SNAPSHOT_FORMAT: Mapping[str, SnapshotFormat] = {
    "csv": "csv",
    "jsonl": "jsonl",
    "json": "jsonl",
    "lido": "xmllines",
    "oai_dc": "xmllines",
}
_COPIED_VERBATIM = ("csv", "jsonl")
_SUFFIX: Mapping[SnapshotFormat, str] = {"csv": "csv", "jsonl": "jsonl", "xmllines": "xmll"}


def snapshot_format_for(profile_format: str) -> SnapshotFormat:
    """The snapshot format a profile's export is stored in."""
    return _SNAPSHOT_FORMAT[profile_format]


def is_copied_verbatim(profile_format: str) -> bool:
    """Whether the snapshot has the museum file's own bytes (same lines, same offsets)."""
    return profile_format in _COPIED_VERBATIM


def snapshot_file_name(fmt: SnapshotFormat) -> str:
    """``snapshot.csv``, ``snapshot.jsonl`` or ``snapshot.xmll``."""
    return f"snapshot.{_SUFFIX[fmt]}"


# -- manifest.json ----------------------------------------------------------------------------------------


class LocatorSidecar(BaseModel):
    """The locator sidecar of a rewritten export: the museum's file name and how many records it locates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    records: int


class HarvestInfo(BaseModel):
    """How a harvested snapshot was fetched. The protocol's own parameters and facts sit beside these keys
    (OAI ``from``/``until``/``set``/``granularity``..., API ``url``/``params``/``since``...): ``details``."""

    model_config = ConfigDict(frozen=True, extra="allow")

    protocol: str
    key: str  # harvest key: which partial the harvest was resumable from
    pages: int
    skipped_records: int
    restarts: int
    resumes: int
    started_at: str
    next_from: str | None  # where the next incremental harvest starts (the repository's clock)

    @property
    def details(self) -> Mapping[str, Any]:
        return MappingProxyType(dict(self.model_extra or {}))


class Manifest(BaseModel):
    """``manifest.json``: what a snapshot is. Reads every manifest written so far; writes the same keys.

    Keys with a default of ``None`` are absent from a manifest that has no value for them (file exports have
    no ``harvest``; harvests no ``source_path``; snapshots older than a key lack it), and stay absent when
    written back. ``lido_schema_version`` is always written, ``null`` included.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    export_id: str
    source: str  # the source slug the export id starts with
    profile: str
    format: SnapshotFormat
    sha256: str
    bytes: int
    records: int
    chunk_size: int
    chunks: int
    lido_schema_version: str | None
    fetched_at: datetime
    kind: SnapshotKind = "full"
    profile_origin: str | None = None  # the profile file it was extracted with (validation reloads it)
    # file exports
    source_path: str | None = None
    copied_verbatim: bool | None = None  # the snapshot has the museum file's own lines and offsets
    source_locators: LocatorSidecar | None = None
    # harvests
    source_url: str | None = None
    harvest: HarvestInfo | None = None
    deleted_ids: tuple[str, ...] | None = None  # records the source deleted (published for incremental kinds)
    requests: int | None = None
    retries: int | None = None

    @field_serializer("fetched_at")
    def _fetched_at_iso(self, value: datetime) -> str:
        return value.isoformat()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        return cls.model_validate(dict(data))

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        return cls.model_validate_json(text)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``manifest.json`` (what the catalogue stores with the export, too)."""
        data = self.model_dump(mode="json")
        fields = type(self).model_fields
        return {key: value for key, value in data.items() if value is not None or fields[key].is_required()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, indent=1) + "\n"


# -- reading a snapshot -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportRef:
    """A reference to an immutable snapshot: what broker messages and run config carry (by its id)."""

    export_id: str
    snapshot: Path
    plan: ChunkPlan
    manifest: Manifest

    @property
    def profile(self) -> str:
        return self.manifest.profile

    @property
    def snapshot_format(self) -> SnapshotFormat:
        return self.manifest.format

    @property
    def partition_keys(self) -> list[str]:
        return [partition_key(self.export_id, span.index) for span in self.plan.chunks]

    def partition_key(self, index: int) -> str:
        return partition_key(self.export_id, index)


def open_export(store: ArtifactStore, export_id: str) -> ExportRef:
    """Re-open a snapshot by id (what every chunk step does first); ``InvalidKey`` for anything but an export id,
    before any file is read."""
    folder = store.snapshot_dir(check_export_id(export_id))
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ChunkPlanError(f"no snapshot for export {export_id} under {folder}")
    try:
        manifest = Manifest.from_json(manifest_path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise ChunkPlanError(f"{manifest_path}: not a snapshot manifest: {exc}") from exc
    plan = ChunkPlan.from_json((folder / PLAN).read_text(encoding="utf-8"))
    return ExportRef(
        export_id=export_id, snapshot=folder / snapshot_file_name(manifest.format), plan=plan, manifest=manifest
    )


def source_locators(export: ExportRef) -> SourceLocators | None:
    """Where the records of a rewritten export were in the museum's file (``None``: use the snapshot's own).

    ``None`` for CSV/JSONL copies (their snapshot locators are the file's), harvests, and snapshots
    extracted before the sidecar existed.
    """
    meta = export.manifest.source_locators
    if meta is None:
        return None
    return SourceLocators(export.snapshot.parent, meta.file, meta.records)


def copied_file_name(export: ExportRef) -> str | None:
    """The museum's file name for a CSV/JSONL export copied byte for byte (same lines, same offsets).

    A steward looks for ``artwork_data.csv:1234``, not the snapshot's internal name. None for harvests
    (no file), rewritten formats (``source_locators`` names theirs) and snapshots older than the flag.
    """
    path = export.manifest.source_path
    if not path or not export.manifest.copied_verbatim:
        return None
    return Path(path).name


def resolve_profile(export: ExportRef) -> Profile:
    """The profile the snapshot was made with: its file when it still exists, else the profile by name."""
    origin = export.manifest.profile_origin
    if origin and Path(origin).is_file():
        return load_profile(Path(origin))
    return load_profile(export.profile)


# -- publishing a snapshot ----------------------------------------------------------------------------------


_TAG = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


@contextlib.contextmanager
def staging_folder(store: ArtifactStore, source: str, tag: str) -> Iterator[Path]:
    """A fresh ``.incoming-<source>-<tag>`` folder beside the snapshots; removed afterwards, published or not.

    ``source`` must be a slug (``core.keys.slug``) and ``tag`` letters, digits, ``-`` and ``_``: the folder is
    removed recursively, so its name must never climb out of ``snapshots/``."""
    if source != slug(source) or not _TAG.fullmatch(tag):
        raise InvalidKey(
            f"not a staging folder name: source {source!r}, tag {tag!r} (expected a slug and [A-Za-z0-9_-])"
        )
    staging = store.root / "snapshots" / f".incoming-{source}-{tag}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def find_existing(store: ArtifactStore, source: str, sha256: str) -> ExportRef | None:
    """An export of the same source with the same bytes (any day): re-snapshotting it is a no-op."""
    base = store.root / "snapshots"
    if not base.is_dir():
        return None
    for candidate in sorted(base.glob(f"{slug(source)}-*")):
        if is_snapshot_of(candidate.name, source, sha256) and (candidate / MANIFEST).is_file():
            return open_export(store, candidate.name)
    return None


@dataclass(frozen=True)
class Published:
    """The snapshot ``publish_snapshot`` made, or the one with the same bytes it found (``reused``)."""

    export: ExportRef
    reused: bool


def publish_snapshot(store: ArtifactStore, staging: Path, manifest: Manifest, plan: ChunkPlan) -> Published:
    """Make a staged snapshot folder (snapshot file and any sidecar already in it) a published snapshot.

    Writes ``manifest.json`` and ``plan.json`` into it, then renames it to ``snapshots/<export_id>/``. An
    export of the same source with the same bytes is reused as it is; when a concurrent extract or harvest
    of the same bytes renamed its folder first, it won the race and its snapshot is returned.
    """
    existing = find_existing(store, manifest.source, manifest.sha256)
    if existing is not None:
        return Published(existing, reused=True)
    with atomic_writer(staging / MANIFEST) as handle:
        handle.write(manifest.to_json().encode("utf-8"))
    with atomic_writer(staging / PLAN) as handle:
        handle.write(plan.to_json().encode("utf-8"))
    final = store.snapshot_dir(manifest.export_id)
    if not final.exists():
        try:
            staging.rename(final)
            return Published(open_export(store, manifest.export_id), reused=False)
        except OSError:
            if not (final / MANIFEST).is_file():
                raise
    return Published(open_export(store, manifest.export_id), reused=True)  # a concurrent publisher won the race
