"""Turn a raw source record into a ``Draft`` by following a profile's ``[map]`` table.

The ``[map]`` language is data a registrar writes without Python (README, "Mapping profiles", is the full
reference; ``profile.schema.json`` lets an editor complete and check it). In short:

``field = "path"``
    the value at a path. CSV: the column name. JSON: dotted keys, ``[]`` for every item of a list
    (``"contributors[].fc"``), ``[0]`` for one item.
``field = { path = "...", ... }``
    with, in this order: ``split`` (one string into a list), ``nulls`` (placeholders that mean empty, on top
    of the profile-wide ``nulls``), ``replace = [regex, replacement]``, ``extract = "regex"`` (its first group),
    ``date_format = "%m/%d/%Y"`` (or a list), ``values = { "src" = "canonical" }`` (exact, then
    case-insensitive, ``"*"`` for any other value), ``lookup = "table"`` + ``column`` (a side table of
    ``[lookups]``), then ``default`` when nothing is left. ``when = { path = "col", equals = "x" }`` (or
    ``in``, ``matches``, ``empty``) maps the entry only for records where another column says so.
``field = { constant = ... }``, ``{ template = "https://.../{id}" }``, ``{ first = [entry, entry, ...] }``
    a fixed value; a string built from paths (empty when one is empty); the first entry that gives a value.

Composite fields (``creators``, ``measurements``, ``images``, ``titles``) take a table of sub-fields (or a
list of such tables, ``[[map.creators]]``, whose items are concatenated) and at most one of:
``each = "path[]"`` (one item per element of a source list); ``zip = true`` (parallel lists, e.g. split
``names``/``roles``/``ids`` columns, paired position by position); ``lookup = "table"`` with ``key = entry``
(one item per key found in a side table; sub-field paths are its columns); for ``measurements``,
``parse = entry`` (a dimension string read by ``profile_language.dimensions``).

A map is compiled and *type-checked* once, when the profile is loaded: an entry that gives a list (``split``,
``[]``, a column declared ``array``) for a field that holds one value is a ``MapError`` naming the entry,
never a record reject. Mapping a record is then a handful of function calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from museum_sync.core.draft import Draft
from museum_sync.core.exceptions import ProfileError
from museum_sync.core.profile_language.dimensions import parse_dimensions
from museum_sync.core.profile_language.lookups import SideTable, load_side_table, resolve_side_file
from museum_sync.core.profile_language.transforms import clean, compile_condition, compile_item_steps
from museum_sync.core.profiles import Profile

__all__ = ["CANONICAL_FIELDS", "MapError", "Mapper", "compile_mapper"]

Getter = Callable[[Mapping[str, Any]], Any]

_SCALAR_FIELDS = frozenset(
    {
        "record_id", "object_number", "work_type", "work_type_aat", "classification", "date_display",
        "date_earliest", "date_latest", "medium_display", "dimensions_display", "inscription",
        "description", "rights", "credit_line", "institution", "source_system", "acquisition",
        "acquisition_year", "provenance_history", "repository", "source_url", "iiif_manifest", "language",
        "lido_schema_version", "culture",
    }
)  # fmt: skip
_LIST_FIELDS = frozenset({"materials", "materials_aat", "techniques", "places", "tags"})
_SHORTCUTS = frozenset({"title", "title_lang", "alt_titles"})
_COMPOSITES: dict[str, frozenset[str]] = {
    "creators": frozenset({"name", "role", "role_aat", "source_id", "life_dates", "birth_year", "death_year"}),
    "images": frozenset({"url", "caption", "is_primary"}),
    "titles": frozenset({"text", "lang", "preferred"}),
    "measurements": frozenset(
        {"height", "width", "depth", "diameter", "length", "weight", "duration", "unit", "extent"}
    ),
}
#: Every field a ``[map]`` may fill, and whether it holds one value, a list, or a list of sub-field tables.
CANONICAL_FIELDS: dict[str, Literal["one", "list", "composite"]] = {
    **dict.fromkeys(sorted(_SCALAR_FIELDS | {"title", "title_lang"}), "one"),
    **dict.fromkeys(sorted(_LIST_FIELDS | {"alt_titles"}), "list"),
    **dict.fromkeys(sorted(_COMPOSITES), "composite"),
}
_DIMENSIONS = ("height", "width", "depth", "diameter", "length", "weight", "duration")
_SEGMENT = re.compile(r"^(?P<key>[^\[\]]+)?(?P<index>\[(?:\d+)?\])?$")
_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")
_VALUE_KEYS = frozenset(
    {
        "path", "constant", "template", "first", "split", "nulls", "replace", "extract", "date_format",
        "values", "lookup", "column", "default", "when",
    }
)  # fmt: skip
_MODES = ("each", "zip", "lookup", "parse")


class MapError(ProfileError):
    """A ``[map]`` entry that cannot work; ``keys`` is its place in the profile (``("map", "creators", "name")``)
    so the loader can name the file and line."""

    def __init__(self, keys: Sequence[str], message: str, *, profile: str = "") -> None:
        self.keys = ("map", *keys)
        self.detail = message
        super().__init__(f"[map] {'.'.join([profile, *keys] if profile else keys)}: {message}")

    def named(self, profile: str) -> MapError:
        """The same error with the profile's name in its message (``[map] tate.creators.name: ...``)."""
        return MapError(self.keys[1:], self.detail, profile=profile)


