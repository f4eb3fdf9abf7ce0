"""``museum-sync validate | profiles``: no services, no Dagster: a file checked the way a sync would check it."""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path

from museum_sync.core.locator import where

__all__ = ["cmd_profiles", "cmd_validate"]


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate a file offline (no services): what would be rejected, and why."""
    from museum_sync import pipeline
    from museum_sync.clients.artifacts import ArtifactStore
    from museum_sync.pipeline.profiles import load_profile

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
    from museum_sync.pipeline.profiles import list_profiles, load_profile

    for name in list_profiles():
        profile = load_profile(name)
        print(f"{name:28} {profile.format:7} {profile.description}")
    return 0
