"""Publication in PostgreSQL: the gate, the carry-over of incremental exports, the swap, rollback, retention.

``publish`` re-points the view at the export's staging table and writes the ``publications`` row in one
transaction, so a reader sees the old export or the new one, never a mix. It takes the catalogue-wide
"publish" lock and the export's lock exclusively (no load of that export meanwhile); ``rollback`` and
``drop_old_exports`` take the "publish" lock too, so publications, rollbacks and drops are serialised.
Refusals of the gate raise ``PublicationRefused``. The cross-store protocol that calls these steps is
``museum_sync.publication``.

Publication order: an export is never published over a newer one of its source. "Newer" is the snapshot
time (``staging.snapshot_at``: the manifest's ``fetched_at``), compared with the export of the same source
whose publication or rollback is the latest: a quarantined night replayed after the next night went public
is refused (``Superseded``), unless the caller asks for it explicitly (``allow_older``: a rollback).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from museum_sync.clients.catalog.schema import CARRIED, COLUMN_NAMES
from museum_sync.clients.catalog.staging import CatalogStaging, snapshot_at
from museum_sync.clients.catalog.types import (
    CarryOver,
    ExportKind,
    Publication,
    PublicationRefused,
    PublicationResult,
    PublishCheck,
)
from museum_sync.core.keys import partition_key

__all__ = ["WITHDRAWN_SAMPLE", "CatalogPublishing", "ReadyExport", "Superseded"]

WITHDRAWN_SAMPLE = 100
_MAX_KEYS_IN_MESSAGE = 20


def _keys_text(keys: Sequence[str]) -> str:
    shown = ", ".join(keys[:_MAX_KEYS_IN_MESSAGE])
    more = len(keys) - _MAX_KEYS_IN_MESSAGE
    return f"{shown} and {more} more" if more > 0 else shown


@dataclass(frozen=True)
class Superseded:
    """An export older than the one of its source in force: publishing it would take the catalogue back."""

    export_id: str
    snapshot_at: datetime
    source: str
    in_force: str
    in_force_snapshot_at: datetime

    @property
    def comparison(self) -> str:
        """Both exports and their snapshot times, in one clause."""
        return (
            f"export {self.export_id!r} (snapshot {self.snapshot_at.isoformat()}) is older than export"
            f" {self.in_force!r} (snapshot {self.in_force_snapshot_at.isoformat()}), the one of source"
            f" {self.source!r} in force"
        )

    def describe(self) -> str:
        """The refusal: what, why, and how to do it anyway."""
        return (
            f"{self.comparison}: publishing it would take the public catalogue back; to do that on purpose,"
            f" roll back to it (museum-sync rollback {self.export_id})"
        )


@dataclass(frozen=True)
class ReadyExport:
    """An export every chunk of which is loaded and which was never published, and its place in time."""

    export_id: str
    source: str
    snapshot_at: datetime
    superseded: Superseded | None


class CatalogPublishing(CatalogStaging):
    """What is public and how it changes. Builds on staging: it gates on chunk states and row counts."""

    # -- the gate ----------------------------------------------------------------------------------------

    def check_publishable(self, export_id: str, expected_chunks: int, *, allow_older: bool = False) -> PublishCheck:
        """Run ``publish``'s gate without publishing: raises ``PublicationRefused`` as ``publish`` would.

        Lets a caller refuse before touching another store; ``publish`` checks again under its lock.
        """
        with self._connect() as conn:
            export = self._export_row(conn, export_id)
            if export is None:
                raise PublicationRefused(f"export {export_id!r} is not registered")
            table, kind, chunk_count, _dropped = export
            staged, counted = self._checked_staging(conn, export_id, table, chunk_count, expected_chunks)
            if not allow_older:
                self._refuse_superseded(conn, export_id)
        export_kind: ExportKind = "incremental" if kind == "incremental" else "full"
        return PublishCheck(export_id=export_id, staging_table=table, kind=export_kind, staged=staged, loaded=counted)

    def exports_ready_to_publish(self) -> list[str]:
        """Exports whose every chunk is loaded, none quarantined, never published, and not ``Superseded``.

        The publication sensor and ``quarantine replay`` use it to publish an export once replays have
        loaded its last quarantined chunk; the bulk run publishes its own exports directly. Oldest first.
        """
        return [ready.export_id for ready in self.ready_exports() if ready.superseded is None]

    def ready_exports(self) -> list[ReadyExport]:
        """Every export loaded in full and never published, oldest snapshot first, each with whether it is
        ``Superseded`` (older than the export of its source in force: ``publish`` refuses it)."""
        query = sql.SQL(
            """
            SELECT e.export_id, e.source, {at_e}, f.export_id, f.at
            FROM {exports} e
            LEFT JOIN LATERAL (
                SELECT p.export_id, {at_x} AS at FROM {pubs} p JOIN {exports} x ON x.export_id = p.export_id
                WHERE x.source = e.source ORDER BY p.id DESC LIMIT 1
            ) f ON true
            WHERE e.dropped_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM {pubs} p WHERE p.export_id = e.export_id)
              AND e.chunk_count = (SELECT count(*) FROM {status} s
                                   WHERE s.export_id = e.export_id AND s.state = 'loaded')
            ORDER BY 3, e.registered_at, e.export_id
            """
        ).format(
            at_e=snapshot_at("e"),
            at_x=snapshot_at("x"),
            exports=self._ident("exports"),
            pubs=self._ident("publications"),
            status=self._ident("chunk_status"),
        )
        with self._connect() as conn:
            rows = conn.execute(query).fetchall()
        return [
            ReadyExport(
                export_id=str(export_id),
                source=str(source),
                snapshot_at=at,
                superseded=(
                    Superseded(str(export_id), at, str(source), str(in_force), in_force_at)
                    if in_force is not None and in_force_at > at
                    else None
                ),
            )
            for export_id, source, at, in_force, in_force_at in rows
        ]

    def superseded_by(self, export_id: str) -> Superseded | None:
        """Whether ``publish`` would refuse ``export_id`` as older than the export of its source in force."""
        with self._connect() as conn:
            return self._superseded(conn, export_id)

    def _superseded(self, conn: psycopg.Connection[Any], export_id: str) -> Superseded | None:
        row = conn.execute(
            sql.SQL(
                "SELECT e.source, {at_e}, p.export_id, {at_x} FROM {exports} e"
                " JOIN {exports} x ON x.source = e.source JOIN {pubs} p ON p.export_id = x.export_id"
                " WHERE e.export_id = %s ORDER BY p.id DESC LIMIT 1"
            ).format(
                at_e=snapshot_at("e"),
                at_x=snapshot_at("x"),
                exports=self._ident("exports"),
                pubs=self._ident("publications"),
            ),
            (export_id,),
        ).fetchone()
        if row is None:
            return None
        source, at, in_force, in_force_at = row
        if in_force == export_id or not in_force_at > at:
            return None
        return Superseded(export_id, at, str(source), str(in_force), in_force_at)

    def _refuse_superseded(self, conn: psycopg.Connection[Any], export_id: str) -> None:
        superseded = self._superseded(conn, export_id)
        if superseded is not None:
            raise PublicationRefused(superseded.describe())

    def _checked_staging(
        self, conn: psycopg.Connection[Any], export_id: str, table: str, chunk_count: int, expected_chunks: int
    ) -> tuple[int, int]:
        """The publication gate on one export: table kept, plan as registered, every chunk loaded, rows =
        chunk loads. Returns (staged rows, rows the chunk loads count); raises PublicationRefused."""
        if not self._relation_exists(conn, table):
            raise PublicationRefused(f"export {export_id!r}: staging table {table} has been dropped")
        if chunk_count != expected_chunks:
            raise PublicationRefused(
                f"export {export_id!r} was registered with {chunk_count} chunks, not {expected_chunks}"
            )
        self._gate(conn, export_id, expected_chunks)
        staged, counted = self._counts(conn, export_id, table)
        if staged != counted:
            raise PublicationRefused(
                f"export {export_id!r}: staging table {table} holds {staged} rows but its chunk loads count {counted}"
            )
        return staged, counted

    def _gate(self, conn: psycopg.Connection[Any], export_id: str, expected_chunks: int) -> None:
        """Every one of ``expected_chunks`` chunks 'loaded', none quarantined, none beyond the plan."""
        rows = conn.execute(
            sql.SQL("SELECT chunk_index, partition_key, state FROM {} WHERE export_id = %s").format(
                self._ident("chunk_status")
            ),
            (export_id,),
        ).fetchall()
        by_index: dict[int, list[tuple[str, str]]] = {}
        for index, key, state in rows:
            by_index.setdefault(index, []).append((key, state))
        quarantined = sorted(key for _, key, state in rows if state == "quarantined")
        missing: list[str] = []
        for index in range(expected_chunks):
            states = by_index.get(index)
            if not states:
                missing.append(partition_key(export_id, index))
            else:
                missing.extend(key for key, state in states if state == "validated")
        unexpected = sorted(key for index, key, _ in rows if not 0 <= index < expected_chunks)
        problems = []
        if quarantined:
            problems.append(f"{len(quarantined)} quarantined: {_keys_text(quarantined)}")
        if missing:
            problems.append(f"{len(missing)} not loaded: {_keys_text(missing)}")
        if unexpected:
            problems.append(f"{len(unexpected)} outside the {expected_chunks} expected: {_keys_text(unexpected)}")
        if problems:
            raise PublicationRefused(
                f"export {export_id!r} cannot be published, chunks " + "; ".join(problems),
                missing=missing,
                quarantined=quarantined,
            )

    # -- carry-over: an incremental export is published as a whole copy -----------------------------------

    def prepare_carry_over(self, export_id: str, deleted_record_ids: Iterable[str] = ()) -> CarryOver:
        """Before an incremental export's Elasticsearch index is completed: what it must carry over.

        Adds the rows it will carry from the publication in force to its staging table (not public yet)
        and lists the ids carried by an earlier attempt that no longer are (``stale``: their documents
        must leave the index). Rows are only removed by ``publish``, which carries over again in its
        transaction: so every document an attempt may have copied into the index is still listed here
        after any crash, and a rerun can remove it.
        """
        deleted = sorted(set(deleted_record_ids))
        with self._connect() as conn:
            table, kind, _chunks, _dropped = self._lock_for_publishing(conn, export_id)
            if kind != "incremental":
                raise ValueError(f"export {export_id!r} is a full export: it carries nothing over")
            current = self._current(conn)
            base = current.staging_table if current is not None else None
            if base is not None and not self._relation_exists(conn, base):
                base = None
            new = self._ident(table)
            carried = 0
            stale: list[str] = []
            if base is not None:
                selection = self._carry_selection(table, base)
                stale = [
                    str(row[0])
                    for row in conn.execute(
                        sql.SQL(
                            "SELECT c.record_id FROM {new} c WHERE c.chunk_key = %s"
                            " AND NOT EXISTS (SELECT 1 {selection} AND o.record_id = c.record_id) ORDER BY 1"
                        ).format(new=new, selection=selection),
                        (CARRIED, deleted),
                    )
                ]
                updates = sql.SQL(", ").join(
                    sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in COLUMN_NAMES if c != "record_id"
                )
                upsert = sql.SQL("ON CONFLICT (record_id) DO UPDATE SET {} WHERE n.chunk_key = %s").format(updates)
                cur = conn.execute(self._insert_carried(table, base, upsert), (CARRIED, deleted, CARRIED))
                carried = cur.rowcount
            else:
                stale = [
                    str(row[0])
                    for row in conn.execute(
                        sql.SQL("SELECT record_id FROM {} WHERE chunk_key = %s ORDER BY 1").format(new), (CARRIED,)
                    )
                ]
            staged, _counted = self._counts(conn, export_id, table)
        return CarryOver(
            export_id=export_id,
            base_export_id=current.export_id if current is not None and base is not None else None,
            staging_table=table,
            base_table=base,
            carried=carried,
            stale=stale,
            deleted=deleted,
            staged=staged,
        )

    def carried_records(
        self, carry: CarryOver, batch_size: int = 2000
    ) -> Generator[tuple[str, dict[str, str | None]], None, None]:
        """The stored JSON of each record ``carry`` carries over, with its row's lineage, streamed (a
        server-side cursor).

        Without the stored ``content_hash``: the record computes it again, so a stored row that no
        longer matches its record would show in the post-publish check, not be copied along. The lineage
        (``chunk_key``, ``run_id``, ``source_locator``) is the row's own: where the record was loaded from.
        """
        if carry.base_table is None:
            return
        query = sql.SQL(
            "SELECT (o.record - 'content_hash')::text, o.chunk_key, o.run_id, o.source_locator {selection}"
            " ORDER BY o.record_id"
        ).format(selection=self._carry_selection(carry.staging_table, carry.base_table))
        with self._connect() as conn, conn.cursor(name="carried_records") as cur:
            cur.itersize = batch_size
            cur.execute(query, (carry.deleted,))
            for text, chunk_key, run_id, locator in cur:
                yield str(text), {"chunk_key": chunk_key, "run_id": run_id, "source_locator": locator}

    def _carry_selection(self, table: str, base: str) -> sql.Composed:
        """``FROM base o WHERE ...``: the rows of the base an incremental export carries over.

        Those it does not replace (no row of its own, carried rows aside) and the source did not delete
        (``%s``: the deleted ids). One definition for PostgreSQL's carry-over and Elasticsearch's.
        """
        return sql.SQL(
            "FROM {base} o WHERE NOT EXISTS (SELECT 1 FROM {new} n WHERE n.record_id = o.record_id"
            " AND n.chunk_key <> {carried}) AND NOT (o.record_id = ANY(%s))"
        ).format(base=self._ident(base), new=self._ident(table), carried=sql.Literal(CARRIED))

    def _insert_carried(self, table: str, base: str, tail: sql.Composable) -> sql.Composed:
        """``INSERT`` of the base's carried-over rows into ``table`` as ``CARRIED`` rows, ended by ``tail``.

        Parameters: ``CARRIED``, the deleted ids, then ``tail``'s own.
        """
        select = sql.SQL(", ").join(
            sql.Placeholder() if c == "chunk_key" else sql.SQL("o.{}").format(sql.Identifier(c)) for c in COLUMN_NAMES
        )
        return sql.SQL("INSERT INTO {new} AS n ({cols}) SELECT {select} {selection} {tail}").format(
            new=self._ident(table),
            cols=sql.SQL(", ").join(sql.Identifier(c) for c in COLUMN_NAMES),
            select=select,
            selection=self._carry_selection(table, base),
            tail=tail,
        )

    def _carry_over(
        self, conn: psycopg.Connection[Any], table: str, base: str | None, deleted: list[str]
    ) -> dict[str, Any]:
        """Make the carried rows exactly the base's selection, touching only what differs.

        ``prepare_carry_over`` usually did the work already: then this is two anti-joins, so the
        publication transaction (during which the alias is ahead of the view) stays short.
        """
        new = self._ident(table)
        if base is None:
            conn.execute(sql.SQL("DELETE FROM {} WHERE chunk_key = %s").format(new), (CARRIED,))
            return {"carried_over": 0, "deleted_requested": len(deleted)}
        selection = self._carry_selection(table, base)
        conn.execute(
            sql.SQL(
                "DELETE FROM {new} c WHERE c.chunk_key = %s AND NOT EXISTS"
                " (SELECT 1 {selection} AND o.record_id = c.record_id AND o.content_hash = c.content_hash)"
            ).format(new=new, selection=selection),
            (CARRIED, deleted),
        )
        missing = sql.SQL("AND NOT EXISTS (SELECT 1 FROM {} x WHERE x.record_id = o.record_id)").format(new)
        conn.execute(self._insert_carried(table, base, missing), (CARRIED, deleted))
        row = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE chunk_key = %s").format(new), (CARRIED,)).fetchone()
        assert row is not None
        return {"carried_over": int(row[0]), "deleted_requested": len(deleted)}

    def _check_carry(
        self, conn: psycopg.Connection[Any], table: str, carry: CarryOver, base_export_id: str | None
    ) -> None:
        """Refuse when the carry-over came out different from the one Elasticsearch's copy was made from."""
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._ident(table))).fetchone()
        assert row is not None
        total = int(row[0])
        if base_export_id != carry.base_export_id or total != carry.total:
            raise PublicationRefused(
                f"export {carry.export_id!r}: its carry-over changed since Elasticsearch's copy was made (base"
                f" {carry.base_export_id!r}, {carry.total} rows then; base {base_export_id!r}, {total} rows now)"
            )

    # -- the switch ----------------------------------------------------------------------------------------

    def analyze_export(self, export_id: str) -> None:
        """Planner statistics for the export's staging table, before it goes public (a fresh table has none)."""
        with self._connect() as conn:
            export = self._export_row(conn, export_id)
            if export is not None and self._relation_exists(conn, export[0]):
                conn.execute(sql.SQL("ANALYZE {}").format(self._ident(export[0])))

    def publish(
        self,
        export_id: str,
        expected_chunks: int,
        expected_records: int | None = None,
        *,
        deleted_record_ids: Iterable[str] = (),
        metadata: dict[str, Any] | None = None,
        carry: CarryOver | None = None,
        analyze: bool = True,
        allow_older: bool = False,
    ) -> PublicationResult:
        """Point ``objects`` at the export's staging table, gated, in one transaction.

        Refused (``PublicationRefused``) unless every one of ``expected_chunks`` chunks is 'loaded'
        and none is quarantined, and the staging table holds exactly the rows the chunk loads counted
        (and ``expected_records``, when given). Publishing the export already in force is a no-op.

        A full export replaces the catalogue: ids it lacks are withdrawn (counted, first 100 listed).
        An incremental export is applied on the publication in force: its staging table receives the
        current rows it does not replace, except ``deleted_record_ids`` (those are withdrawn). With
        ``carry`` (what Elasticsearch's copy was completed from), the carry-over must come out the same:
        same base export, same total; else ``PublicationRefused`` and nothing changes. ``analyze=False``:
        the caller ran ``analyze_export`` before (keeps the statistics pass out of the transaction).
        An export older than the one of its source in force is refused (``Superseded``) unless
        ``allow_older`` (a deliberate rollback to an export that was never published).
        """
        deleted = sorted(set(deleted_record_ids if carry is None else carry.deleted))
        with self._connect() as conn:
            table, kind, chunk_count, _dropped = self._lock_for_publishing(conn, export_id)
            if deleted and kind != "incremental":
                raise ValueError("deleted_record_ids apply to incremental exports only")
            current = self._current(conn)
            if current is not None and current.export_id == export_id:
                return PublicationResult(current, already_published=True)
            staged, _counted = self._checked_staging(conn, export_id, table, chunk_count, expected_chunks)
            if not allow_older:
                self._refuse_superseded(conn, export_id)
            if expected_records is not None and staged != expected_records:
                raise PublicationRefused(
                    f"export {export_id!r}: staging table {table} holds {staged} rows, expected {expected_records}"
                )
            details: dict[str, Any] = {
                "kind": kind,
                "expected_chunks": expected_chunks,
                "loaded_records": staged,
            }
            old = current.staging_table if current is not None else None
            if old is not None and not self._relation_exists(conn, old):
                details["previous_table_missing"] = old
                old = None
            if kind == "incremental":
                details.update(self._carry_over(conn, table, old, deleted))
                if carry is not None:
                    self._check_carry(conn, table, carry, current.export_id if old is not None and current else None)
            if analyze:
                conn.execute(sql.SQL("ANALYZE {}").format(self._ident(table)))
            publication = self._make_public(
                conn, export_id, table, old, "publish", current, {**(metadata or {}), **details}
            )
        return PublicationResult(publication)

    def rollback(self, export_id: str) -> PublicationResult:
        """Point ``objects`` back at an export published before, if its staging table still exists."""
        with self._connect() as conn:
            self._lock(conn, "publish")
            current = self._current(conn)
            if current is None:
                raise PublicationRefused("nothing has been published: there is nothing to roll back")
            if current.export_id == export_id:
                return PublicationResult(current, already_published=True)
            published = conn.execute(
                sql.SQL(
                    "SELECT staging_table FROM {} WHERE export_id = %s AND kind = 'publish' ORDER BY id DESC LIMIT 1"
                ).format(self._ident("publications")),
                (export_id,),
            ).fetchone()
            if published is None:
                raise PublicationRefused(f"export {export_id!r} was never published: publish it instead")
            table = str(published[0])
            if not self._relation_exists(conn, table):
                raise PublicationRefused(f"export {export_id!r}: staging table {table} has been dropped")
            old = current.staging_table if self._relation_exists(conn, current.staging_table) else None
            publication = self._make_public(
                conn, export_id, table, old, "rollback", current, {"rolled_back_from": current.export_id}
            )
        return PublicationResult(publication)

    def _lock_for_publishing(
        self, conn: psycopg.Connection[Any], export_id: str
    ) -> tuple[str, str, int, datetime | None]:
        """Inside the caller's transaction: no other publication, no load of this export; its row."""
        self._lock(conn, "publish")
        self._lock(conn, "export", export_id)
        export = self._export_row(conn, export_id)
        if export is None:
            raise PublicationRefused(f"export {export_id!r} is not registered")
        return export

    def _make_public(
        self,
        conn: psycopg.Connection[Any],
        export_id: str,
        table: str,
        old: str | None,
        kind: Literal["publish", "rollback"],
        current: Publication | None,
        metadata: dict[str, Any],
    ) -> Publication:
        """Inside the caller's transaction: count, list what leaves, point the view at ``table``, record it."""
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._ident(table))).fetchone()
        assert row is not None
        withdrawn = self._withdrawn(conn, old, table) if old is not None else (0, [])
        self._swap_view(conn, table)
        return self._record_publication(
            conn,
            export_id=export_id,
            staging_table=table,
            kind=kind,
            record_count=int(row[0]),
            withdrawn=withdrawn,
            previous=current,
            metadata=metadata,
        )

    def _withdrawn(self, conn: psycopg.Connection[Any], old: str, new: str) -> tuple[int, list[str]]:
        """Ids in ``old`` that ``new`` lacks: the count and the first ``WITHDRAWN_SAMPLE`` (byte order)."""
        row = conn.execute(
            sql.SQL(
                "WITH w AS MATERIALIZED (SELECT o.record_id FROM {old} o"
                " WHERE NOT EXISTS (SELECT 1 FROM {new} n WHERE n.record_id = o.record_id))"
                " SELECT (SELECT count(*) FROM w),"
                " (SELECT coalesce(array_agg(record_id), '{{}}') FROM"
                '  (SELECT record_id FROM w ORDER BY record_id COLLATE "C" LIMIT %s) s)'
            ).format(old=self._ident(old), new=self._ident(new)),
            (WITHDRAWN_SAMPLE,),
        ).fetchone()
        assert row is not None
        return int(row[0]), list(row[1])

    def _record_publication(
        self,
        conn: psycopg.Connection[Any],
        *,
        export_id: str,
        staging_table: str,
        kind: str,
        record_count: int,
        withdrawn: tuple[int, list[str]],
        previous: Publication | None,
        metadata: dict[str, Any],
    ) -> Publication:
        with conn.cursor(row_factory=class_row(Publication)) as cur:
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} (export_id, staging_table, kind, published_at, record_count,"
                    " withdrawn_count, withdrawn_sample, previous_export_id, metadata)"
                    " VALUES (%s, %s, %s, now(), %s, %s, %s, %s, %s) RETURNING *"
                ).format(self._ident("publications")),
                (
                    export_id,
                    staging_table,
                    kind,
                    record_count,
                    withdrawn[0],
                    Jsonb(withdrawn[1]),
                    previous.export_id if previous else None,
                    Jsonb(metadata),
                ),
            )
            publication = cur.fetchone()
        assert publication is not None
        return publication

    # -- what is public ------------------------------------------------------------------------------------

    def current_publication(self) -> Publication | None:
        with self._connect() as conn:
            return self._current(conn)

    def settled_publication(self) -> Publication | None:
        """The publication in force once any publish/rollback transaction in flight has ended.

        Waits on the lock ``publish``/``rollback`` hold for their whole transaction: after a failed call
        this tells for certain whether its transaction committed.
        """
        with self._connect() as conn:
            self._lock(conn, "publish")
            return self._current(conn)

    def publications(self, limit: int = 20) -> list[Publication]:
        """The latest publications and rollbacks, newest first."""
        with self._connect() as conn, conn.cursor(row_factory=class_row(Publication)) as cur:
            cur.execute(
                sql.SQL("SELECT * FROM {} ORDER BY id DESC LIMIT %s").format(self._ident("publications")),
                (limit,),
            )
            return cur.fetchall()

    def published_exports(self) -> list[str]:
        """Exports that have been published at least once (rollback targets, if still kept), newest first."""
        with self._connect() as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT export_id FROM {} WHERE kind = 'publish' GROUP BY export_id ORDER BY max(id) DESC"
                ).format(self._ident("publications"))
            ).fetchall()
        return [str(row[0]) for row in rows]

    def _current(self, conn: psycopg.Connection[Any]) -> Publication | None:
        with conn.cursor(row_factory=class_row(Publication)) as cur:
            cur.execute(sql.SQL("SELECT * FROM {} ORDER BY id DESC LIMIT 1").format(self._ident("publications")))
            return cur.fetchone()

    # -- retention -----------------------------------------------------------------------------------------

    def retired_exports(self) -> list[tuple[str, int]]:
        """``(export_id, chunk count)`` of exports retention dropped and nobody needs any more: no open
        quarantined partition (a steward may still inspect and replay those). Their Dagster partition keys
        can go (``defs.partitions.retire_partitions``); a re-registered export is live again, not listed."""
        query = sql.SQL(
            "SELECT e.export_id, e.chunk_count FROM {exports} e WHERE e.dropped_at IS NOT NULL AND NOT EXISTS"
            " (SELECT 1 FROM {parts} q WHERE q.export_id = e.export_id AND q.resolved_at IS NULL)"
            " ORDER BY e.registered_at, e.export_id"
        ).format(exports=self._ident("exports"), parts=self._ident("quarantined_partitions"))
        with self._connect() as conn:
            return [(str(row[0]), int(row[1])) for row in conn.execute(query).fetchall()]

    def drop_old_exports(self, keep: int) -> list[str]:
        """Drop staging tables no rollback should need; returns the dropped table names.

        Kept: the export in force and the last ``keep`` distinct published exports. Dropped: older
        published exports, and unpublished exports registered before the oldest kept export was
        (superseded; newer ones may still be loading). Export, chunk and quarantine history rows stay;
        the dropped export's chunks go back from 'loaded' to 'validated'.
        """
        if keep < 0:
            raise ValueError("keep must be >= 0")
        dropped: list[str] = []
        with self._connect() as conn:
            self._lock(conn, "publish")
            current = self._current(conn)
            if current is None:
                return []
            self._set_lock_timeout(conn)  # DROP TABLE waits for readers of that table, but not forever
            last = conn.execute(
                sql.SQL(
                    "SELECT export_id, max(id) AS last_id, max(published_at) FROM {} WHERE kind = 'publish'"
                    " GROUP BY export_id ORDER BY last_id DESC"
                ).format(self._ident("publications"))
            ).fetchall()
            kept = {current.export_id, *(row[0] for row in last[:keep])}
            published = {row[0] for row in last}
            cutoff_row = conn.execute(
                sql.SQL("SELECT min(registered_at) FROM {} WHERE export_id = ANY(%s)").format(self._ident("exports")),
                (sorted(kept),),
            ).fetchone()
            cutoff = cutoff_row[0] if cutoff_row else None
            candidates = conn.execute(
                sql.SQL(
                    "SELECT export_id, staging_table, registered_at FROM {} WHERE dropped_at IS NULL"
                    " ORDER BY registered_at"
                ).format(self._ident("exports"))
            ).fetchall()
            for export_id, table, registered_at in candidates:
                if export_id in kept or table == current.staging_table:
                    continue
                if export_id not in published and (cutoff is None or registered_at >= cutoff):
                    continue
                self._lock(conn, "export", export_id)
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._ident(table)))
                conn.execute(
                    sql.SQL("UPDATE {} SET dropped_at = now() WHERE export_id = %s").format(self._ident("exports")),
                    (export_id,),
                )
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE export_id = %s").format(self._ident("chunk_loads")),
                    (export_id,),
                )
                conn.execute(
                    sql.SQL("UPDATE {} SET state = 'validated' WHERE export_id = %s AND state = 'loaded'").format(
                        self._ident("chunk_status")
                    ),
                    (export_id,),
                )
                dropped.append(table)
        return dropped