@dataclass(frozen=True, slots=True)
class _Value:
    get: Getter
    source: str | None
    many: bool  # may give a list


@dataclass(slots=True)
class _Context:
    profile: Profile
    side_dirs: tuple[Path, ...]
    tables: dict[str, SideTable] = field(default_factory=dict)

    def table(self, name: str) -> SideTable:
        """A side table, read on first use (a worker that never maps a record never reads it)."""
        if name not in self.tables:
            spec = self.profile.lookups[name]
            folders = [Path(self.profile.origin).parent] if self.profile.origin else []
            path = resolve_side_file(spec.file, [*folders, *self.side_dirs])
            self.tables[name] = load_side_table(
                path,
                key=spec.key,
                delimiter=spec.delimiter,
                encoding=spec.encoding,
                max_rows=spec.max_rows,
                max_bytes=spec.max_bytes,
            )
        return self.tables[name]


def _fans(path: str, flat: bool) -> bool:
    return not flat and "[]" in path


def _path_getter(path: str, flat: bool, keys: Sequence[str]) -> Getter:
    """Compile a path into a getter. Flat sources (CSV rows, side-table rows) take the path as one column."""
    if flat:
        return lambda rec: rec.get(path)
    steps: list[tuple[str | None, str | None]] = []
    for part in path.split("."):
        match = _SEGMENT.match(part)
        if not match:
            raise MapError(keys, f"bad path segment {part!r} in {path!r}")
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


def _declared_many(ctx: _Context, path: str, flat: bool) -> bool:
    """A JSON path to a field the profile declares ``array`` (without ``[]``/``[n]``) gives a list."""
    if flat or "[" in path:
        return False
    return ctx.profile.field_type(path) == "array"


def _value(spec: Any, ctx: _Context, keys: tuple[str, ...], flat: bool) -> _Value:
    """Compile one entry; ``many`` says whether it may give a list (checked against the target field)."""
    nulls = ctx.profile.nulls
    if isinstance(spec, str):
        get = _path_getter(spec, flat, keys)
        steps = compile_item_steps({}, nulls, ".".join(keys))
        many = _fans(spec, flat) or _declared_many(ctx, spec, flat)
        if not steps.steps:  # a plain path (no nulls): ``_apply`` would only clean the cleaned value again
            return _Value(lambda rec: clean(get(rec)), spec, many)
        return _Value(lambda rec: _apply(clean(get(rec)), steps.apply), spec, many)
    if not isinstance(spec, Mapping):
        raise MapError(keys, f"expected a path string or a table, got {spec!r}")
    unknown = set(spec) - _VALUE_KEYS
    if unknown:
        raise MapError(keys, f"unknown keys {sorted(unknown)}; allowed: {', '.join(sorted(_VALUE_KEYS))}")
    condition = (
        compile_condition(spec["when"], lambda p: _path_getter(p, flat, keys), ".".join(keys))
        if "when" in spec
        else None
    )
    if "constant" in spec:
        constant = spec["constant"]
        return _Value(_guarded(lambda rec: constant, condition), None, isinstance(constant, list))
    if "first" in spec:
        options = spec["first"]
        if not isinstance(options, list) or not options:
            raise MapError(keys, "first = [entry, entry, ...] takes a non-empty list of entries")
        compiled = [_value(o, ctx, (*keys, f"first[{i}]"), flat) for i, o in enumerate(options)]

        def first(rec: Mapping[str, Any]) -> Any:
            for option in compiled:
                value = option.get(rec)
                if value is not None:
                    return value
            return spec.get("default")

        sources = ",".join(dict.fromkeys(name for o in compiled if o.source for name in o.source.split(",")))
        return _Value(_guarded(first, condition), sources or None, any(o.many for o in compiled))
    raw_get, source, many = _source(spec, ctx, keys, flat)
    split = spec.get("split")
    if split is not None and not (isinstance(split, str) and split):
        raise MapError(keys, f"split takes the separator string, got {split!r}")
    steps = compile_item_steps(spec, nulls, ".".join(keys))
    lookup = _scalar_lookup(spec, ctx, keys)
    default = spec.get("default")

    def value(rec: Mapping[str, Any]) -> Any:
        found = clean(raw_get(rec))
        if found is not None and split and isinstance(found, str):
            found = clean(found.split(split))
        found = _apply(found, steps.apply)
        if lookup is not None:
            found = _apply(found, lookup)
        return default if found is None else found

    return _Value(_guarded(value, condition), source, many or bool(split) or isinstance(default, list))


