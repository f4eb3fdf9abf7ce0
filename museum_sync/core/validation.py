"""Validation: a raw source record becomes a ``MuseumRecord`` or a ``Rejected`` listing every problem.

Nothing here raises on bad data. A rejection carries each problem found (not only the first), with the
source field, a reason code from ``Reason``, a message a steward can act on, the offending value and the
record's locator, plus the raw record itself so that quarantine loses nothing.

Reason codes (stable: dashboards, alerts and profiles' ``blocking_reasons`` use them):

=====================  ==================================================================================
missing_required       a required value is absent (title, rights, a field the profile marks required)
malformed_rights       a rights value that cannot be a rights statement at all (broken URL, bad version)
unknown_rights         a well-formed rights value that is not in the controlled vocabulary
missing_provenance     no institution, no source record id, or no acquisition info where required
invalid_date           a date that cannot be read, or earliest after latest
invalid_url            an image, IIIF manifest or landing-page URL that is not an absolute http(s) URL
invalid_language       a language that is not an ISO 639 code or name
invalid_value          a value of the wrong type for the profile's declared field type
duplicate_id           a record id seen before in the same export
unparseable_record     the record itself could not be parsed (bad JSON line, broken XML, ragged CSV row)
=====================  ==================================================================================
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from museum_sync.core import dates, vocabularies
from museum_sync.core.draft import Draft
from museum_sync.core.field_types import fits, is_blank, null_set
from museum_sync.core.locator import Locator
from museum_sync.core.mapping import Mapper, compile_mapper
from museum_sync.core.models import Dimension, MuseumRecord
from museum_sync.core.profile_language.overlay import Overlay, compile_overlay
from museum_sync.core.profiles import FieldType, Profile

__all__ = [
    "ChunkValidator",
    "Problem",
    "Reason",
    "Rejected",
    "Valid",
    "build_record",
    "raw_text",
    "validate",
]


class Reason(StrEnum):
    MISSING_REQUIRED = "missing_required"
    MALFORMED_RIGHTS = "malformed_rights"
    UNKNOWN_RIGHTS = "unknown_rights"
    MISSING_PROVENANCE = "missing_provenance"
    INVALID_DATE = "invalid_date"
    INVALID_URL = "invalid_url"
    INVALID_LANGUAGE = "invalid_language"
    INVALID_VALUE = "invalid_value"
    DUPLICATE_ID = "duplicate_id"
    UNPARSEABLE_RECORD = "unparseable_record"
    INDEX_REJECTED = "index_rejected"
    SCHEMA_INVALID = "schema_invalid"


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    reason: Reason
    message: str
    value: str | None = None


@dataclass(frozen=True, slots=True)
class Valid:
    locator: Locator
    record: MuseumRecord


@dataclass(frozen=True, slots=True)
class Rejected:
    locator: Locator
    record_id: str | None
    problems: tuple[Problem, ...]
    raw: str

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return tuple(dict.fromkeys(p.reason for p in self.problems))

    def summary(self) -> str:
        rid = self.record_id or "(no id)"
        return f"{self.locator} record {rid}: " + "; ".join(
            f"{p.field}: {p.reason.value}: {p.message}" for p in self.problems
        )


_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_MAX_VALUE = 200  # characters of an offending value kept in a problem


def raw_text(raw: Mapping[str, Any] | bytes | str) -> str:
    """The raw record as text for quarantine: JSON for dicts, decoded XML for bytes."""
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        return raw
    return json.dumps(raw, ensure_ascii=False, sort_keys=True, default=str)


def _short(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


class _Builder:
    """Collects problems while coercing one draft; one instance per record, discarded after."""

    __slots__ = ("problems", "sources")

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.problems: list[Problem] = []
        self.sources = sources

    def src(self, name: str) -> str:
        """The source field behind a canonical one ("images.url" -> "thumbnailUrl"), for messages."""
        if name in self.sources:
            return self.sources[name]
        head = name.split(".", 1)[0]
        return self.sources.get(head, name)

    def add(self, name: str, reason: Reason, message: str, value: Any = None) -> None:
        self.problems.append(Problem(self.src(name), reason, message, _short(value)))

    def url(self, name: str, value: Any) -> str | None:
        if value is None:
            return None
        text = str(value).strip()
        if text.startswith("//"):
            text = "https:" + text
        if not _URL.match(text):
            self.add(name, Reason.INVALID_URL, "not an absolute http(s) URL", value)
            return None
        return text

    def language(self, name: str, value: Any) -> str | None:
        if value is None:
            return None
        try:
            return vocabularies.coerce_language(str(value))
        except vocabularies.TermError as exc:
            self.add(name, Reason.INVALID_LANGUAGE, str(exc), value)
            return None

    def year(self, name: str, value: Any) -> int | None:
        if value is None:
            return None
        try:
            return dates.parse_year(value)
        except dates.DateError as exc:
            self.add(name, Reason.INVALID_DATE, str(exc), value)
            return None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y", "t")
    return bool(value)


def _term(label: Any, aat: Any, kind: vocabularies.AatKind) -> dict[str, Any] | None:
    if label is None:
        return None
    text = str(label).strip()
    if not text:
        return None
    uri = vocabularies.normalise_aat_uri(str(aat)) if aat else None
    return {"label": text, "aat": uri or vocabularies.lookup_aat(text, kind)}


def _date_span(b: _Builder, draft: Draft) -> dict[str, Any] | None:
    """The production date: the display text read by ``dates``, and the mapped earliest/latest.

    Mapped earliest *and* latest are the museum's own machine dates: they win over the ends read from the
    display text (a "c. 1960" the museum dates 1957-1963 is stored as 1957-1963, EDTF ``1960~``), unless
    the two ranges do not even overlap: then the record is rejected naming both. A single mapped end only
    fills an end the display leaves open. Without a display, the ends are the display ("1897 (circa) -
    1900 (circa)"), their qualifiers kept in the EDTF (``1897~/1900~``).
    """
    display = draft.get("date_display")
    earliest_raw, latest_raw = draft.get("date_earliest"), draft.get("date_latest")
    if display is None and earliest_raw is None and latest_raw is None:
        return None
    shown = display if display is not None else _ends_display(earliest_raw, latest_raw)
    span: dict[str, Any] = {"display": str(shown)}
    parsed = None
    if display is not None:
        try:
            parsed = dates.parse_date(str(display))
        except dates.DateError as exc:
            b.add("date_display", Reason.INVALID_DATE, str(exc), display)
            return None
        if parsed is not None:
            span.update(
                earliest=parsed.earliest,
                latest=parsed.latest,
                edtf=parsed.edtf,
                approximate=parsed.approximate,
            )
    mapped: dict[str, date] = {}
    for key, raw, pick_start in (("earliest", earliest_raw, True), ("latest", latest_raw, False)):
        end = _mapped_end(b, f"date_{key}", raw, pick_start)
        if end is not None:
            mapped[key] = end
    if len(mapped) == 2 and parsed is not None:
        lo, hi = parsed.earliest or date.min, parsed.latest or date.max
        if mapped["earliest"] > hi or mapped["latest"] < lo:
            b.add(
                "date_display",
                Reason.INVALID_DATE,
                f"display date {display!r} ({parsed.edtf}) disagrees with the mapped earliest/latest "
                f"{mapped['earliest'].year}-{mapped['latest'].year}",
                display,
            )
            return None
        span.update(mapped)
    else:
        for key, value in mapped.items():
            if span.get(key) is None:
                span[key] = value
    if display is None and mapped:
        span.update(_ends_edtf(earliest_raw, latest_raw))
    if span.get("earliest") and span.get("latest") and span["earliest"] > span["latest"]:
        b.add("date_earliest", Reason.INVALID_DATE, f"earliest {span['earliest']} after latest {span['latest']}")
        return None
    return span


def _mapped_end(b: _Builder, name: str, raw: Any, pick_start: bool) -> date | None:
    """A mapped end as a date: a year's first or last day, or the exact day or month an ISO value gives.

    A qualified end ("1897 (circa)") is its year: the museum's explicit bound is not widened again.
    """
    year = b.year(name, raw)
    if year is None or not 0 < year < 10000:
        return None
    if isinstance(raw, str):
        try:
            parsed = dates.parse_date(raw)
        except dates.DateError:
            parsed = None
        exact = None if parsed is None or parsed.approximate else parsed.earliest if pick_start else parsed.latest
        if exact is not None and exact.year == year:
            return exact
    return date(year, 1, 1) if pick_start else date(year, 12, 31)


def _ends_display(earliest: Any, latest: Any) -> str:
    """Mapped ends shown as the display when there is none: both when they differ (the latest is kept)."""
    first, last = (None if v is None else str(v).strip() for v in (earliest, latest))
    if not first or not last or first == last:
        return str(first or last)
    return f"{first} - {last}"


def _ends_edtf(earliest: Any, latest: Any) -> dict[str, Any]:
    """EDTF of the mapped ends (years), keeping their qualifiers: "1897 (circa)" -> ``1897~``."""
    marks: list[str] = []
    approximate = False
    for raw in (earliest, latest):
        try:
            parsed = None if raw is None else dates.parse_date(str(raw))
            year = dates.parse_year(raw)
        except dates.DateError:
            return {}
        if parsed is None or year is None or not 0 < year < 10000:
            marks.append("..")
            continue
        mark = "%" if parsed.approximate and parsed.uncertain else "~" if parsed.approximate else ""
        mark = mark or ("?" if parsed.uncertain else "")
        approximate = approximate or parsed.approximate
        marks.append(f"{year:04d}{mark}")
    first, last = marks
    edtf = first if first == last else f"{first}/{last}"
    return {"edtf": None if edtf == "../.." else edtf, "approximate": approximate}


_MEASURE = re.compile(r"^\s*([+-]?\d+(?:[.,]\d+)?)\s*([a-zA-Z]{1,6})?\.?\s*$")
_COMPOUND_SPLIT = re.compile(r"\s*[x×]\s*", re.IGNORECASE)
# Dimension names as LIDO records from German, Dutch and French museums write them.
_DIMENSION_ALIASES = {
    "höhe": "height", "hoehe": "height", "hoogte": "height", "hauteur": "height", "h": "height",
    "breite": "width", "breedte": "width", "largeur": "width", "b": "width", "w": "width",
    "tiefe": "depth", "stärke": "depth", "staerke": "depth", "diepte": "depth", "profondeur": "depth",
    "durchmesser": "diameter", "diameter": "diameter", "diamètre": "diameter",
    "länge": "length", "laenge": "length", "lengte": "length", "longueur": "length",
    "gewicht": "weight", "poids": "weight",
}  # fmt: skip


def _dimension(label: Any) -> Dimension:
    return _dimension_of(str(label or "other"))


@lru_cache(maxsize=1024)  # a handful of labels ("height", "Höhe (aufgeschlagen)") on every record
def _dimension_of(label: str) -> Dimension:
    key = label.strip().lower()
    key = key.split("(")[0].strip()  # "Höhe (aufgeschlagen)"
    key = _DIMENSION_ALIASES.get(key, key)
    return Dimension(key) if key in _DIMENSION_NAMES else Dimension.OTHER


def _split_compound(m: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """ "Höhe x Breite" = "39,8 x 28,1" is two measurements; anything else stays one."""
    value, label = m.get("value"), str(m.get("dimension") or "")
    if not isinstance(value, str) or not _COMPOUND_SPLIT.search(value):
        return [m]
    values = _COMPOUND_SPLIT.split(value.strip())
    labels = _COMPOUND_SPLIT.split(label.split("(")[0].strip())
    if len(values) < 2 or len(values) != len(labels):
        return [m]
    return [{**m, "dimension": lab, "value": val} for lab, val in zip(labels, values, strict=True)]


def _measurements(b: _Builder, draft: Draft) -> tuple[dict[str, Any], ...]:
    out: list[dict[str, Any]] = []
    for original in draft.get("measurements", []):
        for m in _split_compound(original):
            value, unit = m.get("value"), m.get("unit")
            label = original.get("dimension")
            if isinstance(value, bool):
                value = None
            if isinstance(value, int | float):
                number: float | None = float(value)
            else:
                match = _MEASURE.match(str(value))
                number = float(match.group(1).replace(",", ".")) if match else None
                if match and match.group(2):
                    unit = match.group(2)  # "394 mm": the value carries its own unit
            unit = str(unit).strip().rstrip(".").strip() if unit else None  # "gr." -> "gr"
            if number is None:
                b.add(f"measurements.{label}", Reason.INVALID_VALUE, f"{label} is not a number", value)
                continue
            if not unit:
                b.add(f"measurements.{label}", Reason.INVALID_VALUE, f"{label} {value} has no unit", value)
                continue
            out.append(
                {
                    "dimension": _dimension(m.get("dimension")),
                    "value": number,
                    "unit": unit.lower(),
                    "extent": m.get("extent"),
                }
            )
    return tuple(out)


_DIMENSION_NAMES = frozenset({"height", "width", "depth", "diameter", "length", "weight", "duration", "other"})


def _provenance(b: _Builder, draft: Draft, record_id: str | None, profile: Profile) -> dict[str, Any] | None:
    institution = draft.get("institution") or draft.get("repository")
    acquisition = draft.get("acquisition") or draft.get("credit_line")
    missing = []
    if not institution:
        missing.append(("institution", "no holding institution: set `institution` in the profile or map it"))
    if not record_id:
        missing.append(("record_id", "no source record id: provenance needs the institution's own record id"))
    if profile.require_acquisition and not acquisition:
        missing.append(("credit_line", "no credit line or acquisition note, which this profile requires"))
    for name, message in missing:
        b.add(name, Reason.MISSING_PROVENANCE, message)
    if missing:
        return None
    return {
        "institution": str(institution),
        "source_record_id": str(record_id),
        "source_system": draft.get("source_system"),
        "acquisition": acquisition,
        "acquisition_year": b.year("acquisition_year", draft.get("acquisition_year")),
        "history": draft.get("provenance_history"),
        "source_datestamp": draft.get("source_datestamp"),
        "source_sets": tuple(sets) if (sets := draft.get("source_sets")) else None,
    }


def _rights(b: _Builder, draft: Draft) -> str | None:
    value = draft.get("rights")
    if value is None or not str(value).strip():
        b.add(
            "rights",
            Reason.MISSING_REQUIRED,
            "no rights statement (rightsstatements.org or Creative Commons)",
        )
        return None
    try:
        return vocabularies.coerce_rights(str(value))
    except vocabularies.TermError as exc:
        reason = Reason.MALFORMED_RIGHTS if exc.code == "malformed_rights" else Reason.UNKNOWN_RIGHTS
        b.add("rights", reason, str(exc), value)
        return None


def build_record(
    draft: Draft, profile: Profile, *, export_id: str, sources: Mapping[str, str]
) -> MuseumRecord | list[Problem]:
    """Coerce a draft through the vocabularies into a record, or return every problem found."""
    b = _Builder(sources)
    record_id = draft.get("record_id")
    record_id = str(record_id).strip() if record_id is not None and str(record_id).strip() else None

    titles = []
    for t in draft.get("titles", []):
        text = (t.get("text") or "").strip()
        if text:
            titles.append(
                {
                    "text": text,
                    "lang": b.language("titles", t.get("lang")),
                    "preferred": t.get("preferred", True),
                }
            )
    if not titles:
        b.add("titles", Reason.MISSING_REQUIRED, "no title")

    creators = []
    for c in draft.get("creators", []):
        role = _term(c.get("role") or "artist", c.get("role_aat"), "role")
        creators.append(
            {
                "name": str(c["name"]),
                "role": role,
                "source_id": None if c.get("source_id") is None else str(c["source_id"]),
                "life_dates": c.get("life_dates"),
                "birth_year": b.year("creators.birth_year", c.get("birth_year")),
                "death_year": b.year("creators.death_year", c.get("death_year")),
            }
        )

    images = []
    for img in draft.get("images", []):
        url = b.url("images.url", img.get("url"))
        if url:
            images.append({"url": url, "caption": img.get("caption"), "is_primary": bool(img.get("is_primary"))})

    materials_aat = draft.get("materials_aat", [])
    data: dict[str, Any] = {
        "export_id": export_id,
        "record_id": record_id or "",
        "object_number": None if draft.get("object_number") is None else str(draft.get("object_number")),
        "titles": tuple(titles),
        "work_type": _term(draft.get("work_type"), draft.get("work_type_aat"), "work_type"),
        "classification": draft.get("classification"),
        "culture": draft.get("culture"),
        "places": tuple(str(p) for p in places) if (places := draft.get("places")) else None,
        "tags": tuple(tag for label in draft.get("tags", []) if (tag := _term(label, None, "work_type"))) or None,
        "creators": tuple(creators),
        "production_date": _date_span(b, draft),
        "materials": tuple(
            term
            for i, m in enumerate(draft.get("materials", []))
            if (term := _term(m, materials_aat[i] if i < len(materials_aat) else None, "material"))
        ),
        "techniques": tuple(term for m in draft.get("techniques", []) if (term := _term(m, None, "technique"))),
        "medium_display": draft.get("medium_display"),
        "dimensions_display": draft.get("dimensions_display"),
        "measurements": _measurements(b, draft),
        "inscription": draft.get("inscription"),
        "description": draft.get("description"),
        "rights": _rights(b, draft),
        "credit_line": draft.get("credit_line"),
        "provenance": _provenance(b, draft, record_id, profile),
        "repository": draft.get("repository"),
        "source_url": b.url("source_url", draft.get("source_url")),
        "images": tuple(images),
        "iiif_manifest": b.url("iiif_manifest", draft.get("iiif_manifest")),
        "language": b.language("language", draft.get("language")),
        "source_profile": profile.name,
        "lido_schema_version": draft.get("lido_schema_version") or profile.lido_schema_version,
    }
    if b.problems:
        return b.problems
    try:
        return MuseumRecord.model_validate(data)
    except ValidationError as exc:
        return [
            Problem(
                b.src(str(err["loc"][0]) if err["loc"] else "record"),
                Reason.INVALID_VALUE,
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}",
                _short(err.get("input")),
            )
            for err in exc.errors()
        ]


# The profile's null placeholders as ``is_blank`` compares them, made once per profile, not per record.
_null_set_of = lru_cache(maxsize=64)(null_set)


def _declared_type_problems(
    raw: Mapping[str, Any], plan: tuple[tuple[str, FieldType, bool], ...], nulls: frozenset[str]
) -> list[Problem]:
    problems = []
    for name, kind, required in plan:
        value = raw.get(name)
        if is_blank(value, nulls):  # whitespace-only is empty, as mapping and drift treat it (field_types)
            if required:
                problems.append(Problem(name, Reason.MISSING_REQUIRED, "required by the profile"))
        elif not fits(value, kind):  # the rule drift judges a column by, too
            problems.append(Problem(name, Reason.INVALID_VALUE, f"expected {kind}", _short(value)))
    return problems


_MAX_SCHEMA_PROBLEMS = 5


def _schema_problems(raw: bytes, draft: Draft, locator: Locator) -> list[Problem]:
    """A rejected LIDO record that breaks the XSD: its schema errors are the reasons, not their effects.

    A misnamed ``ObjectIdentificationWrap`` hides the title and the repository from the reader, so the
    builder says "no title" and "no holding institution"; the cause is the element the XSD names. Only
    rejected records are checked (a tolerant reader keeps a valid-enough record), and only when the XSD finds
    an element it does not declare at all (misnamed: content the reader could not see) do its errors replace
    the builder's reasons; namespace-stripped records (Finna) cannot be checked at all.
    """
    from museum_sync.core import lido  # lxml is heavy; CSV-only workers never import it

    if raw.startswith((b"<lido>", b"<lido ")):
        return []
    version: lido.SchemaName = "lido-1.0" if draft.get("lido_schema_version") == "1.0" else "lido-1.1"
    errors = lido.schema_errors(raw, version)
    known = lido.declared_elements(version)
    if not any(e.element not in known for e in errors if e.element and "is not expected" in e.message):
        return []  # no misnamed element: content absent or misplaced, which the builder's reasons say best
    record = f"record at line {locator.line}" if locator.line else "record"
    return [
        Problem(
            e.element or "record",
            Reason.SCHEMA_INVALID,
            f"{version} XSD: {e.message} "
            f"({f'line {e.source_line}, ' if e.source_line else ''}at {e.path or '/'}, {record})",
            e.path,
        )
        for e in errors[:_MAX_SCHEMA_PROBLEMS]
    ]


def _unparseable(raw: Mapping[str, Any] | bytes) -> Problem | None:
    if isinstance(raw, bytes):
        return None
    if "__unparseable__" in raw:
        return Problem("record", Reason.UNPARSEABLE_RECORD, str(raw.get("__error__", "cannot parse")))
    if "__extra__" in raw:
        extra = raw["__extra__"]
        return Problem("record", Reason.UNPARSEABLE_RECORD, f"row has {len(extra)} more fields than the header")
    if raw.get("__missing__"):
        return Problem("record", Reason.UNPARSEABLE_RECORD, f"row lacks fields {raw['__missing__']}")
    return None


def validate(
    raw: Mapping[str, Any] | bytes,
    profile: Profile,
    *,
    export_id: str,
    locator: Locator,
    mapper: Mapper | None = None,
    overlay: Overlay | None = None,
) -> Valid | Rejected:
    """Validate one raw record. Never raises on bad data."""
    broken = _unparseable(raw)
    if broken:
        return Rejected(locator, None, (broken,), raw_text(raw))
    problems: list[Problem] = []
    if isinstance(raw, bytes):
        from museum_sync.core import lido  # lxml is heavy; CSV-only workers never import it

        try:
            draft: Draft = lido.parse_oai_dc(raw) if profile.format == "oai_dc" else lido.parse_lido(raw)
        except Exception as exc:  # noqa: BLE001 - any parser failure is this record's problem
            return Rejected(locator, None, (Problem("record", Reason.UNPARSEABLE_RECORD, str(exc)),), raw_text(raw))
        if profile.institution and not draft.get("institution"):
            draft["institution"] = profile.institution
        if profile.default_rights and not draft.get("rights"):
            draft["rights"] = profile.default_rights
        if profile.map:  # the profile's overrides (constants, defaults, value tables, the id source)
            draft = (overlay or compile_overlay(profile))(draft)
        sources: Mapping[str, str] = {}
    else:
        mapper = mapper or compile_mapper(profile)
        problems.extend(_declared_type_problems(raw, mapper.type_plan, _null_set_of(tuple(profile.nulls))))
        draft = mapper.map(raw)
        sources = mapper.sources
    result = build_record(draft, profile, export_id=export_id, sources=sources)
    if isinstance(result, list) and isinstance(raw, bytes) and profile.format == "lido":
        result = _schema_problems(raw, draft, locator) or result
    record_id = draft.get("record_id")
    rid = str(record_id) if record_id not in (None, "") else None
    if isinstance(result, MuseumRecord) and not problems:
        return Valid(locator, result)
    if isinstance(result, list):
        # A field the builder already reported precisely (invalid_url...) is not reported again as a bare
        # declared-type mismatch.
        specific = {p.field for p in result}
        problems = [p for p in problems if p.field not in specific] + result
    return Rejected(locator, rid, tuple(problems), raw_text(raw))


@dataclass
class ChunkValidator:
    """Validates a stream of records of one chunk, catching duplicate ids and counting reasons."""

    profile: Profile
    export_id: str
    seen_ids: set[str] = field(default_factory=set)
    valid: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    mapper: Mapper | None = None
    overlay: Overlay | None = None
    # Folders searched for the profile's [lookups] files after its own (the export file's folder).
    side_dirs: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        if self.mapper is None and self.profile.format in ("csv", "jsonl", "json"):
            self.mapper = compile_mapper(self.profile, self.side_dirs)
        elif self.profile.map and self.profile.format in ("lido", "oai_dc"):
            self.overlay = compile_overlay(self.profile)

    def validate(self, locator: Locator, raw: Mapping[str, Any] | bytes) -> Valid | Rejected:
        result = validate(
            raw, self.profile, export_id=self.export_id, locator=locator, mapper=self.mapper, overlay=self.overlay
        )
        if isinstance(result, Valid):
            rid = result.record.record_id
            if rid in self.seen_ids:
                result = Rejected(
                    locator,
                    rid,
                    (
                        Problem(
                            self.mapper.sources.get("record_id", "record_id") if self.mapper else "record_id",
                            Reason.DUPLICATE_ID,
                            f"record id {rid} appears earlier in this export",
                            rid,
                        ),
                    ),
                    raw_text(raw),
                )
            else:
                self.seen_ids.add(rid)
        if isinstance(result, Valid):
            self.valid += 1
        else:
            self.rejected += 1
            self.reasons.update(r.value for r in result.reasons)
        return result

    def run(self, records: Iterable[tuple[Locator, Mapping[str, Any] | bytes]]) -> Iterator[Valid | Rejected]:
        for locator, raw in records:
            yield self.validate(locator, raw)
