"""LIDO and Dublin Core XML: safe reading, streaming, parsing into drafts, and writing valid output.

Every byte of XML that museum-sync reads goes through ``safe_parser()`` (or the same settings in
``iterparse``): no DTD loading, no network, no entity substitution, no huge-tree mode. Documents that
*declare* entities are refused outright (``SourceFormatError``) rather than parsed with the entity left
unexpanded, so an entity-expansion ("billion laughs") or external-entity (``file:///etc/passwd``) payload
can neither blow up memory nor leak a file into a record.

Reading is tolerant: ``parse_lido`` maps whatever a real export has into a ``Draft`` and never raises on
odd content, only on XML that does not parse. It reads namespaced LIDO 1.0/1.1 (including v1.1
``skos:Concept`` terms) and namespace-stripped LIDO as stored by Finna RecordManager. Writing is strict:
``record_to_lido`` and ``record_to_dc`` build trees with ``SubElement`` that validate against the shipped
``lido-v1.1.xsd`` and ``oai_dc.xsd`` (``validate_xml``).

Mapping rules that involve a choice (documented here because stewards will ask):

- ``record_id``: the first non-empty ``lidoRecID`` in document order. ``recordID`` is *not* used as a
  fallback: a record without ``lidoRecID`` is broken LIDO and must be rejected, not silently re-keyed.
- ``object_number``: the first ``workID`` of the current repository (a ``repositorySet`` whose type is not
  "former"), else the first ``objectPublishedID``.
- production: the first event whose type is Production/Creation (LIDO ``lido00007``,
  ``eventType/production``, AAT 300054713, or a term such as "Herstellung", "valmistus") gives the date,
  materials and techniques; creators come from it *and* from creation-like events (design, drawing,
  photographing, plate-making), whose event label becomes the role when the actor has none.
- ``rights``: record rights, then resource rights, then work rights. Within the first of these that
  has a ``rightsType``, its first URI (``conceptID``, ``skos:Concept``, or a term that is a URL) wins
  over a bare term ("CC0", "Verwertungsrecht"); the value is passed raw (validation coerces it).
  ``credit_line``: work, then resource, then record ``creditLine``.
- ``images``: one image per ``resourceSet``; of its representations the best is taken: an explicit
  ``pref="preferred"`` link, then master/provided ones (``image_master``, ``provided_image``,
  ``provided_representation``, ``lido00464``, ``zoomview``), then previews, then thumbnails
  (``image_thumb``, ``lido00451``); TIFF and non-http links (bare file names) sort last, non-image
  formats (``application/pdf``...) are skipped. The set with a ``pref="preferred"`` link, else the
  first, is primary.
- ``iiif_manifest``: a link or ``resourceID`` whose format is (ld+)JSON with "manifest" in the URL, or
  whose representation/resource type mentions IIIF and which is not an image file.
- ``lido_schema_version``: "1.0" when the record's (or its wrapper's) ``xsi:schemaLocation`` mentions
  ``lido-v1.0.xsd``, "1.1" for any other LIDO schema location, left out when there is none.
  ``iter_lido_elements`` copies a ``lidoWrap``'s schema location onto each record so lines keep it.

Writing (``lido_element``): LIDO requires an ``objectWorkType``, so a record without ``work_type`` is
written as "object" (AAT 300311889); the primary image's ``linkResource`` carries ``pref="preferred"``;
rights go to ``rightsWorkWrap`` (with the credit line); acquisition and provenance history become
Acquisition/Provenance events, so ``parse_lido(record_to_lido(r))`` gives back the same record except for
``life_dates`` (rebuilt from the years) and ``lido_schema_version`` (always "1.1").
"""

from __future__ import annotations

import io
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any, Literal, cast

from lxml import etree

from museum_sync.core.draft import Draft, DraftCreator, DraftImage, DraftMeasurement, DraftTitle
from museum_sync.core.exceptions import (
    EmptySource,
    SourceDecodeError,
    SourceError,
    SourceFormatError,
    SourceNotFound,
)
from museum_sync.core.locator import Locator
from museum_sync.core.models import MuseumRecord

__all__ = [
    "DC_NS",
    "LIDO_NS",
    "OAI_DC_NS",
    "OAI_NS",
    "OaiRecord",
    "SchemaName",
    "dc_element",
    "iter_lido_elements",
    "iter_oai_records",
    "lido_element",
    "load_schema",
    "parse_lido",
    "parse_oai_dc",
    "read_resumption_token",
    "record_to_dc",
    "record_to_lido",
    "safe_parser",
    "validate_xml",
]

LIDO_NS = "http://www.lido-schema.org"
OAI_NS = "http://www.openarchives.org/OAI/2.0/"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"
XML_NS = "http://www.w3.org/XML/1998/namespace"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SKOS_NS = "http://www.w3.org/2004/02/skos/core#"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"

SchemaName = Literal["lido-1.1", "lido-1.0", "oai_dc"]

_L = "{" + LIDO_NS + "}"
_O = "{" + OAI_NS + "}"
_DC = "{" + DC_NS + "}"
_OAI_DC_TAG = "{" + OAI_DC_NS + "}dc"
_XML_LANG = "{" + XML_NS + "}lang"
_XSI_SCHEMA_LOCATION = "{" + XSI_NS + "}schemaLocation"
_SKOS_CONCEPT = "{" + SKOS_NS + "}Concept"
_SKOS_PREF = "{" + SKOS_NS + "}prefLabel"
_SKOS_ALT = "{" + SKOS_NS + "}altLabel"
_RDF_ABOUT = "{" + RDF_NS + "}about"

_SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
_SCHEMA_FILES: dict[str, Path] = {
    "lido-1.1": _SCHEMA_DIR / "lido" / "lido-v1.1.xsd",
    "lido-1.0": _SCHEMA_DIR / "lido" / "lido-v1.0.xsd",
    "oai_dc": _SCHEMA_DIR / "dc" / "oai_dc.xsd",
}

Element = etree._Element


# --------------------------------------------------------------------------------------------------
# Safe parsing
# --------------------------------------------------------------------------------------------------

_SAFE_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}


def safe_parser() -> etree.XMLParser:
    """A new parser that never loads a DTD, touches the network or substitutes entities.

    Comments and processing instructions are dropped so that ``.text`` is never cut short by them.
    """
    return etree.XMLParser(dtd_validation=False, **_SAFE_OPTIONS)


_local = threading.local()


def _parser() -> etree.XMLParser:
    """One safe parser per thread: lxml parsers must not be shared across threads."""
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = safe_parser()
    return parser


_ENTITY_REF = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)")
_ENTITY_MESSAGE = "entity declarations are not allowed (entity expansion / external entity attack?)"


def _doctype(tree: etree._ElementTree) -> str:
    doctype: str = tree.docinfo.doctype  # type: ignore[attr-defined]  # missing from lxml-stubs 0.5
    return doctype


def _declares_entities(tree: etree._ElementTree) -> bool:
    """True when the document's DOCTYPE declares entities (general or parameter, internal or external)."""
    if not _doctype(tree):
        return False  # no DOCTYPE: an undeclared entity is already a fatal parse error
    dtd = tree.docinfo.internalDTD
    return dtd is not None and any(True for _ in dtd.iterentities())  # type: ignore[attr-defined]


def _syntax_error(exc: etree.XMLSyntaxError, file: str) -> SourceError:
    message = str(exc.msg) if exc.msg else str(exc)
    line = exc.lineno if exc.lineno else None
    if "Document is empty" in message:
        return EmptySource("no XML content", file=file, line=line)
    if "encoding" in message.lower() or "utf-8" in message.lower():
        return SourceDecodeError(f"not valid XML text: {message}", file=file, line=line)
    return SourceFormatError(f"XML does not parse: {message}", file=file, line=line)


