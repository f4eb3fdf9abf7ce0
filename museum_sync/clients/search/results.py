"""What the search client's calls return: indexing outcomes and the indices it finds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["IndexFailure", "IndexInfo", "IndexResult"]


class IndexFailure(NamedTuple):
    """A document Elasticsearch did not index: ``(record_id, status, reason)``."""

    record_id: str
    status: int
    reason: str


@dataclass(frozen=True)
class IndexResult:
    indexed: int
    errors: list[IndexFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class IndexInfo:
    """An index under our prefix: its name, the export it holds, when it was created (epoch ms), and what
    its ``_meta`` says about who created it (``ownership.Owner`` decides whether it is ours)."""

    name: str
    export_id: str | None
    created_ms: int
    mapping_version: int | None
    deployment_id: str | None = None
    created_by: str | None = None
    aliases: tuple[str, ...] = ()
