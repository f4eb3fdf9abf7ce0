"""LIDO -> ``Draft``: one record's XML mapped into canonical draft fields, tolerant of real exports.

``parse_lido`` maps whatever a real export has into a ``Draft`` and never raises on odd content, only on
XML that does not parse (or declares entities). It reads namespaced LIDO 1.0/1.1 (including v1.1
``skos:Concept`` terms) and namespace-stripped LIDO as stored by Finna RecordManager.

Mapping rules that involve a choice (documented here because stewards will ask):

- ``record_id``: the first non-empty ``lidoRecID`` in document order. ``recordID`` is *not* used as a
  fallback: a record without ``lidoRecID`` is broken LIDO and must be rejected, not silently re-keyed.
- ``object_number``: the first ``workID`` of the current repository (a ``repositorySet`` whose type is not
  "former"), else the first ``objectPublishedID``.
- production: the first event whose type is Production/Creation (LIDO ``lido00007``, ``lido00031``
  Execution, ``eventType/production``, CIDOC E12/E65, AAT 300054713, museum-digital's "Hergestellt",
  "Verfasst"..., or a term such as "Herstellung", "Verfasst", "valmistus": ``vocab/event_types.json``)
  gives the date, materials and techniques; creators come from it *and* from creation-like events
  (design, modification, drawing, photographing, plate-making), whose event label becomes the role when
  the actor has none.
- ``rights``: record rights, then resource rights, then work rights. Within the first of these that
  has a ``rightsType``, its first URI (``conceptID``, ``skos:Concept``, or a term that is a URL) wins
  over a bare term ("CC0", "Verwertungsrecht"); the value is passed raw (validation coerces it).
  ``credit_line``: the work's ``creditLine`` only (``rightsWorkSet``): a resource's credit line is the
  image's (photographer, licence), the record's is the metadata's.
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
  ``iter_lido_elements`` (``stream.py``) copies a ``lidoWrap``'s schema location onto each record so
  lines keep it.
"""

from __future__ import annotations

import functools
from typing import Final

from museum_sync.core.draft import Draft, DraftCreator, DraftImage, DraftMeasurement, DraftTitle
from museum_sync.core.lido.namespaces import LIDO, XML_LANG, XSI_SCHEMA_LOCATION
from museum_sync.core.lido.safe_xml import parse_xml_bytes
from museum_sync.core.lido.tree import (
    ALTERNATE,
    PREFERRED,
    Element,
    appellation,
    is_http,
    lang_of,
    lido_attr,
    norm_term,
    norm_uri,
    path_children,
    path_first,
    read_concept,
    running_text,
    text_of,
)
from museum_sync.core.vocabularies import load_vocabulary

__all__ = ["parse_lido"]

_EVENT_KINDS: Final = ("production", "creation", "acquisition", "provenance")


@functools.cache
def _event_table() -> tuple[tuple[str, frozenset[str], frozenset[str]], ...]:
    """(kind, normalised ids, normalised terms) from ``vocab/event_types.json``, in precedence order."""
    kinds = load_vocabulary("event_types")["kinds"]
    table = []
    for kind in _EVENT_KINDS:
        spec = kinds[kind]
        ids = frozenset(norm_uri(u) for u in spec["ids"])
        terms = frozenset(norm_term(t) for words in spec["terms"].values() for t in words)
        table.append((kind, ids, terms))
    return tuple(table)


def _event_kind(event: Element) -> str | None:
    """production, creation(-like), acquisition or provenance: by the event type's URI, else its term.

    The LIDO/CIDOC/museum-digital URIs and the multilingual terms live in ``vocab/event_types.json``.
    An id decides before any term (a record may label a LIDO "Production" event "Verfasst").
    """
    concept = read_concept(path_first(event, "eventType"))
    ids, terms = concept.norm_ids(), concept.norm_terms()
    table = _event_table()
    for kind, known_ids, _ in table:
        if ids & known_ids:
            return kind
    for kind, _, known_terms in table:
        if terms & known_terms:
            return kind
    if any(t.startswith("herstellung") for t in terms):
        return "production"
    return None


