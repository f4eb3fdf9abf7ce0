"""Elasticsearch: one versioned index per export behind one public alias (``client``), the documents
and mapping it writes (``documents``), what its calls raise (``errors``) and return (``results``).
"""

from museum_sync.clients.search.client import ALIAS, INDEX_PREFIX, SearchClient
from museum_sync.clients.search.documents import MAPPING, MAPPING_VERSION, TITLE_ANALYZERS, title_field, to_document
from museum_sync.clients.search.errors import AliasConflict, SearchError, SearchUnavailable
from museum_sync.clients.search.results import IndexFailure, IndexInfo, IndexResult

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
