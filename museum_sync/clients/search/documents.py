"""Records as Elasticsearch documents, and the index mapping they are written under.

Titles are multilingual: every title is indexed in ``titles.all`` (standard analyzer, language-blind
recall) and in ``titles.<language>`` with Elasticsearch's built-in analyzer for that language (stemming,
stop words), or ``titles.other`` when the language has none. One field per language is what Elastic
recommends for documents whose language is known per value; a query searches ``titles.all`` plus the
reader's language field. The set is closed (the mapping is ``dynamic: strict``), so a new language means
a mapping version bump, never a silent dynamic field.

A document is a projection for search and facets; PostgreSQL keeps the whole record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from museum_sync.core.models import MuseumRecord

__all__ = ["MAPPING", "MAPPING_VERSION", "TITLE_ANALYZERS", "title_field", "to_document"]

# Bump when MAPPING or to_document change: an index built by other code is refused, not reused.
MAPPING_VERSION = 2  # 2: lineage fields (chunk_key, run_id, source_locator)

# ISO 639-1 code -> Elasticsearch built-in language analyzer.
TITLE_ANALYZERS: dict[str, str] = {
    "en": "english",
    "de": "german",
    "fr": "french",
    "nl": "dutch",
    "it": "italian",
    "es": "spanish",
    "pt": "portuguese",
    "ca": "catalan",
    "da": "danish",
    "sv": "swedish",
    "no": "norwegian",
    "fi": "finnish",
    "et": "estonian",
    "ro": "romanian",
    "cs": "czech",
    "hu": "hungarian",
    "el": "greek",
    "ru": "russian",
    "bg": "bulgarian",
    "tr": "turkish",
    "ga": "irish",
    "lv": "latvian",
    "lt": "lithuanian",
    "eu": "basque",
    "gl": "galician",
}
# ISO 639-2/B, 639-2/T and Norwegian variants of the languages above.
_LANGUAGE_ALIASES = {
    "eng": "en", "deu": "de", "ger": "de", "fra": "fr", "fre": "fr", "nld": "nl", "dut": "nl", "ita": "it",
    "spa": "es", "por": "pt", "cat": "ca", "dan": "da", "swe": "sv", "nor": "no", "nob": "no", "nb": "no",
    "nno": "no", "nn": "no", "fin": "fi", "est": "et", "ron": "ro", "rum": "ro", "ces": "cs", "cze": "cs",
    "hun": "hu", "ell": "el", "gre": "el", "rus": "ru", "bul": "bg", "tur": "tr", "gle": "ga", "lav": "lv",
    "lit": "lt", "eus": "eu", "baq": "eu", "glg": "gl",
}  # fmt: skip

_KEYWORD: dict[str, Any] = {"type": "keyword", "ignore_above": 2048}
_TEXT: dict[str, Any] = {"type": "text", "analyzer": "standard"}
_TEXT_AND_KEYWORD: dict[str, Any] = {**_TEXT, "fields": {"raw": _KEYWORD}}

MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "export_id": {"type": "keyword"},
        "record_id": {"type": "keyword"},
        "content_hash": {"type": "keyword"},
        "object_number": _KEYWORD,
        # The preferred title, for display and sorting; every title is searchable in ``titles``.
        "title": _TEXT_AND_KEYWORD,
        "titles": {
            "type": "object",
            "dynamic": "strict",
            "properties": {
                "all": _TEXT,
                "other": _TEXT,
                **{code: {"type": "text", "analyzer": analyzer} for code, analyzer in TITLE_ANALYZERS.items()},
            },
        },
        "title_languages": {"type": "keyword"},
        # Nested, so that "name X in role Y" matches one creator, not a name and a role of two.
        "creators": {
            "type": "nested",
            "dynamic": "strict",
            "properties": {
                "name": _TEXT_AND_KEYWORD,
                "role": {"type": "keyword"},
                "role_aat": {"type": "keyword"},
                "source_id": {"type": "keyword"},
                "life_dates": {"type": "keyword"},
                "birth_year": {"type": "integer"},
                "death_year": {"type": "integer"},
            },
        },
        # Flat copy of the names for plain search and a creator facet without nested aggregations.
        "creator_names": _TEXT_AND_KEYWORD,
        "production_date": {"type": "date_range"},
        "date_display": _TEXT,
        "date_earliest": {"type": "date"},
        "date_latest": {"type": "date"},
        "date_edtf": {"type": "keyword"},
        "date_approximate": {"type": "boolean"},
        "work_type": _KEYWORD,
        "work_type_aat": {"type": "keyword"},
        "classification": _KEYWORD,
        "materials": _KEYWORD,
        "materials_aat": {"type": "keyword"},
        "techniques": _KEYWORD,
        "techniques_aat": {"type": "keyword"},
        "medium_display": _TEXT,
        "dimensions_display": _TEXT,
        "inscription": _TEXT,
        "description": _TEXT,
        "credit_line": _TEXT,
        "provenance": _TEXT,
        "acquisition_year": {"type": "integer"},
        "rights": {"type": "keyword"},
        "institution": {"type": "keyword"},
        "source_record_id": {"type": "keyword"},
        "repository": _KEYWORD,
        "language": {"type": "keyword"},
        "source_profile": {"type": "keyword"},
        "source_url": {"type": "keyword", "index": False},
        "primary_image": {"type": "keyword", "index": False},
        "image_count": {"type": "integer"},
        "iiif_manifest": {"type": "keyword"},
        # Lineage (``museum-sync trace``): the chunk and run that loaded it, its file:line in the snapshot.
        "chunk_key": {"type": "keyword"},
        "run_id": {"type": "keyword"},
        "source_locator": {"type": "keyword", "index": False},
    },
}


_LINEAGE_FIELDS = ("chunk_key", "run_id", "source_locator")


def title_field(lang: str | None) -> str:
    """The ``titles`` sub-field for a language code: its analyzer's field, else ``other``."""
    if not lang:
        return "other"
    primary = lang.split("-", 1)[0].lower()
    primary = _LANGUAGE_ALIASES.get(primary, primary)
    return primary if primary in TITLE_ANALYZERS else "other"


