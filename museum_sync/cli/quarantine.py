"""``museum-sync quarantine list | show | replay``: what a steward does with chunks held back at their checks."""

from __future__ import annotations

import argparse
import json
from typing import Any

from museum_sync.cli.stack import Context, catalog, quiet_library_warnings, stack, state_dir
from museum_sync.core.locator import where
from museum_sync.settings import get_settings

__all__ = ["cmd_quarantine"]


def cmd_quarantine(args: argparse.Namespace) -> int:
    with stack(state_dir(args)) as ctx:
        client = catalog()
        if args.action == "list":
            parts = client.list_quarantined(export_id=args.export, include_resolved=args.all_states)
            if not parts:
                print("no quarantined partitions")
            for q in parts:
                state = "resolved" if q.resolved_at else "OPEN"
                print(f"{q.partition_key}  {state}  {q.check_name}  {q.reject_count} rejects  {json.dumps(q.reasons)}")
            return 0
        if args.action == "show":
            for key in args.partitions:
                rows = client.quarantine_rows(key, limit=args.limit)
                print(f"{key}: {len(rows)} rows shown")
                for r in rows:
                    print(
                        f"  {where(r.file, r.line, r.pointer)}  record {r.record_id or '(none)'}  "
                        f"{r.field}: {r.reason}: {r.message}" + (f"  value={r.value!r}" if r.value else "")
                    )
            return 0
        return _replay(args, ctx, client)


def _replay(args: argparse.Namespace, ctx: Context, client: Any) -> int:
    """One run of the whole chunk chain per partition key, then publication when the export is complete."""
    quiet_library_warnings()
    from museum_sync.runtime import WorkerPool, dagster_instance, run_job

    keys = list(args.partitions)
    if args.all:
        keys = [q.partition_key for q in client.list_quarantined()]
    if not keys:
        print("nothing to replay")
        return 0
    instance = dagster_instance()
    failed = []
    # The workers get this process's environment (WorkerPool adds it), which the stack has configured.
    with WorkerPool(env=ctx.env, log_dir=get_settings().home.parent / "logs", concurrency=args.concurrency):
        for key in keys:
            result = run_job(
                "chunk_job_def", instance=instance, tags={"dagster/partition": key, "museum-sync/kind": "replay"}
            )
            print(f"replay {key}: {_outcome(result)} (run {result.run_id})")
            if not result.success:
                failed.append(key)
        for export_id in sorted({k.rpartition("/")[0] for k in keys}):
            if export_id in client.exports_ready_to_publish():
                result = run_job(
                    "publish_job_def",
                    instance=instance,
                    tags={"dagster/partition": export_id, "museum-sync/kind": "publish"},
                )
                print(f"publish {export_id}: {_outcome(result)}")
    return 1 if failed else 0


def _outcome(result: Any) -> str:
    return "SUCCESS" if result.success else "FAILURE"
