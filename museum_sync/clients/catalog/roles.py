"""The reader role: what a public reader of the catalogue may see (the view and ``publications``), nothing else.

Proved by ``museum_sync_tests/integration/test_security.py``.
"""

from __future__ import annotations

from psycopg import sql

from museum_sync.clients.catalog.connection import MAX_IDENTIFIER, CatalogConnection
from museum_sync.clients.catalog.schema import VIEW

__all__ = ["CatalogGrants"]


class CatalogGrants(CatalogConnection):
    """Privileges for the catalogue's readers."""

    def grant_reader(self, role: str) -> None:
        """Let ``role`` read the public catalogue and nothing else: the ``objects`` view and ``publications``.

        Creates ``role`` (NOLOGIN: grant it to the login roles of the readers) when it does not exist, grants
        USAGE on the schema and SELECT on those two relations, and takes back anything else it holds in the
        schema (staging tables, ``quarantine``, ``quarantined_partitions``, ``chunk_status``...), together
        with default privileges that would hand it tables created later, such as the next export's staging
        table (schema-wide ones for this schema and database-wide ones, whoever granted them; revoking
        another role's defaults needs membership in it). A view reads with its owner's privileges, so
        SELECT on ``objects`` is enough to read whichever staging table it points at, and ``CREATE OR
        REPLACE VIEW`` keeps the grant when publication re-points it. Idempotent.
        """
        if not role or len(role.encode("utf-8")) > MAX_IDENTIFIER:
            raise ValueError(f"role name must be 1-{MAX_IDENTIFIER} bytes: {role!r}")
        grantee = sql.Identifier(role)
        schema = sql.Identifier(self.schema)
        kinds = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES", "n": "SCHEMAS"}
        with self._connect() as conn:
            self._lock(conn, "migrate")
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(grantee))
            defaults = conn.execute(
                "SELECT DISTINCT pg_get_userbyid(d.defaclrole), n.nspname, d.defaclobjtype"
                " FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace,"
                " aclexplode(d.defaclacl) a"
                " WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %s)"
                " AND (d.defaclnamespace = 0 OR n.nspname = %s)",
                (role, self.schema),
            ).fetchall()
            for owner, namespace, objtype in defaults:
                where = sql.SQL(" IN SCHEMA {}").format(sql.Identifier(namespace)) if namespace else sql.SQL("")
                conn.execute(
                    sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {}{} REVOKE ALL ON {} FROM {}").format(
                        sql.Identifier(owner), where, sql.SQL(kinds[objtype]), grantee
                    )
                )
            for what in ("TABLES", "SEQUENCES", "FUNCTIONS"):
                conn.execute(
                    sql.SQL("REVOKE ALL ON ALL {} IN SCHEMA {} FROM {}").format(sql.SQL(what), schema, grantee)
                )
            conn.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(schema, grantee))
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, grantee))
            conn.execute(
                sql.SQL("GRANT SELECT ON {}, {} TO {}").format(self._ident(VIEW), self._ident("publications"), grantee)
            )
