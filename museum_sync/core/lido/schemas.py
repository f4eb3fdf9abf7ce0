"""The XSDs shipped in ``core/schemas`` (LIDO 1.0/1.1, oai_dc): loaded offline, once, and validated against."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from lxml import etree

from museum_sync.core.exceptions import SourceError
from museum_sync.core.lido.namespaces import DC_NS, LIDO_NS, OAI_DC_NS, OAI_NS, RDF_NS, SKOS_NS, XML_NS, XSI_NS
from museum_sync.core.lido.safe_xml import parse_xml_bytes
from museum_sync.core.lido.tree import Element

__all__ = [
    "LINE_MARK",
    "SchemaError",
    "SchemaName",
    "declared_elements",
    "load_schema",
    "schema_errors",
    "validate_xml",
]

SchemaName = Literal["lido-1.1", "lido-1.0", "oai_dc"]

# The XSDs stay in core/schemas (package data, with their README): one folder up from this package.
_SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
_SCHEMA_FILES: dict[str, Path] = {
    "lido-1.1": _SCHEMA_DIR / "lido" / "lido-v1.1.xsd",
    "lido-1.0": _SCHEMA_DIR / "lido" / "lido-v1.0.xsd",
    "oai_dc": _SCHEMA_DIR / "dc" / "oai_dc.xsd",
}


def load_schema(name: SchemaName) -> etree.XMLSchema:
    """The XSD shipped in ``core/schemas``, loaded once per process and fully offline.

    One schema object serves every validation in the process; its ``error_log`` is per object, so
    validate from one thread per process (museum-sync's workers are processes).
    """
    if name not in _SCHEMA_FILES:
        raise ValueError(f"unknown schema {name!r}: expected one of {sorted(_SCHEMA_FILES)}")
    return _load_schema(name)


@cache
def _load_schema(name: str) -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.parse(str(_SCHEMA_FILES[name]), parser))


#: Comment text ``stream`` puts before an undeclared element, with its line in the museum's file.
LINE_MARK = "museum-sync: line"


@dataclass(frozen=True, slots=True)
class SchemaError:
    """One XSD violation: the element (``lido:ObjectIdentificationWrap``), its path in the document, the
    line libxml2 reports, the message with namespaces written as prefixes, and the element's line in the
    museum's file where ``stream`` noted it (an undeclared element of a one-line record)."""

    element: str | None
    path: str | None
    line: int
    message: str
    source_line: int | None = None  # the element's line in the museum's file, when ``stream`` marked it

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def schema_errors(xml: bytes | Element, schema: SchemaName) -> list[SchemaError]:
    """Validate against a shipped schema; every violation, in document order, or ``[]``.

    A document that does not parse yields its syntax error as the single entry (no element, no path).
    """
    if isinstance(xml, bytes):
        try:
            doc = parse_xml_bytes(xml, "<xml>")
        except SourceError as exc:
            return [SchemaError(None, None, exc.line or 0, str(exc))]
    else:
        doc = xml
    validator = load_schema(schema)
    if validator.validate(doc):
        return []
    entries: Iterable[Any] = validator.error_log  # type: ignore[assignment]
    marks = _line_marks(xml) if isinstance(xml, bytes) else {}
    errors = []
    for e in entries:
        message = _CLARK.sub(_prefixed, e.message)
        element = _ELEMENT.match(message)
        path = _CLARK.sub(_prefixed, e.path) if e.path else None
        found = element.group(1) if element else None
        lines = marks.get((found or "").rpartition(":")[2])
        errors.append(SchemaError(found, path, e.line, message, lines[0] if lines else None))
    return errors


def _line_marks(xml: bytes) -> dict[str, list[int]]:
    """Lines ``stream`` noted before undeclared elements, by the element's local name, in document order.

    Read from the bytes: the safe parser drops comments.
    """
    marks: dict[str, list[int]] = {}
    if LINE_MARK.encode() in xml:
        for m in _MARK.finditer(xml):
            marks.setdefault(m.group(2).decode("utf-8", "replace"), []).append(int(m.group(1)))
    return marks


@cache
def declared_elements(schema: SchemaName) -> frozenset[str]:
    """Every element name the schema declares, prefixed (``lido:objectIdentificationWrap``): an unexpected
    element that is not among them is misnamed (``lido:ObjectIdentificationWrap``), not just misplaced."""
    tree = etree.parse(str(_SCHEMA_FILES[schema]), etree.XMLParser(no_network=True, resolve_entities=False))
    root = tree.getroot()
    prefix = _PREFIXES.get(root.get("targetNamespace") or "", "")
    xs = "{http://www.w3.org/2001/XMLSchema}"
    return frozenset(f"{prefix}:{n}" for el in root.iter(xs + "element") if (n := el.get("name")))


def validate_xml(xml: bytes | Element, schema: SchemaName) -> list[str]:
    """Validate against a shipped schema; return readable "line N: message" errors, or ``[]``.

    Accepts an element too, so a freshly built tree is validated without serialising and re-parsing.
    A document that does not parse yields its syntax error as the single message.
    """
    return [str(e) for e in schema_errors(xml, schema)]


_ELEMENT = re.compile(r"Element '([^']+)'")
_PREFIXES = {
    LIDO_NS: "lido",
    OAI_DC_NS: "oai_dc",
    DC_NS: "dc",
    OAI_NS: "oai",
    XML_NS: "xml",
    XSI_NS: "xsi",
    SKOS_NS: "skos",
    RDF_NS: "rdf",
    "http://www.opengis.net/gml": "gml",
}
_CLARK = re.compile(r"\{([^{}\s]+)\}")
_MARK = re.compile(rb"<!-- " + re.escape(LINE_MARK.encode()) + rb" (\d+) --><(?:[\w.-]+:)?([\w.-]+)")


def _prefixed(m: re.Match[str]) -> str:
    """libxml2 says ``{http://www.lido-schema.org}recordType``; stewards read ``lido:recordType``."""
    prefix = _PREFIXES.get(m.group(1))
    return f"{prefix}:" if prefix else m.group(0)