def _source(spec: Mapping[str, Any], ctx: _Context, keys: tuple[str, ...], flat: bool) -> tuple[Getter, str, bool]:
    if "template" in spec:
        template = str(spec["template"])
        parts = [(name, _path_getter(name, flat, keys)) for name in _TEMPLATE_FIELD.findall(template)]

        def render(rec: Mapping[str, Any]) -> Any:
            values = {}
            for name, get in parts:
                value = clean(get(rec))
                if value is None or isinstance(value, list):
                    return None
                values[name] = value
            return _TEMPLATE_FIELD.sub(lambda m: str(values[m.group(1)]), template)

        return render, ",".join(name for name, _ in parts), False
    if "path" not in spec:
        raise MapError(keys, "a table needs 'path', 'constant', 'template' or 'first'")
    path = str(spec["path"])
    return _path_getter(path, flat, keys), path, _fans(path, flat) or _declared_many(ctx, path, flat)


def _scalar_lookup(spec: Mapping[str, Any], ctx: _Context, keys: tuple[str, ...]) -> Callable[[Any], Any] | None:
    if "lookup" not in spec and "column" not in spec:
        return None
    name, column = spec.get("lookup"), spec.get("column")
    if name not in ctx.profile.lookups or not isinstance(column, str):
        known = ", ".join(sorted(ctx.profile.lookups)) or "none declared"
        raise MapError(keys, f"lookup = <a [lookups] table> with column = <its column>; tables: {known}")
    return lambda key: row.get(column) if (row := ctx.table(name).get(str(key))) else None


def _guarded(get: Getter, condition: Callable[[Mapping[str, Any]], bool] | None) -> Getter:
    if condition is None:
        return get
    return lambda rec: get(rec) if condition(rec) else None


def _apply(value: Any, step: Callable[[Any], Any]) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return clean([step(v) for v in value])
    return clean(step(value))


