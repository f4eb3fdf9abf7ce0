"""The canonical museum record: what every source is mapped into and every store is loaded from.

The model follows LIDO v1.1's descriptive and administrative metadata closely enough that a record
round-trips to valid LIDO XML, and it carries everything Dublin Core (oai_dc) needs. It is frozen and
strict: anything that reaches a ``MuseumRecord`` has already been coerced through the controlled
vocabularies (``museum_sync.core.vocabularies``) by ``museum_sync.core.validation``; constructing one
from unchecked data raises.

The content hash is computed from a canonical JSON serialisation (sorted keys, no whitespace, UTF-8,
``export_id`` excluded), so the same record gives the same hash on any machine and in any export: two
exports can be compared record by record without reading their content.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field, model_validator

__all__ = [
    "Creator",
    "DateSpan",
    "Dimension",
    "ImageRef",
    "Measurement",
    "MuseumRecord",
    "Provenance",
    "StoredRecord",
    "Term",
    "Title",
    "canonical_json",
    "canonical_json_bytes",
    "content_hash_of",
]

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$")]
HttpUrlStr = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/$.?#][^\s]*$", max_length=2048)]
AatId = Annotated[str, StringConstraints(pattern=r"^http://vocab\.getty\.edu/aat/\d+$")]

_FROZEN = ConfigDict(frozen=True, extra="forbid", strict=True, str_strip_whitespace=True)


class _Frozen(BaseModel):
    model_config = _FROZEN


class Title(_Frozen):
    """A title in one language; ``lang`` is an ISO 639-1 code where one exists, else ISO 639-2/3."""

    text: NonEmpty
    lang: LanguageCode | None = None
    preferred: bool = True


class Term(_Frozen):
    """A controlled term: the label as the source gave it and, where known, its Getty AAT concept."""

    label: NonEmpty
    aat: AatId | None = None


class Creator(_Frozen):
    """A person or body in a role on the production event (artist, maker, designer, publisher...)."""

    name: NonEmpty
    role: Term
    source_id: str | None = None
    life_dates: str | None = None
    birth_year: int | None = None
    death_year: int | None = None


class DateSpan(_Frozen):
    """A production date: the display text as given, plus machine dates for range search.

    ``earliest``/``latest`` are ISO 8601 calendar dates; ``edtf`` is the Extended Date/Time Format
    (ISO 8601-2) reading of the display text where the phrase allows one ("1850~", "185X", "../1900").
    """

    display: NonEmpty
    earliest: date | None = None
    latest: date | None = None
    edtf: str | None = None
    approximate: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> DateSpan:
        if self.earliest and self.latest and self.earliest > self.latest:
            raise ValueError(f"earliest {self.earliest} is after latest {self.latest}")
        return self


class Dimension(StrEnum):
    HEIGHT = "height"
    WIDTH = "width"
    DEPTH = "depth"
    DIAMETER = "diameter"
    LENGTH = "length"
    WEIGHT = "weight"
    DURATION = "duration"
    OTHER = "other"


class Measurement(_Frozen):
    """One parsed measurement; the source's display string is kept next to it in ``MuseumRecord``."""

    dimension: Dimension
    value: float
    unit: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z]{1,6}$")]
    extent: str | None = None  # "support", "image", "frame"...


class ImageRef(_Frozen):
    url: HttpUrlStr
    caption: str | None = None
    is_primary: bool = False


