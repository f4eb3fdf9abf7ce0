"""IIIF Presentation manifests, checked offline: the official 3.0 JSON Schema plus the rules it cannot express.

``validate_document`` is the one entry point (``validate``); ``findings`` says what a finding is,
``schema_check`` runs the shipped schema, ``rules`` the semantic rules, ``version`` tells 3.0 from 2.x.
Pure: no network, no I/O beyond reading the packaged schema.
"""

from __future__ import annotations

from museum_sync.core.iiif.findings import ERROR, WARNING, Finding, Severity, json_pointer, summarise
from museum_sync.core.iiif.validate import ManifestReport, parse_and_validate, validate_document

__all__ = [
    "ERROR",
    "WARNING",
    "Finding",
    "ManifestReport",
    "Severity",
    "json_pointer",
    "parse_and_validate",
    "summarise",
    "validate_document",
]
