"""What happens to one source value on its way into a draft field, in the order a profile entry lists it.

``split`` -> for each item: null placeholders -> ``replace`` -> ``extract`` -> ``date_format`` -> ``values``
-> ``default`` when nothing is left. Each step is compiled once from the profile (regexes, tables), so mapping
a record stays a few function calls. A step that cannot apply (no regex match, a date that does not fit the
declared format) gives the value untouched or empty as documented per step, never an exception: the record's
validation reports what is wrong with the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from museum_sync.core.exceptions import ProfileError
from museum_sync.core.field_types import is_blank

__all__ = ["Condition", "ItemSteps", "blank", "clean", "compile_condition", "compile_item_steps"]

Step = Callable[[Any], Any]


#: Empty for mapping, validation and drift alike (one rule, ``core.field_types``): None, whitespace, [], {}.
blank = is_blank


def clean(value: Any) -> Any:
    """Strip strings; empty values (and empty items of a list) become None."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, list):
        items = [clean(v) for v in value]
        return [v for v in items if v is not None] or None
    return None if blank(value) else value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _null_step(placeholders: Sequence[Any]) -> Step:
    nulls = frozenset(_text(p).strip().casefold() for p in placeholders)
    return lambda v: None if _text(v).strip().casefold() in nulls else v


def _replace_step(spec: Any, where: str) -> Step:
    pairs = spec if spec and isinstance(spec[0], list) else [spec]
    compiled: list[tuple[re.Pattern[str], str]] = []
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise ProfileError(f"{where}: replace is [pattern, replacement] or a list of them, got {pair!r}")
        compiled.append((_regex(pair[0], where), pair[1]))

    def replace(value: Any) -> Any:
        text = _text(value)
        for pattern, repl in compiled:
            text = pattern.sub(repl, text)
        return text.strip() or None

    return replace


def _regex(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ProfileError(f"{where}: bad regular expression {pattern!r}: {exc}") from None


def _extract_step(pattern: str, where: str) -> Step:
    """The first group of the first match (or the whole match without groups); no match: empty."""
    regex = _regex(pattern, where)

    def extract(value: Any) -> Any:
        match = regex.search(_text(value))
        if not match:
            return None
        found = match.group(1) if regex.groups else match.group(0)
        return found.strip() if found else None

    return extract


def _date_step(formats: Sequence[str]) -> Step:
    """Read a date in one of the declared ``strptime`` formats into ISO ``YYYY-MM-DD`` (or ``YYYY``/``YYYY-MM``
    when the format has no day/month); a value that fits none is passed on for validation to report."""

    def to_iso(value: Any) -> Any:
        text = _text(value).strip()
        for fmt in formats:
            try:
                parsed = datetime.strptime(text, fmt)
            except ValueError:
                continue
            if "%d" in fmt or "%j" in fmt:
                return parsed.date().isoformat()
            if "%m" in fmt or "%b" in fmt or "%B" in fmt:
                return f"{parsed.year:04d}-{parsed.month:02d}"
            return f"{parsed.year:04d}"
        return value

    return to_iso


def _values_step(table: Mapping[str, Any]) -> Step:
    """Exact key first, then the key case-insensitively, then ``"*"`` (any other non-empty value)."""
    folded = {str(k).casefold(): v for k, v in table.items()}

    def translate(value: Any) -> Any:
        key = _text(value)
        if key in table:
            return table[key]
        folded_key = key.strip().casefold()
        if folded_key in folded:
            return folded[folded_key]
        return table.get("*", value)

    return translate


@dataclass(frozen=True, slots=True)
class ItemSteps:
    """The compiled per-item steps of one entry."""

    steps: tuple[Step, ...]

    def apply(self, value: Any) -> Any:
        for step in self.steps:
            if value is None:
                return None
            value = step(value)
        return value


def compile_item_steps(spec: Mapping[str, Any], nulls: Sequence[Any], where: str) -> ItemSteps:
    """The per-item steps an entry declares, in the documented order (profile-wide ``nulls`` first)."""
    steps: list[Step] = []
    placeholders = [*nulls, *spec.get("nulls", ())]
    if placeholders:
        steps.append(_null_step(placeholders))
    if "replace" in spec:
        steps.append(_replace_step(spec["replace"], where))
    if "extract" in spec:
        steps.append(_extract_step(str(spec["extract"]), where))
    if "date_format" in spec:
        formats = spec["date_format"]
        steps.append(_date_step([formats] if isinstance(formats, str) else [str(f) for f in formats]))
    if "values" in spec:
        if not isinstance(spec["values"], Mapping):
            raise ProfileError(f"{where}: values must be a table of source value = canonical value")
        steps.append(_values_step(spec["values"]))
    return ItemSteps(tuple(steps))


Condition = Callable[[Mapping[str, Any]], bool]
_TESTS = frozenset({"path", "equals", "in", "matches", "empty"})


def compile_condition(spec: Any, getter: Callable[[str], Callable[[Mapping[str, Any]], Any]], where: str) -> Condition:
    """``when = { path = "datatype", equals = "x" }`` (or ``in = [..]``, ``matches = "regex"``, ``empty = bool``).

    Comparisons are on the stripped text, case-insensitively: a condition tests what a value *is*, and
    exports disagree on case.
    """
    if not isinstance(spec, Mapping) or "path" not in spec:
        raise ProfileError(f'{where}: when = {{ path = "column", equals = "value" }} (or in, matches, empty)')
    unknown = set(spec) - _TESTS
    if unknown:
        raise ProfileError(f"{where}: when has unknown keys {sorted(unknown)}; allowed: {sorted(_TESTS)}")
    get = getter(str(spec["path"]))
    wanted: frozenset[str] | None = None
    if "equals" in spec:
        wanted = frozenset({_text(spec["equals"]).strip().casefold()})
    elif "in" in spec:
        wanted = frozenset(_text(v).strip().casefold() for v in spec["in"])
    regex = _regex(str(spec["matches"]), where) if "matches" in spec else None
    empty = spec.get("empty")

    def holds(rec: Mapping[str, Any]) -> bool:
        value = get(rec)
        if empty is not None:
            return blank(value) is bool(empty)
        if blank(value):
            return False
        text = _text(value).strip()
        if wanted is not None and text.casefold() not in wanted:
            return False
        return regex is None or regex.search(text) is not None

    return holds
