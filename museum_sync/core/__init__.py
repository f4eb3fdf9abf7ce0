"""The pure domain core of museum-sync: records, standards, vocabularies, sources, chunks, validation, drift.

Nothing here talks to a service: no dagster, celery, psycopg or elasticsearch import (a test guards it),
so every rule about museum data can be tested, profiled and reused without a running stack.

``__all__`` restates the public API of the core modules (each module's own ``__all__``), like httpx does.
The names are resolved lazily (PEP 562 ``__getattr__``): importing one core module, e.g.
``museum_sync.core.keys``, runs this file and must stay cheap, so no module is imported before one of
its names is used. LIDO/Dublin Core XML lives in the subpackage ``museum_sync.core.lido`` with its own
``__all__``; it needs lxml, which CSV-only workers never import, so its names are not restated here.
The export readers live in the subpackage ``museum_sync.core.sources``, which restates its own modules'
API the same way; like every subpackage's, its names are not restated here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from museum_sync.core.chunking import ChunkPlan, ChunkSpan, plan_chunks, read_chunk, verify_snapshot
    from museum_sync.core.dates import DateError, ParsedDate, parse_date, parse_year
    from museum_sync.core.draft import Draft, DraftCreator, DraftImage, DraftMeasurement, DraftTitle
    from museum_sync.core.drift import Change, DriftReport, Fingerprint, FingerprintBuilder, compare
    from museum_sync.core.exceptions import (
        ChunkPlanError,
        EmptySource,
        MuseumSyncError,
        ProfileError,
        SourceDecodeError,
        SourceError,
        SourceFormatError,
        SourceNotFound,
        VocabularyError,
    )
    from museum_sync.core.field_types import (
        FIELD_TYPES,
        fits,
        fitting_types,
        infer_type,
        is_blank,
        narrowest,
        null_set,
        text_fits_kind,
    )
    from museum_sync.core.keys import (
        EXPORT_ID_PATTERN,
        EXPORT_ID_SHAPE,
        PARTITION_KEY_PATTERN,
        ExportName,
        InvalidKey,
        check_export_id,
        export_id_for,
        export_label,
        export_tag,
        is_snapshot_of,
        parse_export_id,
        partition_key,
        slug,
        split_partition_key,
    )
    from museum_sync.core.locator import Locator, where
    from museum_sync.core.mapping import CANONICAL_FIELDS, MapError, Mapper, compile_mapper
    from museum_sync.core.models import (
        Creator,
        DateSpan,
        Dimension,
        ImageRef,
        Measurement,
        MuseumRecord,
        Provenance,
        StoredRecord,
        Term,
        Title,
        canonical_json,
        canonical_json_bytes,
        content_hash_of,
    )
    from museum_sync.core.profiles import (
        CREDENTIAL_ENV_PREFIX,
        FORBIDDEN_HEADERS,
        FieldSpec,
        FieldType,
        LookupSpec,
        Policy,
        Profile,
        SourceFormat,
        check_map,
        credential_name_problem,
        harvest_table_problems,
        list_profiles,
        load_profile,
        profile_search_path,
    )
    from museum_sync.core.source_locators import ENTRIES, INDEX, LocatorWriter, SourceLocators
    from museum_sync.core.validation import (
        ChunkValidator,
        Problem,
        Reason,
        Rejected,
        Valid,
        build_record,
        raw_text,
        validate,
    )
    from museum_sync.core.vocabularies import (
        AAT_PREFIX,
        VOCABULARIES,
        AatKind,
        TermError,
        TermErrorCode,
        coerce_language,
        coerce_rights,
        fold,
        load_vocabulary,
        lookup_aat,
        normalise_aat_uri,
        vocabulary_versions,
    )

__all__ = [
    "AAT_PREFIX",
    "CANONICAL_FIELDS",
    "CREDENTIAL_ENV_PREFIX",
    "ENTRIES",
    "EXPORT_ID_PATTERN",
    "EXPORT_ID_SHAPE",
    "FIELD_TYPES",
    "FORBIDDEN_HEADERS",
    "INDEX",
    "PARTITION_KEY_PATTERN",
    "VOCABULARIES",
    "AatKind",
    "Change",
    "ChunkPlan",
    "ChunkPlanError",
    "ChunkSpan",
    "ChunkValidator",
    "Creator",
    "DateError",
    "DateSpan",
    "Dimension",
    "Draft",
    "DraftCreator",
    "DraftImage",
    "DraftMeasurement",
    "DraftTitle",
    "DriftReport",
    "EmptySource",
    "ExportName",
    "FieldSpec",
    "FieldType",
    "Fingerprint",
    "FingerprintBuilder",
    "ImageRef",
    "InvalidKey",
    "Locator",
    "LocatorWriter",
    "LookupSpec",
    "MapError",
    "Mapper",
    "Measurement",
    "MuseumRecord",
    "MuseumSyncError",
    "ParsedDate",
    "Policy",
    "Problem",
    "Profile",
    "ProfileError",
    "Provenance",
    "Reason",
    "Rejected",
    "SourceDecodeError",
    "SourceError",
    "SourceFormat",
    "SourceFormatError",
    "SourceLocators",
    "SourceNotFound",
    "StoredRecord",
    "Term",
    "TermError",
    "TermErrorCode",
    "Title",
    "Valid",
    "VocabularyError",
    "build_record",
    "canonical_json",
    "canonical_json_bytes",
    "check_export_id",
    "check_map",
    "coerce_language",
    "coerce_rights",
    "compare",
    "compile_mapper",
    "content_hash_of",
    "credential_name_problem",
    "export_id_for",
    "export_label",
    "export_tag",
    "fits",
    "fitting_types",
    "fold",
    "harvest_table_problems",
    "infer_type",
    "is_blank",
    "is_snapshot_of",
    "list_profiles",
    "load_profile",
    "load_vocabulary",
    "lookup_aat",
    "narrowest",
    "normalise_aat_uri",
    "null_set",
    "parse_date",
    "parse_export_id",
    "parse_year",
    "partition_key",
    "plan_chunks",
    "profile_search_path",
    "raw_text",
    "read_chunk",
    "slug",
    "split_partition_key",
    "text_fits_kind",
    "validate",
    "verify_snapshot",
    "vocabulary_versions",
    "where",
]

# The module each public name lives in (its own ``__all__`` lists it): imported on first use.
_HOMES: dict[str, str] = {
    name: module
    for module, names in {
        "chunking": ("ChunkPlan", "ChunkSpan", "plan_chunks", "read_chunk", "verify_snapshot"),
        "dates": ("DateError", "ParsedDate", "parse_date", "parse_year"),
        "draft": ("Draft", "DraftCreator", "DraftImage", "DraftMeasurement", "DraftTitle"),
        "drift": ("Change", "DriftReport", "Fingerprint", "FingerprintBuilder", "compare"),
        "field_types": (
            "FIELD_TYPES",
            "fits",
            "fitting_types",
            "infer_type",
            "is_blank",
            "narrowest",
            "null_set",
            "text_fits_kind",
        ),
        "exceptions": (
            "ChunkPlanError",
            "EmptySource",
            "MuseumSyncError",
            "ProfileError",
            "SourceDecodeError",
            "SourceError",
            "SourceFormatError",
            "SourceNotFound",
            "VocabularyError",
        ),
        "keys": (
            "EXPORT_ID_PATTERN",
            "EXPORT_ID_SHAPE",
            "PARTITION_KEY_PATTERN",
            "ExportName",
            "InvalidKey",
            "check_export_id",
            "export_id_for",
            "export_label",
            "export_tag",
            "is_snapshot_of",
            "parse_export_id",
            "partition_key",
            "slug",
            "split_partition_key",
        ),
        "locator": ("Locator", "where"),
        "mapping": ("CANONICAL_FIELDS", "MapError", "Mapper", "compile_mapper"),
        "models": (
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
        ),
        "profiles": (
            "CREDENTIAL_ENV_PREFIX",
            "FORBIDDEN_HEADERS",
            "FieldSpec",
            "FieldType",
            "LookupSpec",
            "Policy",
            "Profile",
            "SourceFormat",
            "check_map",
            "credential_name_problem",
            "harvest_table_problems",
            "list_profiles",
            "load_profile",
            "profile_search_path",
        ),
        "source_locators": ("ENTRIES", "INDEX", "LocatorWriter", "SourceLocators"),
        "validation": (
            "ChunkValidator",
            "Problem",
            "Reason",
            "Rejected",
            "Valid",
            "build_record",
            "raw_text",
            "validate",
        ),
        "vocabularies": (
            "AAT_PREFIX",
            "VOCABULARIES",
            "AatKind",
            "TermError",
            "TermErrorCode",
            "coerce_language",
            "coerce_rights",
            "fold",
            "load_vocabulary",
            "lookup_aat",
            "normalise_aat_uri",
            "vocabulary_versions",
        ),
    }.items()
    for name in names
}


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use (then cached here)."""
    module = _HOMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's own names and every public name, for ``dir()`` and completion."""
    return sorted({*globals(), *__all__})
