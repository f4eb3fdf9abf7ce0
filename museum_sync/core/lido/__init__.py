"""LIDO and Dublin Core XML: safe reading, streaming, parsing into drafts, and writing valid output.

One module per job; this package restates their public API:

- ``safe_xml``: the one safe parse (no DTD, no network, no entity substitution; entities refused).
- ``schemas``: the shipped XSDs, loaded offline, and ``validate_xml``.
- ``tree``: tolerant reading helpers (text, languages, concepts, lines) shared by the readers.
- ``read``: one LIDO record -> ``Draft`` (``parse_lido``; its docstring lists the mapping rules).
- ``oai_dc``: one ``oai_dc:dc`` record -> ``Draft`` (``parse_oai_dc``).
- ``stream``: records out of ``lidoWrap`` files and OAI-PMH envelopes, one line each, with locators.
- ``write``: ``MuseumRecord`` -> LIDO 1.1 / oai_dc that validates against the shipped XSDs.
- ``namespaces``: the XML namespaces and their Clark-notation prefixes.

lxml is heavy: CSV-only workers never import this package, and ``museum_sync.core`` does not import it.
"""

from __future__ import annotations

from museum_sync.core.lido.namespaces import DC_NS, LIDO_NS, OAI_DC_NS, OAI_NS
from museum_sync.core.lido.oai_dc import parse_oai_dc
from museum_sync.core.lido.read import parse_lido
from museum_sync.core.lido.safe_xml import parse_xml_bytes, safe_parser
from museum_sync.core.lido.schemas import (
    SchemaError,
    SchemaName,
    declared_elements,
    load_schema,
    schema_errors,
    validate_xml,
)
from museum_sync.core.lido.stream import OaiRecord, iter_lido_elements, iter_oai_records, read_resumption_token
from museum_sync.core.lido.write import dc_element, lido_element, record_to_dc, record_to_lido

__all__ = [
    "DC_NS",
    "LIDO_NS",
    "OAI_DC_NS",
    "OAI_NS",
    "OaiRecord",
    "SchemaError",
    "SchemaName",
    "dc_element",
    "declared_elements",
    "iter_lido_elements",
    "iter_oai_records",
    "lido_element",
    "load_schema",
    "parse_lido",
    "parse_oai_dc",
    "parse_xml_bytes",
    "read_resumption_token",
    "record_to_dc",
    "record_to_lido",
    "safe_parser",
    "schema_errors",
    "validate_xml",
]
