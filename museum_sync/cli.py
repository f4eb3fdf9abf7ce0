"""The ``museum-sync`` command.

Without ``MUSEUM_SYNC_PG_URL`` / ``MUSEUM_SYNC_REDIS_URL`` every command starts embedded PostgreSQL and
Redis in its state directory (``--state-dir``, default ``./.state``) and stops them on exit; with them it
uses those servers. Errors are printed as one clear line (what, where, which URL without secrets), not
a traceback; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from museum_sync.core.exceptions import MuseumSyncError
from museum_sync.core.locator import where

__all__ = ["main"]


@dataclass
class Context:
    env: dict[str, str]
    services: Any
    state_dir: Path


@contextmanager
def _stack(state_dir: Path, *, fresh: bool = False) -> Iterator[Context]:
    """Services + environment for one command. ``fresh`` (the demo) also ignores an existing deployment's
    MUSEUM_SYNC_HOME / schema, so the demo never touches real state."""
    from museum_sync.runtime import configure_environment, runtime_env
    from museum_sync.services import start_services

    state_dir = state_dir.resolve()
    if fresh and state_dir.exists():
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    with start_services(state_dir) as services:
        # An existing deployment's state (artifact root, Dagster home, catalogue schema) wins over the defaults.
        home = state_dir / "home" if fresh else Path(os.environ.get("MUSEUM_SYNC_HOME") or state_dir / "home")
        schema = "catalog" if fresh else os.environ.get("MUSEUM_SYNC_CATALOG_SCHEMA") or "catalog"
        env = runtime_env(services, home, catalog_schema=schema)
        configure_environment(env)
        yield Context(env=env, services=services, state_dir=state_dir)


def _catalog() -> Any:
    from museum_sync.clients.catalog import Catalog
    from museum_sync.settings import get_settings

    settings = get_settings()
    catalog = Catalog(settings.pg_url, schema=settings.catalog_schema)
    catalog.migrate()
    return catalog


def _run_summary(result: Any) -> str:
    return "SUCCESS" if result.success else "FAILURE"


def _sync(
    ctx: Context,
    path: Path,
    profile: str,
    *,
    source: str | None,
    chunk_size: int | None,
    workers: int,
    concurrency: int,
    verbose: bool = False,
) -> dict[str, Any]:
    """Run one export through sync_export_job on real Celery workers; returns a summary dict."""
    from museum_sync.core.profiles import load_profile
    from museum_sync.defs.sensors import sync_run_config
    from museum_sync.runtime import WorkerPool, dagster_instance, run_job

    load_profile(profile)  # fail fast, with the list of known profiles, before starting anything
    if not path.is_file():
        raise MuseumSyncError(f"{path}: export file not found")
    config = sync_run_config(path.resolve(), profile, source)
    # Dagster's console logger prints every event and each quarantined chunk's stack trace; the CLI prints
    # its own summary instead (--verbose restores them; the event log in the UI always has everything).
    config["loggers"] = {"console": {"config": {"log_level": "DEBUG" if verbose else "CRITICAL"}}}
    if chunk_size:
        config["ops"]["snapshot_and_plan"]["config"]["chunk_size"] = chunk_size  # type: ignore[index]
    instance = dagster_instance()
    started = time.monotonic()
    with WorkerPool(env=ctx.env, log_dir=ctx.state_dir / "logs", processes=workers, concurrency=concurrency):
        result = run_job("sync_export_job_def", instance=instance, run_config=config, tags={"museum-sync/kind": "sync"})
    wall = time.monotonic() - started
    return _summarise(instance, result.run_id, wall)


def _summarise(instance: Any, run_id: str, wall: float) -> dict[str, Any]:
    from dagster import DagsterEventType

    catalog = _catalog()
    run = instance.get_run_by_id(run_id)
    export_id = None
    for record in instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records:
        mat = record.event_log_entry.asset_materialization
        if mat and mat.asset_key.path == ["export_snapshot"]:
            export_id = mat.metadata["export_id"].value
    summary: dict[str, Any] = {"run_id": run_id, "status": run.status.value, "wall_seconds": round(wall, 2)}
    if export_id:
        states = catalog.chunk_states(export_id)
        quarantined = catalog.list_quarantined(export_id=export_id)
        reasons: dict[str, int] = {}
        for part in catalog.quarantine_summary(export_id):
            reasons[part["reason"]] = part["count"]
        publication = catalog.current_publication()
        summary.update(
            export_id=export_id,
            chunks=len(states),
            records=sum((s.record_count or 0) + (s.reject_count or 0) for s in states),
            valid=sum(s.record_count or 0 for s in states),
            rejected=sum(s.reject_count or 0 for s in states),
            rejected_by_reason=reasons,
            quarantined_partitions=[q.partition_key for q in quarantined],
            published_export=publication.export_id if publication else None,
            published_records=publication.record_count if publication else 0,
        )
    return summary


def _print_summary(summary: dict[str, Any], ctx: Context | None = None) -> None:
    print(f"\nrun {summary['run_id']}: {summary['status']} in {summary['wall_seconds']} s")
    if "export_id" in summary:
        print(f"  export            {summary['export_id']} ({summary['chunks']} chunks)")
        print(f"  records           {summary['records']} read, {summary['valid']} valid")
        reasons = summary["rejected_by_reason"]
        print(f"  rejected          {summary['rejected']} records, in quarantine by reason: " + json.dumps(reasons))
        for key in summary["quarantined_partitions"]:
            print(f"  quarantined chunk {key}")
        print(
            f"  public catalogue  {summary['published_export'] or 'nothing published'} "
            f"({summary['published_records']} records)"
        )


def cmd_demo(args: argparse.Namespace) -> int:
    from museum_sync import samples

    started = time.monotonic()
    state = Path(args.state_dir or ".state/demo")
    with _stack(state, fresh=True) as ctx:
        print(
            f"services: PostgreSQL {'embedded' if ctx.services.pg_embedded else 'external'}, "
            f"Redis {'embedded' if ctx.services.redis_embedded else 'external'}; state in {ctx.state_dir}"
        )
        nights = samples.demo_exports()
        for label, path in nights:
            print(f"\n== {label}: {path.name}")
            summary = _sync(
                ctx,
                path,
                samples.DEMO_PROFILE,
                source="tate-demo",
                chunk_size=samples.DEMO_CHUNK,
                workers=1,
                concurrency=args.concurrency,
                verbose=args.verbose,
            )
            _print_summary(summary)
        print(f"\nwall time {time.monotonic() - started:.1f} s (services, workers and both runs)")
        print(f"data: artifacts in {ctx.env['MUSEUM_SYNC_ARTIFACT_ROOT']}, logs in {ctx.state_dir / 'logs'}")
        print(f"inspect: museum-sync --state-dir {state} quarantine list | status")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from museum_sync.core.profiles import load_profile

    load_profile(args.profile)  # a typo fails here, before any server is started
    if not Path(args.file).is_file():
        raise MuseumSyncError(f"{args.file}: export file not found")
    with _stack(Path(args.state_dir)) as ctx:
        summary = _sync(
            ctx,
            Path(args.file),
            args.profile,
            source=args.source,
            chunk_size=args.chunk_size,
            workers=args.workers,
            concurrency=args.concurrency,
            verbose=args.verbose,
        )
        _print_summary(summary)
        return 0 if summary["status"] == "SUCCESS" else 1


def cmd_worker(args: argparse.Namespace) -> int:
    from museum_sync.runtime import WorkerPool

    with _stack(Path(args.state_dir)) as ctx:
        pool = WorkerPool(
            env=ctx.env,
            log_dir=ctx.state_dir / "logs",
            processes=1,
            concurrency=args.concurrency,
            queues=tuple(args.queues.split(",")),
        )
        os.execvpe(pool.command(0)[0], pool.command(0), {**os.environ, **ctx.env})
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    import signal
    import subprocess

    from museum_sync.runtime import WorkerPool
    from museum_sync.services._common import pdeathsig_preexec

    with _stack(Path(args.state_dir)) as ctx:
        env = {**os.environ, **ctx.env}
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dagster",
                    "dev",
                    "-m",
                    "museum_sync.definitions",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(args.port),
                ],
                env=env,
                # dagster dev stops its webserver, daemon and code server when it gets SIGTERM; the kernel
                # sends it if this process dies, so nothing is left holding the state directory.
                preexec_fn=pdeathsig_preexec(signal.SIGTERM),
            ),
        ]
        with WorkerPool(env=ctx.env, log_dir=ctx.state_dir / "logs", concurrency=args.concurrency):
            print(f"Dagster UI: http://127.0.0.1:{args.port}  (inbox: {ctx.env['MUSEUM_SYNC_INBOX']}/<profile>/)")
            print("Ctrl-C stops the webserver, the daemon, the workers, Redis and PostgreSQL.")
            try:
                procs[0].wait()
            except KeyboardInterrupt:
                pass
            finally:
                for p in procs:
                    p.terminate()
                    p.wait(20)
    return 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    with _stack(Path(args.state_dir)):
        catalog = _catalog()
        if args.action == "list":
            parts = catalog.list_quarantined(export_id=args.export, include_resolved=args.all_states)
            if not parts:
                print("no quarantined partitions")
            for q in parts:
                state = "resolved" if q.resolved_at else "OPEN"
                print(f"{q.partition_key}  {state}  {q.check_name}  {q.reject_count} rejects  {json.dumps(q.reasons)}")
            return 0
        if args.action == "show":
            for key in args.partitions:
                rows = catalog.quarantine_rows(key, limit=args.limit)
                print(f"{key}: {len(rows)} rows shown")
                for r in rows:
                    print(
                        f"  {where(r.file, r.line, r.pointer)}  record {r.record_id or '(none)'}  "
                        f"{r.field}: {r.reason}: {r.message}" + (f"  value={r.value!r}" if r.value else "")
                    )
            return 0
        return _replay(args, catalog)


def _replay(args: argparse.Namespace, catalog: Any) -> int:
    """One run of the whole chunk chain per partition key, then publication when the export is complete."""
    from museum_sync.runtime import WorkerPool, dagster_instance, run_job
    from museum_sync.settings import get_settings

    keys = list(args.partitions)
    if args.all:
        keys = [q.partition_key for q in catalog.list_quarantined()]
    if not keys:
        print("nothing to replay")
        return 0
    instance = dagster_instance()
    env = {k: v for k, v in os.environ.items() if k.startswith(("MUSEUM_SYNC_", "DAGSTER_"))}
    failed = []
    with WorkerPool(env=env, log_dir=get_settings().home.parent / "logs", concurrency=args.concurrency):
        for key in keys:
            result = run_job(
                "chunk_job_def", instance=instance, tags={"dagster/partition": key, "museum-sync/kind": "replay"}
            )
            print(f"replay {key}: {_run_summary(result)} (run {result.run_id})")
            if not result.success:
                failed.append(key)
        for export_id in sorted({k.rpartition("/")[0] for k in keys}):
            if export_id in catalog.exports_ready_to_publish():
                result = run_job(
                    "publish_job_def",
                    instance=instance,
                    tags={"dagster/partition": export_id, "museum-sync/kind": "publish"},
                )
                print(f"publish {export_id}: {_run_summary(result)}")
    return 1 if failed else 0


def cmd_status(args: argparse.Namespace) -> int:
    with _stack(Path(args.state_dir)):
        catalog = _catalog()
        pub = catalog.current_publication()
        print(
            f"public catalogue: {pub.export_id if pub else 'nothing published'}"
            + (f" ({pub.record_count} records, since {pub.published_at:%Y-%m-%d %H:%M:%S})" if pub else "")
        )
        for p in catalog.publications(limit=args.limit):
            print(
                f"  {p.published_at:%Y-%m-%d %H:%M:%S}  {p.kind:8} {p.export_id}  {p.record_count} records, "
                f"{p.withdrawn_count} withdrawn"
            )
        open_parts = catalog.list_quarantined()
        print(f"open quarantined partitions: {len(open_parts)}")
        from museum_sync.clients.search import SearchClient

        search = SearchClient.from_env()
        if search is None:
            print("search: not configured (PostgreSQL-only publication; set MUSEUM_SYNC_ES_URL)")
        else:
            print(f"search: alias {search.alias} -> {search.alias_target() or 'nothing'} ({search.count()} documents)")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    """Publish an export in both stores, gated, exactly as the pipeline does (never PostgreSQL alone)."""
    with _stack(Path(args.state_dir)):
        from museum_sync import pipeline
        from museum_sync.clients.artifacts import ArtifactStore
        from museum_sync.clients.search import SearchClient
        from museum_sync.settings import get_settings

        settings = get_settings()
        outcome = pipeline.publish(
            ArtifactStore(settings.artifact_root),
            _catalog(),
            SearchClient.from_env(),
            args.export_id,
            keep=max(2, settings.keep_exports),
        )
        pub = outcome.publication
        state = "already public" if outcome.already_published else "published"
        print(
            f"{state} {args.export_id}: {pub.record_count} records, {pub.withdrawn_count} withdrawn;"
            f" search: {outcome.search}"
        )
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from museum_sync import publication
    from museum_sync.clients.search import SearchClient

    with _stack(Path(args.state_dir)):
        outcome = publication.rollback(_catalog(), SearchClient.from_env(), args.export_id)
        print(
            f"public catalogue now shows {outcome.publication.export_id} ({outcome.publication.record_count} "
            f"records); search: {outcome.search}"
        )
    return 0


def cmd_harvest(args: argparse.Namespace) -> int:
    """Harvest a source (OAI-PMH or paged JSON API) and sync it through the same pipeline as a file."""
    from museum_sync.core.profiles import load_profile
    from museum_sync.runtime import WorkerPool, dagster_instance, run_job

    profile = load_profile(args.profile)
    if not profile.harvest:
        raise MuseumSyncError(f"profile {profile.name} has no [harvest] table ({profile.origin})")
    config: dict[str, Any] = {"profile": args.profile, "incremental": bool(args.since)}
    if args.source:
        config["source"] = args.source
    if args.since:
        config["since"] = args.since
    with _stack(Path(args.state_dir)) as ctx:
        instance = dagster_instance()
        started = time.monotonic()
        run_config: dict[str, Any] = {
            "ops": {"harvest_and_plan": {"config": config}},
            "loggers": {"console": {"config": {"log_level": "DEBUG" if args.verbose else "CRITICAL"}}},
        }
        with WorkerPool(env=ctx.env, log_dir=ctx.state_dir / "logs", concurrency=args.concurrency):
            result = run_job(
                "harvest_export_job_def", instance=instance, run_config=run_config, tags={"museum-sync/kind": "harvest"}
            )
        summary = _summarise(instance, result.run_id, time.monotonic() - started)
        _print_summary(summary)
        return 0 if summary["status"] == "SUCCESS" else 1


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate a file offline (no services): what would be rejected, and why."""
    import tempfile
    from collections import Counter

    from museum_sync import pipeline
    from museum_sync.clients.artifacts import ArtifactStore
    from museum_sync.core.profiles import load_profile

    profile = load_profile(args.profile)
    with tempfile.TemporaryDirectory(prefix="ms-validate-") as tmp:
        store = ArtifactStore(Path(tmp))
        export = pipeline.extract(Path(args.file), profile, store)
        reasons: Counter[str] = Counter()
        valid = 0
        blocked: list[int] = []
        for index in range(len(export.plan.chunks)):
            report = pipeline.validate_chunk(store, export, index, profile)
            valid += report.valid
            reasons.update(report.reasons)
            for row in pipeline.iter_rejects(store, export.export_id, index):
                if args.show:
                    loc = row["locator"]
                    place = where(loc["file"], loc["line"], loc.get("pointer"))
                    for p in row["problems"]:
                        print(
                            f"{place}  record {row['record_id'] or '(none)'}  "
                            f"{p['field']}: {p['reason']}: {p['message']}"
                        )
            if not report.drift_passed:
                print(f"chunk {index}: schema drift\n{report.drift_diff}")
            if not report.passed:
                blocked.append(index)
        print(f"{export.plan.total_records} records, {valid} valid, {sum(reasons.values())} rejections {dict(reasons)}")
        if blocked:
            print(f"{len(blocked)} chunk(s) would be quarantined by their checks: {blocked}")
    # Exit 1 when a sync would hold chunks back, so scripts can gate on it.
    return 1 if blocked else 0


