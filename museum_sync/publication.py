"""Publication across PostgreSQL and Elasticsearch: both stores switch to the new export, or neither does.

``publish_export`` is the only way to publish, ``rollback`` the only way back. Each store switches
atomically on its own (PostgreSQL: view swap + ``publications`` row in one transaction; Elasticsearch:
one ``_aliases`` call), so a reader of either store sees one complete export, never a mix. Across the
two stores the protocol is:

1. one cross-store publication at a time (a PostgreSQL session advisory lock);
2. settle a 'pending' attempt a crashed run left behind, by what PostgreSQL says: its transaction is the
   commit point. Published there: the alias is moved to it too. Not: the alias goes back to
   PostgreSQL's export. A rerun of the *same* publication simply continues it;
3. the gate, before anything public changes: every chunk loaded in PostgreSQL, none quarantined, and
   the export's index refreshed and holding exactly as many documents as the staging table holds rows
   and the chunk loads counted; else ``PublicationRefused`` naming the counts. An incremental export is
   first completed into a copy of the export in force: PostgreSQL lists the public rows it does not
   replace or delete, their stored records are indexed into its (not yet public) index, and the gate
   counts those too; PostgreSQL's transaction carries the same rows and refuses if they changed;
4. record the intent (``publication_attempts`` row, 'pending', with what each store shows now);
5. move the alias (one call: remove old, add new);
6. the PostgreSQL transaction. If it fails, wait until PostgreSQL has settled (the publish lock); if it
   did not publish, move the alias back: both stores show the previous export, the attempt is 'failed'
   and ``PublicationFailed`` is raised (a retry runs the whole thing again). If the alias cannot be
   moved back either, the attempt stays 'pending' and the next run settles it (step 2);
7. close the attempt ('done'); check: PostgreSQL rows = Elasticsearch documents = loaded valid records,
   and a random sample of content hashes equal in both stores (``PublicationCheckFailed`` if not: the
   publication stands, ``rollback`` restores the previous one); retention: the last ``keep`` versions
   stay in both stores, the public one always.

Without Elasticsearch (``search=None``): PostgreSQL's own gated publication, reported as ``search="not configured"``.

Steps are numbered in the code below. Each one's PostgreSQL side is one ``Catalog`` call (``migrate`` makes its
tables): lock and attempts log (1, 2, 4, 7) in ``clients.catalog.attempts``; gate, carry-over, transaction and
retention (3, 6, 7) in ``clients.catalog.publication``.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, ParamSpec

import psycopg

from museum_sync.clients.catalog import (
    CarryOver,
    Catalog,
    CatalogError,
    Publication,
    PublicationAttempt,
    PublicationRefused,
    PublicationResult,
)
from museum_sync.clients.search import AliasConflict, Owner, SearchError
from museum_sync.core.exceptions import MuseumSyncError

if TYPE_CHECKING:  # the client imports elasticsearch; the search package loads it on first use
    from museum_sync.clients.search import SearchClient

__all__ = [
    "NOT_CONFIGURED",
    "PublicationCheck",
    "PublicationCheckFailed",
    "PublicationFailed",
    "PublicationOutcome",
    "PublicationRefused",
    "publish_export",
    "rollback",
]

NOT_CONFIGURED = "not configured"
SAMPLE_SIZE = 50
_UNKNOWN = "\x00unknown"  # where the alias points when Elasticsearch cannot tell
Action = Literal["publish", "rollback"]
P = ParamSpec("P")


class PublicationFailed(MuseumSyncError):
    """A step of the switch failed. ``rolled_back``: both stores show the previous export again;
    ``pending``: they may differ until the next ``publish_export``/``rollback`` settles the attempt.
    Either way, running the same publication again completes it.
    """

    def __init__(self, message: str, *, export_id: str, step: str, rolled_back: bool, pending: bool) -> None:
        super().__init__(message)
        self.export_id = export_id
        self.step = step
        self.rolled_back = rolled_back
        self.pending = pending


@dataclass(frozen=True)
class PublicationCheck:
    """The post-publish check: counts in both stores and a sample of content hashes compared."""

    pg_rows: int
    es_docs: int | None
    valid_records: int
    sampled: int
    mismatched: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        counts = self.pg_rows == self.valid_records and (self.es_docs is None or self.es_docs == self.pg_rows)
        return counts and not self.mismatched

    def describe(self) -> str:
        es = "not configured" if self.es_docs is None else str(self.es_docs)
        text = f"PostgreSQL rows {self.pg_rows}, Elasticsearch documents {es}, valid records {self.valid_records}"
        if self.sampled:
            text += f", {len(self.mismatched)} of {self.sampled} sampled content hashes differ"
            if self.mismatched:
                text += f" ({', '.join(self.mismatched[:10])})"
        return text


@dataclass(frozen=True)
class PublicationOutcome:
    """What is public now, and how it got there.

    ``search``: ``"not configured"`` or ``"<alias> -> <index>"``. ``timings`` in seconds per step;
    ``swap_seconds`` is the switch itself (alias call + PostgreSQL transaction).
    """

    export_id: str
    action: Action
    previous_export_id: str | None
    publication: Publication
    already_published: bool
    search: str
    search_index: str | None
    attempt_id: int | None
    check: PublicationCheck
    timings: dict[str, float]
    dropped_tables: list[str] = field(default_factory=list)
    deleted_indices: list[str] = field(default_factory=list)
    retention_error: str | None = None
    settled: list[str] = field(default_factory=list)

    @property
    def swap_seconds(self) -> float:
        return self.timings.get("alias", 0.0) + self.timings.get("postgres", 0.0)


class PublicationCheckFailed(MuseumSyncError):
    """The switch completed but the post-publish check found a difference (``outcome.check`` says which)."""

    def __init__(self, outcome: PublicationOutcome) -> None:
        super().__init__(
            f"export {outcome.export_id!r} is public but its post-publish check failed: {outcome.check.describe()};"
            f" rollback({outcome.previous_export_id!r}) restores the previous export"
        )
        self.outcome = outcome


# ---------------------------------------------------------------------------------------------------
# The protocol: the numbered steps of the module doc, in order.


def _failures_recorded(publish: Callable[P, PublicationOutcome]) -> Callable[P, PublicationOutcome]:
    """Leaves every failed try but a refusal in ``publication_attempts``: the publication sensor retries on it."""

    @functools.wraps(publish)
    def recorded(*args: P.args, **kwargs: P.kwargs) -> PublicationOutcome:
        try:
            return publish(*args, **kwargs)
        except (PublicationRefused, PublicationCheckFailed, ValueError):
            raise  # the gate said no (nothing changed), it is public, or a caller's mistake: no failed try
        except Exception as exc:  # PublicationFailed of this export: the protocol logged it (record_failed_try)
            arguments = inspect.signature(publish).bind(*args, **kwargs).arguments
            arguments["catalog"].record_failed_try(arguments["export_id"], exc)
            raise

    return recorded


@_failures_recorded
def publish_export(
    catalog: Catalog,
    search: SearchClient | None,
    export_id: str,
    expected_chunks: int,
    *,
    keep: int | None = 3,
    sample_size: int = SAMPLE_SIZE,
    lock_timeout_s: float = 600.0,
    metadata: dict[str, Any] | None = None,
    deleted_record_ids: Iterable[str] = (),
    allow_older: bool = False,
) -> PublicationOutcome:
    """Make ``export_id`` public in PostgreSQL and, when configured, Elasticsearch; see the module doc.

    ``deleted_record_ids``: for an incremental export (a harvest since the last one), the records the
    source deleted; they are withdrawn from the copy that becomes public. An incremental export is
    applied on the export in force: before the switch its index receives the public documents it does
    not replace (``Catalog.prepare_carry_over``), and PostgreSQL carries the same rows in its transaction.
    Refuses an export older than its source's in force unless ``allow_older`` (a rollback to it: ``keep=None``).

    Raises ``PublicationRefused`` (gate: nothing changed), ``PublicationFailed`` (a step failed: rerun),
    ``PublicationCheckFailed`` (public, but the stores disagree). Idempotent: publishing the export in
    force again only re-runs the check and retention.
    """
    if keep is not None and keep < 1:
        raise ValueError("keep must be >= 1: the public export is always kept")
    if search is None:
        return _pg_only(
            catalog,
            export_id,
            "publish",
            lambda: catalog.publish(
                export_id,
                expected_chunks,
                deleted_record_ids=tuple(deleted_record_ids),
                metadata={**(metadata or {}), "search": NOT_CONFIGURED},
                allow_older=allow_older,
            ),
            keep=keep,
        )
    with catalog.publication_lock(timeout_s=lock_timeout_s):  # 1.
        settled = _settle_pending(catalog, search, export_id, "publish")  # 2.
        timings: dict[str, float] = {}
        started = time.perf_counter()
        now = _StoresNow.read(catalog, search)
        in_force = now.in_force_in_both(export_id)
        if in_force is not None:
            catalog.check_publishable(export_id, expected_chunks)
            result = PublicationResult(in_force, already_published=True)
            return _finish(
                catalog,
                search,
                export_id,
                "publish",
                result,
                None,
                int(in_force.record_count),
                timings,
                keep=keep,
                sample_size=sample_size,
                settled=settled,
            )
        # 3.
        gate = _publish_gate(catalog, search, export_id, expected_chunks, now, deleted_record_ids, timings, allow_older)
        timings["gate"] = time.perf_counter() - started
        attempt = _record_intent(catalog, export_id, "publish", now, gate)  # 4.
        pg_metadata = {
            **(metadata or {}),
            "search_alias": search.alias,
            "search_index": gate.index,
            "publication_attempt": attempt.id,
        }
        result = _switch(  # 5. and 6.
            catalog,
            search,
            attempt,
            now.es,
            lambda: catalog.publish(
                export_id,
                expected_chunks,
                expected_records=gate.loaded,
                metadata=pg_metadata,
                carry=gate.carry,
                analyze=False,
                allow_older=allow_older,
            ),
            timings,
        )
        return _finish(  # 7.
            catalog,
            search,
            export_id,
            "publish",
            result,
            attempt,
            gate.valid,
            timings,
            keep=keep,
            sample_size=sample_size,
            settled=settled,
        )


def rollback(
    catalog: Catalog,
    search: SearchClient | None,
    export_id: str,
    *,
    sample_size: int = SAMPLE_SIZE,
    lock_timeout_s: float = 600.0,
) -> PublicationOutcome:
    """Make an export published before public again, in both stores, with the same protocol.

    Refused unless it was published before and both its staging table and its index are still kept, with
    equal counts. No retention runs (rolling back must not delete what a roll forward would need).
    """
    if search is None:
        return _pg_only(catalog, export_id, "rollback", lambda: catalog.rollback(export_id), keep=None)
    with catalog.publication_lock(timeout_s=lock_timeout_s):  # 1.
        settled = _settle_pending(catalog, search, export_id, "rollback")  # 2.
        timings: dict[str, float] = {}
        started = time.perf_counter()
        now = _StoresNow.read(catalog, search)
        rows = catalog.export_row_count(export_id)
        in_force = now.in_force_in_both(export_id)
        if in_force is not None:
            result = PublicationResult(in_force, already_published=True)
            return _finish(
                catalog,
                search,
                export_id,
                "rollback",
                result,
                None,
                rows or 0,
                timings,
                keep=None,
                sample_size=sample_size,
                settled=settled,
            )
        gate = _rollback_gate(catalog, search, export_id, now, rows)  # 3.
        timings["gate"] = time.perf_counter() - started
        attempt = _record_intent(catalog, export_id, "rollback", now, gate)  # 4.
        result = _switch(catalog, search, attempt, now.es, lambda: catalog.rollback(export_id), timings)  # 5. and 6.
        return _finish(  # 7.
            catalog,
            search,
            export_id,
            "rollback",
            result,
            attempt,
            gate.valid,
            timings,
            keep=None,
            sample_size=sample_size,
            settled=settled,
        )


@dataclass(frozen=True)
class _StoresNow:
    """What each store shows at the start (under the lock, once settled), and an attempt still pending."""

    pg: Publication | None
    es: str | None
    pending: PublicationAttempt | None

    @classmethod
    def read(cls, catalog: Catalog, search: SearchClient) -> _StoresNow:
        pg = catalog.current_publication()
        es = search.alias_target()
        return cls(pg=pg, es=es, pending=catalog.pending_publication_attempt())

    @property
    def pg_export_id(self) -> str | None:
        return self.pg.export_id if self.pg is not None else None

    def in_force_in_both(self, export_id: str) -> Publication | None:
        """PostgreSQL's publication when both stores already show ``export_id`` and nothing is pending."""
        if self.pending is None and self.pg is not None and self.pg.export_id == export_id == self.es:
            return self.pg
        return None


