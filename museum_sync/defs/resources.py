"""Dagster resources: typed, configured from the environment where they are wired (never literals).

The variables are named by ``museum_sync.settings`` (``env_name``) and resolved by Dagster (``dg.EnvVar``)
when a run starts, so a long-lived code location follows the environment of each run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.clients.catalog import Catalog
from museum_sync.settings import env_name

if TYPE_CHECKING:  # the client imports elasticsearch; the search package loads it on first use
    from museum_sync.clients.search import SearchClient

__all__ = ["ArtifactStoreResource", "CatalogResource", "SearchResource", "default_resources"]

_MIGRATED: set[tuple[str, str]] = set()


class CatalogResource(dg.ConfigurableResource):
    """The PostgreSQL catalogue (staging tables, quarantine, publications)."""

    pg_url: str
    schema_name: str = "catalog"

    def client(self) -> Catalog:
        """A catalogue client whose schema exists (migrated once per process; migrate is idempotent)."""
        catalog = Catalog(self.pg_url, schema=self.schema_name)
        key = (self.pg_url, self.schema_name)
        if key not in _MIGRATED:
            catalog.migrate()
            _MIGRATED.add(key)
        return catalog


class ArtifactStoreResource(dg.ConfigurableResource):
    """Shared storage for snapshots and chunk outputs (a folder every worker mounts)."""

    root: str

    def store(self) -> ArtifactStore:
        return ArtifactStore(Path(self.root))


class SearchResource(dg.ConfigurableResource):
    """Elasticsearch, when ``MUSEUM_SYNC_ES_URL`` is set; ``client()`` is None otherwise (PostgreSQL-only).

    Credentials (``MUSEUM_SYNC_ES_API_KEY`` or user/password) are read from the environment by the client
    itself, at use, so they never appear in resource config, run config or broker messages.
    """

    def client(self) -> SearchClient | None:
        from museum_sync.clients.search import SearchClient  # elasticsearch, loaded when a step asks for search

        return SearchClient.from_env()


def default_resources() -> dict[str, object]:
    """The resources every job and sensor of the code location is bound to."""
    return {
        "catalog": CatalogResource(
            pg_url=dg.EnvVar(env_name("postgres.pg_url")),
            schema_name=dg.EnvVar(env_name("postgres.catalog_schema")),
        ),
        "artifacts": ArtifactStoreResource(root=dg.EnvVar(env_name("paths.artifact_root"))),
        "search": SearchResource(),
        "io_manager": dg.FilesystemIOManager(base_dir=dg.EnvVar(env_name("paths.io_dir"))),
    }