def _parse_bytes(xml: bytes, file: str) -> Element:
    try:
        root = etree.fromstring(xml, _parser())
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, file) from exc
    tree = root.getroottree()
    if _declares_entities(tree):
        raise SourceFormatError(_ENTITY_MESSAGE, file=file, line=1)
    if _doctype(tree) and any(True for _ in root.iter(etree.Entity)):
        # An external DTD (<!DOCTYPE x SYSTEM "...">) may "declare" what we never load.
        raise SourceFormatError(f"unexpanded entity reference: {_ENTITY_MESSAGE}", file=file, line=1)
    return root


# --------------------------------------------------------------------------------------------------
# Schemas and validation
# --------------------------------------------------------------------------------------------------


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
            doc = _parse_bytes(xml, "<xml>")
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


# --------------------------------------------------------------------------------------------------
# Small tree helpers (tolerant reading)
# --------------------------------------------------------------------------------------------------


def _attr(el: Element, name: str) -> str | None:
    """A LIDO attribute, qualified (as the schema says) or not (as some exports write it)."""
    value = el.get(_L + name)
    if value is None:
        value = el.get(name)
    return value


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    out = " ".join(text.split())
    return out or None


def _text(el: Element | None) -> str | None:
    """The element's text with whitespace collapsed; ``None`` when empty."""
    if el is None:
        return None
    if len(el) == 0:
        return _clean(el.text)
    return _clean("".join(cast("Iterator[str]", el.itertext())))


_BLANK_LINES = re.compile(r"\n{3,}")


def _block(el: Element | None) -> str | None:
    """Running text (descriptions, inscriptions): keep line breaks, drop indentation."""
    if el is None:
        return None
    raw = el.text if len(el) == 0 else "".join(cast("Iterator[str]", el.itertext()))
    if not raw:
        return None
    lines = [" ".join(line.split()) for line in raw.splitlines()]
    out = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    return out or None


def _lang(el: Element) -> str | None:
    """xml:lang as XML defines it: inherited from the nearest ancestor that sets it."""
    node: Element | None = el
    while node is not None:
        value = node.get(_XML_LANG)
        if value is not None:
            return value.strip() or None
        node = node.getparent()
    return None


def _is_http(value: str | None) -> bool:
    return value is not None and value[:8].lower().startswith(("http://", "https://"))


_AAT_RE = re.compile(
    r"^(?:https?://vocab\.getty\.edu/(?:page/)?aat/|aat:)(\d+)(?:\.(?:json|html|rdf))?/?$", re.IGNORECASE
)


def _aat(value: str | None, source: str | None = None) -> str | None:
    """Normalise an AAT reference (https, /page/, ``aat:NNN``, bare id with source AAT) to the http URI."""
    if not value:
        return None
    v = value.strip()
    m = _AAT_RE.match(v)
    if m:
        return f"http://vocab.getty.edu/aat/{m.group(1)}"
    if v.isdigit() and source and "aat" in source.lower():
        return f"http://vocab.getty.edu/aat/{v}"
    return None


def _norm_uri(value: str) -> str:
    v = value.strip().lower()
    if v.startswith("https://"):
        v = "http://" + v[8:]
    return v.rstrip("/")


@dataclass(slots=True)
class _Concept:
    """What a LIDO concept element says: its identifiers and labels (lido:term or skos labels)."""

    ids: list[str]
    terms: list[tuple[str, str | None]]  # (label, explicit lang) of lido:term, then skos:prefLabel
    alt: list[str]  # skos:altLabel, used only where a short form matters (units)
    text: str | None  # direct text of a mixed-content concept (measurementType "Höhe")

    def label(self, lang: str | None) -> str | None:
        if lang:
            for text, term_lang in self.terms:
                if term_lang == lang:
                    return text
        if self.terms:
            return self.terms[0][0]
        return self.text

    def english(self) -> str | None:
        for text, term_lang in self.terms:
            if term_lang and term_lang.lower().startswith("en"):
                return text
        return self.label(None)

    def first_aat(self) -> str | None:
        for cid in self.ids:
            uri = _aat(cid)
            if uri:
                return uri
        return None

    def norm_ids(self) -> set[str]:
        return {_norm_uri(i) for i in self.ids}

    def norm_terms(self) -> set[str]:
        return {_norm_term(t) for t, _ in self.terms}


_PAREN = re.compile(r"\s*\([^)]*\)\s*$")


def _norm_term(text: str) -> str:
    return _PAREN.sub("", text).strip().lower()


def _concept(el: Element | None) -> _Concept:
    ids: list[str] = []
    terms: list[tuple[str, str | None]] = []
    added: list[tuple[str, str | None]] = []
    alt: list[str] = []
    if el is None:
        return _Concept(ids, terms, alt, None)
    skos_terms: list[tuple[str, str | None]] = []
    for child in el:
        tag = child.tag
        if tag == _L + "conceptID":
            value = _text(child)
            if value:
                source = _attr(child, "source")
                aat = _aat(value, source)
                ids.append(aat or value)
        elif tag == _L + "term":
            value = _text(child)
            if value:
                entry = (value, child.get(_XML_LANG))
                (added if _attr(child, "addedSearchTerm") == "yes" else terms).append(entry)
        elif tag == _SKOS_CONCEPT:
            about = child.get(_RDF_ABOUT)
            if about:
                ids.append(about.strip())
            for sub in child:
                if sub.tag == _SKOS_PREF:
                    value = _text(sub)
                    if value:
                        skos_terms.append((value, sub.get(_XML_LANG)))
                elif sub.tag == _SKOS_ALT:
                    value = _text(sub)
                    if value:
                        alt.append(value)
    direct = _clean(el.text) if el.text else None
    return _Concept(ids, terms + added + skos_terms, alt, direct)


_ALTERNATE = frozenset({"alternate", "alternative", "alt", "http://terminology.lido-schema.org/lido00170"})
_PREFERRED = frozenset({"preferred", "pref", "http://terminology.lido-schema.org/lido00169"})


def _appellation(el: Element | None, lang: str | None) -> str | None:
    """The preferred appellationValue of a name set, in the record language when there is a choice."""
    if el is None:
        return None
    values = [v for v in el.iterchildren(_L + "appellationValue") if _text(v)]
    if not values:
        return None
    preferred = [v for v in values if (_attr(v, "pref") or "preferred") in _PREFERRED]
    pool = preferred or values
    if lang:
        for v in pool:
            if v.get(_XML_LANG) == lang:
                return _text(v)
    return _text(pool[0])


def _children(el: Element | None, *names: str) -> Iterator[Element]:
    """Descend through a chain of child names (``_children(dm, "eventWrap", "eventSet")``)."""
    if el is None:
        return
    current = [el]
    for name in names:
        current = [c for parent in current for c in parent.iterchildren(_L + name)]
    yield from current


def _first(el: Element | None, *names: str) -> Element | None:
    return next(_children(el, *names), None)


# --------------------------------------------------------------------------------------------------
# LIDO -> Draft
# --------------------------------------------------------------------------------------------------

