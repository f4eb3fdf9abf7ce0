"""Validate one IIIF document: which version it is, then the official schema and the semantic rules.

A Presentation 2.x document (``@context`` .../presentation/2/context.json, or ``@type`` ``sc:Manifest``) is
recognised and reported as such (one ``warning`` with rule ``presentation_v2``): the 3.0 schema would only
bury it under findings that mean "this is 2.x". Viewers still read 2.x, so it is not *broken*.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from museum_sync.core.iiif.findings import ERROR, WARNING, Finding
from museum_sync.core.iiif.rules import RULES
from museum_sync.core.iiif.schema_check import schema_findings

__all__ = [
    "V2_CONTEXT",
    "V3_CONTEXT",
    "ManifestReport",
    "parse_and_validate",
    "presentation_version",
    "validate_document",
]

V3_CONTEXT = "http://iiif.io/api/presentation/3/context.json"
V2_CONTEXT = "http://iiif.io/api/presentation/2/context.json"


@dataclass(frozen=True)
class ManifestReport:
    """What validation found: the Presentation ``version`` (``"3"``, ``"2"`` or ``None``: not IIIF) and the
    findings, sorted by pointer."""

    version: str | None
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def broken(self) -> bool:
        """At least one ``error``: the per-source policy applies (warn: drop the link; block: withhold)."""
        return any(f.severity == ERROR for f in self.findings)

    def as_list(self) -> list[dict[str, str]]:
        return [f.as_dict() for f in self.findings]


def _contexts(document: dict[str, Any]) -> list[str]:
    context = document.get("@context")
    values = context if isinstance(context, list) else [context]
    return [c for c in values if isinstance(c, str)]


def presentation_version(document: Any) -> str | None:
    """``"3"``, ``"2"`` or ``None`` (not a IIIF Presentation document) from ``@context`` and the type keys."""
    if not isinstance(document, dict):
        return None
    contexts = _contexts(document)
    if any("/presentation/3/" in c for c in contexts):
        return "3"
    if any("/presentation/2/" in c for c in contexts) or str(document.get("@type", "")).startswith("sc:"):
        return "2"
    if "type" in document and "id" in document:
        return "3"  # no context (embedded documents, some fixtures): read as 3.0
    return None


def validate_document(document: Any) -> ManifestReport:
    """The report for parsed JSON: version, then (for 3.0) the official schema and every rule in ``RULES``."""
    version = presentation_version(document)
    if version == "2":
        found = Finding(
            "/@context",
            "presentation_v2",
            WARNING,
            "IIIF Presentation 2.x document: checked for its version only (this validator checks 3.0)",
        )
        return ManifestReport("2", (found,))
    if version is None:
        found = Finding("", "not_iiif", ERROR, "not a IIIF Presentation document (no 3.0 or 2.x @context)")
        return ManifestReport(None, (found,))
    findings = schema_findings(document)
    for rule in RULES:
        findings.extend(rule(document))
    ordered = sorted(set(findings), key=lambda f: (f.severity != ERROR, f.pointer, f.rule, f.message))
    return ManifestReport("3", tuple(ordered))


def parse_and_validate(content: bytes) -> ManifestReport:
    """``validate_document`` for raw bytes; a body that is not JSON is one ``not_json`` error."""
    try:
        document = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return ManifestReport(None, (Finding("", "not_json", ERROR, f"not JSON: {exc}"),))
    return validate_document(document)
