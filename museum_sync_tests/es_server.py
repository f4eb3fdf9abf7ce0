"""A real HTTP server speaking the subset of the Elasticsearch REST API museum-sync uses, for tests.

No Elasticsearch can run where the tests run, and mocking the client would test nothing of what goes on
the wire. So this is a server: ``ThreadingHTTPServer`` on 127.0.0.1 (port 0), indices in memory, reached
by the official client over real HTTP with its real retries, serializers and product check. It is strict
where Elasticsearch is strict, so a request that works here has the shape a cluster accepts:

- ``X-Elastic-Product: Elasticsearch`` on every response; ``compatible-with=N`` in Accept/Content-Type
  must be this server's major or the one before (``version`` picks the major: "8.15.0" rejects a 9.x
  client, as a real 8.15 cluster does);
- index creation rejects unknown body keys, unknown mapping parameters, field types and analyzers, and
  unknown settings; documents obey ``dynamic: strict`` (``strict_dynamic_mapping_exception``) and field
  types (``document_parsing_exception``), per bulk item, with status and error object like Elasticsearch;
- ``_bulk`` checks the NDJSON framing: content type, the trailing newline, one source line per
  index/create action;
- search and count see what the last refresh made visible: with ``refresh_interval: -1`` documents stay
  invisible until ``_refresh``; otherwise every write is followed by a refresh (standing in for the
  periodic 1 s refresh);
- ``_aliases`` applies all its actions or none; ``remove`` with ``must_exist`` (or unset) fails with 404
  when the alias is not on that index;
- indices are not auto-created by ``_bulk`` (as with ``action.auto_create_index: false``): writing to an
  index that was never created is a client bug this server reports as a 404 item;
- ``DELETE /<index>`` refuses wildcards and ``_all`` (``action.destructive_requires_name: true``, the
  default since Elasticsearch 8): only exact names are deleted.

Faults are injected from Python (not over HTTP): the next N matching requests answer a status (429/502/503/504,
or a whole request refused: 401 ``security_exception`` with ``WWW-Authenticate``, 403, 404
``index_not_found_exception``, 413 with an empty body as the HTTP layer sends it), drop the connection
halfway through the response (after applying the request, or before), or wait; bulk items whose id matches
a predicate are rejected with 400, 429 or 503 (optionally only the first k times). Every request is
recorded (method, path, query, headers, body, status) for assertions.

Supported: ``GET|HEAD /``, ``HEAD|GET|PUT|DELETE /<index>``, ``GET|PUT /<index>/_settings``,
``GET /<index>/_mapping``, ``POST /<index>/_refresh``, ``GET|POST /<index>/_count``,
``GET|POST /<index>/_search`` (match_all, ids, term, terms, bool must/filter; size, from, _source),
``POST /_bulk`` and ``/<index>/_bulk`` (index, create, delete), ``POST /_aliases``,
``GET /_alias/<name>``, ``GET /<index>/_doc/<id>``. Targets may be indices, aliases, comma lists and
``*`` patterns where Elasticsearch allows them.
"""

from __future__ import annotations

import fnmatch
import gzip
import json
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    from museum_sync.clients.search import SearchClient

__all__ = ["EsTestServer", "RecordedRequest", "fast_client", "remove_scratch_alias_and_indices"]

Response = tuple[int, Any]

LANGUAGE_ANALYZERS = frozenset(
    {
        "arabic", "armenian", "basque", "bengali", "brazilian", "bulgarian", "catalan", "cjk", "czech", "danish",
        "dutch", "english", "estonian", "finnish", "french", "galician", "german", "greek", "hindi", "hungarian",
        "indonesian", "irish", "italian", "latvian", "lithuanian", "norwegian", "persian", "portuguese",
        "romanian", "russian", "serbian", "sorani", "spanish", "swedish", "turkish", "thai",
    }
)  # fmt: skip
BUILTIN_ANALYZERS = LANGUAGE_ANALYZERS | {
    "standard",
    "simple",
    "whitespace",
    "stop",
    "keyword",
    "pattern",
    "fingerprint",
}
BUILTIN_NORMALIZERS = frozenset({"lowercase"})

_COMMON_FIELD_PARAMS = frozenset({"type", "meta"})
_FIELD_PARAMS: dict[str, frozenset[str]] = {
    "keyword": frozenset(
        {
            "ignore_above",
            "index",
            "doc_values",
            "store",
            "normalizer",
            "null_value",
            "fields",
            "copy_to",
            "eager_global_ordinals",
        }
    ),
    "text": frozenset(
        {
            "analyzer",
            "search_analyzer",
            "search_quote_analyzer",
            "index",
            "store",
            "fields",
            "copy_to",
            "norms",
            "index_options",
            "fielddata",
            "position_increment_gap",
            "term_vector",
        }
    ),
    "date": frozenset({"format", "index", "doc_values", "store", "ignore_malformed", "null_value", "locale"}),
    "date_range": frozenset({"format", "index", "doc_values", "store", "coerce"}),
    "integer": frozenset({"index", "doc_values", "store", "coerce", "ignore_malformed", "null_value"}),
    "long": frozenset({"index", "doc_values", "store", "coerce", "ignore_malformed", "null_value"}),
    "short": frozenset({"index", "doc_values", "store", "coerce", "ignore_malformed", "null_value"}),
    "float": frozenset({"index", "doc_values", "store", "coerce", "ignore_malformed", "null_value"}),
    "double": frozenset({"index", "doc_values", "store", "coerce", "ignore_malformed", "null_value"}),
    "boolean": frozenset({"index", "doc_values", "store", "null_value"}),
    "object": frozenset({"properties", "dynamic", "enabled", "subobjects"}),
    "nested": frozenset({"properties", "dynamic", "include_in_parent", "include_in_root"}),
}
_MAPPING_ROOT_KEYS = frozenset(
    {
        "dynamic",
        "properties",
        "_meta",
        "_source",
        "dynamic_templates",
        "date_detection",
        "numeric_detection",
        "_routing",
    }
)
_INDEX_BODY_KEYS = frozenset({"settings", "mappings", "aliases"})
_STATIC_SETTINGS = frozenset({"index.number_of_shards", "index.codec"})
_DYNAMIC_SETTINGS = frozenset(
    {
        "index.number_of_replicas",
        "index.refresh_interval",
        "index.max_result_window",
        "index.mapping.total_fields.limit",
    }
)
_DEFAULTS = {"index.number_of_shards": "1", "index.number_of_replicas": "1"}
_TIME_VALUE = re.compile(r"^(-1|0|\d+(nanos|micros|ms|s|m|h|d))$")
_DATE = re.compile(r"^[+-]?\d{4,9}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}([.,]\d{1,9})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?)?)?$")
_COMPAT = re.compile(r"compatible-with=(\d+)")
_NDJSON_TYPES = ("application/x-ndjson", "application/vnd.elasticsearch+x-ndjson")
_JSON_TYPES = ("application/json", "application/vnd.elasticsearch+json")
_METADATA_FIELDS = frozenset({"_id", "_index", "_source", "_routing", "_version", "_seq_no", "_primary_term"})
_MAX_ID_BYTES = 512


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it; ``status`` is what it answered (0: connection dropped)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def ndjson(self) -> list[Any]:
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


