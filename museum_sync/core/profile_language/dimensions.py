"""Dimension strings as museums write them, parsed into measurements with units.

``Diam. 11/16 in. (1.7 cm)`` -> diameter 1.7 cm; ``Image: 45.2 × 66.1 cm (17 13/16 × 26 1/16 in.); Sheet: ...``
-> height 45.2 cm and width 66.1 cm of the image, then the sheet's. Segments are split on ``;`` and new
lines, a leading ``Label:`` is the extent, and of the groups of numbers-with-a-unit in a segment the first
metric one wins (the imperial one beside it is the same size, converted). Two numbers are height × width,
three height × width × depth, the order museum labels use; a ``Diam.``/``H.``/``W.``/``D.``/``L.`` prefix
names a single one. Fractions (``17 13/16``) are read exactly. A string with no number-and-unit group gives
no measurements; the display text is kept either way.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

__all__ = ["parse_dimensions"]

_NUMBER = r"\d+(?:[.,]\d+)?(?:\s+\d+/\d+)?|\d+/\d+"
_UNIT = r"cm|mm|m|in|inches|inch|ft|kg|g|lb|lbs|oz"
_GROUP = re.compile(
    rf"(?P<prefix>\b(?:diam|dia|h|w|d|l|height|width|depth|length|diameter|weight)\b\.?\s*:?\s*)?"
    rf"(?P<numbers>(?:(?:{_NUMBER})\s*[x×]\s*)*(?:{_NUMBER}))\s*(?P<unit>{_UNIT})\b\.?",
    re.IGNORECASE,
)
_SPLIT_NUMBERS = re.compile(r"\s*[x×]\s*", re.IGNORECASE)
_LABEL = re.compile(r"^\s*\(?\s*(?P<label>[A-Za-z][\w ()/.-]{0,40}?)\s*:\s*")
_METRIC = frozenset({"cm", "mm", "m", "kg", "g"})
_UNITS = {"inches": "in", "inch": "in", "lbs": "lb"}
_PREFIX = {
    "diam": "diameter", "dia": "diameter", "diameter": "diameter", "h": "height", "height": "height",
    "w": "width", "width": "width", "d": "depth", "depth": "depth", "l": "length", "length": "length",
    "weight": "weight",
}  # fmt: skip
_ORDER = ("height", "width", "depth")
_CROSS = re.compile(r"\s*[x×]\s*", re.IGNORECASE)
_TRAILING = re.compile(r"\b(diameter|diam)\b\.?\s*\)?\s*$", re.IGNORECASE)


def _number(text: str) -> float:
    total = Fraction(0)
    for part in text.replace(",", ".").split():
        total += Fraction(part)
    return round(float(total), 4)


def _group_measurements(match: re.Match[str], extent: str | None, lead: str) -> list[dict[str, Any]]:
    numbers = [_number(n) for n in _SPLIT_NUMBERS.split(match.group("numbers").strip())]
    unit = match.group("unit").lower()
    unit = _UNITS.get(unit, unit)
    # "Diam. 11/16 in. (1.7 cm)": the metric twin in brackets shares the segment's leading prefix
    prefix = (match.group("prefix") or lead).strip().rstrip(":").rstrip(".").strip().lower()
    if unit in ("kg", "g", "lb", "oz"):
        names: tuple[str, ...] = ("weight",)
    elif prefix and len(numbers) == 1:
        names = (_PREFIX.get(prefix, "height"),)
    else:
        names = _ORDER[: len(numbers)]
    return [
        {"dimension": name, "value": value, "unit": unit, "extent": extent}
        for name, value in zip(names, numbers, strict=False)
    ]


def _crossed_run(segment: str, groups: list[re.Match[str]]) -> list[re.Match[str]]:
    """The first groups of one number each, same unit, joined only by ``x``: ``26 1/4 in. x 40 in.``."""
    run = [groups[0]]
    for group in groups[1:]:
        between = segment[run[-1].end() : group.start()]
        single = not _SPLIT_NUMBERS.search(group.group("numbers")) and not group.group("prefix")
        if single and _CROSS.fullmatch(between) and group.group("unit").lower() == run[0].group("unit").lower():
            run.append(group)
        else:
            break
    return run if not _SPLIT_NUMBERS.search(run[0].group("numbers")) else run[:1]


def parse_dimensions(text: str) -> list[dict[str, Any]]:
    """Every measurement in a dimension string, metric preferred per segment (see the module docstring)."""
    out: list[dict[str, Any]] = []
    for segment in re.split(r"[;\n]+", text):
        if not segment.strip():
            continue
        extent = None
        label = _LABEL.match(segment)
        if label and not re.search(r"\d", label.group("label")):
            name = label.group("label").strip().lower()
            if name not in _PREFIX:
                extent = name
                segment = segment[label.end() :]
        groups = list(_GROUP.finditer(segment))
        if not groups:
            continue
        metric = [g for g in groups if g.group("unit").lower() in _METRIC]
        chosen = metric or groups
        # "29 in. (73.66 cm) diameter": a dimension word after the numbers names a single one too
        trailing = _TRAILING.search(segment)
        lead = groups[0].group("prefix") or (trailing.group(1) if trailing else "")
        # A segment may list several dimensions in turn ("H. 10 cm, W. 5 cm"): keep every prefixed group
        # of the chosen system; "26 1/4 in. x 40 in." (a unit after each number) is one group of two.
        prefixed = [g for g in chosen if g.group("prefix")]
        if len(prefixed) > 1:
            for group in prefixed:
                out.extend(_group_measurements(group, extent, lead))
            continue
        run = _crossed_run(segment, chosen)
        if len(run) > 1:
            unit = _UNITS.get(run[0].group("unit").lower(), run[0].group("unit").lower())
            numbers = [_number(g.group("numbers")) for g in run][: len(_ORDER)]
            out.extend(
                {"dimension": name, "value": value, "unit": unit, "extent": extent}
                for name, value in zip(_ORDER, numbers, strict=False)
            )
            continue
        out.extend(_group_measurements(chosen[0], extent, lead))
    return out