_LT = "http://terminology.lido-schema.org/"
_PRODUCTION_IDS = frozenset(
    _norm_uri(u)
    for u in (
        _LT + "lido00007",  # Production
        _LT + "eventType/production",
        _LT + "eventType/creation",
        _LT + "lido01096",  # graphics: production of the impression ("Herstellung des Exemplars")
        "http://vocab.getty.edu/aat/300054713",  # production (AAT)
    )
)
_PRODUCTION_TERMS = frozenset(
    {
        "production",
        "creation",
        "herstellung",
        "hergestellt",
        "valmistus",
        "vervaardiging",
        "fabrication",
        "création",
        "produzione",
        "creazione",
        "producción",
        "creación",
        "producție",
        "productie",
        "manufacture",
        "manufacturing",
        "herstellung des exemplars",
        "tillverkning",
        "framställning",
    }
)
_CREATION_LIKE_IDS = frozenset(
    _norm_uri(u)
    for u in (
        _LT + "lido00224",  # design ("Entwurf")
        _LT + "lido01089",  # graphics: making of the printing form ("Herstellung der Druckform")
        _LT + "lido01127",  # photographic recording ("Fotografische Aufnahme")
        _LT + "eventType/designing",
        _LT + "eventType/design",
    )
)
_CREATION_LIKE_TERMS = frozenset(
    {
        "design",
        "designing",
        "entwurf",
        "entworfen",
        "gezeichnet",
        "drawing",
        "drawn",
        "suunnittelu",
        "fotografische aufnahme",
        "aufgenommen",
        "photographing",
        "photography",
        "herstellung der druckform",
        "gemalt",
        "painted",
        "modelliert",
    }
)
_ACQUISITION_IDS = frozenset(
    _norm_uri(u) for u in (_LT + "lido00001", _LT + "eventType/acquisition", "http://vocab.getty.edu/aat/300157782")
)
_ACQUISITION_TERMS = frozenset(
    {
        "acquisition",
        "erwerb",
        "erwerbung",
        "hankinta",
        "achiziție",
        "achizitie",
        "verwerving",
        "acquisizione",
        "adquisición",
        "acquisition (event)",
        "förvärv",
    }
)
_PROVENANCE_IDS = frozenset({_norm_uri(_LT + "eventType/provenance")})
_PROVENANCE_TERMS = frozenset({"provenance", "herkunft", "provenienz", "provenienssi", "proveniență"})


def _event_kind(event: Element) -> str | None:
    concept = _concept(_first(event, "eventType"))
    ids, terms = concept.norm_ids(), concept.norm_terms()
    if ids & _PRODUCTION_IDS or terms & _PRODUCTION_TERMS:
        return "production"
    if ids & _CREATION_LIKE_IDS or terms & _CREATION_LIKE_TERMS:
        return "creation"
    if any(t.startswith("herstellung") for t in terms):
        return "production"
    if ids & _ACQUISITION_IDS or terms & _ACQUISITION_TERMS:
        return "acquisition"
    if ids & _PROVENANCE_IDS or terms & _PROVENANCE_TERMS:
        return "provenance"
    return None


def _find_lido(root: Element) -> Element | None:
    if root.tag in (_L + "lido", "lido"):
        return root
    for el in root.iter(_L + "lido", "lido"):
        return el
    return None


def _qualify_stripped(lido: Element) -> None:
    """Give a namespace-stripped record (Finna RecordManager) its LIDO namespace back, in place."""
    for el in lido.iter():
        tag = el.tag
        if isinstance(tag, str) and not tag.startswith("{"):
            el.tag = _L + tag
        attrib = el.attrib
        if "lang" in attrib:
            attrib[_XML_LANG] = attrib.pop("lang")
        if "schemaLocation" in attrib:
            attrib[_XSI_SCHEMA_LOCATION] = attrib.pop("schemaLocation")


def _schema_version(lido: Element) -> str | None:
    node: Element | None = lido
    while node is not None:
        location = node.get(_XSI_SCHEMA_LOCATION) or node.get("schemaLocation")
        if location and "lido" in location.lower():
            return "1.0" if "lido-v1.0.xsd" in location else "1.1"
        node = node.getparent()
    return None


def _current_repository(ident: Element | None) -> Element | None:
    sets = list(_children(ident, "repositoryWrap", "repositorySet"))
    for rs in sets:
        kind = (_attr(rs, "type") or "").lower()
        if "former" not in kind and not kind.endswith("lido01019"):
            return rs
    return sets[0] if sets else None


def _titles(ident: Element | None) -> list[DraftTitle]:
    titles: list[DraftTitle] = []
    seen: set[tuple[str, str | None]] = set()
    for title_set in _children(ident, "titleWrap", "titleSet"):
        set_pref = _attr(title_set, "pref")
        for value in title_set.iterchildren(_L + "appellationValue"):
            text = _text(value)
            if not text:
                continue
            lang = _lang(value)
            if (text, lang) in seen:
                continue
            seen.add((text, lang))
            pref = _attr(value, "pref") or set_pref or ""
            title: DraftTitle = {"text": text, "preferred": pref not in _ALTERNATE}
            if lang:
                title["lang"] = lang
            titles.append(title)
    return titles


def _creators(event: Element, kind: str, lang: str | None, out: list[DraftCreator]) -> None:
    event_label = _concept(_first(event, "eventType")).label(lang) if kind == "creation" else None
    for event_actor in event.iterchildren(_L + "eventActor"):
        air = _first(event_actor, "actorInRole")
        actor = _first(air, "actor")
        name = None
        if actor is not None:
            for name_set in actor.iterchildren(_L + "nameActorSet"):
                name = _appellation(name_set, lang)
                if name:
                    break
        if not name:
            name = _text(_first(event_actor, "displayActorInRole"))
        if not name:
            continue
        creator: DraftCreator = {"name": name}
        role_el = _first(air, "roleActor")
        if role_el is not None:
            role = _concept(role_el)
            label = role.label(lang)
            if label:
                creator["role"] = label
            aat = role.first_aat()
            if aat:
                creator["role_aat"] = aat
        if "role" not in creator and event_label:
            creator["role"] = event_label
        if actor is not None:
            ids = [(i, _attr(i, "pref") or "") for i in actor.iterchildren(_L + "actorID") if _text(i)]
            ids.sort(key=lambda pair: 0 if pair[1] in _PREFERRED else 1)
            if ids:
                creator["source_id"] = _text(ids[0][0])
            vital = _first(actor, "vitalDatesActor")
            birth = _text(_first(vital, "earliestDate"))
            death = _text(_first(vital, "latestDate"))
            if birth:
                creator["birth_year"] = birth
            if death:
                creator["death_year"] = death
            if birth or death:
                creator["life_dates"] = f"{birth or ''}–{death or ''}"
        key = (creator["name"], creator.get("role"))
        if all((c["name"], c.get("role")) != key for c in out):
            out.append(creator)


# termMaterialsTech types that mean "technique"; every other type (material, materiaali, support,
# lido00513 paint, lido00514 support...) or none is a material.
_TECHNIQUE_TYPES = ("technique", "technik", "tekniikka", "lido00131", "method")


def _materials_tech(sets: list[Element], lang: str | None, draft: Draft) -> None:
    """Fill materials/techniques/medium_display from eventMaterialsTech or objectMaterialsTechSet elements."""
    materials: list[str] = []
    materials_aat: list[str] = []
    techniques: list[str] = []
    displays: list[Element] = []
    for mt_set in sets:
        displays.extend(mt_set.iterchildren(_L + "displayMaterialsTech"))
        for term_el in _children(mt_set, "materialsTech", "termMaterialsTech"):
            concept = _concept(term_el)
            label = concept.label(lang)
            if not label:
                continue
            kind = (_attr(term_el, "type") or "").lower()
            if any(kind.endswith(t) or t in kind for t in _TECHNIQUE_TYPES):
                if label not in techniques:
                    techniques.append(label)
            elif label not in materials:
                materials.append(label)
                materials_aat.append(concept.first_aat() or "")
    if not materials and not techniques:
        # INP-style exports: no terms, but display strings labelled "material"/"technique".
        for display in displays:
            text = _text(display)
            label = (_attr(display, "label") or "").lower()
            if not text or label not in ("material", "technique"):
                continue
            target = materials if label == "material" else techniques
            for part in text.split(";"):
                part = part.strip()
                if part and part not in target:
                    target.append(part)
    texts = [t for d in displays if (t := _text(d))]
    if texts:
        draft["medium_display"] = texts[0]
    if materials:
        draft["materials"] = materials
        if any(materials_aat):
            draft["materials_aat"] = materials_aat
    if techniques:
        draft["techniques"] = techniques


