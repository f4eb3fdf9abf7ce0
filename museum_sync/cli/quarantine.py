"""``museum-sync quarantine list | show | replay | report``: what a steward does with chunks held back at their
checks. ``report`` is one export's history (``defs.quarantine_report``): each chunk quarantined, why, and when
and by whom it was replayed (default: the newest export that ever had a quarantine).

``replay`` runs exactly what it prints first. Named partition keys are checked before anything starts; ``--all``
is one export's open quarantines (the newest snapshot that has any) unless ``--export`` names the exports (repeat
it for more), so a replay never sweeps up an old night by accident. After the replays, an export whose chunks
are all loaded is published, unless a newer export of its source is public (then it says so: ``rollback``
makes it public on purpose). The command exits 1 if a replay or a publication failed.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
from typing import Any

from museum_sync.cli.stack import Context, catalog, quiet_library_warnings, stack, state_dir
from museum_sync.core.exceptions import MuseumSyncError
from museum_sync.core.keys import check_export_id, split_partition_key
from museum_sync.core.locator import where
from museum_sync.defs.quarantine_report import held_counts
from museum_sync.defs.quarantine_selection import replay_selection
from museum_sync.defs.vocabulary import counts_phrase
from museum_sync.settings import get_settings

__all__ = ["cmd_quarantine", "replay_selection"]


def cmd_quarantine(args: argparse.Namespace) -> int:
    exports = [check_export_id(e) for e in (args.export or [])]
    if args.action == "replay":
        for key in args.partitions:
            split_partition_key(key)  # before anything starts: a bad key is the command's one-line error
        if args.partitions and (args.all or exports):
            raise MuseumSyncError("quarantine replay: name partition keys, or --all / --export, not both")
    with stack(state_dir(args)) as ctx:
        client = catalog()
        if args.action == "list":
            filters: list[str | None] = [*exports] or [None]
            parts = [
                q
                for export_id in filters
                for q in client.list_quarantined(export_id=export_id, include_resolved=args.all_states)
            ]
            if not parts:
                print("no quarantined partitions")
            for q in parts:
                state = "resolved" if q.resolved_at else "OPEN"
                print(f"{q.partition_key}  {state}  {q.check_name}  {_counts(client, q)}  {json.dumps(q.reasons)}")
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
        if args.action == "report":
            return _report(client, exports)
        keys, lines = replay_selection(client, list(args.partitions), everything=args.all, exports=exports)
        for line in lines:
            print(line)
        if not keys:
            return 0
        return _replay(args, ctx, client, keys)


def _report(client: Any, exports: list[str]) -> int:
    quiet_library_warnings()
    from museum_sync.defs.quarantine_report import quarantine_report, report_lines
    from museum_sync.runtime import dagster_instance

    if not exports:
        every = client.list_quarantined(include_resolved=True)
        newest = max(every, key=lambda q: q.first_seen, default=None)
        if newest is None:
            print("no chunk was ever quarantined")
            return 0
        exports = [newest.export_id]
    instance = dagster_instance()
    for export_id in exports:
        for line in report_lines(export_id, quarantine_report(client, instance, export_id)):
            print(line)
    return 0


def _counts(client: Any, part: Any) -> str:
    """The partition's counts in the words of the UI and the checks (``defs.vocabulary``), as it was held back."""
    return counts_phrase(*held_counts(client, part))


def _replay(args: argparse.Namespace, ctx: Context, client: Any, keys: list[str]) -> int:
    """One run of the whole chunk chain per partition key, then publication when the export is complete."""
    quiet_library_warnings()
    from museum_sync.runtime import WorkerPool, dagster_instance, run_job

    instance = dagster_instance()
    failed = []
    # The workers get this process's environment (WorkerPool adds it), which the stack has configured.
    pool = WorkerPool(
        env=ctx.env,
        log_dir=get_settings().home.parent / "logs",
        concurrency=args.concurrency,
        name=f"replay{os.getpid()}-",
    )
    with pool:
        for key in keys:
            tags = {"dagster/partition": key, "museum-sync/kind": "replay", "museum-sync/launched-by": _user()}
            result = run_job("chunk_job_def", instance=instance, tags=tags)
            print(f"replay {key}: {_outcome(result)} (run {result.run_id})")
            if not result.success:
                failed.append(key)
        for export_id in sorted({split_partition_key(k)[0] for k in keys}):
            if export_id in client.exports_ready_to_publish():
                result = run_job(
                    "publish_job_def",
                    instance=instance,
                    tags={"dagster/partition": export_id, "museum-sync/kind": "publish"},
                )
                print(f"publish {export_id}: {_outcome(result)}" + _failure(result))
                if not result.success:
                    failed.append(export_id)
            elif (superseded := client.superseded_by(export_id)) is not None:
                print(f"publish {export_id}: not published: {superseded.describe()}")
    return 1 if failed else 0


def _user() -> str:
    """Who replays, for ``quarantine report`` (the run's ``museum-sync/launched-by`` tag)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _outcome(result: Any) -> str:
    return "SUCCESS" if result.success else "FAILURE"


def _failure(result: Any) -> str:
    """`` (<first step failure>)`` of a failed run, so the steward sees why without opening the UI."""
    if result.success:
        return ""
    events = result.get_step_failure_events()
    error = events[0].step_failure_data.error if events else None
    message = error.message.strip().splitlines()[0] if error is not None and error.message.strip() else ""
    return f" ({message})" if message else ""