def _settle_pending(catalog: Catalog, search: SearchClient, export_id: str, action: Action) -> list[str]:
    """2. Settle an attempt a crashed run left pending, unless it is this very publication (then continue)."""
    pending = catalog.pending_publication_attempt()
    if pending is None or (pending.export_id == export_id and pending.action == action):
        return []
    pg = catalog.settled_publication()
    pg_export = pg.export_id if pg else None
    es_now = search.alias_target()
    try:
        if es_now != pg_export:
            if pg_export is None:
                assert es_now is not None
                search.clear_alias(es_now)
            else:
                search.swap_alias(pg_export, expected_current=es_now)
    except SearchError as exc:
        raise PublicationFailed(
            f"attempt {pending.id} ({pending.action} {pending.export_id!r}) is pending and Elasticsearch cannot be"
            f" brought back in line with PostgreSQL ({pg_export!r}): {exc}",
            export_id=pending.export_id,
            step="settle",
            rolled_back=False,
            pending=True,
        ) from exc
    state: Literal["done", "abandoned"] = "done" if pg_export == pending.export_id else "abandoned"
    catalog.finish_publication_attempt(
        pending.id, state, error=None if state == "done" else "settled by a later run: PostgreSQL had not committed"
    )
    return [f"attempt {pending.id} ({pending.action} {pending.export_id!r}) settled as {state}; public: {pg_export!r}"]


