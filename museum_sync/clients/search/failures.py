"""Elasticsearch's answers turned into our errors: one line naming what was asked, the status and the reason.

A status that says "later" (429, 502, 503, 504) or a connection that fails becomes ``SearchUnavailable``,
which the step's retry policy retries; anything else (a refused key, a missing index, a request too large)
is ``SearchError``: retrying repeats it, so it fails the step at once with a message an operator can act on.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import ApiError, TransportError

from museum_sync.clients.search.errors import SearchError, SearchUnavailable
from museum_sync.redaction import redact

__all__ = ["RETRYABLE_STATUS", "api_failure", "describe", "error_type", "reason", "transport_failure"]

# Statuses that mean "not now": the cluster is busy, restarting or behind a failing proxy.
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})

# What an operator does about a request Elasticsearch refused outright (not per document).
_HINTS = {
    401: "Elasticsearch refused the credentials (MUSEUM_SYNC_ES_API_KEY, or MUSEUM_SYNC_ES_USER/_PASSWORD)",
    403: "the credentials lack a privilege on this index (write, create_index and manage on the index prefix)",
    404: "the index does not exist (deleted while loading?): re-run the step to create it",
    413: "the request is larger than the cluster's http.max_content_length: lower bulk_max_bytes",
}


def one_line(text: str) -> str:
    return " ".join(text.split())


def error_type(exc: ApiError) -> str | None:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        kind = body["error"].get("type")
        return str(kind) if kind is not None else None
    return None


def reason(error: Any) -> str:
    """``type: reason`` of an error object from Elasticsearch (or the text the helper gives)."""
    if isinstance(error, dict):
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}".strip()
        cause = error.get("caused_by")
        if isinstance(cause, dict):
            text += f" (caused by {cause.get('type')}: {cause.get('reason')})"
        return one_line(text)
    return one_line(str(error))


def describe(exc: ApiError) -> str:
    """``HTTP <status> <type>: <reason>`` of a refused request, with a hint for a client/cluster mismatch."""
    body = exc.body
    text = f"HTTP {exc.status_code}"
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        text += f" {reason(body['error'])}"
    elif isinstance(body, dict) and "error" in body:
        text += f" {body['error']}"
    elif exc.message:
        text += f" {exc.message}"
    if error_type(exc) == "media_type_header_exception":
        from importlib.metadata import version

        text += (
            f" (this is elasticsearch-py {version('elasticsearch')}, which speaks the REST API of its own major"
            " version: use a client whose major version matches the cluster's)"
        )
    return one_line(text)


def api_failure(what: str, exc: ApiError, *, hint: bool = False) -> SearchError:
    """The error for a refused request: ``SearchUnavailable`` for 429/5xx, else ``SearchError``.

    ``hint``: add what to do about a 401/403/404/413 (the whole request was refused, not a document).
    """
    message = f"{what}: {describe(exc)}"
    if hint and exc.status_code in _HINTS:
        message += f" - {_HINTS[exc.status_code]}"
    kind = SearchUnavailable if exc.status_code in RETRYABLE_STATUS else SearchError
    return kind(one_line(message), status=exc.status_code, error_type=error_type(exc))


def transport_failure(what: str, url: str, exc: TransportError) -> SearchUnavailable:
    return SearchUnavailable(one_line(f"{what}: Elasticsearch at {redact(url)} unreachable: {exc}"))
