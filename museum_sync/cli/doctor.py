"""``museum-sync doctor``: every worker (version, schema hash, queues, last heartbeat, RSS) and whether the fleet
can run a sync; exit 1 when versions or schema hashes differ, a worker is stale or a queue has no consumer.

``--liveness`` is the container probe: only this host's heartbeat files, no network (``telemetry.health``).
"""

from __future__ import annotations

import argparse
import time

from museum_sync.cli.stack import stack, state_dir
from museum_sync.settings import get_settings
from museum_sync.telemetry import health

__all__ = ["cmd_doctor", "worker_table"]

_MIB = 1024 * 1024


def worker_table(records: list[health.WorkerRecord], now: float | None = None) -> list[str]:
    """One line per worker, aligned, with a header."""
    now = now or time.time()
    rows = [("WORKER", "VERSION", "SCHEMA HASH", "QUEUES", "HEARTBEAT", "RSS", "LIMIT/CHILD")]
    for r in sorted(records, key=lambda r: r.name):
        rows.append(
            (
                r.name,
                r.version,
                r.schema_hash,
                ",".join(r.queues),
                f"{r.age(now):.0f} s ago",
                f"{r.rss_bytes / _MIB:.0f} MiB"
                + (f" ({len(r.children_rss_bytes)} children)" if r.children_rss_bytes else ""),
                f"{r.limits.get('max_memory_per_child_kb', 0) // 1024} MiB",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def cmd_doctor(args: argparse.Namespace) -> int:
    if args.liveness:
        alive, detail = health.liveness()
        print(detail)
        return 0 if alive else 1
    from museum_sync.defs.celery_config import QUEUES

    settings = get_settings()
    if settings.is_set("redis.redis_url") or settings.is_set("redis.result_backend"):
        verdict = health.check_fleet(QUEUES)  # only Redis is read: no PostgreSQL needed
    else:
        with stack(state_dir(args)):  # the embedded Redis of this state folder
            verdict = health.check_fleet(QUEUES)
    reference = verdict.reference
    if reference:
        print(f"this process: version {reference['version']}, schema hash {reference['schema_hash']}")
    if verdict.workers:
        print("\n".join(worker_table(verdict.workers)))
    for problem in verdict.problems:
        print(f"FAIL: {problem}")
    print("OK: every queue has a live worker, all on one version and schema" if verdict.ok else "doctor: unhealthy")
    return 0 if verdict.ok else 1
