"""``[map]`` in LIDO and oai_dc profiles: overrides on what the XML reader parsed, or a clear refusal.

The LIDO and oai_dc readers (``museum_sync.core.lido``) map a record themselves, so a ``[map]`` entry here
does not read the XML: it adjusts the parsed draft. An entry may be

- ``field = { constant = ... }``: the value, whatever the record says (e.g. ``institution``);
- ``field = { default = ... }``: the value when the record has none;
- ``field = { values = { "src" = "canonical", "*" = ... } }`` (with an optional ``default``): the parsed
  value translated (exact, then case-insensitive), e.g. local rights phrases to rightsstatements.org URIs;
- ``record_id = "header.identifier"`` or ``"dc.identifier"`` (oai_dc only): which identifier is the record
  id: the OAI header's (the default: unique, and what deletions are keyed by) or the first ``dc:identifier``.

Anything else (a path, a template, a composite such as ``creators``) is refused when the profile is loaded,
naming the entry: it would otherwise be silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from museum_sync.core.draft import Draft
from museum_sync.core.mapping import CANONICAL_FIELDS, MapError
from museum_sync.core.profile_language.transforms import blank, compile_item_steps
from museum_sync.core.profiles import Profile

__all__ = ["Overlay", "compile_overlay"]

Overlay = Callable[[Draft], Draft]
_KEYS = frozenset({"constant", "default", "values"})
_ID_SOURCES = {"header.identifier": "record_id", "dc.identifier": "dc_identifier"}


def _entry(name: str, spec: Any, profile: Profile) -> Callable[[dict[str, Any]], None]:
    keys = (name,)
    if name == "record_id" and isinstance(spec, str):
        if profile.format != "oai_dc" or spec not in _ID_SOURCES:
            raise MapError(
                keys,
                f"{profile.format} record ids come from the record; oai_dc may choose "
                f'record_id = "header.identifier" or "dc.identifier", not {spec!r}',
            )
        source = _ID_SOURCES[spec]

        def choose_id(draft: dict[str, Any]) -> None:
            if not blank(draft.get(source)):
                draft["record_id"] = draft[source]

        return choose_id
    kind = CANONICAL_FIELDS.get(name)
    if kind is None:
        raise MapError(keys, f"unknown field {name!r}; known fields: {', '.join(sorted(CANONICAL_FIELDS))}")
    if kind == "composite" or name in ("title", "title_lang", "alt_titles"):
        raise MapError(keys, f"the {profile.format} reader maps {name} from the record; a profile cannot override it")
    if not isinstance(spec, Mapping) or not set(spec) or set(spec) - _KEYS:
        raise MapError(
            keys,
            f"in a {profile.format} profile, [map] entries adjust what the reader parsed: "
            "{ constant = ... }, { default = ... } or { values = {...} }; paths and templates are not read "
            "from XML here",
        )
    if "constant" in spec:
        constant = spec["constant"]

        def set_constant(draft: dict[str, Any]) -> None:
            draft[name] = constant

        return set_constant
    steps = compile_item_steps({"values": spec["values"]} if "values" in spec else {}, (), ".".join(keys))
    default = spec.get("default")

    def adjust(draft: dict[str, Any]) -> None:
        value = draft.get(name)
        if not blank(value):
            value = [steps.apply(v) for v in value] if isinstance(value, list) else steps.apply(value)
        if blank(value) and default is not None:
            value = default
        if value is not None:
            draft[name] = value

    return adjust


def compile_overlay(profile: Profile) -> Overlay:
    """The profile's ``[map]`` as one function applied to each parsed draft; ``MapError`` for what cannot work."""
    try:
        entries = [_entry(name, spec, profile) for name, spec in profile.map.items()]
    except MapError as exc:
        raise exc.named(profile.name) from None

    def overlay(draft: Draft) -> Draft:
        data = cast(dict[str, Any], draft)
        for entry in entries:
            entry(data)
        return cast(Draft, data)

    return overlay
