"""Elasticsearch: one versioned index per export, made public by moving one alias.

Each export is indexed into its own index ``<prefix><export id>`` (created with an explicit, strict
mapping; replicas 0 and refresh off while it loads), and readers only ever query the alias
(``museum-objects``). Publication moves the alias from the old index to the new one in a single
``_aliases`` call, which Elasticsearch applies atomically: a search sees the old export or the new one,
never both. Old indices stay for rollback until ``delete_old`` removes those this deployment owns
(``ownership``: never another deployment's, never a foreign index that merely matches the prefix).

Loading is idempotent: the document id is the record id, so indexing a chunk again (a redelivered task)
overwrites the same documents. Every document Elasticsearch refused on its own merits comes back in
``IndexResult.errors`` (the caller quarantines it as ``index_rejected``); a request refused as a whole
raises instead (``bulk``). Transient failures are retried at two levels: the transport retries a whole
request on 429/502/503/504, timeouts and dropped connections, and ``bulk`` retries a request or the
documents pushed back with 429/5xx, with exponential backoff.

Works with elasticsearch-py 8.13 and later (8.x clients talk to 8.x and 9.x clusters, 9.x clients to 9.x):
the transport's backoff options, which only 9.5 has, are passed only when the installed client takes them.

The alias and index prefix default to the settings' (``MUSEUM_SYNC_ES_ALIAS``/``_INDEX_PREFIX``).
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError

from museum_sync.clients.search.bulk import BulkPolicy, bulk_write
from museum_sync.clients.search.documents import MAPPING, MAPPING_VERSION, to_document
from museum_sync.clients.search.errors import AliasConflict, SearchError
from museum_sync.clients.search.failures import api_failure, error_type, transport_failure
from museum_sync.clients.search.ownership import CREATED_BY, Owner, exact_index_name
from museum_sync.clients.search.results import IndexInfo, IndexResult
from museum_sync.core.models import MuseumRecord
from museum_sync.redaction import redact
from museum_sync.settings import SearchSettings, get_settings

__all__ = ["ALIAS", "INDEX_PREFIX", "SearchClient"]

# The settings own the defaults; a client built in code (tests, benchmarks) starts from the same ones.
ALIAS: str = SearchSettings.model_fields["alias"].default
INDEX_PREFIX: str = SearchSettings.model_fields["index_prefix"].default
MAX_INDEX_NAME = 255  # bytes
RETRY_ON_STATUS = (429, 502, 503, 504)


@cache
def _takes_backoff_options() -> bool:
    """elasticsearch-py 9.5+ (elastic-transport 9.4.1+) backs off between the transport's retries."""
    return "retry_backoff_base" in inspect.signature(Elasticsearch.__init__).parameters


_NAME_SAFE = re.compile(r"[^a-z0-9._-]+")


