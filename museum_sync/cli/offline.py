"""``museum-sync validate | profiles | profile init | profile check``: offline, no services, no Dagster.

A file is checked the way a sync would check it; a profile is drafted from, or tried on, sample records.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from museum_sync.core.exceptions import ProfileError
from museum_sync.core.locator import where

__all__ = ["cmd_profile", "cmd_profiles", "cmd_validate"]


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
        valid = rejected = problems = 0
        blocked: list[int] = []
        for index in range(len(export.plan.chunks)):
            report = pipeline.validate_chunk(store, export, index, profile)
            valid += report.valid
            reasons.update(report.reasons)
            for row in pipeline.iter_rejects(store, export.export_id, index):
                rejected += 1
                problems += len(row["problems"])
                if args.show:
                    loc = row["locator"]
                    place = where(loc["file"], loc["line"], loc.get("pointer"))
                    for p in row["problems"]:
                        value = "" if p.get("value") is None else f" (value: {p['value']!r})"
                        print(
                            f"{place}  record {row['record_id'] or '(none)'}  "
                            f"{p['field']}: {p['reason']}: {p['message']}{value}"
                        )
            if not report.drift_passed:
                print(f"chunk {index}: schema drift\n{report.drift_diff}")
            if not report.passed:
                blocked.append(index)
        # Records rejected (what a steward counts) and, separately, the problems found in them.
        print(
            f"{export.plan.total_records} records, {valid} valid, {rejected} rejected; "
            f"problems found: {problems}, rejected records by reason: {dict(reasons)}"
        )
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


def _sample_records(path: Path, limit: int) -> tuple[list[dict[str, Any]], str, str, str | None]:
    """Up to ``limit`` records of an export for ``profile init``: (records, format, delimiter, item_path)."""
    import csv
    import json
    import zipfile

    if path.is_dir() or path.suffix.lower() == ".zip":
        if path.is_dir():
            docs = [json.loads(p.read_bytes()) for p in sorted(path.glob("*.json"))[:limit]]
        else:
            with zipfile.ZipFile(path) as archive:
                names = sorted(n for n in archive.namelist() if n.endswith(".json"))[:limit]
                docs = [json.loads(archive.read(n)) for n in names]
        return [d for d in docs if isinstance(d, dict)], "json", ",", ""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as fh:
            rows = [json.loads(line) for line, _ in zip(fh, range(limit), strict=False) if line.strip()]
        return rows, "jsonl", ",", None
    if suffix == ".json":
        data = json.loads(path.read_bytes())
        if isinstance(data, list):
            return [d for d in data[:limit] if isinstance(d, dict)], "json", ",", "item"
        lists = [k for k, v in data.items() if isinstance(v, list) and v and isinstance(v[0], dict)]
        if lists and len(data) <= 5:  # an API page: {"data": [...], "pagination": {...}}
            return data[lists[0]][:limit], "json", ",", f"{lists[0]}.item"
        return [data], "json", ",", ""
    if suffix == ".xml":
        raise ProfileError(f"{path}: XML exports are read by the LIDO/oai_dc readers: copy lido_xml.toml instead")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        head = fh.readline()
        delimiter = max(",;\t|", key=head.count)
        fh.seek(0)
        reader = csv.DictReader(fh, delimiter=delimiter)
        return [dict(row) for row, _ in zip(reader, range(limit), strict=False)], "csv", delimiter, None


def cmd_profile(args: argparse.Namespace) -> int:
    """``profile init FILE`` drafts a profile; ``profile check PROFILE FILE`` shows what it maps."""
    if args.action == "init":
        from museum_sync.core.profile_language.drafting import draft_profile

        path = Path(args.file)
        if not path.exists():
            raise ProfileError(f"{path}: no such file or folder")
        records, fmt, delimiter, item_path = _sample_records(path, args.records)
        name = args.name or re.sub(r"[^a-z0-9_]", "_", path.stem.lower()).strip("_") or "new_profile"
        text = draft_profile(records, name=name, fmt=fmt, source=path.name, delimiter=delimiter, item_path=item_path)
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
            print(
                f"wrote {args.output} ({len(records)} sample records); "
                f"next: museum-sync profile check {args.output} {path}"
            )
        else:
            print(text, end="")
        return 0
    from museum_sync import pipeline
    from museum_sync.clients.artifacts import ArtifactStore
    from museum_sync.core import sources
    from museum_sync.core.profile_language.checking import check_lines
    from museum_sync.pipeline.profiles import load_profile
    from museum_sync.pipeline.snapshot import copied_file_name, source_locators

    profile = load_profile(args.profile)
    with tempfile.TemporaryDirectory(prefix="ms-check-") as tmp:
        export = pipeline.extract(Path(args.file), profile, ArtifactStore(Path(tmp)))
        records = sources.iter_records(
            export.snapshot, export.snapshot_format, encoding=profile.encoding, delimiter=profile.delimiter
        )
        # name the museum's own file and line (or document), as validate does
        located = source_locators(export)
        if located is not None:
            records = located.relocate(records, 0)
        elif (copied := copied_file_name(export)) is not None:
            records = ((replace(loc, file=copied), raw) for loc, raw in records)
        sample = [record for record, _ in zip(records, range(args.records), strict=False)]
        for line in check_lines(profile, sample, side_dirs=[Path(args.file).resolve().parent]):
            print(line)
    return 0
