"""Turn a raw source record into a ``Draft`` by following a profile's ``[map]`` table.

The ``[map]`` language is deliberately small, so that a registrar can write a profile without Python:

``field = "path"``
    the value at a path. CSV: the column name, as written in the header. JSON: dotted keys, ``[]`` to
    take every item of a list (``"contributors[].fc"``), ``[0]`` for one item.
``field = { path = "...", values = { "true" = "CC0" }, default = "..." }``
    translate source values through a table (``"*"`` matches any other non-empty value); ``default``
    when the value is empty or missing.
``field = { constant = "artist" }``
    a fixed value.
``field = { template = "https://api.artic.edu/api/v1/artworks/{id}/manifest.json" }``
    a string built from source paths; empty when any of them is empty.
``field = { path = "...", split = ";" }``
    split one string into a list.

Composite fields (``creators``, ``measurements``, ``images``, ``titles``) take a table of sub-fields,
optionally with ``each = "path[]"`` to produce one item per element of a source list. ``measurements``
sub-fields are dimension names (``height``, ``width``...) plus ``unit`` and ``extent``. ``creators`` may
list ``skip_roles`` (participants such as donors who are not makers). ``title`` and
``title_lang`` are shortcuts for a single preferred title.

Compilation happens once per profile; mapping a record is then a handful of dict lookups.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from museum_sync.core.draft import Draft
from museum_sync.core.exceptions import ProfileError
from museum_sync.core.profiles import Profile

__all__ = ["Mapper", "compile_mapper"]

Getter = Callable[[Mapping[str, Any]], Any]

_SCALAR_FIELDS = frozenset(
    {
        "record_id", "object_number", "work_type", "work_type_aat", "classification", "date_display",
        "date_earliest", "date_latest", "medium_display", "dimensions_display", "inscription",
        "description", "rights", "credit_line", "institution", "source_system", "acquisition",
        "acquisition_year", "provenance_history", "repository", "source_url", "iiif_manifest", "language",
        "lido_schema_version",
    }
)  # fmt: skip
_LIST_FIELDS = frozenset({"materials", "materials_aat", "techniques"})
_SHORTCUTS = frozenset({"title", "title_lang", "alt_titles"})
_COMPOSITES: dict[str, frozenset[str]] = {
    "creators": frozenset({"name", "role", "role_aat", "source_id", "life_dates", "birth_year", "death_year"}),
    "images": frozenset({"url", "caption", "is_primary"}),
    "titles": frozenset({"text", "lang", "preferred"}),
    "measurements": frozenset(
        {"height", "width", "depth", "diameter", "length", "weight", "duration", "unit", "extent"}
    ),
}
_DIMENSIONS = ("height", "width", "depth", "diameter", "length", "weight", "duration")
_SEGMENT = re.compile(r"^(?P<key>[^\[\]]+)?(?P<index>\[(?:\d+)?\])?$")
_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, list):
        items = [_clean(v) for v in value]
        return [v for v in items if v is not None] or None
    return None if _empty(value) else value


def _path_getter(path: str, flat: bool) -> Getter:
    """Compile a path into a getter. Flat sources (CSV) treat the whole path as one column name."""
    if flat:
        return lambda rec: rec.get(path)
    steps: list[tuple[str | None, str | None]] = []
    for part in path.split("."):
        match = _SEGMENT.match(part)
        if not match:
            raise ProfileError(f"bad path segment {part!r} in {path!r}")
        steps.append((match.group("key"), match.group("index")))

    def get(rec: Mapping[str, Any]) -> Any:
        current: list[Any] = [rec]
        fanned = False
        for key, index in steps:
            nxt: list[Any] = []
            for item in current:
                if key is not None:
                    item = item.get(key) if isinstance(item, Mapping) else None
                if index is None:
                    nxt.append(item)
                elif index == "[]":
                    fanned = True
                    if isinstance(item, list):
                        nxt.extend(item)
                    elif item is not None:
                        nxt.append(item)
                else:
                    i = int(index[1:-1])
                    nxt.append(item[i] if isinstance(item, list) and len(item) > i else None)
            current = nxt
        if fanned:
            return current
        return current[0] if current else None

    return get


def _value_getter(spec: Any, flat: bool, where: str) -> tuple[Getter, str | None]:
    """Compile a scalar spec. Returns the getter and the source field name for error messages."""
    if isinstance(spec, str):
        get = _path_getter(spec, flat)
        return (lambda rec: _clean(get(rec))), spec
    if not isinstance(spec, dict):
        raise ProfileError(f"[map] {where}: expected a path string or a table, got {spec!r}")
    unknown = set(spec) - {"path", "values", "default", "constant", "template", "split"}
    if unknown:
        raise ProfileError(f"[map] {where}: unknown keys {sorted(unknown)}")
    if "constant" in spec:
        return _const(spec["constant"]), None
    if "template" in spec:
        template = str(spec["template"])
        parts = [(name, _path_getter(name, flat)) for name in _TEMPLATE_FIELD.findall(template)]

        def render(rec: Mapping[str, Any]) -> Any:
            values = {}
            for name, get in parts:
                value = _clean(get(rec))
                if value is None:
                    return None
                values[name] = value
            return _TEMPLATE_FIELD.sub(lambda m: str(values[m.group(1)]), template)

        return render, ",".join(name for name, _ in parts)
    if "path" not in spec:
        raise ProfileError(f"[map] {where}: a table needs 'path', 'constant' or 'template'")
    path = str(spec["path"])
    get = _path_getter(path, flat)
    table: dict[str, Any] | None = spec.get("values")
    default = spec.get("default")
    split = spec.get("split")

    def lookup(rec: Mapping[str, Any]) -> Any:
        value = _clean(get(rec))
        if value is not None and split and isinstance(value, str):
            value = _clean(value.split(split))
        if value is not None and table is not None:
            key = str(value).lower() if isinstance(value, bool) else str(value)
            if key in table:
                value = table[key]
            elif "*" in table:
                value = table["*"]
        return default if value is None else value

    return lookup, path


@dataclass(frozen=True, slots=True)
class _Composite:
    name: str
    each: Getter | None
    parts: tuple[tuple[str, Getter], ...]
    skip_roles: frozenset[str] = frozenset()


@dataclass(slots=True)
class Mapper:
    """A compiled profile map: ``mapper.map(raw) -> Draft``; ``mapper.sources`` names source fields."""

    profile: Profile
    scalars: list[tuple[str, Getter]] = field(default_factory=list)
    lists: list[tuple[str, Getter]] = field(default_factory=list)
    composites: list[_Composite] = field(default_factory=list)
    title: Getter | None = None
    title_lang: Getter | None = None
    alt_titles: Getter | None = None
    sources: dict[str, str] = field(default_factory=dict)
    # (field, declared type, required) for the per-record declared-type check; set by compile_mapper.
    type_plan: tuple[tuple[str, Any, bool], ...] = ()

    def map(self, raw: Mapping[str, Any]) -> Draft:
        draft: dict[str, Any] = {}
        for name, get in self.scalars:
            value = get(raw)
            if value is not None:
                draft[name] = value
        for name, get in self.lists:
            value = get(raw)
            if value is not None:
                draft[name] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        titles: list[dict[str, Any]] = []
        if self.title is not None:
            text = self.title(raw)
            if text is not None:
                lang = self.title_lang(raw) if self.title_lang else self.profile.language
                titles.append({"text": str(text), "lang": lang, "preferred": True})
        if self.alt_titles is not None:
            alts = self.alt_titles(raw)
            for alt in alts if isinstance(alts, list) else [alts] if alts else []:
                titles.append({"text": str(alt), "lang": self.profile.language, "preferred": False})
        for comp in self.composites:
            items = self._composite(comp, raw)
            if comp.name == "titles":
                titles.extend(items)
            elif items:
                draft[comp.name] = items
        if titles:
            draft["titles"] = titles
        return cast(Draft, draft)

    def _composite(self, comp: _Composite, raw: Mapping[str, Any]) -> list[dict[str, Any]]:
        if comp.each is None:
            elements: list[Any] = [raw]
        else:
            found = comp.each(raw)
            elements = found if isinstance(found, list) else [found] if found is not None else []
        out: list[dict[str, Any]] = []
        for element in elements:
            if not isinstance(element, Mapping):
                element = {"": element}
            values = {name: get(element) for name, get in comp.parts}
            if comp.name == "measurements":
                unit, extent = values.pop("unit", None), values.pop("extent", None)
                for dim in _DIMENSIONS:
                    if values.get(dim) is not None:
                        out.append({"dimension": dim, "value": values[dim], "unit": unit, "extent": extent})
                continue
            key = {"creators": "name", "images": "url", "titles": "text"}[comp.name]
            if values.get(key) is None:
                continue
            if comp.skip_roles and str(values.get("role", "")).lower() in comp.skip_roles:
                continue
            if comp.name == "titles" and values.get("lang") is None:
                values["lang"] = self.profile.language
            out.append({k: v for k, v in values.items() if v is not None})
        return out


def compile_mapper(profile: Profile) -> Mapper:
    """Compile ``profile.map``; raises ProfileError naming the bad entry."""
    flat = profile.format == "csv"
    mapper = Mapper(profile=profile)
    for name, spec in profile.map.items():
        where = f"{profile.name}.{name}"
        if name in _SCALAR_FIELDS:
            get, source = _value_getter(spec, flat, where)
            mapper.scalars.append((name, get))
            if source:
                mapper.sources[name] = source
        elif name in _LIST_FIELDS:
            get, source = _value_getter(spec, flat, where)
            mapper.lists.append((name, get))
            if source:
                mapper.sources[name] = source
        elif name in _SHORTCUTS:
            get, source = _value_getter(spec, flat, where)
            setattr(mapper, name, get)
            if source:
                mapper.sources["titles" if name == "title" else name] = source
        elif name in _COMPOSITES:
            mapper.composites.append(_compile_composite(name, spec, flat, where, mapper.sources))
        else:
            known = sorted(_SCALAR_FIELDS | _LIST_FIELDS | _SHORTCUTS | set(_COMPOSITES))
            raise ProfileError(f"[map] {where}: unknown field {name!r}; known fields: {', '.join(known)}")
    defaults = {
        "institution": profile.institution,
        "source_system": profile.source_system,
        "rights": profile.default_rights,
        "language": profile.language,
    }
    for name, default in defaults.items():
        if default and name not in profile.map:
            mapper.scalars.append((name, _const(default)))
    id_field = profile.map.get("record_id")  # an empty id is reported as missing_provenance instead
    mapper.type_plan = tuple(
        (spec.name, spec.type, spec.required and spec.name != id_field)
        for spec in profile.fields
        if spec.type != "string" or (spec.required and spec.name != id_field)
    )
    return mapper


def _const(value: Any) -> Getter:
    return lambda rec: value


def _compile_composite(name: str, spec: Any, flat: bool, where: str, sources: dict[str, str]) -> _Composite:
    if not isinstance(spec, dict):
        raise ProfileError(f"[map] {where}: expected a table of sub-fields")
    allowed = _COMPOSITES[name] | {"each"} | ({"skip_roles"} if name == "creators" else set())
    unknown = set(spec) - allowed
    if unknown:
        raise ProfileError(f"[map] {where}: unknown sub-fields {sorted(unknown)}; allowed: {sorted(allowed)}")
    each = _path_getter(str(spec["each"]), flat) if "each" in spec else None
    # Sub-field paths are relative to each element, which is always a nested (non-flat) value.
    sub_flat = flat and each is None
    parts: list[tuple[str, Getter]] = []
    for sub, sub_spec in spec.items():
        if sub in ("each", "skip_roles"):
            continue
        get, source = _value_getter(sub_spec, sub_flat, f"{where}.{sub}")
        parts.append((sub, get))
        if source:
            prefix = f"{spec['each']}." if "each" in spec else ""
            sources[f"{name}.{sub}"] = prefix + source
    skip = frozenset(str(r).lower() for r in spec.get("skip_roles", ()))
    return _Composite(name=name, each=each, parts=tuple(parts), skip_roles=skip)