def _measurements(ident: Element | None, lang: str | None, draft: Draft) -> None:
    displays: list[str] = []
    measurements: list[DraftMeasurement] = []
    for om_set in _children(ident, "objectMeasurementsWrap", "objectMeasurementsSet"):
        for display in om_set.iterchildren(_L + "displayObjectMeasurements"):
            text = _text(display)
            if text and text not in displays:
                displays.append(text)
        for om in om_set.iterchildren(_L + "objectMeasurements"):
            extent = _concept(_first(om, "extentMeasurements"))
            extent_label = extent.label(lang)
            for ms in om.iterchildren(_L + "measurementsSet"):
                mtype = _concept(_first(ms, "measurementType"))
                unit = _concept(_first(ms, "measurementUnit"))
                value = _text(_first(ms, "measurementValue"))
                dimension = mtype.text or mtype.english()
                if not dimension or value is None:
                    continue
                unit_label = unit.text or min(unit.alt + [t for t, _ in unit.terms], key=len, default=None)
                m: DraftMeasurement = {"dimension": dimension, "value": value, "unit": unit_label}
                if extent_label:
                    m["extent"] = extent_label
                measurements.append(m)
    if displays:
        draft["dimensions_display"] = "; ".join(displays)
    if measurements:
        draft["measurements"] = measurements


def _inscription(ident: Element | None) -> str | None:
    parts: list[str] = []
    for ins in _children(ident, "inscriptionsWrap", "inscriptions"):
        transcription = "; ".join(t for el in ins.iterchildren(_L + "inscriptionTranscription") if (t := _block(el)))
        description = "; ".join(
            t for el in _children(ins, "inscriptionDescription", "descriptiveNoteValue") if (t := _block(el))
        )
        if transcription and description:
            parts.append(f"{transcription} ({description})")
        elif transcription or description:
            parts.append(transcription or description)
    return "; ".join(parts) or None


def _description(ident: Element | None, lang: str | None) -> str | None:
    notes = list(_children(ident, "objectDescriptionWrap", "objectDescriptionSet", "descriptiveNoteValue"))
    in_lang = [n for n in notes if _lang(n) in (lang, None)] if lang else notes
    texts: list[str] = []
    for note in in_lang or notes:
        text = _block(note)
        if text and text not in texts:
            texts.append(text)
    return "\n\n".join(texts) or None


def _event_text(event: Element, lang: str | None) -> str | None:
    """A sentence for an acquisition/provenance event: its description, else its display text or name,
    else one composed from its type, actors, place and date ("provenance: Florence, Palazzo Medici, 1498")."""
    notes = [t for el in _children(event, "eventDescriptionSet", "descriptiveNoteValue") if (t := _block(el))]
    if notes:
        return "\n".join(notes)
    event_set = event.getparent()
    display = _text(_first(event_set, "displayEvent")) if event_set is not None else None
    if display:
        return display
    name = _appellation(_first(event, "eventName"), lang)
    if name:
        return name
    actors = [
        n
        for ea in event.iterchildren(_L + "eventActor")
        if (n := _appellation(_first(ea, "actorInRole", "actor", "nameActorSet"), lang))
        or (n := _text(_first(ea, "displayActorInRole")))
    ]
    place_el = _first(event, "eventPlace")
    place = _text(_first(place_el, "displayPlace")) or _appellation(_first(place_el, "place", "namePlaceSet"), lang)
    date = _text(_first(event, "eventDate", "displayDate"))
    if not date:
        earliest = _text(_first(event, "eventDate", "date", "earliestDate"))
        latest = _text(_first(event, "eventDate", "date", "latestDate"))
        date = earliest if earliest == latest or not latest else f"{earliest or ''}–{latest}"
    parts = [p for p in (*actors, place, date) if p]
    if not parts:
        return None
    label = _concept(_first(event, "eventType")).label(lang)
    return f"{label}: {', '.join(parts)}" if label else ", ".join(parts)


def _event_year(event: Element) -> str | None:
    return _text(_first(event, "eventDate", "date", "earliestDate")) or _text(_first(event, "eventDate", "displayDate"))


def _rights_uri(rights: Element) -> str | None:
    for rights_type in rights.iterchildren(_L + "rightsType"):
        concept = _concept(rights_type)
        for value in [*concept.ids, *(t for t, _ in concept.terms)]:
            if _is_http(value):
                return value
    return None


def _rights_label(rights: Element) -> str | None:
    for rights_type in rights.iterchildren(_L + "rightsType"):
        concept = _concept(rights_type)
        label = concept.label(None) or (concept.ids[0] if concept.ids else None)
        if label:
            return label
    return None


_MASTER = ("image_master", "provided_image", "provided_representation", "lido00464", "zoomview", "master")
_PREVIEW = ("image_preview", "preview_representation", "preview")
_THUMB = ("image_thumb", "lido00451", "thumb")
_IMAGE_EXT = frozenset({"jpg", "jpeg", "png", "gif", "tif", "tiff", "webp", "jp2", "bmp", "svg"})


def _is_manifest(url: str, fmt: str, kinds: str) -> bool:
    """A IIIF Presentation manifest, as opposed to an image (also IIIF Image API ``/full/`` URLs)."""
    low = url.lower()
    if low.endswith("info.json"):
        return False  # IIIF Image API service description, not a manifest
    if fmt in ("application/ld+json", "application/json") and "manifest" in low:
        return True
    if "iiif" in kinds and "manifest" in (kinds + low):
        return True
    if "iiif" in kinds and not fmt.startswith("image/") and fmt not in _IMAGE_EXT:
        ext = low.rsplit("?", 1)[0].rsplit(".", 1)[-1]
        return ext not in _IMAGE_EXT and "/full/" not in low
    return False


def _representation_rank(kind: str, fmt: str, pref: str, url: str) -> int:
    rank = 0 if pref in _PREFERRED else 4
    if rank and any(kind.endswith(k) for k in _MASTER):
        rank = 1
    elif rank and any(kind.endswith(k) for k in _PREVIEW):
        rank = 2
    elif rank and any(kind.endswith(k) for k in _THUMB):
        rank = 3
    if fmt in ("image/tiff", "tif", "tiff"):
        rank += 10  # browsers cannot show TIFF masters; prefer any JPEG/PNG rendition
    if not _is_http(url):
        rank += 20  # a bare file name ("_DSC3552.jpg") is no use to a catalogue
    return rank


def _resources(admin: Element | None, lang: str | None, draft: Draft) -> None:
    images: list[DraftImage] = []
    primary_index: int | None = None
    manifest: str | None = None
    for rs in _children(admin, "resourceWrap", "resourceSet"):
        resource_type = _concept(_first(rs, "resourceType"))
        type_words = " ".join(t for t, _ in resource_type.terms).lower() + " " + " ".join(resource_type.ids).lower()
        candidates: list[tuple[int, int, str, bool]] = []
        for pos, rep in enumerate(rs.iterchildren(_L + "resourceRepresentation")):
            kind = (_attr(rep, "type") or "").lower()
            for link in rep.iterchildren(_L + "linkResource"):
                url = _text(link)
                if not url:
                    continue
                fmt = (_attr(link, "formatResource") or "").strip().lower()
                if _is_manifest(url, fmt, kind + " " + type_words):
                    manifest = manifest or url
                    continue
                if fmt and not fmt.startswith("image/") and fmt not in _IMAGE_EXT:
                    continue
                pref = _attr(link, "pref") or _attr(rep, "pref") or ""
                candidates.append((_representation_rank(kind, fmt, pref, url), pos, url, pref in _PREFERRED))
        for rid in rs.iterchildren(_L + "resourceID"):
            url = _text(rid)
            if url and _is_http(url) and _is_manifest(url, "", (_attr(rid, "type") or "").lower() + " " + type_words):
                manifest = manifest or url
        if not candidates:
            continue
        candidates.sort()
        _, _, url, preferred = candidates[0]
        image: DraftImage = {"url": url, "is_primary": False}
        caption = next((t for el in rs.iterchildren(_L + "resourceDescription") if (t := _text(el))), None)
        if caption:
            image["caption"] = caption
        if preferred and primary_index is None:
            primary_index = len(images)
        images.append(image)
    if images:
        images[primary_index or 0]["is_primary"] = True
        draft["images"] = images
    if manifest:
        draft["iiif_manifest"] = manifest