@dataclass(frozen=True, slots=True)
class _Composite:
    name: str
    mode: str | None
    source: Getter | None  # each: the elements; zip: unused; lookup: the keys; parse: the dimension text
    parts: tuple[tuple[str, Getter], ...]
    table: str | None = None
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
    context: _Context | None = None

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
                draft[comp.name] = draft.get(comp.name, []) + items
        if titles:
            draft["titles"] = titles
        return cast(Draft, draft)

    def _elements(self, comp: _Composite, raw: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """What each item's sub-fields are read from: the record, each list element, or each table row."""
        if comp.mode is None or comp.source is None:
            return [raw]
        found = comp.source(raw)
        found = found if isinstance(found, list) else [] if found is None else [found]
        if comp.mode == "lookup" and comp.table and self.context:
            table = self.context.table(comp.table)
            return [row for key in found if (row := table.get(str(key))) is not None]
        return [e if isinstance(e, Mapping) else {"": e} for e in found]

    def _composite(self, comp: _Composite, raw: Mapping[str, Any]) -> list[dict[str, Any]]:
        if comp.mode == "parse" and comp.source is not None:
            text = comp.source(raw)
            if not isinstance(text, str):
                return []
            extent = dict(comp.parts).get("extent")
            fixed = extent(raw) if extent else None
            return [m | {"extent": fixed or m["extent"]} for m in parse_dimensions(text)]
        rows: list[dict[str, Any]] = []
        if comp.mode == "zip":
            columns = {name: get(raw) for name, get in comp.parts}
            width = max((len(v) for v in columns.values() if isinstance(v, list)), default=1)
            for i in range(width):
                rows.append(
                    {k: (v[i] if i < len(v) else None) if isinstance(v, list) else v for k, v in columns.items()}
                )
        else:
            rows = [{name: get(element) for name, get in comp.parts} for element in self._elements(comp, raw)]
        return self._items(comp, rows)

    def _items(self, comp: _Composite, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for values in rows:
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


def compile_mapper(profile: Profile, side_dirs: Sequence[Path] = ()) -> Mapper:
    """Compile and type-check ``profile.map``; raises ``MapError`` naming the bad entry.

    ``side_dirs``: folders searched (after the profile's own) for ``[lookups]`` files, e.g. the export's folder.
    """
    try:
        return _compile(profile, side_dirs)
    except MapError as exc:
        raise exc.named(profile.name) from None


def _compile(profile: Profile, side_dirs: Sequence[Path]) -> Mapper:
    flat = profile.format == "csv"
    ctx = _Context(profile, tuple(side_dirs))
    mapper = Mapper(profile=profile, context=ctx)
    for name, spec in profile.map.items():
        kind = CANONICAL_FIELDS.get(name)
        if kind is None:
            known = ", ".join(sorted(CANONICAL_FIELDS))
            raise MapError((name,), f"unknown field {name!r}; known fields: {known}")
        if kind == "composite":
            # [[map.creators]] tables: several sources of one composite (an Artist and a Printer column)
            for table in spec if isinstance(spec, list) else [spec]:
                mapper.composites.append(_compile_composite(name, table, ctx, flat, mapper.sources))
            continue
        value = _value(spec, ctx, (name,), flat)
        if kind == "one" and value.many:
            raise MapError((name,), _one_value_message(name, spec))
        if value.source:
            mapper.sources["titles" if name == "title" else name] = value.source
        if name in _SHORTCUTS:
            setattr(mapper, name, value.get)
        elif kind == "list":
            mapper.lists.append((name, value.get))
        else:
            mapper.scalars.append((name, value.get))
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


def _one_value_message(name: str, spec: Any) -> str:
    why = "`split` makes a list" if isinstance(spec, Mapping) and "split" in spec else "this source gives a list"
    return (
        f"{why}, but {name} holds one value: drop `split`, pick one item (`[0]`), or map it to a list field "
        "(materials, techniques, places, tags, alt_titles) or a composite with `zip = true`"
    )


def _const(value: Any) -> Getter:
    return lambda rec: value


def _compile_composite(name: str, spec: Any, ctx: _Context, flat: bool, sources: dict[str, str]) -> _Composite:
    keys: tuple[str, ...] = (name,)
    if not isinstance(spec, Mapping):
        raise MapError(keys, "expected a table of sub-fields")
    allowed = _COMPOSITES[name] | {"each", "zip", "lookup", "key"}
    allowed |= {"skip_roles"} if name == "creators" else set()
    allowed |= {"parse"} if name == "measurements" else set()
    unknown = set(spec) - allowed
    if unknown:
        raise MapError(keys, f"unknown sub-fields {sorted(unknown)}; allowed: {sorted(allowed)}")
    modes = [m for m in _MODES if m in spec and spec[m] is not False]
    if len(modes) > 1:
        raise MapError(keys, f"choose one of each, zip, lookup, parse (got {', '.join(modes)})")
    mode = modes[0] if modes else None
    source: Getter | None = None
    table: str | None = None
    sub_flat = flat
    prefix = ""
    if mode == "each":
        source = _path_getter(str(spec["each"]), flat, (*keys, "each"))
        sub_flat, prefix = False, f"{spec['each']}."
    elif mode == "lookup":
        table = str(spec["lookup"])
        if table not in ctx.profile.lookups:
            known = ", ".join(sorted(ctx.profile.lookups)) or "none declared"
            raise MapError((*keys, "lookup"), f"no [lookups.{table}] table in this profile (tables: {known})")
        if "key" not in spec:
            raise MapError(keys, "lookup needs key = <the entry giving the id(s) to look up>")
        key = _value(spec["key"], ctx, (*keys, "key"), flat)
        source, sub_flat, prefix = key.get, True, f"{table}:"
        if key.source:
            sources[f"{name}.key"] = key.source
    elif mode == "parse":
        parsed = _value(spec["parse"], ctx, (*keys, "parse"), flat)
        if parsed.many:
            raise MapError((*keys, "parse"), "parse takes one dimension string; this entry gives a list")
        source = parsed.get
        if parsed.source:
            sources["measurements"] = parsed.source
    elif "key" in spec:
        raise MapError((*keys, "key"), "key is only for lookup = <table>")
    parts: list[tuple[str, Getter]] = []
    for sub, sub_spec in spec.items():
        if sub in ("each", "zip", "lookup", "key", "parse", "skip_roles"):
            continue
        value = _value(sub_spec, ctx, (*keys, sub), sub_flat)
        if value.many and mode != "zip":
            raise MapError(
                (*keys, sub),
                f"gives a list, but each {name} item holds one {sub}: use `zip = true` to pair parallel lists "
                f'(e.g. split names and roles), `each = "list[]"` for a list of objects, or drop `split`',
            )
        parts.append((sub, value.get))
        if value.source:
            sources[f"{name}.{sub}"] = prefix + value.source
    if mode == "parse" and set(dict(parts)) - {"extent"}:
        raise MapError(keys, "with parse, the dimension string gives every value; only extent may be set")
    skip = frozenset(str(r).lower() for r in spec.get("skip_roles", ()))
    return _Composite(name=name, mode=mode, source=source, parts=tuple(parts), table=table, skip_roles=skip)