@dataclass
class _Fault:
    kind: str  # "status" | "drop" | "delay"
    remaining: int
    method: str | None
    path: re.Pattern[str] | None
    status: int = 0
    seconds: float = 0.0
    after_apply: bool = True
    skip: int = 0  # let this many matching requests through first

    def matches(self, method: str, path: str) -> bool:
        if self.remaining <= 0:
            return False
        if self.method is not None and self.method != method:
            return False
        return self.path is None or self.path.search(path) is not None


@dataclass
class _DocRejection:
    predicate: Callable[[str], bool]
    status: int
    times: int | None
    seen: Counter[str] = field(default_factory=Counter)

    def rejects(self, doc_id: str) -> bool:
        if not self.predicate(doc_id):
            return False
        if self.times is not None and self.seen[doc_id] >= self.times:
            return False
        self.seen[doc_id] += 1
        return True


@dataclass
class _Index:
    name: str
    uuid: str
    mappings: dict[str, Any]
    settings: dict[str, str]  # flat "index.*" keys, string values, as Elasticsearch stores them
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    visible: dict[str, dict[str, Any]] = field(default_factory=dict)
    seq_no: int = 0

    def refresh(self) -> None:
        self.visible = dict(self.docs)

    @property
    def auto_refresh(self) -> bool:
        return self.settings.get("index.refresh_interval", "1s") != "-1"