def _find_lido(root: Element) -> Element | None:
    if root.tag in (LIDO + "lido", "lido"):
        return root
    for el in root.iter(LIDO + "lido", "lido"):
        return el
    return None


def _qualify_stripped(lido: Element) -> None:
    """Give a namespace-stripped record (Finna RecordManager) its LIDO namespace back, in place."""
    for el in lido.iter():
        tag = el.tag
        if isinstance(tag, str) and not tag.startswith("{"):
            el.tag = LIDO + tag
        attrib = el.attrib
        if "lang" in attrib:
            attrib[XML_LANG] = attrib.pop("lang")
        if "schemaLocation" in attrib:
            attrib[XSI_SCHEMA_LOCATION] = attrib.pop("schemaLocation")


def _schema_version(lido: Element) -> str | None:
    node: Element | None = lido
    while node is not None:
        location = node.get(XSI_SCHEMA_LOCATION) or node.get("schemaLocation")
        if location and "lido" in location.lower():
            return "1.0" if "lido-v1.0.xsd" in location else "1.1"
        node = node.getparent()
    return None


def _current_repository(ident: Element | None) -> Element | None:
    sets = list(path_children(ident, "repositoryWrap", "repositorySet"))
    for rs in sets:
        kind = (lido_attr(rs, "type") or "").lower()
        if "former" not in kind and not kind.endswith("lido01019"):
            return rs
    return sets[0] if sets else None


def _titles(ident: Element | None) -> list[DraftTitle]:
    titles: list[DraftTitle] = []
    seen: set[tuple[str, str | None]] = set()
    for title_set in path_children(ident, "titleWrap", "titleSet"):
        set_pref = lido_attr(title_set, "pref")
        for value in title_set.iterchildren(LIDO + "appellationValue"):
            text = text_of(value)
            if not text:
                continue
            lang = lang_of(value)
            if (text, lang) in seen:
                continue
            seen.add((text, lang))
            pref = lido_attr(value, "pref") or set_pref or ""
            title: DraftTitle = {"text": text, "preferred": pref not in ALTERNATE}
            if lang:
                title["lang"] = lang
            titles.append(title)
    return titles


