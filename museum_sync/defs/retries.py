"""Which failures a step retries, as one table (``RETRY_TABLE``): an error, whether it is retried, and why.

Every op and asset carries ``CONNECTION_RETRY`` (exponential backoff with jitter); every step body is wrapped
in ``retry_only_connection_errors``, which lets the policy act only on errors the table marks as retried and
turns any other error into ``dg.Failure(allow_retries=False)`` naming the table's reason, so the policy never
repeats a validation failure, a refused gate, a full disk or a bug.

An error is looked up with its explicit causes (``raise ... from``): a step error is often a museum-sync error
wrapping the library's (a ``HarvestError`` from an ``HttpError``, a ``PublicationFailed`` from a psycopg
error). Each error of that chain is matched against the rows, first match wins; the step is retried when some
error of the chain matches a retried row and none matches a row that is not retried (a rolled-back
publication whose PostgreSQL step failed on a full disk is not retried: the disk decides). An error no row
names is not retried.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import dagster as dg
import psycopg
import redis

from museum_sync.clients.catalog import PublicationRefused
from museum_sync.clients.http import HttpError, HttpStatusError
from museum_sync.clients.search import SearchUnavailable
from museum_sync.harvest import HarvestBusy
from museum_sync.publication import PublicationFailed
from museum_sync.telemetry.metrics import record_retry

__all__ = [
    "CONNECTION_RETRY",
    "RETRY_TABLE",
    "RetryRule",
    "classify",
    "is_connection_error",
    "is_retried",
    "retry_only_connection_errors",
]

P = ParamSpec("P")
R = TypeVar("R")

# The policy of every retried row: 3 more tries, 2 s, 4 s, 8 s apart (+-jitter). Long enough for a PostgreSQL
# or Redis restart and for a lock holder to finish; short enough that a steward hears of a lasting outage soon.
CONNECTION_RETRY = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


@dataclass(frozen=True)
class RetryRule:
    """One row of the table: which error, whether the step is retried, and why (said in the failure)."""

    error: str
    matches: Callable[[BaseException], bool]
    retried: bool
    why: str


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(exc, "sqlstate", None) if isinstance(exc, psycopg.Error) else None


def _pg_state(*prefixes: str) -> Callable[[BaseException], bool]:
    def matches(exc: BaseException) -> bool:
        state = _sqlstate(exc)
        return isinstance(exc, psycopg.Error) and state is not None and state.startswith(prefixes)

    return matches


def _pg_connection_lost(exc: BaseException) -> bool:
    """No sqlstate: libpq could not connect, or the server went away mid-statement (no answer to read)."""
    return isinstance(exc, psycopg.OperationalError) and _sqlstate(exc) is None


# A refused login has no sqlstate either (libpq reports it as text): PostgreSQL's own (English) FATAL messages.
_LOGIN_REFUSED = re.compile(
    r"FATAL:\s+(?:database \S+ does not exist|role \S+ does not exist|password authentication failed"
    r"|no pg_hba\.conf entry|too many connections|sorry, too many clients)"
)


def _pg_login_refused(exc: BaseException) -> bool:
    return _pg_connection_lost(exc) and _LOGIN_REFUSED.search(str(exc)) is not None


def _publication(rolled_back: bool) -> Callable[[BaseException], bool]:
    return lambda exc: isinstance(exc, PublicationFailed) and exc.rolled_back is rolled_back


def _http_gave_up_transient(exc: BaseException) -> bool:
    """The HTTP client's own retries on 429/5xx/timeouts/dropped connections ran out (``HttpError`` itself)."""
    if type(exc) is not HttpError:
        return False
    if exc.status is not None:
        return exc.status == 429 or (exc.status >= 500 and exc.status not in (501, 505))
    return "; gave up after " in str(exc) or "the server asks to retry after" in str(exc)


def _http_refused(exc: BaseException) -> bool:
    """4xx (and 501/505), a body too large or of the wrong type, an invalid URL, an undecodable body."""
    return isinstance(exc, HttpError) and not _http_gave_up_transient(exc)


