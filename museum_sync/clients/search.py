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

Titles are multilingual: every title is indexed in ``titles.all`` (standard analyzer, language-blind
recall) and in ``titles.<language>`` with Elasticsearch's built-in analyzer for that language (stemming,
stop words), or ``titles.other`` when the language has none. One field per language is what Elastic
recommends for documents whose language is known per value; a query searches ``titles.all`` plus the
reader's language field. The set is closed (the mapping is ``dynamic: strict``), so a new language means
a mapping version bump, never a silent dynamic field.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

from elasticsearch import ApiError, Elasticsearch, TransportError, helpers

from museum_sync.core.exceptions import MuseumSyncError
from museum_sync.core.models import MuseumRecord

__all__ = [
    "ALIAS",
    "INDEX_PREFIX",
    "MAPPING",
    "MAPPING_VERSION",
    "TITLE_ANALYZERS",
    "AliasConflict",
    "IndexFailure",
    "IndexInfo",
    "IndexResult",
    "SearchClient",
    "SearchError",
    "SearchUnavailable",
    "title_field",
    "to_document",
]

ALIAS = "museum-objects"
INDEX_PREFIX = "museum-objects-"
# Bump when MAPPING or to_document change: an index built by other code is refused, not reused.
MAPPING_VERSION = 1
MAX_INDEX_NAME = 255  # bytes
RETRY_ON_STATUS = (429, 502, 503, 504)

# ISO 639-1 code -> Elasticsearch built-in language analyzer.
TITLE_ANALYZERS: dict[str, str] = {
    "en": "english",
    "de": "german",
    "fr": "french",
    "nl": "dutch",
    "it": "italian",
    "es": "spanish",
    "pt": "portuguese",
    "ca": "catalan",
    "da": "danish",
    "sv": "swedish",
    "no": "norwegian",
    "fi": "finnish",
    "et": "estonian",
    "ro": "romanian",
    "cs": "czech",
    "hu": "hungarian",
    "el": "greek",
    "ru": "russian",
    "bg": "bulgarian",
    "tr": "turkish",
    "ga": "irish",
    "lv": "latvian",
    "lt": "lithuanian",
    "eu": "basque",
    "gl": "galician",
}
# ISO 639-2/B, 639-2/T and Norwegian variants of the languages above.
_LANGUAGE_ALIASES = {
    "eng": "en", "deu": "de", "ger": "de", "fra": "fr", "fre": "fr", "nld": "nl", "dut": "nl", "ita": "it",
    "spa": "es", "por": "pt", "cat": "ca", "dan": "da", "swe": "sv", "nor": "no", "nob": "no", "nb": "no",
    "nno": "no", "nn": "no", "fin": "fi", "est": "et", "ron": "ro", "rum": "ro", "ces": "cs", "cze": "cs",
    "hun": "hu", "ell": "el", "gre": "el", "rus": "ru", "bul": "bg", "tur": "tr", "gle": "ga", "lav": "lv",
    "lit": "lt", "eus": "eu", "baq": "eu", "glg": "gl",
}  # fmt: skip

_KEYWORD: dict[str, Any] = {"type": "keyword", "ignore_above": 2048}
_TEXT: dict[str, Any] = {"type": "text", "analyzer": "standard"}
_TEXT_AND_KEYWORD: dict[str, Any] = {**_TEXT, "fields": {"raw": _KEYWORD}}

MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "export_id": {"type": "keyword"},
        "record_id": {"type": "keyword"},
        "content_hash": {"type": "keyword"},
        "object_number": _KEYWORD,
        # The preferred title, for display and sorting; every title is searchable in ``titles``.
        "title": _TEXT_AND_KEYWORD,
        "titles": {
            "type": "object",
            "dynamic": "strict",
            "properties": {
                "all": _TEXT,
                "other": _TEXT,
                **{code: {"type": "text", "analyzer": analyzer} for code, analyzer in TITLE_ANALYZERS.items()},
            },
        },
        "title_languages": {"type": "keyword"},
        # Nested, so that "name X in role Y" matches one creator, not a name and a role of two.
        "creators": {
            "type": "nested",
            "dynamic": "strict",
            "properties": {
                "name": _TEXT_AND_KEYWORD,
                "role": {"type": "keyword"},
                "role_aat": {"type": "keyword"},
                "source_id": {"type": "keyword"},
                "life_dates": {"type": "keyword"},
                "birth_year": {"type": "integer"},
                "death_year": {"type": "integer"},
            },
        },
        # Flat copy of the names for plain search and a creator facet without nested aggregations.
        "creator_names": _TEXT_AND_KEYWORD,
        "production_date": {"type": "date_range"},
        "date_display": _TEXT,
        "date_earliest": {"type": "date"},
        "date_latest": {"type": "date"},
        "date_edtf": {"type": "keyword"},
        "date_approximate": {"type": "boolean"},
        "work_type": _KEYWORD,
        "work_type_aat": {"type": "keyword"},
        "classification": _KEYWORD,
        "materials": _KEYWORD,
        "materials_aat": {"type": "keyword"},
        "techniques": _KEYWORD,
        "techniques_aat": {"type": "keyword"},
        "medium_display": _TEXT,
        "dimensions_display": _TEXT,
        "inscription": _TEXT,
        "description": _TEXT,
        "credit_line": _TEXT,
        "provenance": _TEXT,
        "acquisition_year": {"type": "integer"},
        "rights": {"type": "keyword"},
        "institution": {"type": "keyword"},
        "source_record_id": {"type": "keyword"},
        "repository": _KEYWORD,
        "language": {"type": "keyword"},
        "source_profile": {"type": "keyword"},
        "source_url": {"type": "keyword", "index": False},
        "primary_image": {"type": "keyword", "index": False},
        "image_count": {"type": "integer"},
        "iiif_manifest": {"type": "keyword"},
    },
}