def _creators(event: Element, kind: str, lang: str | None, out: list[DraftCreator]) -> None:
    event_label = read_concept(path_first(event, "eventType")).label(lang) if kind == "creation" else None
    for event_actor in event.iterchildren(LIDO + "eventActor"):
        air = path_first(event_actor, "actorInRole")
        actor = path_first(air, "actor")
        name = None
        if actor is not None:
            for name_set in actor.iterchildren(LIDO + "nameActorSet"):
                name = appellation(name_set, lang)
                if name:
                    break
        if not name:
            name = text_of(path_first(event_actor, "displayActorInRole"))
        if not name:
            continue
        creator: DraftCreator = {"name": name}
        role_el = path_first(air, "roleActor")
        if role_el is not None:
            role = read_concept(role_el)
            label = role.label(lang)
            if label:
                creator["role"] = label
            aat = role.first_aat()
            if aat:
                creator["role_aat"] = aat
        if "role" not in creator and event_label:
            creator["role"] = event_label
        if actor is not None:
            ids = [(i, lido_attr(i, "pref") or "") for i in actor.iterchildren(LIDO + "actorID") if text_of(i)]
            ids.sort(key=lambda pair: 0 if pair[1] in PREFERRED else 1)
            if ids:
                creator["source_id"] = text_of(ids[0][0])
            vital = path_first(actor, "vitalDatesActor")
            birth = text_of(path_first(vital, "earliestDate"))
            death = text_of(path_first(vital, "latestDate"))
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
        displays.extend(mt_set.iterchildren(LIDO + "displayMaterialsTech"))
        for term_el in path_children(mt_set, "materialsTech", "termMaterialsTech"):
            concept = read_concept(term_el)
            label = concept.label(lang)
            if not label:
                continue
            kind = (lido_attr(term_el, "type") or "").lower()
            if any(kind.endswith(t) or t in kind for t in _TECHNIQUE_TYPES):
                if label not in techniques:
                    techniques.append(label)
            elif label not in materials:
                materials.append(label)
                materials_aat.append(concept.first_aat() or "")
    if not materials and not techniques:
        # INP-style exports: no terms, but display strings labelled "material"/"technique".
        for display in displays:
            text = text_of(display)
            label = (lido_attr(display, "label") or "").lower()
            if not text or label not in ("material", "technique"):
                continue
            target = materials if label == "material" else techniques
            for part in text.split(";"):
                part = part.strip()
                if part and part not in target:
                    target.append(part)
    texts = [t for d in displays if (t := text_of(d))]
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
    for om_set in path_children(ident, "objectMeasurementsWrap", "objectMeasurementsSet"):
        for display in om_set.iterchildren(LIDO + "displayObjectMeasurements"):
            text = text_of(display)
            if text and text not in displays:
                displays.append(text)
        for om in om_set.iterchildren(LIDO + "objectMeasurements"):
            extent = read_concept(path_first(om, "extentMeasurements"))
            extent_label = extent.label(lang)
            for ms in om.iterchildren(LIDO + "measurementsSet"):
                mtype = read_concept(path_first(ms, "measurementType"))
                unit = read_concept(path_first(ms, "measurementUnit"))
                value = text_of(path_first(ms, "measurementValue"))
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
    for ins in path_children(ident, "inscriptionsWrap", "inscriptions"):
        transcription = "; ".join(
            t for el in ins.iterchildren(LIDO + "inscriptionTranscription") if (t := running_text(el))
        )
        description = "; ".join(
            t for el in path_children(ins, "inscriptionDescription", "descriptiveNoteValue") if (t := running_text(el))
        )
        if transcription and description:
            parts.append(f"{transcription} ({description})")
        elif transcription or description:
            parts.append(transcription or description)
    return "; ".join(parts) or None


def _description(ident: Element | None, lang: str | None) -> str | None:
    notes = list(path_children(ident, "objectDescriptionWrap", "objectDescriptionSet", "descriptiveNoteValue"))
    in_lang = [n for n in notes if lang_of(n) in (lang, None)] if lang else notes
    texts: list[str] = []
    for note in in_lang or notes:
        text = running_text(note)
        if text and text not in texts:
            texts.append(text)
    return "\n\n".join(texts) or None


def _event_text(event: Element, lang: str | None) -> str | None:
    """A sentence for an acquisition/provenance event: its description, else its display text or name,
    else one composed from its type, actors, place and date ("provenance: Florence, Palazzo Medici, 1498")."""
    notes = [t for el in path_children(event, "eventDescriptionSet", "descriptiveNoteValue") if (t := running_text(el))]
    if notes:
        return "\n".join(notes)
    event_set = event.getparent()
    display = text_of(path_first(event_set, "displayEvent")) if event_set is not None else None
    if display:
        return display
    name = appellation(path_first(event, "eventName"), lang)
    if name:
        return name
    actors = [
        n
        for ea in event.iterchildren(LIDO + "eventActor")
        if (n := appellation(path_first(ea, "actorInRole", "actor", "nameActorSet"), lang))
        or (n := text_of(path_first(ea, "displayActorInRole")))
    ]
    place_el = path_first(event, "eventPlace")
    place = text_of(path_first(place_el, "displayPlace")) or appellation(
        path_first(place_el, "place", "namePlaceSet"), lang
    )
    date = text_of(path_first(event, "eventDate", "displayDate"))
    if not date:
        earliest = text_of(path_first(event, "eventDate", "date", "earliestDate"))
        latest = text_of(path_first(event, "eventDate", "date", "latestDate"))
        date = earliest if earliest == latest or not latest else f"{earliest or ''}–{latest}"
    parts = [p for p in (*actors, place, date) if p]
    if not parts:
        return None
    label = read_concept(path_first(event, "eventType")).label(lang)
    return f"{label}: {', '.join(parts)}" if label else ", ".join(parts)