class SearchClient:
    """The search side of the catalogue, on the official client. Thread-safe; holds no state but settings.

    ``replicas``: replicas an index gets once loaded (0 while loading). ``bulk_*``: documents and bytes per
    ``_bulk`` request and the retries of what Elasticsearch pushed back (``bulk.BulkPolicy``);
    ``max_retries``/``retry_backoff_*``: the transport's whole-request retries (429/502/503/504, timeouts,
    dropped connections; the backoff only on elasticsearch-py 9.5+, which has it).
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
        self.bulk = BulkPolicy(
            bulk_chunk_size, bulk_max_bytes, bulk_max_retries, bulk_initial_backoff, bulk_max_backoff
        )
        options: dict[str, Any] = {}
        if ca_certs:
            options["ca_certs"] = ca_certs
        if _takes_backoff_options():
            options.update(retry_backoff_base=retry_backoff_base, retry_backoff_cap=retry_backoff_cap)
        self.es = Elasticsearch(
            url,
            api_key=api_key,
            basic_auth=basic_auth,
            request_timeout=request_timeout,
            max_retries=max_retries,
            retry_on_status=RETRY_ON_STATUS,
            retry_on_timeout=True,
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

    @property
    def bulk_chunk_size(self) -> int:
        return self.bulk.chunk_size

    @property
    def bulk_max_bytes(self) -> int:
        return self.bulk.max_bytes

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
        """ApiError -> SearchError naming ``what``, status and reason (SearchUnavailable for 429/5xx);
        transport errors -> SearchUnavailable."""
        try:
            yield
        except ApiError as exc:
            raise api_failure(what, exc) from exc
        except TransportError as exc:
            raise transport_failure(what, self.url, exc) from exc

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

    def mapping(self, export_id: str, deployment_id: str | None = None) -> dict[str, Any]:
        """The strict mapping, with ``_meta`` saying which export it holds and who created it."""
        mapping = copy.deepcopy(MAPPING)
        meta: dict[str, Any] = {"export_id": export_id, "mapping_version": MAPPING_VERSION, "created_by": CREATED_BY}
        if deployment_id is not None:
            meta["deployment_id"] = deployment_id
        mapping["_meta"] = meta
        return mapping

    # -- indices -------------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """The cluster's ``GET /`` (name, version): a cheap connectivity and compatibility check."""
        with self._errors("cluster info"):
            return dict(self.es.info().body)

    def ensure_index(self, export_id: str, *, deployment_id: str | None = None) -> str:
        """Create the export's index for loading (replicas 0, refresh off), or check the existing one.

        ``deployment_id`` (``Catalog.deployment_id()``; the pipeline always passes it) goes into the index's
        ``_meta``: retention deletes only indices of its own deployment. Idempotent and safe when several
        chunk steps race: the loser of the creation finds the index and checks that it holds this export,
        was built with this mapping version, and is not another deployment's (two deployments sharing an
        index prefix and ingesting the same bytes would otherwise write into one index).
        """
        name = self.index_name(export_id)
        settings = {"index": {"number_of_shards": self.shards, "number_of_replicas": 0, "refresh_interval": "-1"}}
        try:
            self.es.indices.create(index=name, settings=settings, mappings=self.mapping(export_id, deployment_id))
            return name
        except ApiError as exc:
            if error_type(exc) != "resource_already_exists_exception":
                raise api_failure(f"creating index {name} for export {export_id!r}", exc, hint=True) from exc
        except TransportError as exc:
            raise transport_failure(f"creating index {name}", self.url, exc) from exc
        meta = self._meta(name)
        if meta.get("export_id") != export_id:
            raise SearchError(f"index {name} holds export {meta.get('export_id')!r}, not {export_id!r}")
        theirs = meta.get("deployment_id")
        if deployment_id is not None and theirs is not None and theirs != deployment_id:
            raise SearchError(
                f"index {name} belongs to museum-sync deployment {theirs}, not this one ({deployment_id}): two"
                " deployments share the index prefix on this cluster; give each its own MUSEUM_SYNC_ES_INDEX_PREFIX"
            )
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

    def index_records(
        self,
        export_id: str,
        records: Iterable[MuseumRecord],
        *,
        lineage: Mapping[str, Mapping[str, str | None]] | None = None,
    ) -> IndexResult:
        """Index records into the export's index (which ``ensure_index`` created); document id = record id.

        ``lineage``: ``record_id -> {chunk_key, run_id, source_locator}`` (``Catalog.chunk_lineage``), put in
        each document.

        Returns how many were indexed and every document that was not, with status and reason. A
        connection that stays down past the retries raises ``SearchUnavailable`` (the chunk is re-run;
        re-indexing is idempotent).
        """
        index = self.index_name(export_id)

        def actions() -> Iterator[dict[str, Any]]:
            for record in records:
                if record.export_id != export_id:
                    raise ValueError(f"record {record.record_id} belongs to export {record.export_id}, not {export_id}")
                source = to_document(record, (lineage or {}).get(record.record_id))
                yield {"_op_type": "index", "_index": index, "_id": record.record_id, "_source": source}

        return self._bulk(index, actions())

    def carry_over(
        self,
        export_id: str,
        stored_records: Iterable[tuple[str, Mapping[str, str | None]]],
        stale_ids: Collection[str],
    ) -> IndexResult:
        """Complete an incremental export's index with what it carries over from the public export.

        ``stored_records``: the catalogue's stored JSON of each carried record with its row's lineage
        (``Catalog.carried_records``), indexed as they were published (their own ``export_id``, content hash
        and lineage), so both stores hold the same records; ``stale_ids``: documents an earlier attempt
        carried that must go (already gone is fine).
        """
        index = self.index_name(export_id)

        def actions() -> Iterator[dict[str, Any]]:
            for record_id in stale_ids:
                yield {"_op_type": "delete", "_index": index, "_id": record_id}
            for text, lineage in stored_records:
                record = MuseumRecord.model_validate_json(text)
                source = to_document(record, lineage)
                yield {"_op_type": "index", "_index": index, "_id": record.record_id, "_source": source}

        return self._bulk(index, actions())

    def delete_documents(self, export_id: str, record_ids: Collection[str]) -> IndexResult:
        """Delete documents from the export's index (already gone is fine): records withheld after loading."""
        index = self.index_name(export_id)
        return self._bulk(index, ({"_op_type": "delete", "_index": index, "_id": rid} for rid in record_ids))

    def _bulk(self, index: str, actions: Iterable[dict[str, Any]]) -> IndexResult:
        """``bulk.bulk_write``: refused documents returned, refused requests raised, none swallowed."""
        return bulk_write(self.es, self.url, index, actions, self.bulk)

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
        """Every index matching ``<prefix>*``, oldest first, with what its ``_meta`` says about its owner.

        Not all of them are ours: a cluster may hold other deployments' indices, or foreign ones that
        happen to match the prefix (``ownership``).
        """
        with self._errors(f"listing {self.index_prefix}* indices"):
            body = self.es.indices.get(index=f"{self.index_prefix}*").body
        found = []
        for name, data in body.items():
            meta = data.get("mappings", {}).get("_meta", {}) or {}
            created = data.get("settings", {}).get("index", {}).get("creation_date", "0")
            found.append(
                IndexInfo(
                    name,
                    _text(meta.get("export_id")),
                    int(created),
                    meta.get("mapping_version"),
                    deployment_id=_text(meta.get("deployment_id")),
                    created_by=_text(meta.get("created_by")),
                    aliases=tuple(sorted(data.get("aliases", {}) or {})),
                )
            )
        return sorted(found, key=lambda info: (info.created_ms, info.name))

    def delete_index(self, export_id: str) -> bool:
        """Delete the export's index (never the one behind the alias); False if it did not exist."""
        index = self.index_name(export_id)
        if self.alias_index() == index:
            raise SearchError(f"index {index} is behind the alias {self.alias}: publish another export first")
        return self._delete_exact(index)

    def _delete_exact(self, index: str) -> bool:
        """``DELETE /<index>`` of one exact name, never a pattern (``expand_wildcards=none``); False if gone."""
        name = exact_index_name(index)
        try:
            with self._errors(f"deleting {name}"):
                self.es.indices.delete(index=name, expand_wildcards="none", allow_no_indices=False)
        except SearchError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def delete_old(
        self, keep: int, protect: Collection[str] | Callable[[], Collection[str]] = (), *, owner: Owner
    ) -> list[str]:
        """Delete this deployment's indices beyond the ``keep`` newest, never the public one nor those of ``protect``.

        ``owner``: this deployment (``Owner.of(catalog.deployment_id(), catalog.registered_exports())``);
        only indices it owns are candidates, so another deployment's indices and foreign indices that match
        the prefix are never touched, nor any index behind an alias (``ownership`` says why and how indices
        created before deployment ids are treated). ``protect``: export ids (or index names) whose index
        must stay, e.g. those the catalogue still holds. A callable is called *after* the indices are
        listed, so an export registered while this runs is protected although its index is newer than the
        caller's list. Deletes by exact name. Returns the deleted names.
        """
        if keep < 0:
            raise ValueError("keep must be >= 0")
        indices = self.list_indices()
        public = self.alias_index()
        protected = set(protect() if callable(protect) else protect)
        candidates = [
            info
            for info in indices
            if owner.owns(info)
            and info.export_id is not None
            and info.name == self.index_name(info.export_id)
            and info.name != public
            and not info.aliases
            and info.export_id not in protected
            and info.name not in protected
        ]
        doomed = candidates[: max(0, len(candidates) - keep)]
        for info in doomed:
            self._delete_exact(info.name)
        return [info.name for info in doomed]

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


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
