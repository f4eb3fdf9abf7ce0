"""Which indices retention may delete: only those this deployment created, never a neighbour's.

A cluster is often shared (staging and production, two museums, another application), and the default
index prefix is the same everywhere, so ``<prefix>*`` matches indices museum-sync must not touch. Every
index museum-sync creates carries ``_meta``: ``created_by: museum-sync``, its ``export_id`` and the
``deployment_id`` of the catalogue that created it (``Catalog.deployment_id()``, generated once by
``migrate``). An index is ours when:

- its ``_meta.deployment_id`` is this deployment's; or
- it predates deployment ids (no ``deployment_id``), says ``created_by: museum-sync``, and holds an export
  this catalogue registered. Such an index was created by this catalogue's pipeline (or by another
  deployment that ingested byte-identical data under the same prefix, and so shares that very index: the
  alias rule below keeps the public one of either). Legacy indices of exports this catalogue never
  registered are left alone: an operator deletes them by hand, once.

Whatever the owner, retention never deletes an index behind any alias (ours or anyone's), nor one whose
name is not exactly the name this client gives its export (``index_name``), and it deletes by exact name,
never by pattern (safe under ``action.destructive_requires_name``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from museum_sync.clients.search.results import IndexInfo

__all__ = ["CREATED_BY", "Owner", "exact_index_name"]

CREATED_BY = "museum-sync"


@dataclass(frozen=True)
class Owner:
    """This deployment, as retention asks: its id, and the exports its catalogue registered (for old indices)."""

    deployment_id: str
    registered_exports: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.deployment_id:
            raise ValueError("deployment_id must not be empty")

    @classmethod
    def of(cls, deployment_id: str, registered_exports: Collection[str] = ()) -> Owner:
        return cls(deployment_id, frozenset(registered_exports))

    def owns(self, info: IndexInfo) -> bool:
        if info.created_by != CREATED_BY or not info.export_id:
            return False
        if info.deployment_id is not None:
            return info.deployment_id == self.deployment_id
        return info.export_id in self.registered_exports


def exact_index_name(name: str) -> str:
    """``name`` if it names one index and nothing else (no pattern, list, ``_all`` or exclusion); else raise."""
    if not name or name in ("_all", "*") or any(c in name for c in "*?,") or name.startswith(("-", "_", "+")):
        raise ValueError(f"refusing to delete {name!r}: not one exact index name")
    return name