def _event_year(event: Element) -> str | None:
    return text_of(path_first(event, "eventDate", "date", "earliestDate")) or text_of(
        path_first(event, "eventDate", "displayDate")
    )


def _rights_uri(rights: Element) -> str | None:
    for rights_type in rights.iterchildren(LIDO + "rightsType"):
        concept = read_concept(rights_type)
        for value in [*concept.ids, *(t for t, _ in concept.terms)]:
            if is_http(value):
                return value
    return None


def _rights_label(rights: Element) -> str | None:
    for rights_type in rights.iterchildren(LIDO + "rightsType"):
        concept = read_concept(rights_type)
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
    rank = 0 if pref in PREFERRED else 4
    if rank and any(kind.endswith(k) for k in _MASTER):
        rank = 1
    elif rank and any(kind.endswith(k) for k in _PREVIEW):
        rank = 2
    elif rank and any(kind.endswith(k) for k in _THUMB):
        rank = 3
    if fmt in ("image/tiff", "tif", "tiff"):
        rank += 10  # browsers cannot show TIFF masters; prefer any JPEG/PNG rendition
    if not is_http(url):
        rank += 20  # a bare file name ("_DSC3552.jpg") is no use to a catalogue
    return rank


def _resources(admin: Element | None, lang: str | None, draft: Draft) -> None:
    images: list[DraftImage] = []
    primary_index: int | None = None
    manifest: str | None = None
    for rs in path_children(admin, "resourceWrap", "resourceSet"):
        resource_type = read_concept(path_first(rs, "resourceType"))
        type_words = " ".join(t for t, _ in resource_type.terms).lower() + " " + " ".join(resource_type.ids).lower()
        candidates: list[tuple[int, int, str, bool]] = []
        for pos, rep in enumerate(rs.iterchildren(LIDO + "resourceRepresentation")):
            kind = (lido_attr(rep, "type") or "").lower()
            for link in rep.iterchildren(LIDO + "linkResource"):
                url = text_of(link)
                if not url:
                    continue
                fmt = (lido_attr(link, "formatResource") or "").strip().lower()
                if _is_manifest(url, fmt, kind + " " + type_words):
                    manifest = manifest or url
                    continue
                if fmt and not fmt.startswith("image/") and fmt not in _IMAGE_EXT:
                    continue
                pref = lido_attr(link, "pref") or lido_attr(rep, "pref") or ""
                candidates.append((_representation_rank(kind, fmt, pref, url), pos, url, pref in PREFERRED))
        for rid in rs.iterchildren(LIDO + "resourceID"):
            url = text_of(rid)
            if (
                url
                and is_http(url)
                and _is_manifest(url, "", (lido_attr(rid, "type") or "").lower() + " " + type_words)
            ):
                manifest = manifest or url
        if not candidates:
            continue
        candidates.sort()
        _, _, url, preferred = candidates[0]
        image: DraftImage = {"url": url, "is_primary": False}
        caption = next((t for el in rs.iterchildren(LIDO + "resourceDescription") if (t := text_of(el))), None)
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
    root = parse_xml_bytes(xml, file)
    lido = _find_lido(root)
    if lido is None:
        return {}
    if lido.tag == "lido":
        _qualify_stripped(lido)
    return _lido_to_draft(lido)