@dataclass(frozen=True)
class _Gate:
    """What passed the gate (3.): the export's index, the records that go public, what the attempt records.

    ``valid``: rows = documents = valid records the switch makes public; ``loaded``: for a publication,
    the rows its chunk loads counted (PostgreSQL's transaction checks them again); ``carry``: what an
    incremental export carries over.
    """

    index: str
    valid: int
    detail: dict[str, Any]
    loaded: int | None = None
    carry: CarryOver | None = None


def _publish_gate(
    catalog: Catalog,
    search: SearchClient,
    export_id: str,
    expected_chunks: int,
    now: _StoresNow,
    deleted_record_ids: Iterable[str],
    timings: dict[str, float],
    allow_older: bool,
) -> _Gate:
    """3. PostgreSQL's gate (order included), then the index (first completed, for an incremental export) holding
    as many documents as PostgreSQL will publish rows. Raises ``PublicationRefused``: nothing public changed."""
    check = catalog.check_publishable(export_id, expected_chunks, allow_older=allow_older)
    index = search.index_name(export_id)
    if not search.index_exists(export_id):
        raise PublicationRefused(
            f"export {export_id!r} cannot be published: it has no Elasticsearch index {index};"
            f" index its chunks first (PostgreSQL staging table {check.staging_table} holds {check.staged} rows)"
        )
    carry = None
    if check.kind == "incremental":
        in_force = now.pg_export_id
        # The alias shows the export in force, or this export when a rerun continues its own attempt.
        if now.es != in_force and not (now.pending is not None and now.es == export_id):
            raise PublicationRefused(
                f"export {export_id!r} is incremental and the stores disagree on what it applies to: PostgreSQL"
                f" shows {in_force!r}, the alias {search.alias} points to {now.es!r}; publish or roll back a"
                " full export first"
            )
        carry = _complete_incremental_index(catalog, search, export_id, tuple(deleted_record_ids), timings)
    search.finish_load(export_id)
    catalog.analyze_export(export_id)  # here, not in the transaction: the alias is ahead of it meanwhile
    es_docs = search.count(export_id)
    expected_docs = check.staged if carry is None else carry.total
    if not es_docs == expected_docs or check.staged != check.loaded:
        carried = "" if carry is None else f" plus {carry.carried} carried over from {carry.base_export_id!r}"
        raise PublicationRefused(
            f"export {export_id!r} cannot be published: Elasticsearch index {index} holds {es_docs} documents,"
            f" PostgreSQL staging table {check.staging_table} holds {check.staged} rows{carried} and the chunk"
            f" loads count {check.loaded} valid records; they must be equal"
        )
    detail = {
        "es_docs": es_docs,
        "staged": check.staged,
        "loaded": check.loaded,
        **({} if carry is None else {"carried": carry.carried, "carried_from": carry.base_export_id}),
    }
    return _Gate(index=index, valid=expected_docs, detail=detail, loaded=check.loaded, carry=carry)