def parse_lido(xml: bytes, *, file: str = "<lido>") -> Draft:
    """Map one LIDO record (the first ``lido`` element in ``xml``) into a ``Draft``.

    Accepts a bare ``lido`` element, a ``lidoWrap`` (first record) or any envelope around one, namespaced
    or namespace-stripped. Raises ``SourceFormatError`` only when the bytes are not well-formed XML or
    declare entities; odd or missing content just leaves draft keys out. ``file`` names the source in
    error messages.
    """
    root = _parse_bytes(xml, file)
    lido = _find_lido(root)
    if lido is None:
        return {}
    if lido.tag == "lido":
        _qualify_stripped(lido)
    return _lido_to_draft(lido)


def _lido_to_draft(lido: Element) -> Draft:
    draft: Draft = {}
    for rec_id in lido.iterchildren(_L + "lidoRecID"):
        text = _text(rec_id)
        if text:
            draft["record_id"] = text
            break

    version = _schema_version(lido)
    if version:
        draft["lido_schema_version"] = version

    desc = _first(lido, "descriptiveMetadata")
    admin = _first(lido, "administrativeMetadata")
    lang = desc.get(_XML_LANG) if desc is not None else None
    if lang and lang.strip():
        lang = lang.strip()
        draft["language"] = lang
    else:
        lang = None

    classification = _first(desc, "objectClassificationWrap")
    work_type = _first(classification, "objectWorkTypeWrap", "objectWorkType")
    if work_type is not None:
        concept = _concept(work_type)
        label = concept.label(lang)
        if label:
            draft["work_type"] = label
        aat = concept.first_aat()
        if aat:
            draft["work_type_aat"] = aat
    for cls in _children(classification, "classificationWrap", "classification"):
        if (_attr(cls, "type") or "").lower().startswith("europeana:"):
            continue  # Europeana's IMAGE/TEXT media type, not a classification of the object
        label = _concept(cls).label(lang)
        if label:
            draft["classification"] = label
            break

    ident = _first(desc, "objectIdentificationWrap")
    titles = _titles(ident)
    if titles:
        draft["titles"] = titles

    repo_set = _current_repository(ident)
    work_id = next((t for w in _children(repo_set, "workID") if (t := _text(w))), None)
    if work_id is None:
        work_id = next((t for p in lido.iterchildren(_L + "objectPublishedID") if (t := _text(p))), None)
    if work_id is not None:
        draft["object_number"] = work_id
    repository = _appellation(_first(repo_set, "repositoryName", "legalBodyName"), lang) or _text(
        _first(repo_set, "displayRepository")
    )
    if repository:
        draft["repository"] = repository

    inscription = _inscription(ident)
    if inscription:
        draft["inscription"] = inscription
    description = _description(ident, lang)
    if description:
        draft["description"] = description
    _measurements(ident, lang, draft)

    # Events: production (date, materials), creation-like (creators), acquisition, provenance.
    creators: list[DraftCreator] = []
    production: Element | None = None
    creation: Element | None = None
    acquisitions: list[Element] = []
    provenance: list[Element] = []
    for event in _children(desc, "eventWrap", "eventSet", "event"):
        kind = _event_kind(event)
        if kind == "production":
            production = production if production is not None else event
            _creators(event, kind, lang, creators)
        elif kind == "creation":
            creation = creation if creation is not None else event
            _creators(event, kind, lang, creators)
        elif kind == "acquisition":
            acquisitions.append(event)
        elif kind == "provenance":
            provenance.append(event)
    if creators:
        draft["creators"] = creators
    main_event = production if production is not None else creation
    if main_event is not None:
        event_date = _first(main_event, "eventDate")
        display = _text(_first(event_date, "displayDate"))
        if display:
            draft["date_display"] = display
        earliest = _text(_first(event_date, "date", "earliestDate"))
        latest = _text(_first(event_date, "date", "latestDate"))
        if earliest:
            draft["date_earliest"] = earliest
        if latest:
            draft["date_latest"] = latest
    mt_sets = list(main_event.iterchildren(_L + "eventMaterialsTech")) if main_event is not None else []
    if not mt_sets:
        mt_sets = list(_children(ident, "objectMaterialsTechWrap", "objectMaterialsTechSet"))
    _materials_tech(mt_sets, lang, draft)

    if acquisitions:
        text = _event_text(acquisitions[0], lang)
        if text:
            draft["acquisition"] = text
        year = _event_year(acquisitions[0])
        if year:
            draft["acquisition_year"] = year
    history = [t for ev in provenance if (t := _event_text(ev, lang))]
    if history:
        draft["provenance_history"] = "\n".join(history)

    # Administrative metadata.
    record_wrap = _first(admin, "recordWrap")
    institution = _appellation(_first(record_wrap, "recordSource", "legalBodyName"), lang)
    if institution or repository:
        draft["institution"] = institution or repository
    links = [(link, t) for link in _children(record_wrap, "recordInfoSet", "recordInfoLink") if (t := _text(link))]
    if links:
        html = [t for link, t in links if (_attr(link, "formatResource") or "").lower() == "text/html"]
        draft["source_url"] = html[0] if html else links[0][1]

    record_rights = list(_children(record_wrap, "recordRights"))
    resource_rights = list(_children(admin, "resourceWrap", "resourceSet", "rightsResource"))
    work_rights = list(_children(admin, "rightsWorkWrap", "rightsWorkSet"))
    rights = None
    for level in (record_rights, resource_rights, work_rights):
        rights = next((v for r in level if (v := _rights_uri(r))), None) or next(
            (v for r in level if (v := _rights_label(r))), None
        )
        if rights:
            break
    if rights:
        draft["rights"] = rights
    credit = next(
        (
            t
            for r in work_rights + resource_rights + record_rights
            for c in r.iterchildren(_L + "creditLine")
            if (t := _text(c))
        ),
        None,
    )
    if credit:
        draft["credit_line"] = credit
    _resources(admin, lang, draft)
    return draft


# --------------------------------------------------------------------------------------------------
# oai_dc -> Draft
# --------------------------------------------------------------------------------------------------


_DcKey = Literal["date_display", "work_type", "medium_display", "language", "institution"]


def parse_oai_dc(xml: bytes, *, file: str = "<oai_dc>") -> Draft:
    """Map one ``oai_dc:dc`` record into a ``Draft`` (the first ``oai_dc:dc`` in ``xml``).

    title -> titles (xml:lang kept), creator -> creators, date -> date_display, type -> work_type,
    format -> medium_display, rights -> rights (first URL, else first value), identifier -> record_id
    (first) and source_url (first http(s) identifier or source), description -> description,
    language -> language, publisher -> institution.
    """
    root = _parse_bytes(xml, file)
    dc = root if root.tag == _OAI_DC_TAG else next(root.iter(_OAI_DC_TAG), None)
    if dc is None:
        dc = root
    values: dict[str, list[Element]] = {}
    for child in dc:
        tag = child.tag
        if isinstance(tag, str) and tag.startswith(_DC):
            values.setdefault(tag[len(_DC) :], []).append(child)

    def texts(name: str) -> list[str]:
        return [t for el in values.get(name, []) if (t := _text(el))]

    draft: Draft = {}
    titles: list[DraftTitle] = []
    for el in values.get("title", []):
        text = _text(el)
        if text:
            title: DraftTitle = {"text": text, "preferred": not titles}
            lang = el.get(_XML_LANG)
            if lang:
                title["lang"] = lang
            titles.append(title)
    if titles:
        draft["titles"] = titles
    creators: list[DraftCreator] = []
    for name in texts("creator"):
        if all(c["name"] != name for c in creators):
            creators.append({"name": name})
    if creators:
        draft["creators"] = creators
    simple: tuple[tuple[str, _DcKey], ...] = (
        ("date", "date_display"),
        ("type", "work_type"),
        ("format", "medium_display"),
        ("language", "language"),
        ("publisher", "institution"),
    )
    for dc_name, key in simple:
        found = texts(dc_name)
        if found:
            draft[key] = found[0]
    rights = texts("rights")
    if rights:
        draft["rights"] = next((r for r in rights if _is_http(r)), rights[0])
    identifiers = texts("identifier")
    if identifiers:
        draft["record_id"] = identifiers[0]
    url = next((u for u in texts("source") + identifiers if _is_http(u)), None)
    if url:
        draft["source_url"] = url
    descriptions = [t for el in values.get("description", []) if (t := _block(el))]
    if descriptions:
        draft["description"] = "\n\n".join(descriptions)
    return draft


