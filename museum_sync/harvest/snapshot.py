"""Resumable harvest snapshots: append page by page, checkpoint atomically, publish once, immutable.

A harvest of thousands of pages must survive being killed (SIGKILL, OOM, a redeployed worker) without
fetching everything again and without ever exposing half a snapshot. So:

- Pages are appended to ``<state dir>/.partial-<source>-<harvest key>/snapshot.part`` (deleted record
  identifiers to ``deleted.part``). After each page the data is fsynced and ``checkpoint.json`` is
  replaced atomically (``atomic_writer``): it holds the cursor of the *next* page (URL, page number or
  OAI resumption token), the records and byte lengths so far and the request counters.
- On restart the partial is re-opened: both files are truncated to the checkpoint's byte lengths (a
  page written after the last checkpoint is dropped, and fetched again), and the harvest continues
  from the checkpoint's cursor. The running sha256 cannot be serialised, so publishing re-hashes the
  finished file (``chunking.plan_chunks`` hashes while it indexes; one pass).
- The harvest key is a hash of the harvest parameters (endpoint, format, set, from/until or since), so
  a different harvest never resumes someone else's partial. An ``flock`` on the partial folder makes a
  second concurrent harvest of the same key fail at once instead of interleaving pages.
- Publishing links the finished file into a staging folder and hands it to
  ``pipeline.snapshot.publish_snapshot``, exactly as a file export is published: the same layout and
  manifest keys, ``export_id = <source>-<UTC date>-<sha8>``, content addressed, so identical bytes reuse
  the existing export. The partial folder is never renamed into place; it is deleted once the export
  exists. ``pipeline.open_export`` reads the result unchanged.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

import httpx

from museum_sync.clients.artifacts import ArtifactStore, atomic_writer
from museum_sync.clients.http import REDACTED, HttpStats
from museum_sync.core import chunking
from museum_sync.core.exceptions import MuseumSyncError, ProfileError
from museum_sync.core.keys import export_id_for
from museum_sync.core.sources import SnapshotFormat
from museum_sync.pipeline.profiles import load_profile
from museum_sync.pipeline.snapshot import (
    ExportRef,
    HarvestInfo,
    Manifest,
    SnapshotKind,
    open_export,
    publish_snapshot,
    snapshot_file_name,
    staging_folder,
)
from museum_sync.redaction import redact

__all__ = [
    "CHECKPOINT_VERSION",
    "Checkpoint",
    "HarvestBusy",
    "HarvestError",
    "HarvestResult",
    "PartialHarvest",
    "harvest_key",
    "partial_dir",
    "prune_partials",
    "recorded_url",
]

CHECKPOINT_VERSION = 1
_FORMATS: tuple[SnapshotFormat, ...] = ("jsonl", "xmllines")  # what a harvest writes, one record a line


class HarvestError(MuseumSyncError):
    """A harvest cannot go on: the message names the source, the (redacted) URL and what went wrong."""


class HarvestBusy(HarvestError):
    """Another process is running the same harvest (its partial snapshot is locked)."""


def recorded_url(url: str) -> str:
    """``url`` as a harvest records it (checkpoint parameters, so the harvest key, and ``source_url``).

    Spelt as httpx sends it (host lower-cased, query re-encoded: ``,`` -> ``%2C``, space -> ``+``), then
    redacted with the HTTP client's placeholder. The spelling is data: another one would change harvest
    keys (a partial harvest would not resume) and the URLs manifests record.
    """
    try:
        parsed = httpx.URL(url)
        if parsed.query:
            parsed = parsed.copy_with(params=parsed.params)  # re-encoded as httpx encodes params
        url = str(parsed)
    except (httpx.InvalidURL, TypeError, ValueError):
        pass  # recorded as given, redacted: the request itself fails on it
    return redact(url, mask=REDACTED)


def harvest_key(params: Mapping[str, Any]) -> str:
    """A short stable hash of what is harvested: same parameters, same partial folder."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def partial_dir(state_dir: Path, source: str, key: str) -> Path:
    return Path(state_dir) / f".partial-{source}-{key}"


