"""``MuseumRecord`` -> LIDO 1.1 and oai_dc: strict output that validates against the shipped XSDs.

``lido_element`` and ``dc_element`` build trees with ``SubElement`` that validate against
``lido-v1.1.xsd`` and ``oai_dc.xsd`` (``schemas.validate_xml``). LIDO requires an ``objectWorkType``, so a
record without ``work_type`` is written as "object" (AAT 300311889); the primary image's
``linkResource`` carries ``pref="preferred"``; rights go to ``rightsWorkWrap`` (with the credit line);
acquisition and provenance history become Acquisition/Provenance events, so
``parse_lido(record_to_lido(r))`` gives back the same record except for ``life_dates`` (rebuilt from the
years) and ``lido_schema_version`` (always "1.1").
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from museum_sync.core.lido.namespaces import (
    DC,
    DC_NS,
    LIDO,
    LIDO_NS,
    LIDO_TERMS,
    OAI_DC_NS,
    XML_LANG,
    XSI_NS,
    XSI_SCHEMA_LOCATION,
)
from museum_sync.core.lido.tree import Element, is_http
from museum_sync.core.models import MuseumRecord

__all__ = ["dc_element", "lido_element", "record_to_dc", "record_to_lido"]

_NSMAP_LIDO = {"lido": LIDO_NS, "xsi": XSI_NS}
_NSMAP_DC = {"oai_dc": OAI_DC_NS, "dc": DC_NS, "xsi": XSI_NS}
_LIDO_SCHEMA_LOCATION = "http://www.lido-schema.org http://www.lido-schema.org/schema/v1.1/lido-v1.1.xsd"
_DC_SCHEMA_LOCATION = "http://www.openarchives.org/OAI/2.0/oai_dc/ http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
_DEFAULT_WORK_TYPE = ("object", "http://vocab.getty.edu/aat/300311889")
_LT_PRODUCTION = LIDO_TERMS + "lido00007"
_LT_ACQUISITION = LIDO_TERMS + "lido00001"
_LT_PROVENANCE = LIDO_TERMS + "eventType/provenance"
_SUB = etree.SubElement

_T_TYPE = LIDO + "type"
_T_SOURCE = LIDO + "source"
_T_PREF = LIDO + "pref"


# Characters XML 1.0 cannot carry (control characters from dirty CSV exports, lone surrogates).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    return _NOT_XML.sub("", text)


def _el(parent: Element, name: str, text: str | None = None, attrib: dict[str, str] | None = None) -> Element:
    count = len(parent)
    try:
        el = _SUB(parent, LIDO + name, attrib) if attrib else _SUB(parent, LIDO + name)
        if text is not None:
            el.text = text
        return el
    except ValueError:  # lxml refuses non-XML characters: drop them rather than lose the record
        del parent[count:]
    safe = {k: _xml_safe(v) for k, v in attrib.items()} if attrib else None
    el = _SUB(parent, LIDO + name, safe) if safe else _SUB(parent, LIDO + name)
    if text is not None:
        el.text = _xml_safe(text)
    return el


def _id_type(value: str) -> str:
    return "URI" if is_http(value) else "local"


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
    lido = etree.Element(LIDO + "lido", nsmap=_NSMAP_LIDO)
    lido.set(XSI_SCHEMA_LOCATION, _LIDO_SCHEMA_LOCATION)
    _el(lido, "lidoRecID", record.record_id, {_T_TYPE: "local", _T_SOURCE: institution})
    category = _el(lido, "category")
    _el(category, "conceptID", "http://www.cidoc-crm.org/crm-concepts/E22", {_T_TYPE: "URI"})
    _el(category, "term", "Man-Made Object", {XML_LANG: "en"})

    desc = _el(lido, "descriptiveMetadata", attrib={XML_LANG: lang})
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
            attrib[XML_LANG] = title.lang
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

    admin = _el(lido, "administrativeMetadata", attrib={XML_LANG: lang})
    rights_set = _el(_el(admin, "rightsWorkWrap"), "rightsWorkSet")
    _concept_out(rights_set, "rightsType", None, record.rights)
    if record.credit_line:
        _el(rights_set, "creditLine", record.credit_line)
    record_wrap = _el(admin, "recordWrap")
    _el(record_wrap, "recordID", prov.source_record_id, {_T_TYPE: "local"})
    _concept_out(record_wrap, "recordType", "item", LIDO_TERMS + "lido00141", "LIDO-Terminologie")
    _legal_body(record_wrap, "recordSource", institution)
    if record.source_url:
        _el(
            _el(record_wrap, "recordInfoSet"),
            "recordInfoLink",
            record.source_url,
            {LIDO + "formatResource": "text/html"},
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
            _el(rep, "linkResource", record.iiif_manifest, {LIDO + "formatResource": "application/ld+json"})
            _el(_el(rs, "resourceType"), "term", "IIIF manifest")
    return lido


def record_to_lido(record: MuseumRecord) -> bytes:
    """The record as a standalone ``lido:lido`` document (UTF-8, no XML declaration)."""
    return etree.tostring(lido_element(record), encoding="utf-8")


def dc_element(record: MuseumRecord) -> Element:
    """Build the ``oai_dc:dc`` tree for a record (valid against oai_dc.xsd)."""
    dc = etree.Element("{" + OAI_DC_NS + "}dc", nsmap=_NSMAP_DC)
    dc.set(XSI_SCHEMA_LOCATION, _DC_SCHEMA_LOCATION)

    def add(name: str, text: str | None, lang: str | None = None) -> None:
        if text:
            el = _SUB(dc, DC + name, {XML_LANG: lang}) if lang else _SUB(dc, DC + name)
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
