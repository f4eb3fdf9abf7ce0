"""The XSDs shipped in ``core/schemas`` (LIDO 1.0/1.1, oai_dc): loaded offline, once, and validated against."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, Literal

from lxml import etree

from museum_sync.core.exceptions import SourceError
from museum_sync.core.lido.namespaces import DC_NS, LIDO_NS, OAI_DC_NS, OAI_NS, RDF_NS, SKOS_NS, XML_NS, XSI_NS
from museum_sync.core.lido.safe_xml import parse_xml_bytes
from museum_sync.core.lido.tree import Element

__all__ = ["SchemaName", "load_schema", "validate_xml"]

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


def validate_xml(xml: bytes | Element, schema: SchemaName) -> list[str]:
    """Validate against a shipped schema; return readable "line N: message" errors, or ``[]``.

    Accepts an element too, so a freshly built tree is validated without serialising and re-parsing.
    A document that does not parse yields its syntax error as the single message.
    """
    if isinstance(xml, bytes):
        try:
            doc = parse_xml_bytes(xml, "<xml>")
        except SourceError as exc:
            return [str(exc)]
    else:
        doc = xml
    validator = load_schema(schema)
    if validator.validate(doc):
        return []
    entries: Iterable[Any] = validator.error_log  # type: ignore[assignment]
    return [f"line {e.line}: {_CLARK.sub(_prefixed, e.message)}" for e in entries]


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


def _prefixed(m: re.Match[str]) -> str:
    """libxml2 says ``{http://www.lido-schema.org}recordType``; stewards read ``lido:recordType``."""
    prefix = _PREFIXES.get(m.group(1))
    return f"{prefix}:" if prefix else m.group(0)
