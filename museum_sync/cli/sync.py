"""``museum-sync demo | sync | harvest``: an export (file or harvest) through a bulk run on real workers."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from museum_sync.cli.stack import (
    DEMO_SCHEMA,
    DEMO_STATE,
    Context,
    catalog,
    load_code_location,
    quiet_library_warnings,
    stack,
    state_dir,
)
from museum_sync.core.exceptions import MuseumSyncError
from museum_sync.settings import env_name

__all__ = ["cmd_demo", "cmd_harvest", "cmd_sync"]


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
    quiet_library_warnings()
    from museum_sync.defs.run_config import quiet_console, sync_run_config
    from museum_sync.pipeline.profiles import load_profile
    from museum_sync.runtime import WorkerPool, dagster_instance, stream_job

    load_profile(profile)  # fail fast, with the list of known profiles, before starting anything
    if not path.is_file():
        raise MuseumSyncError(f"{path}: export file not found")
    config = quiet_console(sync_run_config(path.resolve(), profile, source, chunk_size=chunk_size), verbose=verbose)
    load_code_location()
    instance = dagster_instance()
    started = time.monotonic()
    # node sync<pid>-N@host, like dev's and worker's pools: two commands on one host never share a node name
    pool = WorkerPool(
        env=ctx.env,
        log_dir=ctx.state_dir / "logs",
        processes=workers,
        concurrency=concurrency,
        name=f"sync{os.getpid()}-",
    )
    with pool:
        result = stream_job(
            "sync_export_job_def", instance=instance, run_config=config, tags={"museum-sync/kind": "sync"}
        )
    wall = time.monotonic() - started
    return _summarise(instance, result.run_id, wall)


def _summarise(instance: Any, run_id: str, wall: float) -> dict[str, Any]:
    """What a run did, read back from Dagster (the export it snapshotted) and the catalogue."""
    from dagster import DagsterEventType

    from museum_sync.defs.asset_keys import EXPORT_SNAPSHOT

    client = catalog()
    run = instance.get_run_by_id(run_id)
    export_id = None
    for record in instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records:
        mat = record.event_log_entry.asset_materialization
        if mat and mat.asset_key == EXPORT_SNAPSHOT:
            export_id = mat.metadata["export_id"].value
    summary: dict[str, Any] = {"run_id": run_id, "status": run.status.value, "wall_seconds": round(wall, 2)}
    if export_id:
        states = client.chunk_states(export_id)
        quarantined = client.list_quarantined(export_id=export_id)
        reasons: dict[str, int] = {}
        for part in client.quarantine_summary(export_id):
            reasons[part["reason"]] = part["count"]
        publication = client.current_publication()
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
            iiif=dict(client.iiif_summary(export_id)),
        )
    return summary


def _print_summary(summary: dict[str, Any]) -> None:
    print(f"\nrun {summary['run_id']}: {summary['status']} in {summary['wall_seconds']} s")
    if "export_id" in summary:
        print(f"  export            {summary['export_id']} ({summary['chunks']} chunks)")
        print(f"  records           {summary['records']} read, {summary['valid']} valid")
        reasons = summary["rejected_by_reason"]
        print(f"  rejected          {summary['rejected']} records, in quarantine by reason: " + json.dumps(reasons))
        for key in summary["quarantined_partitions"]:
            print(f"  quarantined chunk {key}")
        if summary["iiif"].get("checked"):
            print("  IIIF manifests    records by outcome and action: " + json.dumps(summary["iiif"]))
        print(
            f"  public catalogue  {summary['published_export'] or 'nothing published'} "
            f"({summary['published_records']} records)"
        )


def cmd_demo(args: argparse.Namespace) -> int:
    """The sample exports end to end, only on what the demo owns (``cli.stack``: embedded services in its own
    folder, the scratch schema, no Elasticsearch), whatever this shell's ``MUSEUM_SYNC_*`` variables say."""
    from museum_sync import samples

    started = time.monotonic()
    state = Path(args.state_dir) if args.state_dir else DEMO_STATE
    print(
        f"demo: embedded PostgreSQL and Redis in {state.resolve()}, catalogue schema {DEMO_SCHEMA}, no Elasticsearch;"
        " no other server or folder is used"
    )
    with stack(state, demo=True) as ctx:
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
        print(f"data: artifacts in {ctx.env[env_name('paths.artifact_root')]}, logs in {ctx.state_dir / 'logs'}")
        print(f"inspect: museum-sync --state-dir {state} quarantine list | status")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from museum_sync.pipeline.profiles import load_profile

    load_profile(args.profile)  # a typo fails here, before any server is started
    if not Path(args.file).is_file():
        raise MuseumSyncError(f"{args.file}: export file not found")
    with stack(state_dir(args)) as ctx:
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


def cmd_harvest(args: argparse.Namespace) -> int:
    """Harvest a source (OAI-PMH or paged JSON API) and sync it through the same pipeline as a file."""
    quiet_library_warnings()
    from museum_sync.defs.run_config import harvest_run_config, quiet_console
    from museum_sync.pipeline.profiles import load_profile
    from museum_sync.runtime import WorkerPool, dagster_instance, stream_job

    profile = load_profile(args.profile)
    if not profile.harvest:
        raise MuseumSyncError(f"profile {profile.name} has no [harvest] table ({profile.origin})")
    run_config = quiet_console(
        harvest_run_config(args.profile, source=args.source, incremental=bool(args.since), since=args.since),
        verbose=args.verbose,
    )
    with stack(state_dir(args)) as ctx:
        load_code_location()
        instance = dagster_instance()
        started = time.monotonic()
        name = f"harvest{os.getpid()}-"
        with WorkerPool(env=ctx.env, log_dir=ctx.state_dir / "logs", concurrency=args.concurrency, name=name):
            result = stream_job(
                "harvest_export_job_def", instance=instance, run_config=run_config, tags={"museum-sync/kind": "harvest"}
            )
        summary = _summarise(instance, result.run_id, time.monotonic() - started)
        _print_summary(summary)
        return 0 if summary["status"] == "SUCCESS" else 1
