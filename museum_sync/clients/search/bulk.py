"""Bulk writes that tell a refused document from a refused request.

Only a document Elasticsearch refused on its own merits (``mapper_parsing_exception``,
``document_parsing_exception``, ``strict_dynamic_mapping_exception``...) comes back as an ``IndexFailure``,
which the caller quarantines as ``index_rejected``. A request refused as a whole says nothing about its
documents, so none of them is reported:

- 429/502/503/504 for the whole request, or for single documents, is retried here with exponential
  backoff (the request again, or only the documents pushed back), on top of the transport's own retries;
  still failing after ``max_retries``, it raises ``SearchUnavailable`` (the step's retry policy runs the
  chunk again later; re-indexing is idempotent);
- any other refused request (401/403 credentials, 404 missing index, 413 too large...) raises a one-line
  ``SearchError`` naming status, index and what to do: retrying cannot help;
- a connection that stays down past the transport's retries raises ``SearchUnavailable``.

``streaming_bulk`` is used only to frame and size the requests (``max_retries=0``, exceptions raised), so
the behaviour is the same on every supported elasticsearch-py version.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError, helpers

from museum_sync.clients.search.errors import SearchUnavailable
from museum_sync.clients.search.failures import RETRYABLE_STATUS, api_failure, reason, transport_failure
from museum_sync.clients.search.results import IndexFailure, IndexResult

__all__ = ["BulkPolicy", "bulk_write"]

Action = dict[str, Any]


@dataclass(frozen=True)
class BulkPolicy:
    """Documents per request, bytes per request, and the retries (with backoff) of what was pushed back."""

    chunk_size: int = 500
    max_bytes: int = 5 * 1024 * 1024
    max_retries: int = 5
    initial_backoff: float = 1.0
    max_backoff: float = 30.0

    def backoff(self, attempt: int) -> float:
        return float(min(self.max_backoff, self.initial_backoff * 2 ** (attempt - 1)))


def bulk_write(es: Elasticsearch, url: str, index: str, actions: Iterable[Action], policy: BulkPolicy) -> IndexResult:
    """Send ``actions`` in batches of ``policy.chunk_size``; return what was indexed and every refused document.

    A delete of a document that is already gone counts as done. Raises as the module docstring says.
    """
    indexed = 0
    errors: list[IndexFailure] = []
    for batch in _batches(actions, policy.chunk_size):
        done, refused = _write_batch(es, url, index, batch, policy)
        indexed += done
        errors.extend(refused)
    return IndexResult(indexed=indexed, errors=errors)


def _write_batch(
    es: Elasticsearch, url: str, index: str, batch: list[Action], policy: BulkPolicy
) -> tuple[int, list[IndexFailure]]:
    indexed = 0
    errors: list[IndexFailure] = []
    pending = batch
    attempt = 0
    what = f"indexing into {index}"
    while True:
        try:
            answers = _send(es, pending, policy)
        except ApiError as exc:
            if exc.status_code in RETRYABLE_STATUS and attempt < policy.max_retries:
                attempt += 1
                time.sleep(policy.backoff(attempt))
                continue  # the whole batch again: its documents ids are fixed, so nothing is doubled
            raise api_failure(f"{what} ({len(pending)} documents)", exc, hint=True) from exc
        except TransportError as exc:
            raise transport_failure(what, url, exc) from exc
        pushed_back: list[Action] = []
        last: dict[str, Any] = {}
        for action, (ok, item) in zip(pending, answers, strict=True):
            op, info = next(iter(item.items()))
            status = int(info.get("status") or 0)
            if ok or (op == "delete" and status == 404):  # a delete of what is gone: done
                indexed += op != "delete"
            elif status in RETRYABLE_STATUS:
                pushed_back.append(action)
                last = info
            else:
                errors.append(IndexFailure(str(info.get("_id")), status, reason(info.get("error"))))
        if not pushed_back:
            return indexed, errors
        if attempt >= policy.max_retries:
            raise SearchUnavailable(
                f"{what}: {len(pushed_back)} documents still pushed back with HTTP {last.get('status')}"
                f" ({reason(last.get('error'))}) after {attempt + 1} attempts",
                status=int(last.get("status") or 0),
            )
        attempt += 1
        time.sleep(policy.backoff(attempt))
        pending = pushed_back


def _send(es: Elasticsearch, actions: list[Action], policy: BulkPolicy) -> list[tuple[bool, dict[str, Any]]]:
    """One pass over ``actions`` (one or more ``_bulk`` requests within the byte bound): an answer per action."""
    return list(
        helpers.streaming_bulk(
            es,
            actions,
            chunk_size=policy.chunk_size,
            max_chunk_bytes=policy.max_bytes,
            raise_on_error=False,
            raise_on_exception=True,
            max_retries=0,
        )
    )


def _batches(actions: Iterable[Action], size: int) -> Iterator[list[Action]]:
    batch: list[Action] = []
    for action in actions:
        batch.append(action)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
