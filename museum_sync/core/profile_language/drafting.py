"""``museum-sync profile init``: a first profile drafted from sample records, for a registrar to finish.

It lists every column with the type its sample values share (the ``[[fields]]`` the drift check compares
against) and guesses the ``[map]`` entries a museum export usually has by column names (id, title, dates,
rights, creators, ...). Guesses are marked so in comments: the draft is a start, checked with
``museum-sync profile check``, never a profile to ship unread.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from museum_sync.core.field_types import fitting_types, is_blank

__all__ = ["draft_profile", "infer_type"]

_NARROWEST_FIRST = ("boolean", "integer", "number", "date", "url", "array", "object")

# canonical field -> column names it is usually found under (lower case, without _ - and spaces), in order
_GUESSES: dict[str, tuple[str, ...]] = {
    "record_id": ("id", "objectid", "recordid", "uuid", "systemnumber", "objectnumber", "accessionnumber"),
    "object_number": ("accessionnumber", "objectnumber", "inventorynumber", "mainreferencenumber", "invno"),
    "title": ("title", "titel", "objectname", "name", "forwardtext"),
    "date_display": ("date", "datedisplay", "dated", "creationdate", "datetext", "displaydate", "effectivedate"),
    "date_earliest": ("datestart", "datebegin", "beginyear", "yearstart", "creationdateearliest", "earliest"),
    "date_latest": ("dateend", "endyear", "yearend", "creationdatelatest", "latest"),
    "rights": ("rights", "license", "licence", "rightsstatement", "copyright", "ispublicdomain"),
    "medium_display": ("medium", "mediumdisplay", "materials", "technique"),
    "dimensions_display": ("dimensions", "measurements", "dimension"),
    "credit_line": ("creditline", "credit"),
    "description": ("description", "label", "labeltext"),
    "culture": ("culture", "nationality"),
    "classification": ("classification", "classificationtitle", "department"),
    "work_type": ("type", "objecttype", "worktype", "artworktypetitle", "objectname"),
    "source_url": ("url", "weburl", "link", "objecturl"),
}
_CREATOR_NAMES = ("artist", "creator", "maker", "artisttitle", "artistdisplay", "fullname", "author")
_PLACE_NAMES = ("place", "placeoforigin", "country", "origin")


def _key(name: str) -> str:
    return re.sub(r"[\s_\-:.]", "", name).lower()


def infer_type(values: Iterable[Any]) -> str:
    """The narrowest profile field type every non-empty sample value fits, by the one type system the record
    check and drift use (``core.field_types``); ``string`` fits anything."""
    common: set[str] | None = None
    for value in values:
        kinds = fitting_types(value)
        if kinds:
            common = set(kinds) if common is None else common & kinds
    for kind in _NARROWEST_FIRST:
        if common and kind in common:
            return kind
    return "string"


def _toml(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _pick(columns: Sequence[str], names: Sequence[str], taken: set[str]) -> str | None:
    by_key = {_key(c): c for c in columns}
    for name in names:
        column = by_key.get(name)
        if column and column not in taken:
            return column
    return None


def draft_profile(
    records: Sequence[Mapping[str, Any]],
    *,
    name: str,
    fmt: str,
    source: str,
    delimiter: str = ",",
    item_path: str | None = None,
) -> str:
    """A TOML profile drafted from ``records`` (the first few hundred of an export are plenty)."""
    columns = list(dict.fromkeys(k for r in records for k in r if not k.startswith("__")))
    types = {c: infer_type(r.get(c) for r in records) for c in columns}
    filled = {c: sum(not is_blank(r.get(c)) for r in records) for c in columns}
    lines = [
        f"# Drafted by `museum-sync profile init` from {source} ({len(records)} sample records).",
        "# Every [map] entry below is a guess from column names: check it with `museum-sync profile check`.",
        f"description = {_toml('TODO: who publishes this export and what it is')}",
        f"format = {_toml(fmt)}",
    ]
    if fmt == "csv" and delimiter != ",":
        lines.append(f"delimiter = {_toml(delimiter)}")
    if item_path is not None:
        lines.append(f"item_path = {_toml(item_path)}")
    lines += [
        'institution = "TODO: the holding institution"',
        '# default_rights = "http://creativecommons.org/publicdomain/zero/1.0/"  # if the export has no rights column',
        "",
        "fields = [",
    ]
    for column in columns:
        required = filled[column] == len(records) and len(records) > 0
        extra = ", required = true" if required else ""
        lines.append(f"  {{ name = {_toml(column)}, type = {_toml(types[column])}{extra} }},")
    lines += ["]", "", "[map]"]
    taken: set[str] = set()
    guessed: dict[str, str] = {}
    for field, names in _GUESSES.items():
        found = _pick(columns, names, taken)
        if found and (field != "record_id" or filled[found] == len(records)):
            guessed[field] = found
            taken.add(found)
    for field, column in guessed.items():
        suffix = f"  # {types[column]}, {filled[column]}/{len(records)} filled"
        if types[column] == "array":
            suffix += ": a list; use a list field, or `[0]`, or a composite with each/zip"
        lines.append(f"{field} = {_toml(column)}{suffix}")
    creator = _pick(columns, _CREATOR_NAMES, taken)
    if creator and types[creator] == "array":
        lines.append(f'creators = {{ each = {_toml(creator + "[]")}, name = "TODO: sub-field" }}  # guess')
    elif creator:
        lines.append(f'creators = {{ name = {_toml(creator)}, role = {{ constant = "artist" }} }}  # guess')
    place = _pick(columns, _PLACE_NAMES, taken)
    if place:
        lines.append(f"places = {_toml(place)}  # guess")
    lines.append("")
    return "\n".join(lines)