class SearchError(MuseumSyncError):
    """Elasticsearch refused what was asked; the message names the index or alias, status and reason."""

    def __init__(self, message: str, *, status: int | None = None, error_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type


class SearchUnavailable(SearchError):
    """Elasticsearch could not be reached (after the transport's retries): worth retrying later."""


class AliasConflict(SearchError):
    """The alias is not where the caller expected it: another publication moved it."""


class IndexFailure(NamedTuple):
    """A document Elasticsearch did not index: ``(record_id, status, reason)``."""

    record_id: str
    status: int
    reason: str


@dataclass(frozen=True)
class IndexResult:
    indexed: int
    errors: list[IndexFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class IndexInfo:
    """One of our indices: its name, the export it holds, when it was created (epoch ms)."""

    name: str
    export_id: str | None
    created_ms: int
    mapping_version: int | None


def title_field(lang: str | None) -> str:
    """The ``titles`` sub-field for a language code: its analyzer's field, else ``other``."""
    if not lang:
        return "other"
    primary = lang.split("-", 1)[0].lower()
    primary = _LANGUAGE_ALIASES.get(primary, primary)
    return primary if primary in TITLE_ANALYZERS else "other"


def _drop_empty(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None and v != [] and v != {}}


def to_document(record: MuseumRecord) -> dict[str, Any]:
    """The search document for a record: a projection for search and facets (PostgreSQL keeps it all)."""
    by_language: dict[str, list[str]] = {}
    languages: set[str] = set()
    for title in record.titles:
        lang = title.lang or record.language
        by_language.setdefault(title_field(lang), []).append(title.text)
        if lang:
            languages.add(lang)
    span = record.production_date
    date_range: dict[str, str] = {}
    if span is not None and span.earliest is not None:
        date_range["gte"] = span.earliest.isoformat()
    if span is not None and span.latest is not None:
        date_range["lte"] = span.latest.isoformat()
    provenance = record.provenance
    provenance_text = "\n".join(t for t in (provenance.acquisition, provenance.history) if t)
    primary = next((i.url for i in record.images if i.is_primary), record.images[0].url if record.images else None)
    return _drop_empty(
        {
            "export_id": record.export_id,
            "record_id": record.record_id,
            "content_hash": record.content_hash,
            "object_number": record.object_number,
            "title": record.title,
            "titles": {"all": [t.text for t in record.titles], **by_language},
            "title_languages": sorted(languages),
            "creators": [
                _drop_empty(
                    {
                        "name": c.name,
                        "role": c.role.label,
                        "role_aat": c.role.aat,
                        "source_id": c.source_id,
                        "life_dates": c.life_dates,
                        "birth_year": c.birth_year,
                        "death_year": c.death_year,
                    }
                )
                for c in record.creators
            ],
            "creator_names": [c.name for c in record.creators],
            "production_date": date_range or None,
            "date_display": span.display if span else None,
            "date_earliest": span.earliest.isoformat() if span and span.earliest else None,
            "date_latest": span.latest.isoformat() if span and span.latest else None,
            "date_edtf": span.edtf if span else None,
            "date_approximate": span.approximate if span else None,
            "work_type": record.work_type.label if record.work_type else None,
            "work_type_aat": record.work_type.aat if record.work_type else None,
            "classification": record.classification,
            "materials": [t.label for t in record.materials],
            "materials_aat": [t.aat for t in record.materials if t.aat],
            "techniques": [t.label for t in record.techniques],
            "techniques_aat": [t.aat for t in record.techniques if t.aat],
            "medium_display": record.medium_display,
            "dimensions_display": record.dimensions_display,
            "inscription": record.inscription,
            "description": record.description,
            "credit_line": record.credit_line,
            "provenance": provenance_text or None,
            "acquisition_year": provenance.acquisition_year,
            "rights": record.rights,
            "institution": provenance.institution,
            "source_record_id": provenance.source_record_id,
            "repository": record.repository,
            "language": record.language,
            "source_profile": record.source_profile,
            "source_url": record.source_url,
            "primary_image": primary,
            "image_count": len(record.images),
            "iiif_manifest": record.iiif_manifest,
        }
    )


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))


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
        """From ``MUSEUM_SYNC_ES_URL`` (None when unset: PostgreSQL-only mode) and its credentials.

        ``MUSEUM_SYNC_ES_API_KEY`` (encoded key) or ``MUSEUM_SYNC_ES_USER`` + ``MUSEUM_SYNC_ES_PASSWORD``;
        optional ``MUSEUM_SYNC_ES_ALIAS``, ``MUSEUM_SYNC_ES_INDEX_PREFIX``, ``MUSEUM_SYNC_ES_CA_CERTS`` and
        ``MUSEUM_SYNC_ES_REPLICAS`` (replicas of a loaded index; 0 on a single-node cluster keeps it green).
        ``options`` override (tests give a cluster-unique alias and prefix).
        """
        env = os.environ if environ is None else environ
        url = (env.get("MUSEUM_SYNC_ES_URL") or "").strip()
        if not url:
            return None
        api_key = env.get("MUSEUM_SYNC_ES_API_KEY") or None
        user = env.get("MUSEUM_SYNC_ES_USER") or None
        password = env.get("MUSEUM_SYNC_ES_PASSWORD") or None
        if api_key and (user or password):
            raise ValueError("set MUSEUM_SYNC_ES_API_KEY or MUSEUM_SYNC_ES_USER/MUSEUM_SYNC_ES_PASSWORD, not both")
        if bool(user) != bool(password):
            raise ValueError("MUSEUM_SYNC_ES_USER and MUSEUM_SYNC_ES_PASSWORD must be set together")
        for key, variable in (
            ("alias", "MUSEUM_SYNC_ES_ALIAS"),
            ("index_prefix", "MUSEUM_SYNC_ES_INDEX_PREFIX"),
            ("ca_certs", "MUSEUM_SYNC_ES_CA_CERTS"),
        ):
            if env.get(variable):
                options.setdefault(key, env[variable])
        if env.get("MUSEUM_SYNC_ES_REPLICAS"):
            options.setdefault("replicas", int(env["MUSEUM_SYNC_ES_REPLICAS"]))
        basic_auth = (user, password) if user and password else None
        return cls(url, api_key=api_key, basic_auth=basic_auth, **options)

    def __repr__(self) -> str:
        return f"SearchClient({_redact_url(self.url)!r}, alias={self.alias!r}, index_prefix={self.index_prefix!r})"

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
            raise SearchUnavailable(f"{what}: Elasticsearch at {_redact_url(self.url)} unreachable: {exc}") from exc

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
