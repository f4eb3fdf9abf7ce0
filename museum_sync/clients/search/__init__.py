"""Elasticsearch: one versioned index per export behind one public alias (``client``), the documents
and mapping it writes (``documents``), bulk writes that tell a refused document from a refused request
(``bulk``), which indices this deployment owns (``ownership``), what its calls raise (``errors``,
``failures``) and return (``results``).
"""

from museum_sync.clients.search.client import ALIAS, INDEX_PREFIX, SearchClient
from museum_sync.clients.search.documents import MAPPING, MAPPING_VERSION, TITLE_ANALYZERS, title_field, to_document
from museum_sync.clients.search.errors import AliasConflict, SearchError, SearchUnavailable
from museum_sync.clients.search.ownership import CREATED_BY, Owner
from museum_sync.clients.search.results import IndexFailure, IndexInfo, IndexResult

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