def _lido_to_draft(lido: Element) -> Draft:
    draft: Draft = {}
    for rec_id in lido.iterchildren(LIDO + "lidoRecID"):
        text = text_of(rec_id)
        if text:
            draft["record_id"] = text
            break

    version = _schema_version(lido)
    if version:
        draft["lido_schema_version"] = version

    desc = path_first(lido, "descriptiveMetadata")
    admin = path_first(lido, "administrativeMetadata")
    lang = desc.get(XML_LANG) if desc is not None else None
    if lang and lang.strip():
        lang = lang.strip()
        draft["language"] = lang
    else:
        lang = None

    classification = path_first(desc, "objectClassificationWrap")
    work_type = path_first(classification, "objectWorkTypeWrap", "objectWorkType")
    if work_type is not None:
        concept = read_concept(work_type)
        label = concept.label(lang)
        if label:
            draft["work_type"] = label
        aat = concept.first_aat()
        if aat:
            draft["work_type_aat"] = aat
    for cls in path_children(classification, "classificationWrap", "classification"):
        if (lido_attr(cls, "type") or "").lower().startswith("europeana:"):
            continue  # Europeana's IMAGE/TEXT media type, not a classification of the object
        label = read_concept(cls).label(lang)
        if label:
            draft["classification"] = label
            break

    ident = path_first(desc, "objectIdentificationWrap")
    titles = _titles(ident)
    if titles:
        draft["titles"] = titles

    repo_set = _current_repository(ident)
    work_id = next((t for w in path_children(repo_set, "workID") if (t := text_of(w))), None)
    if work_id is None:
        work_id = next((t for p in lido.iterchildren(LIDO + "objectPublishedID") if (t := text_of(p))), None)
    if work_id is not None:
        draft["object_number"] = work_id
    repository = appellation(path_first(repo_set, "repositoryName", "legalBodyName"), lang) or text_of(
        path_first(repo_set, "displayRepository")
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
    for event in path_children(desc, "eventWrap", "eventSet", "event"):
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
        event_date = path_first(main_event, "eventDate")
        display = text_of(path_first(event_date, "displayDate"))
        if display:
            draft["date_display"] = display
        earliest = text_of(path_first(event_date, "date", "earliestDate"))
        latest = text_of(path_first(event_date, "date", "latestDate"))
        if earliest:
            draft["date_earliest"] = earliest
        if latest:
            draft["date_latest"] = latest
    mt_sets = list(main_event.iterchildren(LIDO + "eventMaterialsTech")) if main_event is not None else []
    if not mt_sets:
        mt_sets = list(path_children(ident, "objectMaterialsTechWrap", "objectMaterialsTechSet"))
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
    record_wrap = path_first(admin, "recordWrap")
    institution = appellation(path_first(record_wrap, "recordSource", "legalBodyName"), lang)
    if institution or repository:
        draft["institution"] = institution or repository
    links = [
        (link, t) for link in path_children(record_wrap, "recordInfoSet", "recordInfoLink") if (t := text_of(link))
    ]
    if links:
        html = [t for link, t in links if (lido_attr(link, "formatResource") or "").lower() == "text/html"]
        draft["source_url"] = html[0] if html else links[0][1]

    record_rights = list(path_children(record_wrap, "recordRights"))
    resource_rights = list(path_children(admin, "resourceWrap", "resourceSet", "rightsResource"))
    work_rights = list(path_children(admin, "rightsWorkWrap", "rightsWorkSet"))
    rights = None
    for level in (record_rights, resource_rights, work_rights):
        rights = next((v for r in level if (v := _rights_uri(r))), None) or next(
            (v for r in level if (v := _rights_label(r))), None
        )
        if rights:
            break
    if rights:
        draft["rights"] = rights
    # Only the work's creditLine credits the object; a resource's (image's) credit line names the
    # photographer and the image licence, and the record's the metadata: neither is the object's.
    credit = next((t for r in work_rights for c in r.iterchildren(LIDO + "creditLine") if (t := text_of(c))), None)
    if credit:
        draft["credit_line"] = credit
    _resources(admin, lang, draft)
    return draft
