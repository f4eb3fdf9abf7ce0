"""The XML namespaces museum-sync reads and writes, and their Clark-notation prefixes.

lxml names a namespaced element or attribute ``{uri}local``: ``LIDO + "lidoRecID"`` is
``{http://www.lido-schema.org}lidoRecID``. One place for them so reading and writing agree.
"""

from __future__ import annotations

__all__ = [
    "DC",
    "DC_NS",
    "LIDO",
    "LIDO_NS",
    "LIDO_TERMS",
    "OAI",
    "OAI_DC_NS",
    "OAI_DC_TAG",
    "OAI_NS",
    "RDF_ABOUT",
    "RDF_NS",
    "SKOS_ALT_LABEL",
    "SKOS_CONCEPT",
    "SKOS_NS",
    "SKOS_PREF_LABEL",
    "XML_LANG",
    "XML_NS",
    "XSI_NS",
    "XSI_SCHEMA_LOCATION",
]

LIDO_NS = "http://www.lido-schema.org"
OAI_NS = "http://www.openarchives.org/OAI/2.0/"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"
XML_NS = "http://www.w3.org/XML/1998/namespace"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SKOS_NS = "http://www.w3.org/2004/02/skos/core#"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#: The LIDO terminology (event types, record types...): not an XML namespace, a URI prefix of concepts.
LIDO_TERMS = "http://terminology.lido-schema.org/"

LIDO = "{" + LIDO_NS + "}"
OAI = "{" + OAI_NS + "}"
DC = "{" + DC_NS + "}"
OAI_DC_TAG = "{" + OAI_DC_NS + "}dc"
XML_LANG = "{" + XML_NS + "}lang"
XSI_SCHEMA_LOCATION = "{" + XSI_NS + "}schemaLocation"
SKOS_CONCEPT = "{" + SKOS_NS + "}Concept"
SKOS_PREF_LABEL = "{" + SKOS_NS + "}prefLabel"
SKOS_ALT_LABEL = "{" + SKOS_NS + "}altLabel"
RDF_ABOUT = "{" + RDF_NS + "}about"