def cmd_profiles(args: argparse.Namespace) -> int:
    from museum_sync.core.profiles import list_profiles, load_profile

    for name in list_profiles():
        profile = load_profile(name)
        print(f"{name:28} {profile.format:7} {profile.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="museum-sync", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--state-dir",
        default=os.environ.get("MUSEUM_SYNC_STATE_DIR", ".state"),
        help="where embedded PostgreSQL/Redis and artifacts live (default ./.state)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--verbose", action="store_true", help="show Dagster's event log on the console")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="sync the sample exports end to end on the embedded stack")
    p.add_argument("--concurrency", type=int, default=2)
    p.set_defaults(func=cmd_demo, state_dir=None)

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
    p.add_argument("--concurrency", type=int, default=2)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("dev", help="services + Dagster UI + daemon + workers")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=2)
    p.set_defaults(func=cmd_dev)

    p = sub.add_parser("quarantine", help="list, show or replay quarantined chunk partitions")
    p.add_argument("action", choices=["list", "show", "replay"])
    p.add_argument("partitions", nargs="*")
    p.add_argument("--all", action="store_true", help="replay every open quarantined partition")
    p.add_argument("--all-states", action="store_true", help="list resolved partitions too")
    p.add_argument("--export")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--concurrency", type=int, default=2)
    p.set_defaults(func=cmd_quarantine)

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
    return parser


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    # dagster-celery re-registers its step task per submission; harmless, and noise on a terminal.
    from celery.exceptions import DuplicateTaskNameWarning
    from dagster import BetaWarning, PreviewWarning

    warnings.filterwarnings("ignore", category=DuplicateTaskNameWarning)
    warnings.filterwarnings("ignore", category=BetaWarning)
    warnings.filterwarnings("ignore", category=PreviewWarning)
    args = build_parser().parse_args(argv)
    # SIGTERM (systemd, timeout, docker stop) unwinds like Ctrl-C, so workers, Redis and PostgreSQL are
    # stopped in order instead of being orphaned.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.func(args))
    except MuseumSyncError as exc:
        if args.debug:
            raise
        # one line even when the cause is multi-line (libpq adds "\n\tIs the server running...?")
        print("museum-sync: error: " + "; ".join(filter(None, map(str.strip, str(exc).splitlines()))), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