def _complete_incremental_index(
    catalog: Catalog, search: SearchClient, export_id: str, deleted: tuple[str, ...], timings: dict[str, float]
) -> CarryOver:
    """Give an incremental export's index the documents it carries over, as PostgreSQL will carry the rows.

    Before the switch, so a reader never sees it; PostgreSQL's copy is its source (the stored records of
    the public export), so the two stores carry the same records. Rerunnable: documents an earlier
    attempt carried and this one does not are deleted.
    """
    started = time.perf_counter()
    carry = catalog.prepare_carry_over(export_id, deleted)
    with closing(catalog.carried_records(carry)) as stored:
        result = search.carry_over(export_id, stored, carry.stale)
    timings["carry_over"] = time.perf_counter() - started
    if result.errors:
        failed = "; ".join(f"{e.record_id}: {e.status} {e.reason}" for e in result.errors[:10])
        raise PublicationRefused(
            f"export {export_id!r}: {len(result.errors)} of the documents carried over from"
            f" {carry.base_export_id!r} were rejected by Elasticsearch ({failed}); nothing was switched"
        )
    if result.indexed != carry.carried:
        raise PublicationRefused(
            f"export {export_id!r}: {result.indexed} documents carried over to Elasticsearch, PostgreSQL carries"
            f" {carry.carried} rows from {carry.base_export_id!r}; nothing was switched"
        )
    return carry