def prune_partials(state_dir: Path, source: str, max_age_s: float, *, keep: str | None = None) -> list[Path]:
    """Delete this source's abandoned partials (unlocked, untouched for ``max_age_s``); return what went.

    Every incremental window has its own harvest key, so a window killed and never retried would
    otherwise stay on disk forever. A partial another process holds is left alone.
    """
    removed: list[Path] = []
    base = Path(state_dir)
    if not base.is_dir():
        return removed
    for folder in sorted(base.glob(f".partial-{source}-*")):
        if keep is not None and folder.name == f".partial-{source}-{keep}":
            continue
        checkpoint = folder / "checkpoint.json"
        try:
            age = time.time() - (checkpoint if checkpoint.exists() else folder).stat().st_mtime
        except FileNotFoundError:
            continue
        if age <= max_age_s:
            continue
        try:
            with (folder / "lock").open("ab") as lock:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(folder, ignore_errors=True)
        except (BlockingIOError, FileNotFoundError):
            continue
        removed.append(folder)
    return removed


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Checkpoint:
    """What ``checkpoint.json`` holds: enough to truncate the files and fetch the next page."""

    protocol: str
    source: str
    key: str
    format: str
    params: dict[str, Any]
    cursor: dict[str, Any] | None = None  # None: the first page
    done: bool = False
    pages: int = 0
    records: int = 0
    bytes: int = 0
    deleted: int = 0
    deleted_bytes: int = 0
    skipped: int = 0  # records with neither metadata nor a deleted status
    requests: int = 0
    retries: int = 0
    restarts: int = 0  # list restarted from its first page (OAI badResumptionToken)
    resumes: int = 0  # times a killed harvest was picked up again
    started_at: str = field(default_factory=_now_iso)
    updated_at: str = field(default_factory=_now_iso)
    info: dict[str, Any] = field(default_factory=dict)  # protocol extras (responseDate, completeListSize...)
    version: int = CHECKPOINT_VERSION

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Checkpoint:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class HarvestResult:
    """What a harvest produced. ``export_id`` is ``None`` when nothing was harvested (empty or only deletions)."""

    export_id: str | None
    source: str
    protocol: str
    kind: SnapshotKind
    records: int
    deleted_ids: tuple[str, ...]
    pages: int
    requests: int
    retries: int
    bytes: int
    seconds: float  # this run only
    fetched_records: int  # records fetched by this run (less than ``records`` after a resume)
    resumed: bool
    reused: bool  # an export with the same bytes already existed and was returned
    snapshot_dir: Path | None
    next_from: str | None = None
    manifest: Manifest | None = None  # the published snapshot's (None: no export)

    @property
    def records_per_second(self) -> float:
        return self.fetched_records / self.seconds if self.seconds > 0 else 0.0

    def open_export(self, store: ArtifactStore) -> ExportRef:
        """The ``ExportRef`` of the published snapshot."""
        if self.export_id is None:
            raise HarvestError(f"{self.source}: the harvest produced no export (no records)")
        return open_export(store, self.export_id)


