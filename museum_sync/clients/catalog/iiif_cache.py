"""The IIIF tables: a header cache per manifest URL and the outcome per record, plus the policy's edits.

``iiif_manifests`` (one row per URL) is what lets the next sync send ``If-None-Match`` /
``If-Modified-Since`` and skip validation: the validators the server sent (``etag``, ``last_modified``),
the last ``status``, the body's ``content_hash``, ``validated_at`` and the ``findings`` (JSON list of
``core.iiif.Finding``). ``outcome`` says what the manifest is for the policy: ``valid``, ``broken``
(error findings, a 4xx, a refused address) or ``unavailable`` (timeouts, 5xx after retries: the link is
kept, the next sync tries again).

``iiif_records`` (one row per export and record) says which manifest a record points at, its outcome and
what the policy did: ``kept``, ``link_dropped`` (``warn``: the staging row's ``iiif_manifest`` and the
stored record lose the link) or ``withheld`` (``block``: the row leaves the staging table). Withheld
records are listed here, not in the chunk quarantine: replaying a chunk cannot repair a remote manifest;
the next sync after the museum fixes it publishes the record again.

``create_iiif_tables`` is called by ``CatalogSchema.migrate`` (same transaction, same lock).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from museum_sync.clients.catalog.connection import CatalogConnection
from museum_sync.clients.catalog.schema import staging_table_name

__all__ = ["CachedManifest", "CatalogIiif", "ManifestOutcome", "RecordOutcome", "create_iiif_tables"]

ManifestOutcome = Literal["valid", "broken", "unavailable"]
RecordAction = Literal["kept", "link_dropped", "withheld"]


def create_iiif_tables(conn: psycopg.Connection[Any], ident: Callable[[str], sql.Identifier]) -> None:
    """``CREATE TABLE IF NOT EXISTS`` both tables (idempotent; called inside ``migrate``)."""
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " url text PRIMARY KEY, etag text, last_modified text, status int, content_hash text,"
            " version text, outcome text NOT NULL CHECK (outcome IN ('valid', 'broken', 'unavailable')),"
            " findings jsonb NOT NULL DEFAULT '[]', error text,"
            " fetched_at timestamptz NOT NULL DEFAULT now(), validated_at timestamptz)"
        ).format(ident("iiif_manifests"))
    )
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " export_id text NOT NULL, record_id text NOT NULL, partition_key text NOT NULL, url text NOT NULL,"
            " outcome text NOT NULL, action text NOT NULL CHECK (action IN ('kept', 'link_dropped', 'withheld')),"
            " checked_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (export_id, record_id))"
        ).format(ident("iiif_records"))
    )
    conn.execute(
        sql.SQL("CREATE INDEX IF NOT EXISTS iiif_records_partition ON {} (partition_key)").format(ident("iiif_records"))
    )


@dataclass(frozen=True)
class CachedManifest:
    """One ``iiif_manifests`` row."""

    url: str
    outcome: ManifestOutcome
    etag: str | None = None
    last_modified: str | None = None
    status: int | None = None
    content_hash: str | None = None
    version: str | None = None
    findings: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None
    validated_at: datetime | None = None


@dataclass(frozen=True)
class RecordOutcome:
    """One ``iiif_records`` row."""

    record_id: str
    url: str
    outcome: ManifestOutcome
    action: RecordAction


_MANIFEST_COLUMNS = (
    "url",
    "outcome",
    "etag",
    "last_modified",
    "status",
    "content_hash",
    "version",
    "findings",
    "error",
    "validated_at",
)


class CatalogIiif(CatalogConnection):
    """The IIIF role of the catalogue (composed into ``Catalog``)."""

    def iiif_cached(self, urls: Collection[str]) -> dict[str, CachedManifest]:
        """The cache rows of ``urls`` that exist."""
        if not urls:
            return {}
        query = sql.SQL("SELECT {} FROM {} WHERE url = ANY(%s)").format(
            sql.SQL(", ").join(map(sql.Identifier, _MANIFEST_COLUMNS)), self._ident("iiif_manifests")
        )
        with self._connect() as conn:
            rows = conn.execute(query, (list(urls),)).fetchall()
        return {row[0]: CachedManifest(*row) for row in rows}

    def iiif_store(self, manifests: Iterable[CachedManifest]) -> None:
        """Upsert cache rows (``fetched_at`` = now)."""
        rows = [
            (m.url, m.outcome, m.etag, m.last_modified, m.status, m.content_hash, m.version, Jsonb(m.findings),
             m.error, m.validated_at)
            for m in manifests
        ]  # fmt: skip
        if not rows:
            return
        columns = sql.SQL(", ").join(map(sql.Identifier, _MANIFEST_COLUMNS))
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in _MANIFEST_COLUMNS[1:]
        )
        query = sql.SQL(
            "INSERT INTO {} ({}, fetched_at) VALUES ({}, now()) ON CONFLICT (url) DO UPDATE SET {}, fetched_at = now()"
        ).format(
            self._ident("iiif_manifests"), columns, sql.SQL(", ").join([sql.Placeholder()] * len(_MANIFEST_COLUMNS)),
            updates,
        )  # fmt: skip
        with self._connect() as conn, conn.cursor() as cur:
            cur.executemany(query, rows)

    def iiif_apply(self, export_id: str, partition_key: str, outcomes: Iterable[RecordOutcome]) -> dict[str, int]:
        """Record each record's outcome and apply the policy's action to the export's staging table, in one
        transaction: ``link_dropped`` sets ``iiif_manifest`` (column and stored record) to null, ``withheld``
        deletes the row and takes it off the chunk's load count (the publication gate compares staged rows
        with the loads). Holds the export's lock shared, like ``load_chunk``: never inside a publication.
        Returns how many staging rows each action changed. Idempotent."""
        rows = list(outcomes)
        table = self._ident(staging_table_name(export_id))
        changed = {"link_dropped": 0, "withheld": 0}
        with self._connect() as conn:
            self._lock(conn, "export", export_id, shared=True)
            with conn.cursor() as cur:
                cur.executemany(
                    sql.SQL(
                        "INSERT INTO {} (export_id, record_id, partition_key, url, outcome, action)"
                        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (export_id, record_id) DO UPDATE SET"
                        " url = EXCLUDED.url, outcome = EXCLUDED.outcome, action = EXCLUDED.action,"
                        " partition_key = EXCLUDED.partition_key, checked_at = now()"
                    ).format(self._ident("iiif_records")),
                    [(export_id, r.record_id, partition_key, r.url, r.outcome, r.action) for r in rows],
                )
            dropped = [r.record_id for r in rows if r.action == "link_dropped"]
            withheld = [r.record_id for r in rows if r.action == "withheld"]
            if dropped:
                changed["link_dropped"] = conn.execute(
                    sql.SQL(
                        "UPDATE {} SET iiif_manifest = NULL, record = jsonb_set(record, '{{iiif_manifest}}', 'null')"
                        " WHERE record_id = ANY(%s) AND iiif_manifest IS NOT NULL"
                    ).format(table),
                    (dropped,),
                ).rowcount
            if withheld:
                changed["withheld"] = conn.execute(
                    sql.SQL("DELETE FROM {} WHERE record_id = ANY(%s)").format(table), (withheld,)
                ).rowcount
                conn.execute(
                    sql.SQL("UPDATE {} SET record_count = record_count - %s WHERE partition_key = %s").format(
                        self._ident("chunk_loads")
                    ),
                    (changed["withheld"], partition_key),
                )
        return changed

    def iiif_record_findings(self, export_id: str) -> list[dict[str, Any]]:
        """Per record of ``export_id``: its manifest URL, outcome, action and the manifest's findings."""
        query = sql.SQL(
            "SELECT r.record_id, r.partition_key, r.url, r.outcome, r.action, coalesce(m.findings, '[]')"
            " FROM {} r LEFT JOIN {} m ON m.url = r.url WHERE r.export_id = %s ORDER BY r.record_id"
        ).format(self._ident("iiif_records"), self._ident("iiif_manifests"))
        with self._connect() as conn:
            rows = conn.execute(query, (export_id,)).fetchall()
        keys = ("record_id", "partition_key", "url", "outcome", "action", "findings")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def iiif_summary(self, export_id: str) -> Mapping[str, int]:
        """Counts for the sync summary: records checked, by outcome and by action."""
        query = sql.SQL(
            "SELECT outcome, action, count(*) FROM {} WHERE export_id = %s GROUP BY outcome, action"
        ).format(self._ident("iiif_records"))
        with self._connect() as conn:
            rows = conn.execute(query, (export_id,)).fetchall()
        summary: dict[str, int] = {"checked": 0}
        for outcome, action, count in rows:
            summary["checked"] += count
            summary[outcome] = summary.get(outcome, 0) + count
            summary[action] = summary.get(action, 0) + count
        return summary