def _rollback_gate(catalog: Catalog, search: SearchClient, export_id: str, now: _StoresNow, rows: int | None) -> _Gate:
    """3. for a rollback: published before, its staging table and its index kept, with equal counts."""
    if now.pg is None:
        raise PublicationRefused("nothing has been published: there is nothing to roll back")
    if export_id not in catalog.published_exports():
        raise PublicationRefused(f"export {export_id!r} was never published: publish it instead")
    if rows is None:
        raise PublicationRefused(f"export {export_id!r}: its staging table has been dropped")
    index = search.index_name(export_id)
    if not search.index_exists(export_id):
        raise PublicationRefused(f"export {export_id!r}: its Elasticsearch index {index} has been deleted")
    search.finish_load(export_id)
    es_docs = search.count(export_id)
    if es_docs != rows:
        raise PublicationRefused(
            f"export {export_id!r} cannot be rolled back to: Elasticsearch index {index} holds {es_docs}"
            f" documents, its PostgreSQL staging table holds {rows} rows"
        )
    return _Gate(index=index, valid=rows, detail={"es_docs": es_docs, "staged": rows})


def _record_intent(
    catalog: Catalog, export_id: str, action: Action, now: _StoresNow, gate: _Gate
) -> PublicationAttempt:
    """4. The 'pending' attempt, with what each store shows now; a rerun continues its own pending one."""
    return now.pending or catalog.begin_publication_attempt(
        export_id,
        action,
        previous_export_id=now.pg_export_id,
        search_previous_export_id=now.es,
        search_index=gate.index,
        detail=gate.detail,
    )