class PartialHarvest:
    """An unfinished harvest on disk. Use ``open`` (which locks it) and ``close``."""

    def __init__(self, folder: Path, checkpoint: Checkpoint, lock: IO[bytes]) -> None:
        self.folder = folder
        self.checkpoint = checkpoint
        self._lock = lock
        self._base_requests = checkpoint.requests
        self._base_retries = checkpoint.retries
        self.resumed = checkpoint.pages > 0 or checkpoint.done
        self.started = time.monotonic()
        self.start_records = checkpoint.records

    # -- paths -------------------------------------------------------------------------------------

    @property
    def data_path(self) -> Path:
        return self.folder / "snapshot.part"

    @property
    def deleted_path(self) -> Path:
        return self.folder / "deleted.part"

    @property
    def checkpoint_path(self) -> Path:
        return self.folder / "checkpoint.json"

    @property
    def page_path(self) -> Path:
        """Scratch file for the page being parsed (the XML readers take a path)."""
        return self.folder / "page.tmp"

    # -- lifecycle ---------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        state_dir: Path,
        *,
        source: str,
        key: str,
        protocol: str,
        fmt: str,
        params: Mapping[str, Any],
        max_age_s: float | None = None,
    ) -> PartialHarvest:
        """Lock and re-open the partial for this harvest key, or start a new one.

        A checkpoint of another version, other parameters, older than ``max_age_s`` (paging cursors
        expire) or whose files are shorter than it says (damaged) is discarded: the harvest starts over.
        """
        if fmt not in _FORMATS:
            raise ValueError(f"unknown snapshot format {fmt!r}")
        folder = partial_dir(state_dir, source, key)
        folder.mkdir(parents=True, exist_ok=True)
        lock = (folder / "lock").open("ab")
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise HarvestBusy(f"{source}: another harvest with key {key} is running ({folder} is locked)") from None
        fresh = Checkpoint(protocol=protocol, source=source, key=key, format=fmt, params=json.loads(json.dumps(params)))
        checkpoint = fresh
        path = folder / "checkpoint.json"
        if path.is_file():
            try:
                stored = Checkpoint.from_dict(json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, TypeError):
                stored = None
            if stored is not None and cls._usable(stored, fresh, folder, max_age_s):
                checkpoint = stored
                if stored.pages or stored.done:
                    checkpoint.resumes += 1
        self = cls(folder, checkpoint, lock)
        if checkpoint is fresh:
            self._truncate(0, 0)
        else:
            self._truncate(checkpoint.bytes, checkpoint.deleted_bytes)
        self._write_checkpoint()
        return self

    @classmethod
    def resume_or_start(
        cls,
        state_dir: Path,
        *,
        source: str,
        protocol: str,
        fmt: str,
        params: Mapping[str, Any],
        max_age_hours: float | None,
    ) -> PartialHarvest:
        """``open`` the partial of these parameters' harvest key, first pruning the source's abandoned ones."""
        key = harvest_key(params)
        max_age = max_age_hours * 3600 if max_age_hours else None
        if max_age is not None:
            prune_partials(state_dir, source, max_age, keep=key)
        return cls.open(state_dir, source=source, key=key, protocol=protocol, fmt=fmt, params=params, max_age_s=max_age)

    @staticmethod
    def _usable(stored: Checkpoint, fresh: Checkpoint, folder: Path, max_age_s: float | None) -> bool:
        if stored.version != CHECKPOINT_VERSION or stored.params != fresh.params or stored.format != fresh.format:
            return False
        if max_age_s is not None and not stored.done:
            try:
                age = (datetime.now(UTC) - datetime.fromisoformat(stored.updated_at)).total_seconds()
            except ValueError:
                return False
            if age > max_age_s:
                return False
        for name, length in (("snapshot.part", stored.bytes), ("deleted.part", stored.deleted_bytes)):
            file = folder / name
            if (file.stat().st_size if file.exists() else 0) < length:
                return False
        return True

    def _truncate(self, data_bytes: int, deleted_bytes: int) -> None:
        for file, length in ((self.data_path, data_bytes), (self.deleted_path, deleted_bytes)):
            with file.open("ab") as handle:
                handle.truncate(length)
                handle.flush()
                os.fsync(handle.fileno())

    def close(self) -> None:
        """Release the lock (the partial stays on disk for the next attempt)."""
        with contextlib.suppress(OSError):
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
        self._lock.close()

    def __enter__(self) -> PartialHarvest:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- progress ----------------------------------------------------------------------------------

    def _count(self, stats: HttpStats | None) -> None:
        if stats is not None:
            counts = stats.as_dict()
            self.checkpoint.requests = self._base_requests + counts["requests"]
            self.checkpoint.retries = self._base_retries + counts["retries"]

    def _write_checkpoint(self) -> None:
        self.checkpoint.updated_at = _now_iso()
        data = json.dumps(asdict(self.checkpoint), sort_keys=True, ensure_ascii=False, indent=1).encode("utf-8")
        with atomic_writer(self.checkpoint_path) as handle:
            handle.write(data + b"\n")

    def append_page(
        self,
        lines: Iterable[bytes],
        deleted: Iterable[str] = (),
        *,
        cursor: Mapping[str, Any] | None,
        done: bool,
        skipped: int = 0,
        stats: HttpStats | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        """Append one page's records (one line each) and deletions, then checkpoint the next cursor."""
        cp = self.checkpoint
        records = 0
        with self.data_path.open("r+b") as out:
            out.seek(cp.bytes)
            for line in lines:
                if b"\n" in line:
                    raise HarvestError(f"{cp.source}: a record line contains a newline (serialisation bug)")
                out.write(line)
                out.write(b"\n")
                records += 1
            out.truncate()
            out.flush()
            os.fsync(out.fileno())
            data_end = out.tell()
        removed = 0
        with self.deleted_path.open("r+b") as out:
            out.seek(cp.deleted_bytes)
            for identifier in deleted:
                out.write(" ".join(identifier.split()).encode("utf-8") + b"\n")
                removed += 1
            out.truncate()
            out.flush()
            os.fsync(out.fileno())
            deleted_end = out.tell()
        cp.bytes, cp.deleted_bytes = data_end, deleted_end
        cp.records += records
        cp.deleted += removed
        cp.skipped += skipped
        cp.pages += 1
        cp.cursor = dict(cursor) if cursor is not None else None
        cp.done = done
        if info:
            cp.info.update(info)
        self._count(stats)
        self._write_checkpoint()

    def note(self, *, stats: HttpStats | None = None, **info: Any) -> None:
        """Record protocol facts (and counters) in the checkpoint without a page."""
        self.checkpoint.info.update(info)
        self._count(stats)
        self._write_checkpoint()

    def restart(self, reason: str, *, stats: HttpStats | None = None) -> None:
        """Drop every page and start the list again from its first request (counters are kept)."""
        cp = self.checkpoint
        self._truncate(0, 0)
        cp.cursor, cp.done = None, False
        cp.pages = cp.records = cp.bytes = cp.deleted = cp.deleted_bytes = cp.skipped = 0
        cp.restarts += 1
        cp.info = {"last_restart_reason": reason}
        self.start_records = 0
        self._count(stats)
        self._write_checkpoint()

    def deleted_ids(self) -> list[str]:
        text = self.deleted_path.read_bytes()[: self.checkpoint.deleted_bytes].decode("utf-8")
        return [line for line in text.split("\n") if line]

    # -- publication -------------------------------------------------------------------------------

    def publish(
        self,
        store: ArtifactStore,
        *,
        kind: SnapshotKind,
        profile: str,
        chunk_size: int | None = None,
        harvest: Mapping[str, Any] | None = None,
        source_url: str | None = None,
        next_from: str | None = None,
        stats: HttpStats | None = None,
        now: datetime | None = None,
    ) -> HarvestResult:
        """Turn the finished partial into an immutable snapshot folder; remove the partial."""
        cp = self.checkpoint
        if not cp.done:
            raise HarvestError(f"{cp.source}: refusing to publish an unfinished harvest ({cp.pages} pages so far)")
        self._count(stats)
        deleted = self.deleted_ids()
        seconds = time.monotonic() - self.started
        fetched = cp.records - self.start_records
        base: dict[str, Any] = {
            "source": cp.source,
            "protocol": cp.protocol,
            "kind": kind,
            "records": cp.records,
            "deleted_ids": tuple(deleted),
            "pages": cp.pages,
            "requests": cp.requests,
            "retries": cp.retries,
            "bytes": cp.bytes,
            "seconds": seconds,
            "fetched_records": fetched,
            "resumed": self.resumed,
            "next_from": next_from,
        }
        if cp.records == 0:
            shutil.rmtree(self.folder, ignore_errors=True)
            return HarvestResult(export_id=None, reused=False, snapshot_dir=None, **base)
        try:
            loaded = load_profile(profile)
        except ProfileError:
            loaded = None
        fmt = cast(SnapshotFormat, cp.format)
        fetched_at = now or datetime.now(UTC)
        with staging_folder(store, cp.source, cp.key) as staging:
            target = staging / snapshot_file_name(fmt)
            try:
                os.link(self.data_path, target)  # same bytes, no copy; the partial stays intact until the end
            except OSError:
                shutil.copyfile(self.data_path, target)
            plan = chunking.plan_chunks(target, fmt, chunk_size or (loaded.chunk_size if loaded else 1000))
            manifest = Manifest(
                export_id=export_id_for(cp.source, plan.snapshot_sha256, fetched_at),
                source=cp.source,
                profile=loaded.name if loaded else profile,
                profile_origin=loaded.origin if loaded else None,
                format=fmt,
                sha256=plan.snapshot_sha256,
                bytes=plan.size,
                records=plan.total_records,
                chunk_size=plan.chunk_size,
                chunks=len(plan.chunks),
                lido_schema_version=loaded.lido_schema_version if loaded else None,
                fetched_at=fetched_at,
                kind=kind,
                source_url=source_url or None,
                harvest=HarvestInfo.model_validate(
                    {
                        "protocol": cp.protocol,
                        "key": cp.key,
                        **cp.params,
                        **(dict(harvest) if harvest else {}),
                        "pages": cp.pages,
                        "skipped_records": cp.skipped,
                        "restarts": cp.restarts,
                        "resumes": cp.resumes,
                        "started_at": cp.started_at,
                        "next_from": next_from,
                    }
                ),
                deleted_ids=tuple(deleted),
                requests=cp.requests,
                retries=cp.retries,
            )
            published = publish_snapshot(store, staging, manifest, plan)
        shutil.rmtree(self.folder, ignore_errors=True)
        export = published.export
        return HarvestResult(
            export_id=export.export_id,
            reused=published.reused,
            snapshot_dir=export.snapshot.parent,
            manifest=export.manifest,
            **base,
        )