class _ApiError(Exception):
    def __init__(self, status: int, error_type: str, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.error_type = error_type
        self.reason = reason
        self.extra = extra

    def body(self) -> dict[str, Any]:
        err = {"type": self.error_type, "reason": self.reason, **self.extra}
        return {"error": {"root_cause": [dict(err)], **err}, "status": self.status}

    def item_error(self) -> dict[str, Any]:
        return {"type": self.error_type, "reason": self.reason, **self.extra}


def _not_found(name: str) -> _ApiError:
    return _ApiError(
        404,
        "index_not_found_exception",
        f"no such index [{name}]",
        index=name,
        **{"resource.type": "index_or_alias", "resource.id": name},
    )


def _flatten_settings(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten_settings(value, full + "."))
        else:
            flat[full] = value
    return {k if k.startswith("index.") else f"index.{k}": v for k, v in flat.items()}


def _nest(flat: dict[str, str]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def _setting_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


def _is_date(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if not isinstance(value, str):
        return False
    if value.isdigit():
        return True  # epoch_millis
    if not _DATE.match(value):
        return False
    if len(value) >= 10 and value[4] == "-" and value[:4].isdigit():
        try:
            date.fromisoformat(value[:10])
        except ValueError:
            return False
    return True


def _tokens(text: str) -> set[str]:
    """Roughly the standard analyzer: lower-cased word tokens."""
    return {t for t in re.split(r"\W+", text.lower()) if t}


class _Store:
    """Indices, aliases and faults; every operation runs under one lock, so each request is atomic."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.major = int(version.split(".")[0])
        self.lock = threading.RLock()
        self.indices: dict[str, _Index] = {}
        self.aliases: dict[str, set[str]] = {}
        self.faults: list[_Fault] = []
        self.rejections: list[_DocRejection] = []
        self.destructive_requires_name = True

    # -- names ---------------------------------------------------------------------------------------

    def resolve(self, expression: str, *, allow_aliases: bool = True) -> list[str]:
        """Concrete index names for an expression (comma list of names, aliases, ``*`` patterns)."""
        names: list[str] = []
        for part in expression.split(","):
            part = part.strip()
            if part in ("_all", "*"):
                names.extend(sorted(self.indices))
            elif "*" in part or "?" in part:
                names.extend(sorted(n for n in self.indices if fnmatch.fnmatchcase(n, part)))
                if allow_aliases:
                    for alias in sorted(a for a in self.aliases if fnmatch.fnmatchcase(a, part)):
                        names.extend(sorted(self.aliases[alias]))
            elif part in self.indices:
                names.append(part)
            elif allow_aliases and part in self.aliases:
                names.extend(sorted(self.aliases[part]))
            else:
                raise _not_found(part)
        seen: dict[str, None] = {}
        for name in names:
            seen.setdefault(name, None)
        return list(seen)

    def aliases_of(self, index: str) -> list[str]:
        return sorted(a for a, targets in self.aliases.items() if index in targets)

    def write_index(self, name: str) -> _Index:
        if name in self.indices:
            return self.indices[name]
        targets = self.aliases.get(name)
        if targets is None:
            raise _not_found(name)
        if len(targets) != 1:
            raise _ApiError(
                400,
                "illegal_argument_exception",
                f"no write index is defined for alias [{name}]. The write index may be explicitly disabled using "
                "is_write_index=false or the alias points to multiple indices without one being designated as a "
                "write index",
            )
        return self.indices[next(iter(targets))]

    @staticmethod
    def check_index_name(name: str) -> None:
        bad = None
        if name != name.lower():
            bad = "must be lowercase"
        elif name in (".", "..") or name.startswith(("-", "_", "+")):
            bad = "must not start with '_', '-', or '+'"
        elif any(c in name for c in '\\/*?"<>| ,#:'):
            bad = 'must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?, #, :]'
        elif len(name.encode()) > 255:
            bad = "index name is too long, (" + str(len(name.encode())) + " > 255)"
        if bad:
            raise _ApiError(400, "invalid_index_name_exception", f"Invalid index name [{name}], {bad}", index=name)


class _MappingChecker:
    """Validates a mapping at index creation the way Elasticsearch's mapper parsers do (the subset used)."""

    def __init__(self, custom_analyzers: set[str]) -> None:
        self.analyzers = BUILTIN_ANALYZERS | custom_analyzers

    def root(self, mappings: dict[str, Any]) -> None:
        if not isinstance(mappings, dict):
            raise _ApiError(400, "mapper_parsing_exception", "Failed to parse mapping: mappings must be an object")
        unknown = sorted(set(mappings) - _MAPPING_ROOT_KEYS)
        if unknown:
            listed = ", ".join(f"{k} : {json.dumps(mappings[k])}" for k in unknown)
            raise _ApiError(
                400, "mapper_parsing_exception", f"Root mapping definition has unsupported parameters:  [{listed}]"
            )
        self.dynamic(mappings.get("dynamic"), "_doc")
        self.properties(mappings.get("properties", {}), "")

    def dynamic(self, value: Any, where: str) -> None:
        if value is not None and str(value).lower() not in ("true", "false", "strict", "runtime"):
            raise _ApiError(
                400,
                "mapper_parsing_exception",
                f"Failed to parse mapping: Could not convert [{where}.dynamic] to boolean",
            )

    def properties(self, properties: dict[str, Any], prefix: str) -> None:
        for name, definition in properties.items():
            self.field(prefix + name, definition)

    def field(self, path: str, definition: Any) -> None:
        if not isinstance(definition, dict):
            raise _ApiError(400, "mapper_parsing_exception", f"Expected map for property [fields] on field [{path}]")
        kind = definition.get("type", "object" if "properties" in definition else None)
        if kind is None:
            raise _ApiError(400, "mapper_parsing_exception", f"No type specified for field [{path}]")
        allowed = _FIELD_PARAMS.get(kind)
        if allowed is None:
            raise _ApiError(400, "mapper_parsing_exception", f"No handler for type [{kind}] declared on field [{path}]")
        for param in definition:
            if param not in allowed and param not in _COMMON_FIELD_PARAMS:
                raise _ApiError(
                    400,
                    "mapper_parsing_exception",
                    f"unknown parameter [{param}] on mapper [{path}] of type [{kind}]",
                )
        for key in ("analyzer", "search_analyzer", "search_quote_analyzer"):
            if key in definition and definition[key] not in self.analyzers:
                raise _ApiError(
                    400,
                    "mapper_parsing_exception",
                    f"Failed to parse mapping: analyzer [{definition[key]}] has not been configured in mappings",
                )
        if "normalizer" in definition and definition["normalizer"] not in BUILTIN_NORMALIZERS:
            raise _ApiError(
                400,
                "mapper_parsing_exception",
                f"normalizer [{definition['normalizer']}] not found for field [{path}]",
            )
        if kind in ("object", "nested"):
            self.dynamic(definition.get("dynamic"), path)
            self.properties(definition.get("properties", {}), path + ".")
        for sub, sub_definition in definition.get("fields", {}).items():
            if isinstance(sub_definition, dict) and sub_definition.get("type") in ("object", "nested"):
                raise _ApiError(
                    400, "mapper_parsing_exception", f"Type [{sub_definition['type']}] cannot be used in multi field"
                )
            self.field(f"{path}.{sub}", sub_definition)


class _DocumentChecker:
    """Parses a document against its index's mapping: strict dynamic mapping and field types."""

    def __init__(self, mappings: dict[str, Any], doc_id: str, raw: str) -> None:
        self.mappings = mappings
        self.doc_id = doc_id
        self.raw = raw

    def _position(self, key: str) -> str:
        at = self.raw.find(f'"{key}"')
        return f"[1:{at + len(key) + 3 if at >= 0 else 1}]"

    def check(self, doc: Any) -> None:
        if not isinstance(doc, dict):
            raise _ApiError(400, "document_parsing_exception", "[1:1] failed to parse: source must be an object")
        dynamic = str(self.mappings.get("dynamic", "true")).lower()
        self._object(doc, self.mappings.get("properties", {}), dynamic, "", "_doc")

    def _object(self, doc: dict[str, Any], properties: dict[str, Any], dynamic: str, prefix: str, parent: str) -> None:
        for key, value in doc.items():
            path = prefix + key
            if not prefix and key in _METADATA_FIELDS:
                raise _ApiError(
                    400,
                    "document_parsing_exception",
                    f"{self._position(key)} Field [{key}] is a metadata field and cannot be added inside a document. "
                    "Use the index API request parameters.",
                )
            definition = properties.get(key)
            if definition is None:
                if dynamic == "strict":
                    raise _ApiError(
                        400,
                        "strict_dynamic_mapping_exception",
                        f"{self._position(key)} mapping set to strict, dynamic introduction of [{key}] within "
                        f"[{parent}] is not allowed",
                    )
                continue  # dynamic true/false: accepted (this server does not grow mappings)
            self._value(value, definition, dynamic, path)

    def _value(self, value: Any, definition: dict[str, Any], dynamic: str, path: str) -> None:
        kind = definition.get("type", "object" if "properties" in definition else "object")
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            if isinstance(item, list):
                self._value(item, definition, dynamic, path)
                continue
            if kind in ("object", "nested"):
                if not definition.get("enabled", True):
                    continue
                if not isinstance(item, dict):
                    raise _ApiError(
                        400,
                        "document_parsing_exception",
                        f"{self._position(path.rsplit('.', 1)[-1])} object mapping for [{path}] tried to parse field "
                        f"[{path.rsplit('.', 1)[-1]}] as object, but found a concrete value",
                    )
                child_dynamic = str(definition.get("dynamic", dynamic)).lower()
                self._object(item, definition.get("properties", {}), child_dynamic, path + ".", path)
            elif not self._scalar_ok(kind, item):
                preview = json.dumps(item, ensure_ascii=False)[:80]
                raise _ApiError(
                    400,
                    "document_parsing_exception",
                    f"{self._position(path.rsplit('.', 1)[-1])} failed to parse field [{path}] of type [{kind}] in "
                    f"document with id '{self.doc_id}'. Preview of field's value: '{preview}'",
                )

    @staticmethod
    def _scalar_ok(kind: str, item: Any) -> bool:
        if kind in ("keyword", "text"):
            return isinstance(item, str | int | float | bool)
        if kind == "date":
            return _is_date(item)
        if kind == "date_range":
            return (
                isinstance(item, dict)
                and bool(item)
                and set(item) <= {"gte", "gt", "lte", "lt", "format"}
                and all(_is_date(v) for k, v in item.items() if k != "format" and v is not None)
                and _DocumentChecker._range_ordered(item)
            )
        if kind in ("integer", "long", "short"):
            if isinstance(item, bool):
                return False
            if isinstance(item, int):
                return True
            return isinstance(item, str) and re.fullmatch(r"-?\d+", item) is not None
        if kind in ("float", "double"):
            if isinstance(item, bool):
                return False
            if isinstance(item, int | float):
                return True
            return isinstance(item, str) and re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", item) is not None
        if kind == "boolean":
            return isinstance(item, bool) or item in ("true", "false", "")
        return False

    @staticmethod
    def _range_ordered(item: dict[str, Any]) -> bool:
        low = item.get("gte", item.get("gt"))
        high = item.get("lte", item.get("lt"))
        if isinstance(low, str) and isinstance(high, str) and _DATE.match(low) and _DATE.match(high):
            return low[:10] <= high[:10] if low[:1] != "-" and high[:1] != "-" else True
        return True


def _values_at(source: Any, path: list[str]) -> Iterator[Any]:
    if not path:
        if isinstance(source, list):
            for item in source:
                yield from _values_at(item, path)
        elif source is not None:
            yield source
        return
    if isinstance(source, list):
        for item in source:
            yield from _values_at(item, path)
    elif isinstance(source, dict) and path[0] in source:
        yield from _values_at(source[path[0]], path[1:])


class _Queries:
    """The query DSL subset: match_all, ids, term, terms, bool (must/filter/must_not/should)."""

    def __init__(self, store: _Store) -> None:
        self.store = store

    def field_type(self, index: _Index, field_path: str) -> tuple[str | None, list[str]]:
        """The mapped type of ``field_path`` and the source path holding its values (multi-fields map up)."""
        properties = index.mappings.get("properties", {})
        parts = field_path.split(".")
        source_path: list[str] = []
        definition: dict[str, Any] | None = None
        i = 0
        while i < len(parts):
            part = parts[i]
            if definition is not None and "fields" in definition and part in definition["fields"]:
                definition = definition["fields"][part]
                i += 1
                continue
            definition = properties.get(part)
            if definition is None:
                return None, []
            source_path.append(part)
            properties = definition.get("properties", {})
            i += 1
        if definition is None:
            return None, []
        return definition.get("type", "object"), source_path

    def matcher(self, index: _Index, query: Any) -> Callable[[str, dict[str, Any]], bool]:
        if query is None:
            return lambda _id, _doc: True
        if not isinstance(query, dict) or len(query) != 1:
            raise _ApiError(400, "parsing_exception", "query malformed, must start with a single query name")
        name, body = next(iter(query.items()))
        if name == "match_all":
            return lambda _id, _doc: True
        if name == "match_none":
            return lambda _id, _doc: False
        if name == "ids":
            if not isinstance(body, dict) or set(body) - {"values", "boost", "_name"}:
                raise _ApiError(400, "parsing_exception", "[ids] query malformed")
            wanted = {str(v) for v in body.get("values", [])}
            return lambda doc_id, _doc: doc_id in wanted
        if name in ("term", "terms"):
            return self._term(index, name, body)
        if name == "bool":
            return self._bool(index, body)
        raise _ApiError(400, "parsing_exception", f"unknown query [{name}]", line=1, col=1)

    def _term(self, index: _Index, name: str, body: Any) -> Callable[[str, dict[str, Any]], bool]:
        if not isinstance(body, dict):
            raise _ApiError(400, "parsing_exception", f"[{name}] query malformed")
        fields = [k for k in body if k not in ("boost", "_name")]
        if len(fields) != 1:
            raise _ApiError(400, "parsing_exception", f"[{name}] query doesn't support multiple fields")
        field_name = fields[0]
        spec = body[field_name]
        if name == "term":
            raw = spec.get("value") if isinstance(spec, dict) else spec
            wanted = [raw]
        else:
            if not isinstance(spec, list):
                raise _ApiError(400, "parsing_exception", "[terms] query does not support values other than arrays")
            wanted = list(spec)
        kind, path = self.field_type(index, field_name)
        if field_name == "_id":
            ids = {str(v) for v in wanted}
            return lambda doc_id, _doc: doc_id in ids
        if kind is None:
            return lambda _id, _doc: False  # unmapped field: no match, as Elasticsearch
        if kind == "text":
            tokens = {str(v) for v in wanted}

            def text_match(_id: str, doc: dict[str, Any]) -> bool:
                return any(tokens & _tokens(str(v)) for v in _values_at(doc, path))

            return text_match
        normalised = {self._normalise(kind, v) for v in wanted}

        def match(_id: str, doc: dict[str, Any]) -> bool:
            return any(self._normalise(kind, v) in normalised for v in _values_at(doc, path))

        return match

    @staticmethod
    def _normalise(kind: str, value: Any) -> Any:
        if kind == "boolean":
            return value in (True, "true")
        if kind in ("integer", "long", "short"):
            return int(value)
        if kind in ("float", "double"):
            return float(value)
        return str(value).lower() if isinstance(value, bool) else str(value)

    def _bool(self, index: _Index, body: Any) -> Callable[[str, dict[str, Any]], bool]:
        if not isinstance(body, dict) or set(body) - {"must", "filter", "should", "must_not", "minimum_should_match"}:
            raise _ApiError(400, "parsing_exception", "[bool] query malformed")

        def clauses(key: str) -> list[Callable[[str, dict[str, Any]], bool]]:
            value = body.get(key, [])
            return [self.matcher(index, q) for q in (value if isinstance(value, list) else [value])]

        must = clauses("must") + clauses("filter")
        must_not = clauses("must_not")
        should = clauses("should")
        minimum = int(body.get("minimum_should_match", 1 if should and not must else 0))

        def match(doc_id: str, doc: dict[str, Any]) -> bool:
            if not all(m(doc_id, doc) for m in must) or any(m(doc_id, doc) for m in must_not):
                return False
            return sum(1 for m in should if m(doc_id, doc)) >= minimum

        return match


class _App:
    """Routes a request to its handler; returns (status, JSON body) or raises ``_ApiError``."""

    def __init__(self, store: _Store) -> None:
        self.store = store
        self.queries = _Queries(store)

    # -- entry ---------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> Response:
        parts = [unquote(p) for p in path.split("/") if p]
        content_type = headers.get("content-type", "")
        if parts[-1:] == ["_bulk"]:
            return self.bulk(parts[0] if len(parts) == 2 else None, query, content_type, body)
        payload = self._json(body, content_type) if body else None
        if not parts:
            if method in ("GET", "HEAD"):
                return 200, self.info()
            raise self._no_handler(method, path)
        head = parts[0]
        if head == "_aliases" and len(parts) == 1 and method in ("POST", "PUT"):
            return 200, self.update_aliases(payload)
        if head == "_alias" and method == "GET":
            return self.get_alias(parts[1] if len(parts) > 1 else "*")
        if head == "_refresh" and len(parts) == 1 and method in ("POST", "GET"):
            return 200, self.refresh("_all")
        if head in ("_count", "_search") and len(parts) == 1 and method in ("GET", "POST"):
            return (
                (200, self.count("_all", payload)) if head == "_count" else (200, self.search("_all", payload, query))
            )
        if head == "_all" and len(parts) == 1 and method == "DELETE":
            return 200, self.delete_index(head)
        if head.startswith("_"):
            raise self._no_handler(method, path)
        if len(parts) == 1:
            if method == "HEAD":
                return self.exists(head)
            if method == "PUT":
                return 200, self.create_index(head, payload)
            if method == "GET":
                return 200, self.get_index(head)
            if method == "DELETE":
                return 200, self.delete_index(head)
        elif len(parts) == 2:
            action = parts[1]
            if action == "_settings" and method == "PUT":
                return 200, self.put_settings(head, payload)
            if action == "_settings" and method == "GET":
                return 200, self.get_settings(head)
            if action == "_mapping" and method == "GET":
                return 200, self.get_mapping(head)
            if action == "_refresh" and method in ("POST", "GET"):
                return 200, self.refresh(head)
            if action == "_count" and method in ("GET", "POST"):
                return 200, self.count(head, payload)
            if action == "_search" and method in ("GET", "POST"):
                return 200, self.search(head, payload, query)
        elif len(parts) == 3 and parts[1] == "_doc" and method == "GET":
            return self.get_doc(head, parts[2])
        raise self._no_handler(method, path)

    @staticmethod
    def _no_handler(method: str, path: str) -> _ApiError:
        return _ApiError(400, "illegal_argument_exception", f"no handler found for uri [{path}] and method [{method}]")

    @staticmethod
    def _json(body: bytes, content_type: str) -> Any:
        mime = content_type.split(";")[0].strip().lower()
        if mime not in _JSON_TYPES:
            raise _ApiError(
                406, "media_type_header_exception", f"Content-Type header [{content_type}] is not supported"
            )
        try:
            return json.loads(body)
        except ValueError as exc:
            raise _ApiError(400, "x_content_parse_exception", f"[1:1] failed to parse request body: {exc}") from exc

    def info(self) -> dict[str, Any]:
        return {
            "name": "museum-sync-test-node",
            "cluster_name": "museum-sync-test",
            "cluster_uuid": "museum-sync-test-cluster",
            "version": {
                "number": self.store.version,
                "build_flavor": "default",
                "build_type": "docker",
                "lucene_version": "10.0.0",
                "minimum_wire_compatibility_version": f"{self.store.major - 1}.19.0",
                "minimum_index_compatibility_version": f"{self.store.major - 1}.0.0",
            },
            "tagline": "You Know, for Search",
        }

    # -- indices -------------------------------------------------------------------------------------

    def exists(self, expression: str) -> Response:
        with self.store.lock:
            try:
                names = self.store.resolve(expression)
            except _ApiError:
                return 404, None
            return (200 if names else 404), None

    def create_index(self, name: str, body: Any) -> dict[str, Any]:
        body = body or {}
        if not isinstance(body, dict):
            raise _ApiError(400, "parse_exception", "request body must be an object")
        unknown = sorted(set(body) - _INDEX_BODY_KEYS)
        if unknown:
            raise _ApiError(400, "parse_exception", f"unknown key [{unknown[0]}] for create index")
        self.store.check_index_name(name)
        settings = self._check_settings(_flatten_settings(body.get("settings") or {}), creating=True)
        custom = {k.split(".")[3] for k in settings if k.startswith("index.analysis.analyzer.")}
        mappings = body.get("mappings") or {}
        _MappingChecker(custom).root(mappings)
        aliases = body.get("aliases") or {}
        with self.store.lock:
            if name in self.store.indices:
                raise _ApiError(
                    400,
                    "resource_already_exists_exception",
                    f"index [{name}/{self.store.indices[name].uuid}] already exists",
                    index=name,
                )
            if name in self.store.aliases:
                raise _ApiError(
                    400, "invalid_index_name_exception", f"Invalid index name [{name}], already exists as alias"
                )
            index_uuid = uuid.uuid4().hex[:22]
            flat = {
                **_DEFAULTS,
                **settings,
                "index.creation_date": str(int(time.time() * 1000)),
                "index.uuid": index_uuid,
                "index.provided_name": name,
                "index.version.created": "9000000",
            }
            self.store.indices[name] = _Index(name=name, uuid=index_uuid, mappings=mappings, settings=flat)
            for alias in aliases:
                self.store.aliases.setdefault(alias, set()).add(name)
        return {"acknowledged": True, "shards_acknowledged": True, "index": name}

    def _check_settings(self, flat: dict[str, Any], *, creating: bool) -> dict[str, str]:
        checked: dict[str, str] = {}
        for key, value in flat.items():
            if key.startswith("index.analysis."):
                checked[key] = _setting_value(value)
                continue
            if key not in _STATIC_SETTINGS | _DYNAMIC_SETTINGS:
                raise _ApiError(
                    400,
                    "illegal_argument_exception",
                    f"unknown setting [{key}] please check that any required plugins are installed, or check the "
                    "breaking changes documentation for removed settings",
                )
            if not creating and key in _STATIC_SETTINGS:
                raise _ApiError(
                    400, "illegal_argument_exception", f"Can't update non dynamic settings [[{key}]] for open indices"
                )
            if value is None:
                checked[key] = ""  # reset to default
                continue
            text = _setting_value(value)
            if key in ("index.number_of_shards", "index.number_of_replicas", "index.max_result_window"):
                if not text.isdigit() or (key == "index.number_of_shards" and text == "0"):
                    raise _ApiError(
                        400, "illegal_argument_exception", f"Failed to parse value [{text}] for setting [{key}]"
                    )
            if key == "index.refresh_interval" and not _TIME_VALUE.match(text):
                raise _ApiError(
                    400,
                    "illegal_argument_exception",
                    f"failed to parse setting [{key}] with value [{text}] as a time value: unit is missing or "
                    "unrecognized",
                )
            checked[key] = text
        return checked

    def get_index(self, expression: str) -> dict[str, Any]:
        with self.store.lock:
            names = self.store.resolve(expression)
            return {
                n: {
                    "aliases": {a: {} for a in self.store.aliases_of(n)},
                    "mappings": self.store.indices[n].mappings,
                    "settings": _nest(self.store.indices[n].settings),
                }
                for n in names
            }

    def get_mapping(self, expression: str) -> dict[str, Any]:
        with self.store.lock:
            return {n: {"mappings": self.store.indices[n].mappings} for n in self.store.resolve(expression)}

    def get_settings(self, expression: str) -> dict[str, Any]:
        with self.store.lock:
            return {n: {"settings": _nest(self.store.indices[n].settings)} for n in self.store.resolve(expression)}

    def delete_index(self, expression: str) -> dict[str, Any]:
        with self.store.lock:
            if self.store.destructive_requires_name and any(
                p.strip() in ("_all", "*") or "*" in p or "?" in p for p in expression.split(",")
            ):
                raise _ApiError(
                    400, "illegal_argument_exception", "Wildcard expressions or all indices are not allowed"
                )
            for part in expression.split(","):
                if part in self.store.aliases and part not in self.store.indices:
                    raise _ApiError(
                        400,
                        "illegal_argument_exception",
                        f"The provided expression [{part}] matches an alias, specify the corresponding concrete "
                        "indices instead.",
                    )
            for name in self.store.resolve(expression, allow_aliases=False):
                del self.store.indices[name]
                for targets in self.store.aliases.values():
                    targets.discard(name)
            self.store.aliases = {a: t for a, t in self.store.aliases.items() if t}
        return {"acknowledged": True}

    def put_settings(self, expression: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _ApiError(400, "action_request_validation_exception", "Validation Failed: 1: no settings to update;")
        settings = self._check_settings(_flatten_settings(body.get("settings", body)), creating=False)
        with self.store.lock:
            for name in self.store.resolve(expression):
                index = self.store.indices[name]
                for key, value in settings.items():
                    if value == "":
                        index.settings.pop(key, None)
                        if key in _DEFAULTS:
                            index.settings[key] = _DEFAULTS[key]
                    else:
                        index.settings[key] = value
        return {"acknowledged": True}

    def refresh(self, expression: str) -> dict[str, Any]:
        with self.store.lock:
            names = self.store.resolve(expression)
            for name in names:
                self.store.indices[name].refresh()
        return {"_shards": {"total": len(names), "successful": len(names), "failed": 0}}

    # -- documents -----------------------------------------------------------------------------------

    def get_doc(self, expression: str, doc_id: str) -> Response:
        with self.store.lock:
            index = self.store.write_index(expression)
            if doc_id not in index.docs:
                return 404, {"_index": index.name, "_id": doc_id, "found": False}
            return 200, {
                "_index": index.name,
                "_id": doc_id,
                "_version": index.versions[doc_id],
                "_seq_no": index.seq_no,
                "_primary_term": 1,
                "found": True,
                "_source": index.docs[doc_id],
            }

    def bulk(self, default_index: str | None, query: dict[str, str], content_type: str, body: bytes) -> Response:
        mime = content_type.split(";")[0].strip().lower()
        if mime not in _NDJSON_TYPES:
            raise _ApiError(
                406, "media_type_header_exception", f"Content-Type header [{content_type}] is not supported"
            )
        if not body.endswith(b"\n"):
            raise _ApiError(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
        lines = body.split(b"\n")[:-1]
        operations: list[tuple[str, dict[str, Any], bytes | None]] = []
        i = 0
        while i < len(lines):
            if not lines[i].strip():
                i += 1
                continue
            try:
                header = json.loads(lines[i])
            except ValueError as exc:
                raise _ApiError(
                    400, "x_content_parse_exception", f"[{i + 1}:1] Malformed action/metadata line"
                ) from exc
            if not isinstance(header, dict) or len(header) != 1:
                raise _ApiError(
                    400,
                    "illegal_argument_exception",
                    f"Malformed action/metadata line [{i + 1}], expected a simple value for field [...]",
                )
            op, meta = next(iter(header.items()))
            if op not in ("index", "create", "delete"):
                raise _ApiError(
                    400,
                    "illegal_argument_exception",
                    f"Malformed action/metadata line [{i + 1}], expected one of [create, delete, index, update] "
                    f"but found [{op}]",
                )
            source: bytes | None = None
            if op != "delete":
                if i + 1 >= len(lines):
                    raise _ApiError(
                        400, "action_request_validation_exception", "Validation Failed: 1: source is missing;"
                    )
                source = lines[i + 1]
                i += 1
            operations.append((op, meta or {}, source))
            i += 1
        if not operations:
            raise _ApiError(400, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
        started = time.monotonic()
        items = []
        touched: set[str] = set()
        with self.store.lock:
            for op, meta, source in operations:
                item, index_name = self._bulk_item(op, meta, source, default_index)
                items.append({op: item})
                if index_name:
                    touched.add(index_name)
            for name in touched:
                index = self.store.indices.get(name)
                if index is not None and (index.auto_refresh or query.get("refresh") in ("true", "wait_for", "")):
                    index.refresh()
        errors = any("error" in next(iter(item.values())) for item in items)
        return 200, {"errors": errors, "took": int((time.monotonic() - started) * 1000), "items": items}

    def _bulk_item(
        self, op: str, meta: dict[str, Any], source: bytes | None, default_index: str | None
    ) -> tuple[dict[str, Any], str | None]:
        target = meta.get("_index", default_index)
        doc_id = meta.get("_id")
        doc_id = str(doc_id) if doc_id is not None else None
        base: dict[str, Any] = {"_index": target, "_id": doc_id}
        try:
            if target is None:
                raise _ApiError(400, "action_request_validation_exception", "Validation Failed: 1: index is missing;")
            index = self.store.write_index(target)
            base["_index"] = index.name
            if doc_id is None:
                if op == "delete":
                    raise _ApiError(400, "action_request_validation_exception", "Validation Failed: 1: id is missing;")
                doc_id = uuid.uuid4().hex[:20]
                base["_id"] = doc_id
            if len(doc_id.encode()) > _MAX_ID_BYTES:
                raise _ApiError(
                    400,
                    "illegal_argument_exception",
                    f"id [{doc_id}] is too long, must be no longer than 512 bytes but was: {len(doc_id.encode())}",
                )
            for rejection in self.store.rejections:
                if rejection.rejects(doc_id):
                    if rejection.status == 429:
                        raise _ApiError(
                            429,
                            "es_rejected_execution_exception",
                            f"rejected execution of primary operation [coordinating_and_primary_bytes=0, "
                            f"replica_bytes=0, all_bytes=0, primary_operation_bytes=0, max_coordinating_and_primary_"
                            f"bytes=0] (injected for id {doc_id})",
                        )
                    if rejection.status == 503:
                        raise _ApiError(
                            503,
                            "unavailable_shards_exception",
                            f"[{index.name}][0] primary shard is not active Timeout: [1m] (injected for id {doc_id})",
                        )
                    raise _ApiError(
                        rejection.status,
                        "document_parsing_exception",
                        f"[1:1] failed to parse: injected rejection of document [{doc_id}]",
                    )
            if op == "delete":
                if doc_id not in index.docs:
                    index.seq_no += 1
                    return {**base, "_version": 1, "result": "not_found", "status": 404, "_seq_no": index.seq_no,
                            "_primary_term": 1, "_shards": self._shards(index)}, index.name  # fmt: skip
                del index.docs[doc_id]
                index.seq_no += 1
                version = index.versions.pop(doc_id, 1) + 1
                return {**base, "_version": version, "result": "deleted", "status": 200, "_seq_no": index.seq_no,
                        "_primary_term": 1, "_shards": self._shards(index)}, index.name  # fmt: skip
            assert source is not None
            raw = source.decode("utf-8")
            try:
                doc = json.loads(raw)
            except ValueError as exc:
                raise _ApiError(400, "document_parsing_exception", f"[1:1] failed to parse: {exc}") from exc
            _DocumentChecker(index.mappings, doc_id, raw).check(doc)
            exists = doc_id in index.docs
            if op == "create" and exists:
                raise _ApiError(
                    409,
                    "version_conflict_engine_exception",
                    f"[{doc_id}]: version conflict, document already exists (current version "
                    f"[{index.versions[doc_id]}])",
                    index_uuid=index.uuid,
                    shard="0",
                    index=index.name,
                )
            index.docs[doc_id] = doc
            index.versions[doc_id] = index.versions.get(doc_id, 0) + 1
            index.seq_no += 1
            return {
                **base,
                "_version": index.versions[doc_id],
                "result": "updated" if exists else "created",
                "_shards": self._shards(index),
                "_seq_no": index.seq_no,
                "_primary_term": 1,
                "status": 200 if exists else 201,
            }, index.name
        except _ApiError as exc:
            error = exc.item_error()
            if exc.error_type != "index_not_found_exception" and base["_index"] in self.store.indices:
                error.setdefault("index_uuid", self.store.indices[base["_index"]].uuid)
                error.setdefault("shard", "0")
                error.setdefault("index", base["_index"])
            return {**base, "status": exc.status, "error": error}, None

    @staticmethod
    def _shards(index: _Index) -> dict[str, int]:
        replicas = int(index.settings.get("index.number_of_replicas", "1") or 0)
        return {"total": 1 + replicas, "successful": 1, "failed": 0}

    # -- aliases -------------------------------------------------------------------------------------

    def update_aliases(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or set(body) != {"actions"} or not isinstance(body["actions"], list):
            raise _ApiError(400, "x_content_parse_exception", "[1:2] [aliases] unknown field or missing [actions]")
        if not body["actions"]:
            raise _ApiError(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: Must specify at least one alias action;",
            )
        with self.store.lock:
            aliases = {a: set(t) for a, t in self.store.aliases.items()}
            deleted: list[str] = []
            for position, action in enumerate(body["actions"], start=1):
                if not isinstance(action, dict) or len(action) != 1:
                    raise _ApiError(400, "x_content_parse_exception", f"[{position}:1] [alias_action] malformed action")
                kind, spec = next(iter(action.items()))
                allowed = {
                    "add": {"index", "indices", "alias", "aliases", "is_write_index", "is_hidden", "must_exist",
                            "filter", "routing"},
                    "remove": {"index", "indices", "alias", "aliases", "must_exist"},
                    "remove_index": {"index", "indices", "must_exist"},
                }.get(kind)  # fmt: skip
                if allowed is None:
                    raise _ApiError(
                        400, "x_content_parse_exception", f"[{position}:3] [alias_action] unknown field [{kind}]"
                    )
                if not isinstance(spec, dict):
                    raise _ApiError(400, "x_content_parse_exception", f"[{position}:3] [{kind}] must be an object")
                unknown = sorted(set(spec) - allowed)
                if unknown:
                    raise _ApiError(
                        400, "x_content_parse_exception", f"[{position}:3] [{kind}] unknown field [{unknown[0]}]"
                    )
                index_expr = spec.get("index") or ",".join(spec.get("indices", []))
                if not index_expr:
                    raise _ApiError(
                        400,
                        "action_request_validation_exception",
                        "Validation Failed: 1: One of [index] or [indices] is required;",
                    )
                indices = self.store.resolve(index_expr, allow_aliases=False)
                if kind == "remove_index":
                    for name in indices:
                        deleted.append(name)
                        for targets in aliases.values():
                            targets.discard(name)
                    continue
                names = [spec["alias"]] if "alias" in spec else list(spec.get("aliases", []))
                if not names:
                    raise _ApiError(
                        400,
                        "action_request_validation_exception",
                        "Validation Failed: 1: [alias] or [aliases] is required;",
                    )
                for alias in names:
                    if kind == "add":
                        if alias in self.store.indices and alias not in deleted:
                            raise _ApiError(
                                400,
                                "invalid_alias_name_exception",
                                f"Invalid alias name [{alias}]: an index or data stream exists with the same name as "
                                "the alias",
                            )
                        aliases.setdefault(alias, set()).update(indices)
                    else:
                        for name in indices:
                            if name in aliases.get(alias, set()):
                                aliases[alias].discard(name)
                            elif spec.get("must_exist") is not False:
                                raise _ApiError(404, "aliases_not_found_exception", f"aliases [{alias}] missing")
            for name in deleted:
                self.store.indices.pop(name, None)
            self.store.aliases = {a: t for a, t in aliases.items() if t}
        return {"acknowledged": True, "errors": False}

    def get_alias(self, expression: str) -> Response:
        with self.store.lock:
            found: dict[str, dict[str, Any]] = {}
            missing = []
            for name in expression.split(","):
                matched = [a for a in self.store.aliases if fnmatch.fnmatchcase(a, name)]
                if not matched:
                    missing.append(name)
                for alias in matched:
                    for index in sorted(self.store.aliases[alias]):
                        found.setdefault(index, {"aliases": {}})["aliases"][alias] = {}
            if missing and not found:
                return 404, {"error": f"alias [{','.join(missing)}] missing", "status": 404}
            if missing:
                return 404, {"error": f"alias [{','.join(missing)}] missing", "status": 404, **found}
            return 200, found

    # -- search --------------------------------------------------------------------------------------

    def count(self, expression: str, body: Any) -> dict[str, Any]:
        body = body or {}
        if not isinstance(body, dict) or set(body) - {"query"}:
            key = sorted(set(body) - {"query"})[0] if isinstance(body, dict) else "body"
            raise _ApiError(400, "parsing_exception", f"request does not support [{key}]")
        with self.store.lock:
            names = self.store.resolve(expression)
            total = 0
            for name in names:
                index = self.store.indices[name]
                matcher = self.queries.matcher(index, body.get("query"))
                total += sum(1 for doc_id, doc in index.visible.items() if matcher(doc_id, doc))
        return {"count": total, "_shards": {"total": len(names), "successful": len(names), "skipped": 0, "failed": 0}}

    def search(self, expression: str, body: Any, query: dict[str, str]) -> dict[str, Any]:
        started = time.monotonic()
        body = body or {}
        allowed = {"query", "size", "from", "_source", "track_total_hits", "sort", "timeout"}
        if not isinstance(body, dict):
            raise _ApiError(400, "parsing_exception", "request body must be an object")
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise _ApiError(
                400, "parsing_exception", f"Unknown key for a START_OBJECT in [{unknown[0]}].", line=1, col=1
            )
        size = int(body.get("size", query.get("size", 10)))
        offset = int(body.get("from", query.get("from", 0)))
        source_filter = body.get("_source", query.get("_source", True))
        with self.store.lock:
            names = self.store.resolve(expression)
            window = min(
                (int(self.store.indices[n].settings.get("index.max_result_window", "10000")) for n in names),
                default=10000,
            )
            if size + offset > window:
                raise _ApiError(
                    400,
                    "illegal_argument_exception",
                    f"Result window is too large, from + size must be less than or equal to: [{window}] but was "
                    f"[{size + offset}].",
                )
            hits: list[tuple[str, str, dict[str, Any]]] = []
            for name in names:
                index = self.store.indices[name]
                matcher = self.queries.matcher(index, body.get("query"))
                hits.extend((name, doc_id, doc) for doc_id, doc in index.visible.items() if matcher(doc_id, doc))
        page = hits[offset : offset + size]
        return {
            "took": int((time.monotonic() - started) * 1000),
            "timed_out": False,
            "_shards": {"total": len(names), "successful": len(names), "skipped": 0, "failed": 0},
            "hits": {
                "total": {"value": len(hits), "relation": "eq"},
                "max_score": 1.0 if hits else None,
                "hits": [
                    {"_index": name, "_id": doc_id, "_score": 1.0, **self._source(doc, source_filter)}
                    for name, doc_id, doc in page
                ],
            },
        }

    @staticmethod
    def _source(doc: dict[str, Any], source_filter: Any) -> dict[str, Any]:
        if source_filter in (False, "false"):
            return {}
        if source_filter in (True, "true", None):
            return {"_source": doc}
        if isinstance(source_filter, str):
            includes = source_filter.split(",")
        elif isinstance(source_filter, list):
            includes = [str(s) for s in source_filter]
        elif isinstance(source_filter, dict):
            includes = list(source_filter.get("includes", ["*"]))
        else:
            includes = ["*"]
        if "*" in includes:
            return {"_source": doc}
        return {"_source": {k: v for k, v in doc.items() if any(fnmatch.fnmatchcase(k, p) for p in includes)}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        # Headers and body are written separately: without this, Nagle + delayed ACK add ~40 ms per request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        owner = self.server.owner
        split = urlsplit(self.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(headers.get("content-length", "0") or 0)
        body = self.rfile.read(length) if length else b""
        if headers.get("content-encoding") == "gzip" and body:
            body = gzip.decompress(body)
        fault = owner._take_fault(method, split.path)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
            fault = None
        status: int
        payload: Any
        compat = self._compat(headers)
        if isinstance(compat, _ApiError):
            status, payload = compat.status, compat.body()
        elif fault is not None and fault.kind == "status":
            status, payload = fault.status, self._fault_body(fault.status, split.path)
        elif fault is not None and fault.kind == "drop" and not fault.after_apply:
            owner._record(method, split.path, query, headers, body, 0)
            self._drop(b'{"partial": ')
            return
        else:
            try:
                status, payload = owner.app.handle(method, split.path, query, headers, body)
            except _ApiError as exc:
                status, payload = exc.status, exc.body()
            except Exception as exc:  # a bug in this server: make it loud in the test
                status, payload = 500, {"error": {"type": "test_server_bug", "reason": repr(exc)}, "status": 500}
        data = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        if fault is not None and fault.kind == "drop":
            owner._record(method, split.path, query, headers, body, 0)
            self._drop(data, status)
            return
        owner._record(method, split.path, query, headers, body, status)
        self.send_response(status)
        accept = headers.get("accept", "")
        match = _COMPAT.search(accept)
        self.send_header(
            "Content-Type",
            f"application/vnd.elasticsearch+json;compatible-with={match.group(1)}" if match else "application/json",
        )
        self.send_header("X-Elastic-Product", "Elasticsearch")
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="security" charset="UTF-8"')
        self.send_header("Content-Length", str(0 if method == "HEAD" else len(data)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)

    def _compat(self, headers: dict[str, str]) -> _ApiError | None:
        major = self.server.owner.store.major
        versions = {}
        for name in ("accept", "content-type"):
            match = _COMPAT.search(headers.get(name, ""))
            if match:
                versions[name] = int(match.group(1))
        for name, version in versions.items():
            if version not in (major, major - 1):
                label = "Accept" if name == "accept" else "Content-Type"
                return _ApiError(
                    400,
                    "media_type_header_exception",
                    f"Invalid media-type value on headers [{label}]: {label} version must be either version {major} "
                    f"or {major - 1}, but found {version}. {label}={headers[name]}",
                )
        if len(set(versions.values())) > 1:
            return _ApiError(
                400,
                "media_type_header_exception",
                "Content-Type and Accept version requests have to match. "
                f"Accept={headers.get('accept')} Content-Type={headers.get('content-type')}",
            )
        return None

    @staticmethod
    def _fault_body(status: int, path: str = "/") -> dict[str, Any] | None:
        """What Elasticsearch (or the HTTP layer in front of it) answers with this status."""
        target = ([unquote(p) for p in path.split("/") if p and not p.startswith("_")] or ["_all"])[0]
        if status == 429:
            error = _ApiError(429, "es_rejected_execution_exception", "rejected execution of coordinating operation")
        elif status == 503:
            error = _ApiError(503, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/2/no master];")
        elif status == 401:
            error = _ApiError(
                401,
                "security_exception",
                "unable to authenticate with provided credentials and anonymous access is not allowed for this request",
                header={"WWW-Authenticate": ['Basic realm="security" charset="UTF-8"', "ApiKey"]},
            )
        elif status == 403:
            error = _ApiError(
                403,
                "security_exception",
                f"action [indices:data/write/bulk[s]] is unauthorized for API key id [test] of user [museum] on"
                f" indices [{target}], this action is granted by the index privileges"
                " [create_doc,create,index,write,all]",
            )
        elif status == 404:
            error = _ApiError(404, "index_not_found_exception", f"no such index [{target}]", index=target)
        elif status == 413:
            return None  # the HTTP layer refuses the body before Elasticsearch reads it: no JSON at all
        else:
            error = _ApiError(status, "injected_fault_exception", f"injected HTTP {status}")
        return error.body()

    def _drop(self, data: bytes, status: int = 200) -> None:
        """Send the status line, headers and half the body, then cut the connection."""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(data) + 64))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: EsTestServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, injected drop) closes its socket: not the server's problem."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class EsTestServer:
    """The server: ``with EsTestServer() as es: SearchClient(es.url)``.

    ``version`` is the Elasticsearch version it claims (its major decides which ``compatible-with``
    headers it accepts). ``record_bodies=False`` keeps request bodies out of the log (benchmarks).
    """

    def __init__(self, *, version: str = "9.1.0", record_bodies: bool = True) -> None:
        self.store = _Store(version)
        self.app = _App(self.store)
        self.record_bodies = record_bodies
        self._requests: list[RecordedRequest] = []
        self._requests_lock = threading.Lock()
        self._http: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> EsTestServer:
        self._http = _HttpServer(self)
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, name="es-test-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> EsTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._http is not None, "server not started"
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- fault injection -----------------------------------------------------------------------------

    def fail_next(
        self, n: int, status: int = 503, *, path: str | None = None, method: str | None = None, after: int = 0
    ) -> None:
        """The next ``n`` requests matching ``path`` (a regex searched in the path) answer ``status``.

        ``after``: let that many matching requests succeed first (e.g. fail the *second* alias call).
        """
        pattern = re.compile(path) if path else None
        self._add_fault(_Fault("status", n, method, pattern, status=status, skip=after))

    def drop_next(
        self,
        n: int,
        *,
        path: str | None = None,
        method: str | None = None,
        after_apply: bool = True,
        after: int = 0,
    ) -> None:
        """The next ``n`` matching requests lose their connection halfway through the response.

        ``after_apply``: the request takes effect first (the client cannot know it did), as when a
        node applies a change and the connection dies before the answer arrives.
        """
        pattern = re.compile(path) if path else None
        self._add_fault(_Fault("drop", n, method, pattern, after_apply=after_apply, skip=after))

    def delay_next(
        self, n: int, seconds: float, *, path: str | None = None, method: str | None = None, after: int = 0
    ) -> None:
        """The next ``n`` matching requests wait ``seconds`` before being handled."""
        pattern = re.compile(path) if path else None
        self._add_fault(_Fault("delay", n, method, pattern, seconds=seconds, skip=after))

    def reject_docs(self, predicate: Callable[[str], bool], status: int = 400, *, times: int | None = None) -> None:
        """Bulk items whose ``_id`` matches fail with ``status`` (400: parse error, 429: rejected execution).

        ``times``: reject each matching id only that many times (then accept it), to exercise retries.
        """
        with self.store.lock:
            self.store.rejections.append(_DocRejection(predicate, status, times))

    def clear_faults(self) -> None:
        with self.store.lock:
            self.store.faults.clear()
            self.store.rejections.clear()

    def _add_fault(self, fault: _Fault) -> None:
        with self.store.lock:
            self.store.faults.append(fault)

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self.store.lock:
            for fault in self.store.faults:
                if fault.matches(method, path):
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.remaining -= 1
                    return fault
            return None

    # -- recorded requests ---------------------------------------------------------------------------

    def _record(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes, status: int
    ) -> None:
        request = RecordedRequest(method, path, query, headers, body if self.record_bodies else b"", status)
        with self._requests_lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._requests_lock:
            return list(self._requests)

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests whose path matches the regex ``path`` (and ``method``, when given)."""
        pattern = re.compile(path)
        return [r for r in self.requests if pattern.search(r.path) and (method is None or r.method == method)]

    def reset_requests(self) -> None:
        with self._requests_lock:
            self._requests.clear()

    # -- state, for assertions -----------------------------------------------------------------------

    def index_names(self) -> list[str]:
        with self.store.lock:
            return sorted(self.store.indices)

    def documents(self, index: str) -> dict[str, dict[str, Any]]:
        with self.store.lock:
            return dict(self.store.indices[index].docs)

    def settings(self, index: str) -> dict[str, str]:
        with self.store.lock:
            return dict(self.store.indices[index].settings)

    def alias_targets(self, alias: str) -> set[str]:
        with self.store.lock:
            return set(self.store.aliases.get(alias, set()))


def remove_scratch_alias_and_indices(client: SearchClient) -> None:
    """After a live-cluster test or benchmark: its own alias and indices (a scratch prefix) go."""
    current = client.alias_target()
    if current is not None:
        client.clear_alias(current)
    for info in client.list_indices():
        client.es.indices.delete(index=info.name)


def fast_client(url: str, **options: Any) -> SearchClient:
    """A ``SearchClient`` whose backoffs are milliseconds, so fault tests stay fast (production waits seconds)."""
    from museum_sync.clients.search import SearchClient

    settings: dict[str, Any] = {
        "retry_backoff_base": 0.005,
        "retry_backoff_cap": 0.02,
        "bulk_initial_backoff": 0.005,
        "bulk_max_backoff": 0.02,
        "request_timeout": 10.0,
    }
    settings.update(options)
    return SearchClient(url, **settings)
