"""What the IIIF validator says about one document: findings with a severity, a JSON pointer and a message.

A finding names *where* (an RFC 6901 JSON pointer into the document, ``""`` for the whole document), *which
rule* (``schema`` for the official JSON Schema, otherwise the semantic rule's name) and *how bad*:

- ``error``: the document breaks the Presentation 3.0 specification; a viewer may fail on it. A manifest
  with an error is *broken* for the per-source policy (``warn`` publishes the record without the link,
  ``block`` withholds the record).
- ``warning``: allowed but unwise or not checkable here (a v2 manifest, a SHOULD the document skips).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ERROR", "WARNING", "Finding", "Severity", "json_pointer", "summarise"]

Severity = Literal["error", "warning"]
ERROR: Severity = "error"
WARNING: Severity = "warning"


def json_pointer(path: Iterable[str | int]) -> str:
    """RFC 6901 pointer for a path of keys and indexes: ``("items", 0, "id")`` -> ``/items/0/id``."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


@dataclass(frozen=True, order=True)
class Finding:
    """One problem in one document."""

    pointer: str
    rule: str
    severity: Severity
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"severity": self.severity, "pointer": self.pointer, "rule": self.rule, "message": self.message}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        severity: Severity = ERROR if data.get("severity") == ERROR else WARNING
        return cls(str(data["pointer"]), str(data["rule"]), severity, str(data["message"]))

    def __str__(self) -> str:
        return f"{self.severity} at {self.pointer or '/'} ({self.rule}): {self.message}"


def summarise(findings: Sequence[Finding]) -> dict[str, int]:
    """Counts by severity, e.g. ``{"error": 2, "warning": 1}`` (only severities that occur)."""
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    return counts
