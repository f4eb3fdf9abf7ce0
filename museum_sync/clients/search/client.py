"""Elasticsearch: one versioned index per export, made public by moving one alias.

Each export is indexed into its own index ``<prefix><export id>`` (created with an explicit, strict
mapping; replicas 0 and refresh off while it loads), and readers only ever query the alias
(``museum-objects``). Publication moves the alias from the old index to the new one in a single
``_aliases`` call, which Elasticsearch applies atomically: a search sees the old export or the new one,
never both. Old indices stay for rollback until ``delete_old`` removes them.

Loading is idempotent: the document id is the record id, so indexing a chunk again (a redelivered task)
overwrites the same documents. Every per-document failure comes back in ``IndexResult.errors`` (the
caller quarantines it as ``index_rejected``); nothing is swallowed. Transient failures are retried at
two levels: the transport retries a whole request on 429/502/503/504, timeouts and dropped connections
(with jittered exponential backoff), and ``streaming_bulk`` re-sends the documents of a chunk that
Elasticsearch rejected with 429 (exponential backoff).

The alias and index prefix default to the settings' (``MUSEUM_SYNC_ES_ALIAS``/``_INDEX_PREFIX``).
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError, helpers

from museum_sync.clients.search.documents import MAPPING, MAPPING_VERSION, to_document
from museum_sync.clients.search.errors import AliasConflict, SearchError, SearchUnavailable
from museum_sync.clients.search.results import IndexFailure, IndexInfo, IndexResult
from museum_sync.core.models import MuseumRecord
from museum_sync.redaction import redact
from museum_sync.settings import SearchSettings, get_settings

__all__ = ["ALIAS", "INDEX_PREFIX", "SearchClient"]

# The settings own the defaults; a client built in code (tests, benchmarks) starts from the same ones.
ALIAS: str = SearchSettings.model_fields["alias"].default
INDEX_PREFIX: str = SearchSettings.model_fields["index_prefix"].default
MAX_INDEX_NAME = 255  # bytes
RETRY_ON_STATUS = (429, 502, 503, 504)


def _error_type(exc: ApiError) -> str | None:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        kind = body["error"].get("type")
        return str(kind) if kind is not None else None
    return None


def _reason(error: Any) -> str:
    """``type: reason`` of a bulk item error (an object from Elasticsearch, a string from the helper)."""
    if isinstance(error, dict):
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}".strip()
        cause = error.get("caused_by")
        if isinstance(cause, dict):
            text += f" (caused by {cause.get('type')}: {cause.get('reason')})"
        return text
    return str(error)


_NAME_SAFE = re.compile(r"[^a-z0-9._-]+")


class SearchClient:
    """The search side of the catalogue, on the official client. Thread-safe; holds no state but settings.

    ``replicas``: replicas an index gets once loaded (0 while loading). ``bulk_*``: the ``streaming_bulk``
    chunking and its per-document 429 retries; ``max_retries``/``retry_backoff_*``: the transport's
    whole-request retries (429/502/503/504, timeouts, dropped connections).
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str | tuple[str, str] | None = None,
        basic_auth: tuple[str, str] | None = None,
        alias: str = ALIAS,
        index_prefix: str = INDEX_PREFIX,
        replicas: int = 1,
        shards: int = 1,
        request_timeout: float = 60.0,
        max_retries: int = 3,
        retry_backoff_base: float = 0.5,
        retry_backoff_cap: float = 8.0,
        bulk_chunk_size: int = 500,
        bulk_max_bytes: int = 5 * 1024 * 1024,
        bulk_max_retries: int = 5,
        bulk_initial_backoff: float = 1.0,
        bulk_max_backoff: float = 30.0,
        ca_certs: str | None = None,
    ) -> None:
        if not alias or alias != alias.lower() or _NAME_SAFE.search(alias):
            raise ValueError(f"alias must be lower-case [a-z0-9._-]: {alias!r}")
        if not index_prefix or index_prefix != index_prefix.lower() or _NAME_SAFE.search(index_prefix):
            raise ValueError(f"index_prefix must be lower-case [a-z0-9._-]: {index_prefix!r}")
        if index_prefix.startswith(("-", "_", "+", ".")) or alias.startswith(("-", "_", "+")):
            raise ValueError("index names and aliases must not start with '-', '_', '+' or '.'")
        if alias.startswith(index_prefix):
            raise ValueError(f"alias {alias!r} must not start with the index prefix {index_prefix!r}")
        self.url = url
        self.alias = alias
        self.index_prefix = index_prefix
        self.replicas = replicas
        self.shards = shards
        self.bulk_chunk_size = bulk_chunk_size
        self.bulk_max_bytes = bulk_max_bytes
        self.bulk_max_retries = bulk_max_retries
        self.bulk_initial_backoff = bulk_initial_backoff
        self.bulk_max_backoff = bulk_max_backoff
        options: dict[str, Any] = {}
        if ca_certs:
            options["ca_certs"] = ca_certs
        self.es = Elasticsearch(
            url,
            api_key=api_key,
            basic_auth=basic_auth,
            request_timeout=request_timeout,
            max_retries=max_retries,
            retry_on_status=RETRY_ON_STATUS,
            retry_on_timeout=True,
            retry_backoff_base=retry_backoff_base,
            retry_backoff_cap=retry_backoff_cap,
            **options,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> SearchClient | None:
        """From the ``search`` settings (``MUSEUM_SYNC_ES_*``); None when no URL is set (PostgreSQL-only mode).

        Credentials: an encoded API key or user + password (``SearchSettings.credentials``); alias, index
        prefix, CA bundle and replicas of a loaded index (0 on a single-node cluster keeps it green) when
        set. ``options`` override (tests give a cluster-unique alias and prefix).
        """
        s = get_settings(environ).search
        if s.url is None:
            return None
        api_key, basic_auth = s.credentials()
        options.setdefault("alias", s.alias)
        options.setdefault("index_prefix", s.index_prefix)
        if s.ca_certs is not None:
            options.setdefault("ca_certs", s.ca_certs)
        if s.replicas is not None:
            options.setdefault("replicas", s.replicas)
        return cls(s.url, api_key=api_key, basic_auth=basic_auth, **options)

    def __repr__(self) -> str:
        return f"SearchClient({redact(self.url)!r}, alias={self.alias!r}, index_prefix={self.index_prefix!r})"

    def close(self) -> None:
        self.es.close()

    def __enter__(self) -> SearchClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------------------

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """ApiError -> SearchError naming ``what``, status and reason; transport errors -> SearchUnavailable."""
        try:
            yield
        except ApiError as exc:
            raise SearchError(
                f"{what}: {self._describe(exc)}", status=exc.status_code, error_type=_error_type(exc)
            ) from exc
        except TransportError as exc:
            raise SearchUnavailable(f"{what}: Elasticsearch at {redact(self.url)} unreachable: {exc}") from exc

    @staticmethod
    def _describe(exc: ApiError) -> str:
        body = exc.body
        text = f"HTTP {exc.status_code}"
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            text += f" {_reason(body['error'])}"
        elif isinstance(body, dict) and "error" in body:
            text += f" {body['error']}"
        else:
            text += f" {exc.message}"
        if _error_type(exc) == "media_type_header_exception":
            from importlib.metadata import version

            text += (
                f" (this is elasticsearch-py {version('elasticsearch')}, which speaks the REST API of its own major"
                " version: use a client whose major version matches the cluster's)"
            )
        return text

    def index_name(self, export_id: str) -> str:
        """``<prefix><export id>`` when the id is already a safe lower-case name, else its slug + ``-<sha8>``."""
        if not export_id:
            raise ValueError("export_id must not be empty")
        slug = _NAME_SAFE.sub("-", export_id.lower())
        name = self.index_prefix + slug
        if slug == export_id and len(name.encode()) <= MAX_INDEX_NAME:
            return name
        sha8 = hashlib.sha256(export_id.encode("utf-8")).hexdigest()[:8]
        room = MAX_INDEX_NAME - len(self.index_prefix.encode()) - len(sha8) - 1
        return f"{self.index_prefix}{slug[:room]}-{sha8}"

    def mapping(self, export_id: str) -> dict[str, Any]:
        mapping = copy.deepcopy(MAPPING)
        mapping["_meta"] = {"export_id": export_id, "mapping_version": MAPPING_VERSION, "created_by": "museum-sync"}
        return mapping

    # -- indices -------------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """The cluster's ``GET /`` (name, version): a cheap connectivity and compatibility check."""
        with self._errors("cluster info"):
            return dict(self.es.info().body)

    def ensure_index(self, export_id: str) -> str:
        """Create the export's index for loading (replicas 0, refresh off), or check the existing one.

        Idempotent and safe when several chunk steps race: the loser of the creation finds the index and
        checks that it belongs to this export and was built with this mapping version.
        """
        name = self.index_name(export_id)
        settings = {"index": {"number_of_shards": self.shards, "number_of_replicas": 0, "refresh_interval": "-1"}}
        try:
            self.es.indices.create(index=name, settings=settings, mappings=self.mapping(export_id))
            return name
        except ApiError as exc:
            if _error_type(exc) != "resource_already_exists_exception":
                raise SearchError(
                    f"creating index {name} for export {export_id!r}: {self._describe(exc)}",
                    status=exc.status_code,
                    error_type=_error_type(exc),
                ) from exc
        except TransportError as exc:
            raise SearchUnavailable(f"creating index {name}: Elasticsearch unreachable: {exc}") from exc
        meta = self._meta(name)
        if meta.get("export_id") != export_id:
            raise SearchError(f"index {name} holds export {meta.get('export_id')!r}, not {export_id!r}")
        if meta.get("mapping_version") != MAPPING_VERSION:
            raise SearchError(
                f"index {name} was built with mapping version {meta.get('mapping_version')!r}, this code writes"
                f" version {MAPPING_VERSION}: delete the index and index the export again"
            )
        return name

    def _meta(self, index: str) -> dict[str, Any]:
        with self._errors(f"reading the mapping of {index}"):
            body = self.es.indices.get_mapping(index=index).body
        meta = body.get(index, {}).get("mappings", {}).get("_meta", {})
        return dict(meta) if isinstance(meta, dict) else {}

    def index_exists(self, export_id: str) -> bool:
        with self._errors("checking an index"):
            return bool(self.es.indices.exists(index=self.index_name(export_id)))

    def index_records(self, export_id: str, records: Iterable[MuseumRecord]) -> IndexResult:
        """Index records into the export's index (which ``ensure_index`` created); document id = record id.

        Returns how many were indexed and every document that was not, with status and reason. A
        connection that stays down past the retries raises ``SearchUnavailable`` (the chunk is re-run;
        re-indexing is idempotent).
        """
        index = self.index_name(export_id)

        def actions() -> Iterator[dict[str, Any]]:
            for record in records:
                if record.export_id != export_id:
                    raise ValueError(f"record {record.record_id} belongs to export {record.export_id}, not {export_id}")
                yield {"_op_type": "index", "_index": index, "_id": record.record_id, "_source": to_document(record)}

        return self._bulk(index, actions())

    def carry_over(self, export_id: str, stored_records: Iterable[str], stale_ids: Collection[str]) -> IndexResult:
        """Complete an incremental export's index with what it carries over from the public export.

        ``stored_records``: the catalogue's stored JSON of each carried record (``Catalog.carried_records``),
        indexed as they were published (their own ``export_id`` and content hash), so both stores hold the
        same records; ``stale_ids``: documents an earlier attempt carried that must go (already gone is fine).
        """
        index = self.index_name(export_id)

        def actions() -> Iterator[dict[str, Any]]:
            for record_id in stale_ids:
                yield {"_op_type": "delete", "_index": index, "_id": record_id}
            for text in stored_records:
                record = MuseumRecord.model_validate_json(text)
                yield {"_op_type": "index", "_index": index, "_id": record.record_id, "_source": to_document(record)}

        return self._bulk(index, actions())

    def _bulk(self, index: str, actions: Iterable[dict[str, Any]]) -> IndexResult:
        """``streaming_bulk`` with our bounds and retries; every failed item is returned, none swallowed."""
        indexed = 0
        errors: list[IndexFailure] = []
        with self._errors(f"indexing into {index}"):
            for ok, item in helpers.streaming_bulk(
                self.es,
                actions,
                chunk_size=self.bulk_chunk_size,
                max_chunk_bytes=self.bulk_max_bytes,
                raise_on_error=False,
                raise_on_exception=False,
                max_retries=self.bulk_max_retries,
                initial_backoff=self.bulk_initial_backoff,
                max_backoff=self.bulk_max_backoff,
                retry_on_status=(429,),
            ):
                op, info = next(iter(item.items()))
                if ok or (op == "delete" and info.get("status") == 404):  # a delete of what is gone: done
                    indexed += op != "delete"
                    continue
                errors.append(
                    IndexFailure(str(info.get("_id")), int(info.get("status") or 0), _reason(info.get("error")))
                )
        return IndexResult(indexed=indexed, errors=errors)

    def finish_load(self, export_id: str) -> None:
        """Restore the refresh interval and replicas, then refresh: the index becomes searchable. Idempotent."""
        index = self.index_name(export_id)
        with self._errors(f"finishing the load of {index}"):
            self.es.indices.put_settings(
                index=index, settings={"index": {"refresh_interval": None, "number_of_replicas": self.replicas}}
            )
            self.es.indices.refresh(index=index)

    def count(self, export_id: str | None = None) -> int:
        """Searchable documents in the export's index, or behind the alias when ``export_id`` is None."""
        target = self.alias if export_id is None else self.index_name(export_id)
        with self._errors(f"counting {target}"):
            return int(self.es.count(index=target).body["count"])

    def get_document(self, export_id: str, record_id: str) -> dict[str, Any] | None:
        index = self.index_name(export_id)
        try:
            with self._errors(f"reading {record_id} from {index}"):
                return dict(self.es.get(index=index, id=record_id).body["_source"])
        except SearchError as exc:
            if exc.status == 404:
                return None
            raise

    def sample_hashes(self, export_id: str, ids: Collection[str]) -> dict[str, str]:
        """``content_hash`` of the given records in the export's index (ids it lacks are absent)."""
        if not ids:
            return {}
        index = self.index_name(export_id)
        with self._errors(f"reading content hashes from {index}"):
            body = self.es.search(
                index=index, query={"ids": {"values": list(ids)}}, size=len(ids), source={"includes": ["content_hash"]}
            ).body
        return {hit["_id"]: hit["_source"]["content_hash"] for hit in body["hits"]["hits"]}

    def list_indices(self) -> list[IndexInfo]:
        """Our indices (``<prefix>*``), oldest first."""
        with self._errors(f"listing {self.index_prefix}* indices"):
            body = self.es.indices.get(index=f"{self.index_prefix}*").body
        found = []
        for name, data in body.items():
            meta = data.get("mappings", {}).get("_meta", {}) or {}
            created = data.get("settings", {}).get("index", {}).get("creation_date", "0")
            found.append(IndexInfo(name, meta.get("export_id"), int(created), meta.get("mapping_version")))
        return sorted(found, key=lambda info: (info.created_ms, info.name))

    def delete_index(self, export_id: str) -> bool:
        """Delete the export's index (never the one behind the alias); False if it did not exist."""
        index = self.index_name(export_id)
        if self.alias_index() == index:
            raise SearchError(f"index {index} is behind the alias {self.alias}: publish another export first")
        try:
            with self._errors(f"deleting {index}"):
                self.es.indices.delete(index=index)
        except SearchError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def delete_old(self, keep: int, protect: Collection[str] | Callable[[], Collection[str]] = ()) -> list[str]:
        """Delete our indices beyond the ``keep`` newest, never the public one nor those of ``protect``.

        ``protect``: export ids (or index names) whose index must stay, e.g. those the catalogue still
        holds. A callable is called *after* the indices are listed, so an export registered while this
        runs is protected although its index is newer than the caller's list. Returns deleted names.
        """
        if keep < 0:
            raise ValueError("keep must be >= 0")
        indices = self.list_indices()
        public = self.alias_index()
        protected = set(protect() if callable(protect) else protect)
        candidates = [
            info
            for info in indices
            if info.name != public and info.export_id not in protected and info.name not in protected
        ]
        doomed = candidates[: max(0, len(candidates) - keep)]
        deleted = []
        for info in doomed:
            try:
                with self._errors(f"deleting {info.name}"):
                    self.es.indices.delete(index=info.name)
            except SearchError as exc:
                if exc.status != 404:
                    raise
            deleted.append(info.name)
        return deleted

    # -- the alias -----------------------------------------------------------------------------------

    def alias_index(self) -> str | None:
        """The index behind the alias, or None. More than one is a broken invariant and raises."""
        try:
            with self._errors(f"reading alias {self.alias}"):
                body = self.es.indices.get_alias(name=self.alias).body
        except SearchError as exc:
            if exc.status == 404:
                return None
            raise
        indices = sorted(body)
        if len(indices) > 1:
            raise SearchError(f"alias {self.alias} points at {len(indices)} indices ({', '.join(indices)}), not one")
        return indices[0] if indices else None

    def alias_target(self) -> str | None:
        """The export id behind the alias (from the index's ``_meta``), or None when there is no alias."""
        index = self.alias_index()
        if index is None:
            return None
        export_id = self._meta(index).get("export_id")
        if not export_id:
            raise SearchError(f"alias {self.alias} points at {index}, an index museum-sync did not create")
        return str(export_id)

    def swap_alias(self, new_export_id: str, expected_current: str | None) -> bool:
        """Move the alias to the new export's index in ONE ``_aliases`` call (remove old + add new).

        ``expected_current`` is the export the caller believes is public (None: no alias yet). If the
        alias is elsewhere, ``AliasConflict``; the remove action carries ``must_exist`` so Elasticsearch
        itself refuses the whole call if the alias moved in between. Idempotent: returns False when the
        alias already points at the new export, including when a previous call was applied but its
        answer was lost (the retried call fails on ``must_exist``, and the alias is read back).
        """
        new_index = self.index_name(new_export_id)
        current = self.alias_target()
        if current == new_export_id:
            return False
        if current != expected_current:
            raise AliasConflict(
                f"alias {self.alias} points at export {current!r}, expected {expected_current!r}:"
                " another publication moved it"
            )
        actions: list[dict[str, Any]] = []
        if expected_current is not None:
            actions.append(
                {"remove": {"index": self.index_name(expected_current), "alias": self.alias, "must_exist": True}}
            )
        actions.append({"add": {"index": new_index, "alias": self.alias}})
        self._update_aliases(actions, applied=lambda: self.alias_target() == new_export_id)
        return True

    def clear_alias(self, expected_current: str) -> bool:
        """Remove the alias from the expected export's index (undo of a first publication)."""
        current = self.alias_target()
        if current is None:
            return False
        if current != expected_current:
            raise AliasConflict(f"alias {self.alias} points at export {current!r}, expected {expected_current!r}")
        actions = [{"remove": {"index": self.index_name(expected_current), "alias": self.alias, "must_exist": True}}]
        self._update_aliases(actions, applied=lambda: self.alias_index() is None)
        return True

    def _update_aliases(self, actions: list[dict[str, Any]], applied: Any) -> None:
        what = f"moving alias {self.alias}"
        try:
            with self._errors(what):
                self.es.indices.update_aliases(actions=actions)
        except SearchError as exc:
            # The call may have been applied although the client saw an error (answer lost, then the
            # transport's retry refused by must_exist): the alias itself says whether it was.
            try:
                done = bool(applied())
            except SearchError:
                raise exc from None
            if not done:
                raise