class Provenance(_Frozen):
    """Where this *record* comes from and how the *object* came to the institution.

    Required (a record without them is rejected as ``missing_provenance``):

    - ``institution``: the legal body that holds the object and published the record (LIDO
      ``recordSource``/``repositoryName``; for CSV and API exports, the profile's institution);
    - ``source_record_id``: the record's identifier in the institution's collection management system
      (LIDO ``lidoRecID``/``recordID``, the export's id column), stable across exports.

    Optional, kept when the source gives them: ``source_system`` (the CMS or portal name),
    ``acquisition`` (credit line or acquisition note: "Presented by Mrs John Richmond 1922"),
    ``acquisition_year`` and ``history`` (an ownership-history text, LIDO ``eventType`` acquisition or
    an API ``provenance_text``). A profile may require ``acquisition`` too (``require_acquisition``).
    ``source_datestamp`` and ``source_sets`` are an OAI-PMH record's header datestamp and setSpecs.
    """

    institution: NonEmpty
    source_record_id: NonEmpty
    source_system: str | None = None
    acquisition: str | None = None
    acquisition_year: int | None = None
    history: str | None = None
    source_datestamp: str | None = None  # OAI-PMH header datestamp (when the source last changed the record)
    source_sets: tuple[str, ...] | None = None  # OAI-PMH header setSpecs


_WS = re.compile(r"\s+")


class MuseumRecord(_Frozen):
    """One museum object as published to the catalogue and the search index."""

    export_id: NonEmpty
    record_id: NonEmpty
    object_number: str | None = None
    titles: tuple[Title, ...] = Field(min_length=1)
    work_type: Term | None = None
    classification: str | None = None
    # Asked for by museums onboarding; None (not empty) when unmapped, so older records keep their hash.
    culture: str | None = None  # "French", "Edo period Japanese": the culture or nationality of the work
    places: tuple[str, ...] | None = None  # place of origin / production, as given ("Italy", "Paris")
    tags: tuple[Term, ...] | None = None  # classification terms and keywords, with their AAT concept if known
    creators: tuple[Creator, ...] = ()
    production_date: DateSpan | None = None
    materials: tuple[Term, ...] = ()
    techniques: tuple[Term, ...] = ()
    medium_display: str | None = None
    dimensions_display: str | None = None
    measurements: tuple[Measurement, ...] = ()
    inscription: str | None = None
    description: str | None = None
    rights: HttpUrlStr
    credit_line: str | None = None
    provenance: Provenance
    repository: str | None = None
    source_url: HttpUrlStr | None = None
    images: tuple[ImageRef, ...] = ()
    iiif_manifest: HttpUrlStr | None = None
    language: LanguageCode | None = None
    source_profile: NonEmpty
    lido_schema_version: str | None = None

    @property
    def title(self) -> str:
        """The preferred title (first preferred, else first)."""
        for t in self.titles:
            if t.preferred:
                return t.text
        return self.titles[0].text

    def content(self) -> dict[str, Any]:
        """Everything that describes the object, i.e. the record minus the export it came in."""
        return self.model_dump(mode="json", exclude={"export_id", "content_hash"}, exclude_none=True)

    def storage_json(self) -> bytes:
        """The record as stored between steps: everything but the derived hash (recomputed on read)."""
        return self.model_dump_json(exclude={"content_hash"}).encode("utf-8")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def content_hash(self) -> str:
        """sha256 of ``canonical_json(self.content())``: equal records, equal hash, on any machine."""
        return content_hash_of(self.content())


def content_hash_of(content: Mapping[str, Any]) -> str:
    """sha256 of a record's content (``MuseumRecord.content``) in canonical JSON: the record's content hash."""
    return hashlib.sha256(canonical_json_bytes(content)).hexdigest()