# First match wins, per error of the chain (see the module docstring). Tested row by row:
# museum_sync_tests/safety/test_retry_classification.py (real errors from PostgreSQL, Redis, HTTP servers).
RETRY_TABLE: tuple[RetryRule, ...] = (
    RetryRule(
        "PostgreSQL refused the login (no such database or role, bad password, pg_hba, too many connections)",
        _pg_login_refused,
        False,
        "the server answered and said no: the connection settings or max_connections need an operator, a retry is"
        " refused the same way",
    ),
    RetryRule(
        "PostgreSQL connection failure (OperationalError without sqlstate, class 08)",
        lambda exc: _pg_connection_lost(exc) or _pg_state("08")(exc),
        True,
        "the connection could not be made or was lost (server restart, failover, network): a new one works",
    ),
    RetryRule(
        "PostgreSQL shutting down or starting up (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03)",
        _pg_state("57P01", "57P02", "57P03"),
        True,
        "the server is restarting: the same statement succeeds once it is back",
    ),
    RetryRule(
        "PostgreSQL deadlock (40P01) or serialization failure (40001)",
        _pg_state("40P01", "40001"),
        True,
        "PostgreSQL rolled the whole transaction back so that the other one could finish: rerun, it goes through",
    ),
    RetryRule(
        "PostgreSQL lock_not_available (55P03: lock_timeout, NOWAIT)",
        _pg_state("55P03"),
        True,
        "another transaction holds the lock: the policy's backoff (2, 4, 8 s) lets it finish",
    ),
    RetryRule(
        "PostgreSQL insufficient resources (53xxx: 53100 disk full, out of memory, too many connections)",
        _pg_state("53"),
        False,
        "PostgreSQL is out of a resource (disk, memory, connections): an operator must act, a retry fails the same"
        " way; rerun the step once it is fixed",
    ),
    RetryRule(
        "PostgreSQL query_canceled (57014: statement_timeout, or pg_cancel_backend)",
        _pg_state("57014"),
        False,
        "the statement ran past statement_timeout (a retry runs the same statement against the same limit, holding"
        " its locks again) or an operator cancelled it on purpose: raise the timeout or find the cause, then rerun",
    ),
    RetryRule(
        "Redis ConnectionError / TimeoutError",
        lambda exc: isinstance(exc, (redis.ConnectionError, redis.TimeoutError)),
        True,
        "the broker or result store restarted or did not answer in time",
    ),
    RetryRule(
        "SearchUnavailable (Elasticsearch unreachable after the transport's retries)",
        lambda exc: isinstance(exc, SearchUnavailable),
        True,
        "the cluster did not answer: a later try reaches it",
    ),
    RetryRule(
        "PublicationRefused (the publication gate)",
        lambda exc: isinstance(exc, PublicationRefused),
        False,
        "the gate refuses the same data again: a steward must look at the reason",
    ),
    RetryRule(
        "PublicationFailed(rolled_back=True)",
        _publication(rolled_back=True),
        True,
        "nothing moved (both stores show the previous export): a rerun completes the publication",
    ),
    RetryRule(
        "PublicationFailed(rolled_back=False)",
        _publication(rolled_back=False),
        False,
        "the stores may differ until the attempt is settled: `museum-sync publish` or `rollback` settles it on"
        " purpose, not a blind retry",
    ),
    RetryRule(
        "HarvestBusy (another process runs the same harvest)",
        lambda exc: isinstance(exc, HarvestBusy),
        False,
        "another run is harvesting this source into the same partial snapshot; that run publishes it",
    ),
    RetryRule(
        "HTTP 5xx / 429 / timeout / dropped connection, after the HTTP client's own attempts",
        _http_gave_up_transient,
        True,
        "the server is overloaded or restarting: a harvest resumes from its last checkpointed page",
    ),
    RetryRule(
        "HTTP 4xx (and 501/505), body too large or of the wrong type, invalid URL",
        lambda exc: isinstance(exc, HttpStatusError) or _http_refused(exc),
        False,
        "the request itself is wrong (URL, parameters, credentials, limits): it fails the same way every time",
    ),
    RetryRule(
        "ConnectionError / TimeoutError (sockets)",
        lambda exc: isinstance(exc, (ConnectionError, TimeoutError)),
        True,
        "a network connection failed or timed out",
    ),
)

_UNLISTED = "not a transient failure (validation, a refused gate, a bug): it fails the same way on every try"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and its explicit causes (``raise ... from``), outermost first, each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__


def classify(exc: BaseException) -> tuple[bool, RetryRule | None]:
    """``(retried, the deciding row)``: the row of a not-retried error of the chain if any, else of a retried one."""
    rows = [next((rule for rule in RETRY_TABLE if rule.matches(err)), None) for err in _chain(exc)]
    refused = next((rule for rule in rows if rule is not None and not rule.retried), None)
    if refused is not None:
        return False, refused
    retried = next((rule for rule in rows if rule is not None), None)
    return retried is not None, retried


def is_retried(exc: BaseException) -> bool:
    """Whether the step's RetryPolicy may act on ``exc`` (``RETRY_TABLE``)."""
    return classify(exc)[0]


is_connection_error = is_retried  # the name the step bodies have always used


def retry_only_connection_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Let the step's RetryPolicy act on the errors ``RETRY_TABLE`` retries, and on nothing else.

    Any other error becomes ``dg.Failure(allow_retries=False)`` whose description starts with the error and
    says why it is not retried (the table's reason), so the steward reads what to do in the run's failure.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except dg.Failure:
            raise
        except Exception as exc:
            retried, rule = classify(exc)
            if retried:
                record_retry(fn.__name__)  # museum_sync_tasks_retried_total{step}
                raise
            why = rule.why if rule is not None else _UNLISTED
            description = f"{type(exc).__name__}: {exc} (not retried: {why})"
            raise dg.Failure(description=description, allow_retries=False) from exc

    return wrapper
