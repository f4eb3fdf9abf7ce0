"""The draft: a record as a source says it, before vocabularies and validation.

Every source (a CSV row through a mapping profile, a JSON item, a LIDO XML record through
``lido.parse_lido``) becomes a ``Draft``: the canonical field names with the source's raw values
(strings as given, numbers where the source had numbers). ``validation.validate`` turns a draft into a
``MuseumRecord`` or a ``Rejected`` with every problem found. Keeping this step separate means a new
source only has to fill a dict; all the rules live in one place.
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = ["Draft", "DraftCreator", "DraftImage", "DraftMeasurement", "DraftTitle"]


class DraftTitle(TypedDict, total=False):
    text: str
    lang: str | None  # raw: "en", "eng", "English", "nl"...
    preferred: bool


class DraftCreator(TypedDict, total=False):
    name: str
    role: str | None  # raw role label: "artist", "Donor", "Maler"...
    role_aat: str | None  # an AAT URI when the source has one
    source_id: str | None
    life_dates: str | None  # "1898–1986", "American, 1838–1909"
    birth_year: Any
    death_year: Any


class DraftMeasurement(TypedDict, total=False):
    dimension: str  # "height", "Höhe", "width"...
    value: Any  # number or numeric string
    unit: str | None
    extent: str | None


class DraftImage(TypedDict, total=False):
    url: str
    caption: str | None
    is_primary: bool


class Draft(TypedDict, total=False):
    record_id: Any
    object_number: Any
    titles: list[DraftTitle]
    work_type: str | None
    work_type_aat: str | None
    classification: str | None
    culture: str | None
    places: list[str]
    tags: list[str]
    creators: list[DraftCreator]
    date_display: str | None
    date_earliest: Any  # year, ISO date or phrase; used when date_display gives no machine date
    date_latest: Any
    materials: list[str]
    materials_aat: list[str]
    techniques: list[str]
    medium_display: str | None
    dimensions_display: str | None
    measurements: list[DraftMeasurement]
    inscription: str | None
    description: str | None
    rights: Any
    credit_line: str | None
    institution: str | None
    source_system: str | None
    acquisition: str | None
    acquisition_year: Any
    provenance_history: str | None
    repository: str | None
    source_url: str | None
    images: list[DraftImage]
    iiif_manifest: str | None
    language: str | None
    lido_schema_version: str | None
    dc_identifier: str | None  # oai_dc: the first dc:identifier (often an ISSN, a citation...), not the id
    source_datestamp: str | None  # OAI-PMH header datestamp: when the source last changed the record
    source_sets: list[str]  # OAI-PMH header setSpecs
