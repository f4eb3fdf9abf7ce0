"""The command line: every subcommand, its options, and the function that runs it."""

from __future__ import annotations

import argparse

from museum_sync.cli.dev import cmd_dev, cmd_worker
from museum_sync.cli.doctor import cmd_doctor
from museum_sync.cli.offline import cmd_profile, cmd_profiles, cmd_validate
from museum_sync.cli.publication import cmd_publish, cmd_rollback, cmd_status
from museum_sync.cli.quarantine import cmd_quarantine
from museum_sync.cli.sync import cmd_demo, cmd_harvest, cmd_sync
from museum_sync.cli.trace import cmd_trace

__all__ = ["build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The parser; it reads no settings (``--state-dir``'s default is resolved when a command runs)."""
    parser = argparse.ArgumentParser(prog="museum-sync", description="The ``museum-sync`` command.")
    parser.add_argument(
        "--state-dir",
        default=None,
        help="where embedded PostgreSQL/Redis and artifacts live (default $MUSEUM_SYNC_STATE_DIR, else ./.state)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--verbose", action="store_true", help="show Dagster's event log on the console")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="sync the sample exports end to end on the embedded stack")
    p.add_argument("--concurrency", type=int, default=2)
    # No state_dir default here: a subcommand's default would replace the global --state-dir given before it.
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sync", help="sync one export file")
    p.add_argument("file")
    p.add_argument("--profile", required=True)
    p.add_argument("--source", help="source name used in the export id (default: the profile name)")
    p.add_argument("--chunk-size", type=int)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--concurrency", type=int, default=2)
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("harvest", help="harvest an OAI-PMH or JSON API source (resumable) and sync it")
    p.add_argument("--profile", required=True, help="a profile with a [harvest] table")
    p.add_argument("--source", help="source name used in the export id (default: the profile name)")
    p.add_argument("--since", help="incremental: OAI `from` / API `since` (e.g. 2026-11-24)")
    p.add_argument("--concurrency", type=int, default=2)
    p.set_defaults(func=cmd_harvest)

    p = sub.add_parser("worker", help="run a Celery worker with the executor's own config")
    p.add_argument("--queues", default="ingestion_high,iiif,dagster")
    p.add_argument("--concurrency", type=int, help="prefork children (default 2; `--queues iiif` alone: settings)")
    p.add_argument("--metrics-port", type=int, help="serve /metrics here (default $MUSEUM_SYNC_METRICS_PORT; 0: off)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("doctor", help="workers' versions, schema hashes, queues, heartbeats; non-zero if unhealthy")
    p.add_argument("--liveness", action="store_true", help="container probe: this host's worker heartbeats only")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("dev", help="services + Dagster UI + daemon + workers")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=2)
    p.set_defaults(func=cmd_dev)

    p = sub.add_parser("quarantine", help="list, show, replay or report quarantined chunk partitions")
    p.add_argument("action", choices=["list", "show", "replay", "report"])
    p.add_argument("partitions", nargs="*")
    p.add_argument(
        "--all", action="store_true", help="replay the open partitions of one export: the newest that has any"
    )
    p.add_argument("--all-states", action="store_true", help="list resolved partitions too")
    p.add_argument(
        "--export", action="append", help="an export id: list or replay its partitions (repeat to name more)"
    )
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--concurrency", type=int, default=2)
    p.set_defaults(func=cmd_quarantine)

    p = sub.add_parser("trace", help="follow one record: source line, chunk, run, catalogue, index, publication")
    p.add_argument("record_id")
    p.add_argument("--export", help="the export to look in (default: the public one, else the newest rejecting it)")
    p.set_defaults(func=cmd_trace)

    p = sub.add_parser("status", help="what the public catalogue shows, and recent publications")
    p.add_argument("--limit", type=int, default=10)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("publish", help="publish an export whose chunks are all loaded")
    p.add_argument("export_id")
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("rollback", help="make an earlier export public again")
    p.add_argument("export_id")
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("validate", help="validate a file offline and report rejects (no services)")
    p.add_argument("file")
    p.add_argument("--profile", required=True)
    p.add_argument("--show", action="store_true", help="print every rejected record")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("profiles", help="list mapping profiles")
    p.set_defaults(func=cmd_profiles)

    p = sub.add_parser("profile", help="draft a profile from a sample export, or check what a profile maps")
    actions = p.add_subparsers(dest="action", required=True)
    init = actions.add_parser("init", help="draft a profile from a sample export (columns, types, guesses)")
    init.add_argument("file", help="a CSV, JSON or JSON Lines export, or a folder/.zip of JSON documents")
    init.add_argument("--name", help="profile name (default: from the file name)")
    init.add_argument("--output", "-o", help="write the draft here instead of printing it")
    init.add_argument("--records", type=int, default=200, help="sample records read")
    init.set_defaults(func=cmd_profile)
    check = actions.add_parser("check", help="show field by field what a profile maps from sample records")
    check.add_argument("profile")
    check.add_argument("file")
    check.add_argument("--records", type=int, default=3, help="sample records shown")
    check.set_defaults(func=cmd_profile)
    return parser