# --------------------------------------------------------------------------------------------------
# Streaming: lidoWrap files, single records, OAI-PMH envelopes
# --------------------------------------------------------------------------------------------------

_iterparse: Callable[..., Iterator[tuple[str, Element]]] = etree.iterparse  # not in lxml-stubs 0.5


@dataclass(frozen=True, slots=True)
class OaiRecord:
    """One ``record`` of an OAI-PMH ListRecords/GetRecord response.

    ``metadata`` is the record's metadata element (``lido:lido``, ``oai_dc:dc``...) serialised on one
    line, or ``None`` for deleted records; ``metadata_format`` is "lido", "oai_dc", or else the
    element's local name.
    """

    identifier: str
    datestamp: str | None
    set_specs: tuple[str, ...]
    deleted: bool
    metadata: bytes | None
    metadata_format: str | None
    locator: Locator


def _one_line(elem: Element) -> bytes:
    """Serialise an element standalone on one line: indentation dropped, newlines as ``&#10;``.

    Whitespace-only text between child elements is insignificant in LIDO/DC (element-only content) and
    is removed; all other text is kept exactly, so re-parsing the line gives the same text.
    """
    for el in elem.iter():
        if len(el):
            if el.text is not None and not el.text.strip():
                el.text = None
            for child in el:
                if child.tail is not None and not child.tail.strip():
                    child.tail = None
    data = etree.tostring(elem, encoding="utf-8", with_tail=False)
    return data.replace(b"\n", b"&#10;")  # "\r" is already written as "&#13;" by libxml2


def _open(path: str | os.PathLike[str]) -> tuple[Path, IO[bytes]]:
    p = Path(path)
    try:
        fh = p.open("rb")
    except FileNotFoundError:
        raise SourceNotFound("file does not exist", file=str(p)) from None
    except IsADirectoryError:
        raise SourceNotFound("is a directory, not a file", file=str(p)) from None
    if os.fstat(fh.fileno()).st_size == 0:
        fh.close()
        raise EmptySource("file is empty (0 bytes)", file=p.name)
    return p, fh


def _events(
    source: IO[bytes], name: str, tags: tuple[str, ...], events: tuple[str, ...] = ("start", "end")
) -> Iterator[tuple[str, Element]]:
    """iterparse with the safe settings; syntax errors become ``SourceFormatError`` with file and line."""
    context = _iterparse(source, events=events, tag=tags, **_SAFE_OPTIONS)
    checked = False
    while True:
        try:
            event, elem = next(context)
        except StopIteration:
            return
        except etree.XMLSyntaxError as exc:
            raise _syntax_error(exc, name) from exc
        if not checked:
            checked = True
            if _declares_entities(elem.getroottree()):
                raise SourceFormatError(_ENTITY_MESSAGE, file=name, line=_line(elem))
        yield event, elem


_BIG_LINE = 65535  # libxml2 keeps an element's line in 16 bits; this value means "look elsewhere"


def _line(el: Element) -> int:
    """The line of the element's start tag (its closing ``>``), 1-based; 0 when libxml2 does not know it.

    From line 65535 on, libxml2 (``xmlGetLineNo``) answers with the line where the element's first text
    node *ends*: one line or more too far in an indented file. A steward must land on the start tag, so
    the newlines of that text are taken off again. Read it at the ``end`` event (the text is parsed).
    """
    value: Any = el.sourceline
    if not value:
        return 0
    line = int(value)
    return line - _newlines_before_text(el) if line >= _BIG_LINE else line


def _newlines_before_text(el: Element, depth: int = 0) -> int:
    """Newlines between the start tag and the end of the text node libxml2 took a big line number from."""
    if el.text is not None:
        return el.text.count("\n")
    if len(el) and depth < 32:
        return _newlines_before_text(el[0], depth + 1)  # libxml2 asks the first child (same line: no text between)
    return el.tail.count("\n") if el.tail is not None else 0  # an empty element: the text after it


