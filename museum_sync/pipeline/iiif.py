"""Check one chunk's IIIF manifests and apply its source's policy, free of Dagster.

Runs on the ``iiif`` queue *after* the chunk is loaded (the bulk job maps it over the loaded chunks; the
steward asset ``iiif_chunk`` follows ``validated_chunk``), never before: ingestion does not wait for it,
and it edits rows that already exist. So a record is published at once, with its link; when its manifest
turns out broken, the link is dropped (``warn``) or the record withheld (``block``) in the staging table
the public view reads and in the search index, seconds to minutes later. The window is the price of
ingestion never waiting on remote servers; a re-sync knows the verdict from the cache at once.

Per manifest URL (records sharing one are fetched once): the cache row (``clients.catalog.iiif_cache``)
gives the validators for a conditional request; ``304`` or a body whose sha256 equals the cached one
reuses the cached verdict (nothing validated again); otherwise ``core.iiif`` validates it.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.clients.catalog import Catalog
from museum_sync.clients.catalog.iiif_cache import CachedManifest, ManifestOutcome, RecordOutcome
from museum_sync.clients.iiif import FetchResult, IiifFetcher
from museum_sync.core.iiif import ERROR, Finding, parse_and_validate
from museum_sync.core.keys import partition_key
from museum_sync.core.models import MuseumRecord
from museum_sync.pipeline.snapshot import open_export, resolve_profile
from museum_sync.pipeline.validation import iter_valid_records

if TYPE_CHECKING:  # the client imports elasticsearch; the search package loads it on first use
    from museum_sync.clients.search import SearchClient

__all__ = ["IiifChunkResult", "check_chunk_manifests", "chunk_has_manifests", "verdict_for"]

Policy = Literal["warn", "block", "off"]
_MANIFEST_MARK = b'"iiif_manifest":"'
_SAMPLE_ROWS = 20


@dataclass
class IiifChunkResult:
    """What one chunk's IIIF step did (the asset's metadata, the check's, the benchmarks')."""

    partition_key: str
    policy: str
    records: int = 0  # records of the chunk with a manifest link
    manifests: int = 0  # distinct URLs
    requests_conditional: int = 0
    not_modified: int = 0
    unchanged: int = 0  # 200 with the cached content hash: not validated again
    validated: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # per distinct URL: valid / broken / unavailable
    links_dropped: int = 0
    withheld: int = 0
    findings_by_rule: dict[str, int] = field(default_factory=dict)
    sample: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    skipped: str = ""

    @property
    def broken(self) -> int:
        return self.outcomes.get("broken", 0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def chunk_has_manifests(store: ArtifactStore, export_id: str, index: int) -> bool:
    """Whether any validated record of the chunk has a manifest link (a byte scan, no parsing)."""
    path = store.chunk_dir(export_id, index) / "valid.jsonl"
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        return any(_MANIFEST_MARK in line for line in handle)


def _finding(rule: str, message: str) -> list[dict[str, str]]:
    return [Finding("", rule, ERROR, message).as_dict()]


def verdict_for(result: FetchResult, cached: CachedManifest | None) -> tuple[CachedManifest, bool]:
    """The cache row after this fetch, and whether the body was validated now (False: verdict reused)."""
    etag, modified, status = result.etag, result.last_modified, result.status
    if result.outcome == "not_modified" and cached is not None:
        updated = replace(cached, etag=etag or cached.etag, last_modified=modified or cached.last_modified)
        return replace(updated, status=status, error=None), False
    if result.outcome == "fetched" and result.content is not None:
        digest = hashlib.sha256(result.content).hexdigest()
        if cached is not None and cached.content_hash == digest and cached.outcome != "unavailable":
            return replace(cached, etag=etag, last_modified=modified, status=status, error=None), False
        report = parse_and_validate(result.content)
        outcome: ManifestOutcome = "broken" if report.broken else "valid"
        verdict = CachedManifest(result.url, outcome, etag, modified, status, digest, report.version, report.as_list())
        return replace(verdict, validated_at=datetime.now(UTC)), True
    if result.outcome in ("http_error", "refused", "too_large", "not_modified"):
        rule = {"refused": "address_refused", "too_large": "too_large"}.get(result.outcome, "http_status")
        message = result.error or f"HTTP {status}"
        return CachedManifest(result.url, "broken", etag, modified, status, findings=_finding(rule, message)), False
    # unavailable: what we knew before stands (a timeout says nothing about the manifest)
    if cached is not None:
        return replace(cached, error=result.error), False
    return CachedManifest(result.url, "unavailable", error=result.error), False


def _sample_rows(by_url: dict[str, list[str]], verdicts: dict[str, CachedManifest]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for url, record_ids in by_url.items():
        verdict = verdicts[url]
        for finding in verdict.findings[:3]:
            rows.append({"record_id": record_ids[0], "url": url, "outcome": verdict.outcome, **finding})
            if len(rows) >= _SAMPLE_ROWS:
                return rows
    return rows


def check_chunk_manifests(
    catalog: Catalog,
    store: ArtifactStore,
    export_id: str,
    index: int,
    fetcher: IiifFetcher,
    *,
    search: SearchClient | None = None,
    policy: Policy | None = None,
) -> IiifChunkResult:
    """Fetch, validate (or reuse the cached verdict) and apply the policy to one loaded chunk. Idempotent."""
    started = time.monotonic()
    key = partition_key(export_id, index)
    export = open_export(store, export_id)
    policy = policy or resolve_profile(export).policy.iiif
    result = IiifChunkResult(key, policy)
    if policy == "off" or not fetcher.settings.enabled:
        result.skipped = "policy off" if policy == "off" else "disabled (MUSEUM_SYNC_IIIF_ENABLED=false)"
        return result
    records: dict[str, MuseumRecord] = {}
    by_url: dict[str, list[str]] = {}
    for record in iter_valid_records(store, export_id, index):
        if record.iiif_manifest:
            records[record.record_id] = record
            by_url.setdefault(str(record.iiif_manifest), []).append(record.record_id)
    result.records, result.manifests = len(records), len(by_url)
    cached = catalog.iiif_cached(list(by_url))
    fetched = fetcher.fetch_many(by_url, cached)
    verdicts: dict[str, CachedManifest] = {}
    for url, fetch in fetched.items():
        verdict, validated = verdict_for(fetch, cached.get(url))
        verdicts[url] = verdict
        result.validated += validated
        result.requests_conditional += fetch.conditional
        result.not_modified += fetch.outcome == "not_modified"
        result.unchanged += fetch.outcome == "fetched" and not validated
    catalog.iiif_store(verdicts.values())
    action = {"warn": "link_dropped", "block": "withheld"}[policy]
    outcomes = [
        RecordOutcome(rid, url, verdicts[url].outcome, action if verdicts[url].outcome == "broken" else "kept")  # type: ignore[arg-type]
        for url, ids in by_url.items()
        for rid in ids
    ]
    changed = catalog.iiif_apply(export_id, key, outcomes)
    result.links_dropped, result.withheld = changed["link_dropped"], changed["withheld"]
    if search is not None and search.index_exists(export_id):
        _update_search(search, export_id, records, outcomes)
    result.outcomes = dict(Counter(v.outcome for v in verdicts.values()))
    result.findings_by_rule = dict(Counter(f["rule"] for v in verdicts.values() for f in v.findings))
    result.sample = _sample_rows(by_url, verdicts)
    result.seconds = round(time.monotonic() - started, 3)
    store.write_json(store.chunk_dir(export_id, index) / "iiif.json", result.to_dict())
    return result


def _update_search(
    search: SearchClient, export_id: str, records: dict[str, MuseumRecord], outcomes: list[RecordOutcome]
) -> None:
    """The same edit in the export's search index: re-index without the link, or delete the document."""
    dropped = [
        records[o.record_id].model_copy(update={"iiif_manifest": None}) for o in outcomes if o.action == "link_dropped"
    ]
    if dropped:
        search.index_records(export_id, dropped)
    withheld = [o.record_id for o in outcomes if o.action == "withheld"]
    if withheld:
        search.delete_documents(export_id, withheld)
