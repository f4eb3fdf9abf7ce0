"""Which failures a step retries: connection errors only, with backoff; everything else fails at once.

Every op and asset carries ``CONNECTION_RETRY``; every step body is wrapped in
``retry_only_connection_errors``, which turns any other error into ``dg.Failure(allow_retries=False)`` so
the policy never repeats a validation failure, a refused gate or a bug.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import dagster as dg

__all__ = ["CONNECTION_RETRY", "is_connection_error", "retry_only_connection_errors"]

P = ParamSpec("P")
R = TypeVar("R")

# Connection errors (PostgreSQL restart, Redis failover) are retried with backoff and jitter; validation
# and gate failures raise ``dg.Failure(allow_retries=False)`` and are never retried.
CONNECTION_RETRY = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def is_connection_error(exc: BaseException) -> bool:
    """PostgreSQL, Redis or network trouble: worth a retry with backoff. Everything else is not."""
    import psycopg
    import redis

    from museum_sync.clients.search import SearchUnavailable
    from museum_sync.publication import PublicationFailed

    # PublicationFailed: a publication step failed part way and was rolled back; a rerun completes it.
    retryable = (
        psycopg.OperationalError,
        redis.ConnectionError,
        redis.TimeoutError,
        ConnectionError,
        TimeoutError,
        SearchUnavailable,
        PublicationFailed,
    )
    return isinstance(exc, retryable) or (exc.__cause__ is not None and isinstance(exc.__cause__, retryable))


def retry_only_connection_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Let the step's RetryPolicy act on connection errors only.

    A validation failure, a refused gate or a bug raises the same way on every attempt: retrying it only
    delays the steward's alert, so it becomes ``dg.Failure(allow_retries=False)`` with the original error.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except dg.Failure:
            raise
        except Exception as exc:
            if is_connection_error(exc):
                raise
            raise dg.Failure(description=f"{type(exc).__name__}: {exc}", allow_retries=False) from exc

    return wrapper
