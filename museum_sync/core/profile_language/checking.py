"""``museum-sync profile check``: what a profile's map makes of sample records, field by field.

For each sample record: every canonical field the map filled (with the source it came from), then whether
the record validates and, if not, each problem. At the end, the canonical fields that stayed empty in every
sample: the map entries a registrar still has to write (or knows the export lacks).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from museum_sync.core.draft import Draft
from museum_sync.core.locator import Locator, where
from museum_sync.core.mapping import CANONICAL_FIELDS, compile_mapper
from museum_sync.core.profiles import Profile
from museum_sync.core.validation import ChunkValidator, Valid

__all__ = ["check_lines"]

_WIDTH = 100
_DRAFT_KEYS = {"titles": ("title", "alt_titles"), "title": ("title",)}


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = text.replace("\n", "\\n")
    return text if len(text) <= _WIDTH else text[: _WIDTH - 1] + "…"


def _draft(profile: Profile, raw: Mapping[str, Any] | bytes, validator: ChunkValidator) -> Draft:
    if isinstance(raw, bytes):
        from museum_sync.core import lido  # lxml only when the export is XML

        draft = lido.parse_oai_dc(raw) if profile.format == "oai_dc" else lido.parse_lido(raw)
        return validator.overlay(draft) if validator.overlay else draft
    assert validator.mapper is not None
    return validator.mapper.map(raw)


def check_lines(
    profile: Profile,
    records: Iterable[tuple[Locator, Mapping[str, Any] | bytes]],
    side_dirs: Sequence[Path] = (),
) -> list[str]:
    """The report as lines (the CLI prints them; tests read them). ``side_dirs``: where lookups may sit."""
    validator = ChunkValidator(profile=profile, export_id="profile-check", side_dirs=tuple(side_dirs))
    sources = compile_mapper(profile).sources if profile.format not in ("lido", "oai_dc") else {}
    filled: set[str] = set()
    lines: list[str] = []
    count = valid = 0
    for locator, raw in records:
        count += 1
        draft = _draft(profile, raw, validator)
        lines.append(f"record {count}  {where(locator.file, locator.line, locator.pointer)}")
        for name, value in draft.items():
            if value in (None, [], ""):
                continue
            filled.add(name)
            source = sources.get(name) or sources.get("titles" if name == "titles" else name)
            origin = f"  <- {source}" if source else ""
            lines.append(f"  {name:20} {_show(value)}{origin}")
        result = validator.validate(locator, raw)
        if isinstance(result, Valid):
            valid += 1
            lines.append("  => valid")
        else:
            for p in result.problems:
                shown = f" (value: {p.value!r})" if p.value is not None else ""
                lines.append(f"  => rejected: {p.field}: {p.reason.value}: {p.message}{shown}")
    if "titles" in filled:
        filled |= {"title"}
    empty = [f for f in CANONICAL_FIELDS if f not in filled and f not in ("title_lang", "alt_titles", "work_type_aat")]
    lines.append(f"{count} sample records, {valid} valid, {count - valid} rejected")
    lines.append(f"canonical fields empty in every sample: {', '.join(empty) or 'none'}")
    return lines
