"""``museum-sync status | publish | rollback``: what the public catalogue shows, and switching it."""

from __future__ import annotations

import argparse
from typing import Any

from museum_sync.cli.stack import catalog, quiet_library_warnings, stack, state_dir
from museum_sync.core.keys import check_export_id
from museum_sync.settings import env_name, get_settings

__all__ = ["cmd_publish", "cmd_rollback", "cmd_status"]


def cmd_status(args: argparse.Namespace) -> int:
    with stack(state_dir(args)):
        client = catalog()
        pub = client.current_publication()
        print(
            f"public catalogue: {pub.export_id if pub else 'nothing published'}"
            + (f" ({pub.record_count} records, since {pub.published_at:%Y-%m-%d %H:%M:%S})" if pub else "")
        )
        for p in client.publications(limit=args.limit):
            print(
                f"  {p.published_at:%Y-%m-%d %H:%M:%S}  {p.kind:8} {p.export_id}  {p.record_count} records, "
                f"{p.withdrawn_count} withdrawn"
            )
        if pub is not None:
            print(_rollback_line(client, pub.export_id))
        open_parts = client.list_quarantined()
        print(f"open quarantined partitions: {len(open_parts)}")
        from museum_sync.clients.search import SearchClient

        search = SearchClient.from_env()
        if search is None:
            print(f"search: not configured (PostgreSQL-only publication; set {env_name('search.url')})")
        else:
            print(f"search: alias {search.alias} -> {search.alias_target() or 'nothing'} ({search.count()} documents)")
    return 0


def _rollback_line(client: Any, current: str) -> str:
    """Which earlier exports ``rollback`` can go back to (their staging tables kept), or that there is none."""
    live = set(client.live_exports())
    kept = [e for e in client.published_exports() if e != current and e in live]
    if kept:
        return f"rollback targets kept: {', '.join(kept)}"
    keep = get_settings().keep_exports
    why = " keeps the public export only" if keep == 1 else f" keeps {keep} versions, none earlier is left"
    return f"rollback: nothing to go back to ({env_name('run.keep_exports')}={keep}{why})"


def cmd_publish(args: argparse.Namespace) -> int:
    """Publish an export in both stores, gated, exactly as the pipeline does (never PostgreSQL alone).

    Refused (exit 2, one line naming both exports) when an export of the same source with a later snapshot
    is in force; ``museum-sync rollback EXPORT_ID`` does that on purpose.
    """
    check_export_id(args.export_id)
    with stack(state_dir(args)):
        from museum_sync import pipeline
        from museum_sync.clients.artifacts import ArtifactStore
        from museum_sync.clients.search import SearchClient

        settings = get_settings()
        client = catalog()
        outcome = pipeline.publish(
            ArtifactStore(settings.artifact_root),
            client,
            SearchClient.from_env(),
            args.export_id,
            keep=settings.keep_exports,
        )
        pub = outcome.publication
        state = "already public" if outcome.already_published else "published"
        print(
            f"{state} {args.export_id}: {pub.record_count} records, {pub.withdrawn_count} withdrawn;"
            f" search: {outcome.search}"
        )
        _retire_partitions(client)
    return 0


def _retire_partitions(client: Any) -> None:
    """What the publish step does after retention: retire the Dagster partition keys of dropped exports."""
    quiet_library_warnings()
    from museum_sync.defs.partitions import retire_partitions
    from museum_sync.runtime import dagster_instance

    try:
        retire_partitions(dagster_instance(), client, print)
    except Exception as exc:  # noqa: BLE001 - the publication stands; the next one retires them
        print(f"warning: partition keys of dropped exports not retired (the next publication retries): {exc}")


def cmd_rollback(args: argparse.Namespace) -> int:
    """Make an earlier export public again; one that was never published (a night replayed after a later one
    went public) is published through the full gate, on purpose, without retention."""
    from museum_sync import publication
    from museum_sync.clients.search import SearchClient

    check_export_id(args.export_id)
    with stack(state_dir(args)):
        client = catalog()
        search = SearchClient.from_env()
        if args.export_id in client.published_exports():
            outcome = publication.rollback(client, search, args.export_id)
        else:
            outcome = _publish_older(client, search, args.export_id)
        print(
            f"public catalogue now shows {outcome.publication.export_id} ({outcome.publication.record_count} "
            f"records); search: {outcome.search}"
        )
    return 0


def _publish_older(client: Any, search: Any, export_id: str) -> Any:
    """A rollback to an export never published: the publication gate without its order rule nor retention."""
    from museum_sync import pipeline, publication
    from museum_sync.clients.artifacts import ArtifactStore

    superseded = client.superseded_by(export_id)
    if superseded is not None:
        print(f"rolling back on purpose: {superseded.comparison}")
    export = pipeline.open_export(ArtifactStore(get_settings().artifact_root), export_id)
    manifest = export.manifest
    deleted = (manifest.deleted_ids or ()) if manifest.kind == "incremental" else ()
    return publication.publish_export(
        client, search, export_id, len(export.plan.chunks), keep=None, deleted_record_ids=deleted, allow_older=True
    )
