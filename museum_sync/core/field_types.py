"""One type system for a profile's declared field types: when a value is empty, and which types it fits.

Record validation (``validation``: a value that does not fit its field's declared type is an
``invalid_value``) and drift inference (``drift``: most values of a field no longer fit its declared type)
ask these same two questions here, so they cannot disagree. Before, drift called a column of year-only
dates (``2012``) "integer, expected date" and quarantined a chunk whose every record had passed
validation; and a whitespace-only cell was empty for mapping and drift but a type error for validation.

A value fits several types: ``2012`` is an integer, a number and a date; ``1`` is an integer and a
boolean. ``infer_type`` names the narrowest one, for messages and new-field reports only; decisions use
``fits``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Final, get_args

from museum_sync.core.profiles import FieldType

__all__ = ["FIELD_TYPES", "fits", "fitting_types", "infer_type", "is_blank", "narrowest", "null_set", "text_fits_kind"]

FIELD_TYPES: Final[tuple[FieldType, ...]] = get_args(FieldType)

_INT = re.compile(r"^[+-]?\d+(\.0+)?$")
_NUM = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_BOOL = frozenset({"true", "false", "1", "0", "yes", "no", "t", "f", "y", "n"})
# A year, a year-month or an ISO date, optionally followed by more (a time, "(circa)", "-1900"...): the
# date grammar (``dates``) reads the rest; a fifth digit is not a year.
_DATE = re.compile(r"^\d{4}(?!\d)(-\d{2}(-\d{2})?)?")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
# Narrowest first: what ``infer_type`` reports (a container is its own kind before "string").
_NARROWEST: Final[tuple[FieldType, ...]] = ("object", "array", "integer", "number", "boolean", "date", "url", "string")


def null_set(placeholders: Iterable[object]) -> frozenset[str]:
    """A profile's ``nulls`` ("n.d.", "0.0", "-") as ``is_blank`` compares them: stripped, case-folded."""
    return frozenset(str(p).strip().casefold() for p in placeholders)


def is_blank(value: Any, nulls: frozenset[str] = frozenset()) -> bool:
    """Empty for every purpose: ``None``, a whitespace-only string, an empty list or object, or one of
    the profile's placeholders for "no value" (``nulls``, from ``null_set``)."""
    if value is None:
        return True
    if isinstance(value, str):
        text = value.strip()
        return not text or (bool(nulls) and text.casefold() in nulls)
    if isinstance(value, list | dict):
        return not value
    return bool(nulls) and not isinstance(value, bool) and str(value).casefold() in nulls


def fits(value: Any, kind: FieldType) -> bool:
    """Whether a non-blank value is acceptable as the declared type ``kind`` (``string`` takes anything)."""
    if kind == "string":
        return True
    if isinstance(value, str):  # most values: a text's types are known once per distinct text (``_text_fits``)
        return kind in _text_fits(value.strip())
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if isinstance(value, dict | list):
        return False
    if isinstance(value, bool):
        return kind == "boolean"
    if isinstance(value, int):
        return kind in ("integer", "number") or (kind == "boolean" and value in (0, 1))
    if isinstance(value, float):
        return kind == "number" or (kind == "integer" and value.is_integer())
    return text_fits_kind(str(value).strip(), kind)


def text_fits_kind(text: str, kind: FieldType) -> bool:
    """Whether a stripped text is acceptable as ``kind``: the rule itself, one kind at a time (``fits`` asks
    ``_all_text_fits``, which applies these rules to every kind in one pass, and the tests hold the two equal)."""
    if kind == "string":
        return True
    if kind == "integer":
        return bool(_INT.match(text))
    if kind == "number":
        return bool(_NUM.match(text))
    if kind == "boolean":
        return text.lower() in _BOOL
    if kind == "date":
        return bool(_DATE.match(text))
    if kind == "url":
        return bool(_URL.match("https:" + text if text.startswith("//") else text))
    return False  # object, array: never a text


def fitting_types(value: Any, nulls: frozenset[str] = frozenset()) -> frozenset[FieldType]:
    """Every declared type a value fits; empty for a blank value (it says nothing about type)."""
    if is_blank(value, nulls):
        return frozenset()
    if isinstance(value, str):
        return _text_fits(value.strip())
    return _all_fits(value)


def infer_type(value: Any, nulls: frozenset[str] = frozenset()) -> str | None:
    """The narrowest type a value fits (for reports); None for blank values."""
    return narrowest(fitting_types(value, nulls))


def narrowest(kinds: frozenset[FieldType]) -> FieldType | None:
    """The narrowest of the types a value fits (``fitting_types``), as ``infer_type`` reports it; None if none."""
    return next((kind for kind in _NARROWEST if kind in kinds), None)


def _all_fits(value: Any) -> frozenset[FieldType]:
    return frozenset(kind for kind in FIELD_TYPES if fits(value, kind))


def _all_text_fits(text: str) -> frozenset[FieldType]:
    """``_all_fits`` of a stripped, non-blank text, asking each pattern once (``fits`` for every kind in turn
    re-checks the value's Python type and strips it again each time: half the cost, for the same answer)."""
    kinds: list[FieldType] = ["string"]
    if _INT.match(text):
        kinds.append("integer")
    if _NUM.match(text):
        kinds.append("number")
    if text.lower() in _BOOL:
        kinds.append("boolean")
    if _DATE.match(text):
        kinds.append("date")
    if _URL.match("https:" + text if text.startswith("//") else text):
        kinds.append("url")
    return frozenset(kinds)


# A value repeated across a chunk (a medium, a credit line, a year) classified once. Drift asks this of every
# value of every record: it was a fifth of a chunk step's CPU before (``benchmarks/README.md``, issue #18).
_text_fits = lru_cache(maxsize=8192)(_all_text_fits)
