"""What the search client raises: Elasticsearch refused, could not be reached, or the alias moved."""

from __future__ import annotations

from museum_sync.core.exceptions import MuseumSyncError

__all__ = ["AliasConflict", "SearchError", "SearchUnavailable"]


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
