"""The JSON Schema of a profile file, so editors (VS Code with Even Better TOML / Taplo, JetBrains) complete
and check profiles as they are written.

Generated from the same pydantic models that load a profile (``Profile``, ``LookupSpec``...) plus the map
language's entries (the models below, which only describe: ``mapping.compile_mapper`` is what checks a map).
The shipped copy, ``core/profiles/profile.schema.json``, is tested equal to ``profile_json_schema()``;
regenerate it with ``python -m museum_sync.core.profile_language.schema`` (it prints the file).
A profile points at it with ``#:schema ./profile.schema.json`` on its first line (Taplo's directive).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from museum_sync.core.mapping import CANONICAL_FIELDS
from museum_sync.core.profiles import Profile

__all__ = ["profile_json_schema", "schema_text"]

_DESCRIBE = ConfigDict(extra="forbid")
_SCALAR = str | int | float | bool


class Condition(BaseModel):
    """``when``: map the entry only for records where another column says so (case-insensitive)."""

    model_config = _DESCRIBE
    path: str
    equals: _SCALAR | None = None
    in_: list[_SCALAR] | None = Field(default=None, alias="in")
    matches: str | None = Field(default=None, description="a regular expression searched in the value")
    empty: bool | None = None


class Entry(BaseModel):
    """One ``[map]`` entry as a table (a plain string is a path)."""

    model_config = _DESCRIBE
    path: str | None = Field(default=None, description="CSV: the column; JSON: dotted keys, [] for every item")
    constant: Any = None
    template: str | None = Field(default=None, description="a string built from {path} placeholders")
    first: list[str | Entry] | None = Field(default=None, description="the first entry that gives a value")
    split: str | None = Field(default=None, description="split one string into a list (list fields, zip)")
    nulls: list[str] | None = Field(default=None, description="values that mean empty, besides the profile's")
    replace: list[str] | list[list[str]] | None = Field(default=None, description="[regex, replacement]")
    extract: str | None = Field(default=None, description="regex: its first group (or the match) is kept")
    date_format: str | list[str] | None = Field(default=None, description="strptime format(s), read to ISO")
    values: dict[str, Any] | None = Field(default=None, description="table: exact, then case-insensitive, '*'")
    lookup: str | None = Field(default=None, description="a [lookups] table the value is a key of")
    column: str | None = Field(default=None, description="the lookup table's column to take")
    default: Any = None
    when: Condition | None = None


class Composite(BaseModel):
    """A composite field (creators, measurements, images, titles): sub-fields plus at most one mode."""

    model_config = ConfigDict(extra="allow")
    each: str | None = Field(default=None, description="one item per element of a source list (path[])")
    zip: bool | None = Field(default=None, description="pair parallel lists position by position")
    lookup: str | None = Field(default=None, description="one item per key found in this [lookups] table")
    key: str | Entry | None = Field(default=None, description="with lookup: the entry giving the key(s)")
    parse: str | Entry | None = Field(default=None, description="measurements: a dimension string to read")
    skip_roles: list[str] | None = Field(default=None, description="creators: roles that are not makers")


def profile_json_schema() -> dict[str, Any]:
    """The schema of a profile file (draft 2020-12), deterministic for the shipped copy."""
    schema = Profile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "museum-sync mapping profile"
    schema["properties"].pop("origin", None)  # set by the loader, never written
    schema["required"] = [r for r in schema.get("required", []) if r != "name"]  # default: the file's name
    defs = schema.setdefault("$defs", {})
    for model in (Condition, Entry, Composite):
        model_schema = model.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
        defs.update(model_schema.pop("$defs", {}))
        defs[model.__name__] = model_schema
    entry = {"anyOf": [{"type": "string", "description": "a path"}, {"$ref": "#/$defs/Entry"}]}
    defs["Composite"]["additionalProperties"] = entry  # every sub-field is an entry
    fields: dict[str, Any] = {}
    for name, kind in CANONICAL_FIELDS.items():
        composite = {"$ref": "#/$defs/Composite"}
        several = {"type": "array", "items": composite}
        fields[name] = {"anyOf": [composite, several]} if kind == "composite" else entry
    schema["properties"]["map"] = {
        "type": "object",
        "description": "canonical field = where its value comes from (README: Mapping profiles)",
        "properties": fields,
        "additionalProperties": False,
    }
    return schema


def schema_text() -> str:
    """The shipped file's exact text."""
    return json.dumps(profile_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(schema_text(), end="")