def _switch(
    catalog: Catalog,
    search: SearchClient,
    attempt: PublicationAttempt,
    es_current: str | None,
    pg_step: Callable[[], PublicationResult],
    timings: dict[str, float],
) -> PublicationResult:
    """5. and 6. Alias first, then the PostgreSQL transaction; the alias goes back if PostgreSQL did not commit."""
    export_id = attempt.export_id
    started = time.perf_counter()
    try:
        search.swap_alias(export_id, expected_current=es_current)
    except SearchError as exc:
        # One atomic call: it moved or it did not. swap_alias has read the alias back when it could; if
        # Elasticsearch cannot even answer that, the attempt stays pending and the next run settles it.
        try:
            now = search.alias_target()
        except SearchError:
            now = None if isinstance(exc, AliasConflict) else _UNKNOWN
        if now == export_id:
            pass  # it did move (the error came after): go on to PostgreSQL
        elif now == _UNKNOWN:
            raise PublicationFailed(
                f"publication of {export_id!r}: moving the Elasticsearch alias failed ({exc}) and where it points"
                f" cannot be read now; PostgreSQL is unchanged and attempt {attempt.id} stays pending: the next"
                " publication or rollback settles it",
                export_id=export_id,
                step="alias",
                rolled_back=False,
                pending=True,
            ) from exc
        else:
            catalog.finish_publication_attempt(attempt.id, "failed", error=f"alias: {exc}")
            raise PublicationFailed(
                f"publication of {export_id!r}: moving the Elasticsearch alias failed, neither store changed: {exc}",
                export_id=export_id,
                step="alias",
                rolled_back=True,
                pending=False,
            ) from exc
    timings["alias"] = time.perf_counter() - started
    started = time.perf_counter()
    try:
        result = pg_step()
    except Exception as exc:
        timings["postgres"] = time.perf_counter() - started
        return _after_pg_failure(catalog, search, attempt, exc)
    timings["postgres"] = time.perf_counter() - started
    return result


def _after_pg_failure(
    catalog: Catalog, search: SearchClient, attempt: PublicationAttempt, exc: Exception
) -> PublicationResult:
    """6. PostgreSQL failed: once it has settled, either it did commit, or the alias goes back (or stays pending)."""
    export_id = attempt.export_id
    try:
        settled = catalog.settled_publication()
    except Exception as probe:
        raise PublicationFailed(
            f"publication of {export_id!r}: the PostgreSQL step failed ({exc}) and whether it committed cannot be"
            f" told now ({probe}); Elasticsearch shows {export_id!r} until a rerun settles attempt {attempt.id}",
            export_id=export_id,
            step="postgres",
            rolled_back=False,
            pending=True,
        ) from exc
    if settled is not None and settled.export_id == export_id:
        return PublicationResult(settled)  # it committed; the error came after (the answer was lost)
    back_to = attempt.search_previous_export_id
    try:
        if back_to is None:
            search.clear_alias(export_id)
        else:
            search.swap_alias(back_to, expected_current=export_id)
    except SearchError as undo:
        raise PublicationFailed(
            f"publication of {export_id!r}: the PostgreSQL step failed ({exc}) and moving the Elasticsearch alias"
            f" back to {back_to!r} failed too ({undo}); attempt {attempt.id} stays pending: rerun the publication"
            " to complete it, or publish/roll back another export to settle it",
            export_id=export_id,
            step="postgres",
            rolled_back=False,
            pending=True,
        ) from exc
    refused = isinstance(exc, PublicationRefused)
    catalog.finish_publication_attempt(attempt.id, "failed", error=f"postgres: {exc}")
    raise PublicationFailed(
        f"publication of {export_id!r}: the PostgreSQL step {'refused' if refused else 'failed'} ({exc}); the"
        f" Elasticsearch alias was moved back to {back_to!r}: both stores show the previous export",
        export_id=export_id,
        step="postgres",
        rolled_back=True,
        pending=False,
    ) from exc


