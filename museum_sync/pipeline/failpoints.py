"""A test hook, not a feature: make a stage last long enough for the fault suite to strike it mid-way.

``museum_sync_tests/faults`` sets ``MUSEUM_SYNC_FAILPOINTS`` in its workers' environment, e.g.
``validate_chunk=sleep:3,load_chunk=sleep:2``, then kills or restarts a worker, PostgreSQL or Redis while
the stage sleeps. It must never be set in production. Unset (always, outside that suite) a failpoint is
one dict lookup. An unknown action raises, so a typo in a test cannot silently disarm it.

This is the one module besides ``museum_sync.settings`` that reads a ``MUSEUM_SYNC_*`` variable itself:
``failpoint`` runs on every stage's hot path, where a ``get_settings()`` call (~0.4 ms: it reads and
validates every variable) would cost more than the stage's bookkeeping. The name still comes from
settings (``testing.failpoints``), so there is one spelling of it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from museum_sync.settings import env_name

__all__ = ["FAILPOINTS_ENV", "armed", "failpoint", "failpoint_before_first"]

FAILPOINTS_ENV = env_name("testing.failpoints")

T = TypeVar("T")


def armed() -> bool:
    """Whether any failpoint is set (the fault suite's workers only)."""
    return bool(os.environ.get(FAILPOINTS_ENV))


def failpoint(name: str) -> None:
    """Run the action set for ``name`` (only ``sleep:<seconds>``); nothing when none is set."""
    spec = os.environ.get(FAILPOINTS_ENV)
    if not spec:
        return
    for item in spec.split(","):
        point, _, action = item.strip().partition("=")
        if point != name:
            continue
        verb, _, arg = action.partition(":")
        if verb != "sleep":
            raise ValueError(f"{FAILPOINTS_ENV}: unknown action {action!r} for {name} (only sleep:<seconds>)")
        time.sleep(float(arg))


def failpoint_before_first(name: str, items: Iterable[T]) -> Iterator[T]:
    """Fire ``name`` when the consumer pulls the first item (e.g. inside the catalogue's COPY, locks held)."""
    failpoint(name)
    yield from items