def _local_name(el: Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return "?"
    return tag.rsplit("}", 1)[-1]


def _drop_previous(elem: Element) -> None:
    """Free what has been processed: the element's content and its earlier siblings."""
    elem.clear()
    parent = elem.getparent()
    if parent is not None:
        while elem.getprevious() is not None:
            del parent[0]


def _checked_line(data: bytes, name: str, line: int | None) -> bytes:
    if _ENTITY_REF.search(data):
        raise SourceFormatError(f"unexpanded entity reference: {_ENTITY_MESSAGE}", file=name, line=line)
    return data


def _inherit_schema_location(lido: Element) -> None:
    """Copy the wrapper's LIDO ``xsi:schemaLocation`` onto a record that lacks one (self-describing lines)."""
    if lido.get(_XSI_SCHEMA_LOCATION) is not None or lido.get("schemaLocation") is not None:
        return
    node = lido.getparent()
    while node is not None:
        location = node.get(_XSI_SCHEMA_LOCATION)
        bare = node.get("schemaLocation")
        if location and "lido" in location.lower():
            lido.set(_XSI_SCHEMA_LOCATION, location)
            return
        if bare and "lido" in bare.lower():
            lido.set("schemaLocation", bare)
            return
        node = node.getparent()


def iter_lido_elements(path: str | os.PathLike[str]) -> Iterator[tuple[Locator, bytes]]:
    """Stream every record element of a file as standalone one-line bytes, with its locator.

    Records are ``lido`` elements (a ``lidoWrap`` file, a single ``lido`` root, namespace-stripped LIDO,
    or LIDO inside OAI-PMH ``<metadata>``) and ``oai_dc:dc`` elements (an OAI-PMH ``oai_dc`` response or
    a bare ``oai_dc:dc``): feed them to ``parse_lido`` / ``parse_oai_dc``. Deleted OAI records carry no
    metadata and are not yielded (``iter_oai_records`` reports them). Memory stays flat: each record is
    cleared once the consumer has it. The pointer is an XPath to the element, e.g. ``/lidoWrap/lido[3]``
    or ``/OAI-PMH/ListRecords/record[7]/metadata/lido[1]``. Raises ``SourceNotFound``,
    ``SourceFormatError`` (with line) for broken XML or entity declarations, and ``EmptySource`` when the
    file holds no record.
    """
    p, fh = _open(path)
    name = p.name
    record_index = 0
    last_parent: Element | None = None
    sibling_index = 0
    found = 0
    with fh:
        for event, elem in _events(fh, name, (_L + "lido", "lido", _OAI_DC_TAG, _O + "record")):
            tag = elem.tag
            if tag == _O + "record":
                if event == "start":
                    record_index += 1
                else:
                    _drop_previous(elem)
                continue
            if event == "start":
                continue
            parent = elem.getparent()
            if parent is not None and parent is last_parent:
                sibling_index += 1
            else:
                last_parent, sibling_index = parent, 1
            steps: list[str] = []
            node = parent
            while node is not None:
                step = _local_name(node)
                if node.tag == _O + "record":
                    step += f"[{record_index}]"
                steps.append(step)
                node = node.getparent()
            pointer = "/" + "/".join([*reversed(steps), f"{_local_name(elem)}[{sibling_index}]"])
            line = _line(elem)
            if tag != _OAI_DC_TAG:
                _inherit_schema_location(elem)
            data = _checked_line(_one_line(elem), name, line)
            found += 1
            yield Locator(file=name, line=line, pointer=pointer), data
            if parent is not None and parent.tag != _O + "metadata":
                _drop_previous(elem)
            else:
                elem.clear()
    if not found:
        raise EmptySource("no records (expected LIDO, or OAI-PMH with lido or oai_dc metadata)", file=name)


_FORMATS = {LIDO_NS: "lido", OAI_DC_NS: "oai_dc"}


def iter_oai_records(path: str | os.PathLike[str]) -> Iterator[OaiRecord]:
    """Stream the ``record`` elements of an OAI-PMH response: header fields plus one-line metadata.

    Deleted records (``header status="deleted"``) come with ``deleted=True`` and ``metadata=None``.
    An error response (``noRecordsMatch``...) simply yields nothing; the resumption token is read with
    ``read_resumption_token``.
    """
    p, fh = _open(path)
    name = p.name
    index = 0
    with fh:
        for _event, elem in _events(fh, name, (_O + "record",), events=("end",)):
            index += 1
            header = elem.find(_O + "header")
            identifier = _text(header.find(_O + "identifier")) if header is not None else None
            datestamp = _text(header.find(_O + "datestamp")) if header is not None else None
            set_specs = tuple(
                t for s in (header.iterchildren(_O + "setSpec") if header is not None else ()) if (t := _text(s))
            )
            deleted = header is not None and header.get("status") == "deleted"
            metadata_el = elem.find(_O + "metadata")
            payload = (
                next((c for c in metadata_el if isinstance(c.tag, str)), None) if metadata_el is not None else None
            )
            line = _line(elem)
            data = None
            fmt = None
            if payload is not None and not deleted:
                fmt = _FORMATS.get(etree.QName(payload).namespace or "", _local_name(payload))
                if fmt == "lido":
                    _inherit_schema_location(payload)
                data = _checked_line(_one_line(payload), name, _line(payload))
            yield OaiRecord(
                identifier=identifier or "",
                datestamp=datestamp,
                set_specs=set_specs,
                deleted=deleted,
                metadata=data,
                metadata_format=fmt,
                locator=Locator(file=name, line=line, pointer=f"/OAI-PMH/ListRecords/record[{index}]"),
            )
            _drop_previous(elem)


def read_resumption_token(source: str | os.PathLike[str] | bytes) -> str | None:
    """The OAI-PMH ``resumptionToken`` of a response (file path or bytes); ``None`` on the last page."""
    if isinstance(source, bytes):
        name = "<oai-pmh>"
        fh: IO[bytes] = io.BytesIO(source)
    else:
        p, fh = _open(source)
        name = p.name
    token: str | None = None
    with fh:
        for _event, elem in _events(fh, name, (_O + "resumptionToken", _O + "record"), events=("end",)):
            if elem.tag == _O + "resumptionToken":
                token = _text(elem)
            else:
                _drop_previous(elem)
    return token


# --------------------------------------------------------------------------------------------------
# MuseumRecord -> LIDO 1.1 / oai_dc
# --------------------------------------------------------------------------------------------------

_NSMAP_LIDO = {"lido": LIDO_NS, "xsi": XSI_NS}
_NSMAP_DC = {"oai_dc": OAI_DC_NS, "dc": DC_NS, "xsi": XSI_NS}
_LIDO_SCHEMA_LOCATION = "http://www.lido-schema.org http://www.lido-schema.org/schema/v1.1/lido-v1.1.xsd"
_DC_SCHEMA_LOCATION = "http://www.openarchives.org/OAI/2.0/oai_dc/ http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
_DEFAULT_WORK_TYPE = ("object", "http://vocab.getty.edu/aat/300311889")
_LT_PRODUCTION = _LT + "lido00007"
_LT_ACQUISITION = _LT + "lido00001"
_LT_PROVENANCE = _LT + "eventType/provenance"
_SUB = etree.SubElement

_T_TYPE = _L + "type"
_T_SOURCE = _L + "source"
_T_PREF = _L + "pref"


# Characters XML 1.0 cannot carry (control characters from dirty CSV exports, lone surrogates).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    return _NOT_XML.sub("", text)


def _el(parent: Element, name: str, text: str | None = None, attrib: dict[str, str] | None = None) -> Element:
    count = len(parent)
    try:
        el = _SUB(parent, _L + name, attrib) if attrib else _SUB(parent, _L + name)
        if text is not None:
            el.text = text
        return el
    except ValueError:  # lxml refuses non-XML characters: drop them rather than lose the record
        del parent[count:]
    safe = {k: _xml_safe(v) for k, v in attrib.items()} if attrib else None
    el = _SUB(parent, _L + name, safe) if safe else _SUB(parent, _L + name)
    if text is not None:
        el.text = _xml_safe(text)
    return el


def _id_type(value: str) -> str:
    return "URI" if _is_http(value) else "local"


def _concept_out(parent: Element, name: str, label: str | None, uri: str | None, source: str | None = None) -> Element:
    el = _el(parent, name)
    if uri:
        attrib = {_T_TYPE: "URI"}
        if source:
            attrib[_T_SOURCE] = source
        _el(el, "conceptID", uri, attrib)
    if label:
        _el(el, "term", label)
    return el


def _legal_body(parent: Element, name: str, body: str) -> None:
    el = _el(parent, name)
    _el(_el(el, "legalBodyName"), "appellationValue", body)


def lido_element(record: MuseumRecord) -> Element:
    """Build the ``lido:lido`` tree for a record (valid against lido-v1.1.xsd), without serialising it."""
    institution = record.provenance.institution
    lang = record.language or "en"
    lido = etree.Element(_L + "lido", nsmap=_NSMAP_LIDO)
    lido.set(_XSI_SCHEMA_LOCATION, _LIDO_SCHEMA_LOCATION)
    _el(lido, "lidoRecID", record.record_id, {_T_TYPE: "local", _T_SOURCE: institution})
    category = _el(lido, "category")
    _el(category, "conceptID", "http://www.cidoc-crm.org/crm-concepts/E22", {_T_TYPE: "URI"})
    _el(category, "term", "Man-Made Object", {_XML_LANG: "en"})

    desc = _el(lido, "descriptiveMetadata", attrib={_XML_LANG: lang})
    classification = _el(desc, "objectClassificationWrap")
    work_types = _el(classification, "objectWorkTypeWrap")
    if record.work_type is not None:
        _concept_out(work_types, "objectWorkType", record.work_type.label, record.work_type.aat, "AAT")
    else:
        _concept_out(work_types, "objectWorkType", _DEFAULT_WORK_TYPE[0], _DEFAULT_WORK_TYPE[1], "AAT")
    if record.classification:
        _concept_out(_el(classification, "classificationWrap"), "classification", record.classification, None)

    ident = _el(desc, "objectIdentificationWrap")
    title_wrap = _el(ident, "titleWrap")
    for title in record.titles:
        attrib = {_T_PREF: "preferred" if title.preferred else "alternate"}
        if title.lang:
            attrib[_XML_LANG] = title.lang
        _el(_el(title_wrap, "titleSet"), "appellationValue", title.text, attrib)
    if record.inscription:
        _el(
            _el(_el(ident, "inscriptionsWrap"), "inscriptions"),
            "inscriptionTranscription",
            record.inscription,
        )
    if record.repository or record.object_number:
        repo_set = _el(_el(ident, "repositoryWrap"), "repositorySet", attrib={_T_TYPE: "current"})
        if record.repository:
            _legal_body(repo_set, "repositoryName", record.repository)
        if record.object_number:
            _el(repo_set, "workID", record.object_number, {_T_TYPE: "inventory number"})
    if record.description:
        _el(
            _el(_el(ident, "objectDescriptionWrap"), "objectDescriptionSet"),
            "descriptiveNoteValue",
            record.description,
        )
    if record.dimensions_display or record.measurements:
        wrap = _el(ident, "objectMeasurementsWrap")
        by_extent: dict[str | None, list[Any]] = {}
        for m in record.measurements:
            by_extent.setdefault(m.extent, []).append(m)
        first = True
        for extent, group in (by_extent or {None: []}).items():
            om_set = _el(wrap, "objectMeasurementsSet")
            if first and record.dimensions_display:
                _el(om_set, "displayObjectMeasurements", record.dimensions_display)
            first = False
            if group:
                om = _el(om_set, "objectMeasurements")
                for m in group:
                    ms = _el(om, "measurementsSet")
                    _el(ms, "measurementType", m.dimension.value)
                    _el(ms, "measurementUnit", m.unit)
                    _el(ms, "measurementValue", format(m.value, "g"))
                if extent:
                    _el(om, "extentMeasurements", extent)

    has_production = bool(
        record.creators or record.production_date or record.materials or record.techniques or record.medium_display
    )
    prov = record.provenance
    if has_production or prov.acquisition or prov.acquisition_year or prov.history:
        events = _el(desc, "eventWrap")
        if has_production:
            event = _el(_el(events, "eventSet"), "event")
            _concept_out(event, "eventType", "Production", _LT_PRODUCTION, "LIDO-Terminologie")
            for creator in record.creators:
                air = _el(_el(event, "eventActor"), "actorInRole")
                actor = _el(air, "actor")
                if creator.source_id:
                    _el(actor, "actorID", creator.source_id, {_T_TYPE: _id_type(creator.source_id)})
                _el(_el(actor, "nameActorSet"), "appellationValue", creator.name, {_T_PREF: "preferred"})
                if creator.birth_year is not None or creator.death_year is not None:
                    vital = _el(actor, "vitalDatesActor")
                    if creator.birth_year is not None:
                        _el(vital, "earliestDate", str(creator.birth_year))
                    if creator.death_year is not None:
                        _el(vital, "latestDate", str(creator.death_year))
                _concept_out(air, "roleActor", creator.role.label, creator.role.aat, "AAT")
            span = record.production_date
            if span is not None:
                event_date = _el(event, "eventDate")
                _el(event_date, "displayDate", span.display)
                if span.earliest or span.latest:
                    d = _el(event_date, "date")
                    if span.earliest:
                        _el(d, "earliestDate", span.earliest.isoformat())
                    if span.latest:
                        _el(d, "latestDate", span.latest.isoformat())
            if record.medium_display or record.materials or record.techniques:
                emt = _el(event, "eventMaterialsTech")
                if record.medium_display:
                    _el(emt, "displayMaterialsTech", record.medium_display)
                if record.materials or record.techniques:
                    mt = _el(emt, "materialsTech")
                    for term, kind in [(t, "material") for t in record.materials] + [
                        (t, "technique") for t in record.techniques
                    ]:
                        el = _el(mt, "termMaterialsTech", attrib={_T_TYPE: kind})
                        if term.aat:
                            _el(el, "conceptID", term.aat, {_T_TYPE: "URI", _T_SOURCE: "AAT"})
                        _el(el, "term", term.label)
        if prov.acquisition or prov.acquisition_year:
            event = _el(_el(events, "eventSet"), "event")
            _concept_out(event, "eventType", "Acquisition", _LT_ACQUISITION, "LIDO-Terminologie")
            if prov.acquisition_year is not None:
                year = f"{prov.acquisition_year:04d}" if prov.acquisition_year >= 0 else str(prov.acquisition_year)
                event_date = _el(event, "eventDate")
                _el(event_date, "displayDate", str(prov.acquisition_year))
                d = _el(event_date, "date")
                _el(d, "earliestDate", year)
                _el(d, "latestDate", year)
            if prov.acquisition:
                _el(_el(event, "eventDescriptionSet"), "descriptiveNoteValue", prov.acquisition)
        if prov.history:
            event = _el(_el(events, "eventSet"), "event")
            _concept_out(event, "eventType", "Provenance", _LT_PROVENANCE, "LIDO-Terminologie")
            _el(_el(event, "eventDescriptionSet"), "descriptiveNoteValue", prov.history)

    admin = _el(lido, "administrativeMetadata", attrib={_XML_LANG: lang})
    rights_set = _el(_el(admin, "rightsWorkWrap"), "rightsWorkSet")
    _concept_out(rights_set, "rightsType", None, record.rights)
    if record.credit_line:
        _el(rights_set, "creditLine", record.credit_line)
    record_wrap = _el(admin, "recordWrap")
    _el(record_wrap, "recordID", prov.source_record_id, {_T_TYPE: "local"})
    _concept_out(record_wrap, "recordType", "item", _LT + "lido00141", "LIDO-Terminologie")
    _legal_body(record_wrap, "recordSource", institution)
    if record.source_url:
        _el(
            _el(record_wrap, "recordInfoSet"),
            "recordInfoLink",
            record.source_url,
            {_L + "formatResource": "text/html"},
        )
    if record.images or record.iiif_manifest:
        resources = _el(admin, "resourceWrap")
        for image in record.images:
            rs = _el(resources, "resourceSet")
            rep = _el(rs, "resourceRepresentation", attrib={_T_TYPE: "image_master"})
            _el(rep, "linkResource", image.url, {_T_PREF: "preferred"} if image.is_primary else None)
            _el(_el(rs, "resourceType"), "term", "image")
            if image.caption:
                _el(rs, "resourceDescription", image.caption)
        if record.iiif_manifest:
            rs = _el(resources, "resourceSet")
            rep = _el(rs, "resourceRepresentation", attrib={_T_TYPE: "IIIF manifest"})
            _el(rep, "linkResource", record.iiif_manifest, {_L + "formatResource": "application/ld+json"})
            _el(_el(rs, "resourceType"), "term", "IIIF manifest")
    return lido


def record_to_lido(record: MuseumRecord) -> bytes:
    """The record as a standalone ``lido:lido`` document (UTF-8, no XML declaration)."""
    return etree.tostring(lido_element(record), encoding="utf-8")


def dc_element(record: MuseumRecord) -> Element:
    """Build the ``oai_dc:dc`` tree for a record (valid against oai_dc.xsd)."""
    dc = etree.Element("{" + OAI_DC_NS + "}dc", nsmap=_NSMAP_DC)
    dc.set(_XSI_SCHEMA_LOCATION, _DC_SCHEMA_LOCATION)

    def add(name: str, text: str | None, lang: str | None = None) -> None:
        if text:
            el = _SUB(dc, _DC + name, {_XML_LANG: lang}) if lang else _SUB(dc, _DC + name)
            try:
                el.text = text
            except ValueError:  # non-XML characters (see _el)
                el.text = _xml_safe(text)

    for title in record.titles:
        add("title", title.text, title.lang)
    for creator in record.creators:
        add("creator", creator.name)
    if record.production_date is not None:
        add("date", record.production_date.display)
    if record.work_type is not None:
        add("type", record.work_type.label)
    add("format", record.medium_display)
    add("format", record.dimensions_display)
    add("rights", record.rights)
    add("identifier", record.record_id)
    if record.object_number and record.object_number != record.record_id:
        add("identifier", record.object_number)
    add("description", record.description, record.language)
    add("language", record.language)
    add("publisher", record.provenance.institution)
    add("source", record.source_url)
    return dc


def record_to_dc(record: MuseumRecord) -> bytes:
    """The record as a standalone ``oai_dc:dc`` document (UTF-8, no XML declaration)."""
    return etree.tostring(dc_element(record), encoding="utf-8")