def _drop_empty(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None and v != [] and v != {}}


def to_document(record: MuseumRecord, lineage: Mapping[str, str | None] | None = None) -> dict[str, Any]:
    """The search document for a record: a projection for search and facets (PostgreSQL keeps it all).

    ``lineage``: its ``chunk_key``, ``run_id`` and ``source_locator`` as the catalogue row holds them.
    """
    by_language: dict[str, list[str]] = {}
    languages: set[str] = set()
    for title in record.titles:
        lang = title.lang or record.language
        by_language.setdefault(title_field(lang), []).append(title.text)
        if lang:
            languages.add(lang)
    span = record.production_date
    date_range: dict[str, str] = {}
    if span is not None and span.earliest is not None:
        date_range["gte"] = span.earliest.isoformat()
    if span is not None and span.latest is not None:
        date_range["lte"] = span.latest.isoformat()
    provenance = record.provenance
    provenance_text = "\n".join(t for t in (provenance.acquisition, provenance.history) if t)
    primary = next((i.url for i in record.images if i.is_primary), record.images[0].url if record.images else None)
    return _drop_empty(
        {
            "export_id": record.export_id,
            "record_id": record.record_id,
            "content_hash": record.content_hash,
            "object_number": record.object_number,
            "title": record.title,
            "titles": {"all": [t.text for t in record.titles], **by_language},
            "title_languages": sorted(languages),
            "creators": [
                _drop_empty(
                    {
                        "name": c.name,
                        "role": c.role.label,
                        "role_aat": c.role.aat,
                        "source_id": c.source_id,
                        "life_dates": c.life_dates,
                        "birth_year": c.birth_year,
                        "death_year": c.death_year,
                    }
                )
                for c in record.creators
            ],
            "creator_names": [c.name for c in record.creators],
            "production_date": date_range or None,
            "date_display": span.display if span else None,
            "date_earliest": span.earliest.isoformat() if span and span.earliest else None,
            "date_latest": span.latest.isoformat() if span and span.latest else None,
            "date_edtf": span.edtf if span else None,
            "date_approximate": span.approximate if span else None,
            "work_type": record.work_type.label if record.work_type else None,
            "work_type_aat": record.work_type.aat if record.work_type else None,
            "classification": record.classification,
            "materials": [t.label for t in record.materials],
            "materials_aat": [t.aat for t in record.materials if t.aat],
            "techniques": [t.label for t in record.techniques],
            "techniques_aat": [t.aat for t in record.techniques if t.aat],
            "medium_display": record.medium_display,
            "dimensions_display": record.dimensions_display,
            "inscription": record.inscription,
            "description": record.description,
            "credit_line": record.credit_line,
            "provenance": provenance_text or None,
            "acquisition_year": provenance.acquisition_year,
            "rights": record.rights,
            "institution": provenance.institution,
            "source_record_id": provenance.source_record_id,
            "repository": record.repository,
            "language": record.language,
            "source_profile": record.source_profile,
            "source_url": record.source_url,
            "primary_image": primary,
            "image_count": len(record.images),
            "iiif_manifest": record.iiif_manifest,
            **{name: (lineage or {}).get(name) for name in _LINEAGE_FIELDS},
        }
    )