def _finish(
    catalog: Catalog,
    search: SearchClient | None,
    export_id: str,
    action: Action,
    result: PublicationResult,
    attempt: PublicationAttempt | None,
    valid: int,
    timings: dict[str, float],
    *,
    keep: int | None,
    sample_size: int,
    settled: list[str],
) -> PublicationOutcome:
    """7. Check both stores, close the attempt, apply retention; raise ``PublicationCheckFailed`` if they differ."""
    started = time.perf_counter()
    check = _check(catalog, search, export_id, valid, sample_size)
    timings["check"] = time.perf_counter() - started
    if attempt is not None:
        catalog.finish_publication_attempt(
            attempt.id,
            "done",
            detail={
                "publication_id": result.publication.id,
                "check_passed": check.passed,
                "check": check.describe(),
                "swap_seconds": round(timings.get("alias", 0.0) + timings.get("postgres", 0.0), 6),
            },
        )
    dropped: list[str] = []
    deleted: list[str] = []
    retention_error = None
    if keep is not None:
        started = time.perf_counter()
        try:
            dropped = catalog.drop_old_exports(keep)
            # Listed before the live exports are read (delete_old calls protect after listing): an export
            # registered meanwhile is in the list it is checked against, so its loading index survives.
            # Only this deployment's indices are candidates: never another's, nor a foreign one.
            if search is not None:
                owner = Owner.of(catalog.deployment_id(), catalog.registered_exports())
                deleted = search.delete_old(0, protect=catalog.live_exports, owner=owner)
        except (CatalogError, SearchError, psycopg.Error) as exc:
            retention_error = str(exc)
        timings["retention"] = time.perf_counter() - started
    outcome = PublicationOutcome(
        export_id=export_id,
        action=action,
        previous_export_id=result.publication.previous_export_id,
        publication=result.publication,
        already_published=result.already_published,
        search=NOT_CONFIGURED if search is None else f"{search.alias} -> {search.index_name(export_id)}",
        search_index=None if search is None else search.index_name(export_id),
        attempt_id=attempt.id if attempt else None,
        check=check,
        timings=timings,
        dropped_tables=dropped,
        deleted_indices=deleted,
        retention_error=retention_error,
        settled=settled,
    )
    if not check.passed:
        raise PublicationCheckFailed(outcome)
    return outcome


def _check(
    catalog: Catalog, search: SearchClient | None, export_id: str, valid: int, sample_size: int
) -> PublicationCheck:
    """PostgreSQL rows = Elasticsearch documents = valid records, and a sample of content hashes equal."""
    pg_rows = catalog.count()
    if search is None:
        return PublicationCheck(pg_rows=pg_rows, es_docs=None, valid_records=valid, sampled=0)
    es_docs = search.count()
    sample = catalog.sample_content_hashes(sample_size)
    es_hashes = search.sample_hashes(export_id, list(sample))
    mismatched = sorted(rid for rid, digest in sample.items() if es_hashes.get(rid) != digest)
    return PublicationCheck(
        pg_rows=pg_rows, es_docs=es_docs, valid_records=valid, sampled=len(sample), mismatched=mismatched
    )


def _pg_only(
    catalog: Catalog,
    export_id: str,
    action: Action,
    pg_step: Callable[[], PublicationResult],
    *,
    keep: int | None,
) -> PublicationOutcome:
    """Without Elasticsearch: PostgreSQL's own gated publication (or rollback), finished like the two-store one."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    result = pg_step()
    timings["postgres"] = time.perf_counter() - started
    valid = int(result.publication.record_count)
    return _finish(catalog, None, export_id, action, result, None, valid, timings, keep=keep, sample_size=0, settled=[])
