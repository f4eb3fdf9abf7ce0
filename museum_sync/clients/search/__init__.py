"""Elasticsearch: one versioned index per export behind one public alias (``client``), the documents
and mapping it writes (``documents``), bulk writes that tell a refused document from a refused request
(``bulk``), which indices this deployment owns (``ownership``), what its calls raise (``errors``,
``failures``) and return (``results``).

``SearchClient``, ``ALIAS`` and ``INDEX_PREFIX`` are loaded on first use (``__getattr__``): they import the
elasticsearch client, 0.16 s, which a process that never searches (the CLI's orchestrator, a catalogue-only
deployment) need not pay. The worker's parent imports them for its children (``defs.worker_internals``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from museum_sync.clients.search.documents import MAPPING, MAPPING_VERSION, TITLE_ANALYZERS, title_field, to_document
from museum_sync.clients.search.errors import AliasConflict, SearchError, SearchUnavailable
from museum_sync.clients.search.ownership import CREATED_BY, Owner
from museum_sync.clients.search.results import IndexFailure, IndexInfo, IndexResult

if TYPE_CHECKING:
    from museum_sync.clients.search.client import ALIAS, INDEX_PREFIX, SearchClient

_FROM_CLIENT = frozenset({"ALIAS", "INDEX_PREFIX", "SearchClient"})

__all__ = [
    "ALIAS",
    "CREATED_BY",
    "INDEX_PREFIX",
    "MAPPING",
    "MAPPING_VERSION",
    "TITLE_ANALYZERS",
    "AliasConflict",
    "IndexFailure",
    "IndexInfo",
    "IndexResult",
    "Owner",
    "SearchClient",
    "SearchError",
    "SearchUnavailable",
    "title_field",
    "to_document",
]


def __getattr__(name: str) -> Any:
    if name in _FROM_CLIENT:
        from museum_sync.clients.search import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
