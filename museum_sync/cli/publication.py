"""``museum-sync status | publish | rollback``: what the public catalogue shows, and switching it."""

from __future__ import annotations

import argparse

from museum_sync.cli.stack import catalog, stack, state_dir
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
        open_parts = client.list_quarantined()
        print(f"open quarantined partitions: {len(open_parts)}")
        from museum_sync.clients.search import SearchClient

        search = SearchClient.from_env()
        if search is None:
            print(f"search: not configured (PostgreSQL-only publication; set {env_name('search.url')})")
        else:
            print(f"search: alias {search.alias} -> {search.alias_target() or 'nothing'} ({search.count()} documents)")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    """Publish an export in both stores, gated, exactly as the pipeline does (never PostgreSQL alone)."""
    with stack(state_dir(args)):
        from museum_sync import pipeline
        from museum_sync.clients.artifacts import ArtifactStore
        from museum_sync.clients.search import SearchClient

        settings = get_settings()
        outcome = pipeline.publish(
            ArtifactStore(settings.artifact_root),
            catalog(),
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

    with stack(state_dir(args)):
        outcome = publication.rollback(catalog(), SearchClient.from_env(), args.export_id)
        print(
            f"public catalogue now shows {outcome.publication.export_id} ({outcome.publication.record_count} "
            f"records); search: {outcome.search}"
        )
    return 0