_HASH_FIELD = ',"content_hash":"{}"}}'


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A validated record as stored between steps (``MuseumRecord.storage_json``), read back without pydantic.

    Loading a chunk needs only a record's columns, its content hash and its JSON. Parsing each line back into
    a ``MuseumRecord`` (strict validation) and dumping it again was a fifth of a chunk step's CPU (issue #18),
    and it checked nothing new: the catalogue gate loads a chunk only if ``valid.jsonl`` has the digest its
    validation recorded, i.e. these are the bytes pydantic wrote. ``catalog_json`` gives exactly what
    ``MuseumRecord.model_dump_json`` gives (the core tests compare them on real records of every format).
    """

    data: dict[str, Any]
    text: str  # the stored line: ``MuseumRecord.storage_json``, without its newline

    @classmethod
    def from_line(cls, line: bytes) -> StoredRecord:
        text = line.decode("utf-8").rstrip("\n")
        return cls(orjson.loads(text), text)  # the same values as json.loads, parsed faster

    @classmethod
    def of(cls, record: MuseumRecord) -> StoredRecord:
        return cls.from_line(record.storage_json())

    @property
    def record_id(self) -> str:
        return str(self.data["record_id"])

    @property
    def export_id(self) -> str:
        return str(self.data["export_id"])

    @property
    def title(self) -> str:
        """The preferred title, as ``MuseumRecord.title`` picks it."""
        titles = self.data["titles"]
        return str(next((t["text"] for t in titles if t.get("preferred", True)), titles[0]["text"]))

    def catalog_json(self) -> tuple[str, str]:
        """The content hash, and the record's JSON with it last (``MuseumRecord.model_dump_json``'s text)."""
        content_hash = content_hash_of(_without_nones({k: v for k, v in self.data.items() if k != "export_id"}))
        return content_hash, self.text[:-1] + _HASH_FIELD.format(content_hash)


def _without_nones(value: Any) -> Any:
    """``model_dump(exclude_none=True)`` of stored JSON: fields set to None dropped, at every depth.

    For parsed JSON only (plain dicts and lists: ``type() is``, cheaper than ``isinstance``, and a loop that
    recurses into containers only): this ran for every record loaded, at half its former cost (issue #18).
    """
    if type(value) is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if item is None:
                continue
            kind = type(item)
            out[key] = _without_nones(item) if kind is dict or kind is list else item
        return out
    if type(value) is list:
        return [_without_nones(item) if type(item) is dict or type(item) is list else item for item in value]
    return value


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, non-ASCII kept (NFC is the mapper's job)."""
    out = _orjson_canonical(value)
    return out.decode("utf-8") if out is not None else _json_canonical(value)


def canonical_json_bytes(value: Any) -> bytes:
    """``canonical_json`` encoded as UTF-8, without a round trip through ``str`` (what hashes take)."""
    out = _orjson_canonical(value)
    return out if out is not None else _json_canonical(value).encode("utf-8")


def _json_canonical(value: Any) -> str:
    """The definition of canonical JSON; ``_orjson_canonical`` is a faster way to the same bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# orjson writes what json.dumps writes here (sorted keys, compact, UTF-8, the same shortest float repr: 2M
# random floats compared) about four times faster; the content hash of every record loaded was ~6 % of a
# chunk step's CPU (issue #18). Its bytes differ in three cases, which go to json.dumps (the definition):
# floats under 1e-4 (orjson ``0.00001``, json ``1e-05``), one-digit negative exponents (``1e-6``/``1e-06``),
# and NaN or infinity (orjson ``null``, json raises). ``_MAY_DIFFER`` finds them; a text that only looks
# like one (a title "v1e-6") costs the slower path, nothing else. What orjson cannot write or would write
# where json raises (subclasses, dataclasses, datetimes, int keys, huge ints) goes to json.dumps too.
_ORJSON_CANONICAL = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
)
_MAY_DIFFER = re.compile(rb"\de-\d(?!\d)|(?:^|[:,\[])-?0\.0000|(?:^|[:,\[])null(?:$|[,\]}])")


def _orjson_canonical(value: Any) -> bytes | None:
    """``_json_canonical(value)`` as UTF-8 by orjson; None where orjson's bytes could differ or it cannot write it."""
    try:
        out = orjson.dumps(value, option=_ORJSON_CANONICAL)
    except TypeError:  # a type or value only json.dumps writes (or rejects): it decides
        return None
    if (b"e-" in out or b"0.0000" in out or b"null" in out) and _MAY_DIFFER.search(out):
        return None
    return out
