"""oai_dc -> ``Draft``: a simple Dublin Core record (OAI-PMH's mandatory format) mapped into draft fields."""

from __future__ import annotations

from typing import Literal

from museum_sync.core.draft import Draft, DraftCreator, DraftTitle
from museum_sync.core.lido.namespaces import DC, OAI, OAI_DC_TAG, XML_LANG
from museum_sync.core.lido.safe_xml import parse_xml_bytes
from museum_sync.core.lido.tree import Element, is_http, running_text, text_of

__all__ = ["parse_oai_dc"]

_DcKey = Literal["date_display", "work_type", "medium_display", "language", "institution"]


def parse_oai_dc(xml: bytes, *, file: str = "<oai_dc>") -> Draft:
    """Map one ``oai_dc:dc`` record into a ``Draft`` (the first ``oai_dc:dc`` in ``xml``).

    An OAI-PMH ``record`` (what ``iter_lido_elements`` yields for oai_dc responses): the header
    identifier is ``record_id`` (the key deletions use; a ``dc:identifier`` is often an ISSN, an ISBN,
    ``-`` or a citation), the datestamp ``source_datestamp`` and the setSpecs ``source_sets``. A bare
    ``oai_dc:dc`` has no header: its first ``dc:identifier`` is the id.

    title -> titles (xml:lang kept), creator -> creators, date -> date_display, type -> work_type,
    format -> medium_display, rights -> rights (first URL, else first value), identifier ->
    dc_identifier (first) and source_url (first http(s) identifier or source), description ->
    description, language -> language, publisher -> institution.
    """
    root = parse_xml_bytes(xml, file)
    header = root.find(OAI + "header") if root.tag == OAI + "record" else None
    dc = root if root.tag == OAI_DC_TAG else next(root.iter(OAI_DC_TAG), None)
    if dc is None:
        dc = root
    values: dict[str, list[Element]] = {}
    for child in dc:
        tag = child.tag
        if isinstance(tag, str) and tag.startswith(DC):
            values.setdefault(tag[len(DC) :], []).append(child)

    def texts(name: str) -> list[str]:
        return [t for el in values.get(name, []) if (t := text_of(el))]

    draft: Draft = {}
    titles: list[DraftTitle] = []
    for el in values.get("title", []):
        text = text_of(el)
        if text:
            title: DraftTitle = {"text": text, "preferred": not titles}
            lang = el.get(XML_LANG)
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
        draft["rights"] = next((r for r in rights if is_http(r)), rights[0])
    identifiers = texts("identifier")
    if identifiers:
        draft["dc_identifier"] = identifiers[0]
    if header is not None:
        _header_fields(header, draft)
    elif identifiers:
        draft["record_id"] = identifiers[0]
    url = next((u for u in texts("source") + identifiers if is_http(u)), None)
    if url:
        draft["source_url"] = url
    descriptions = [t for el in values.get("description", []) if (t := running_text(el))]
    if descriptions:
        draft["description"] = "\n\n".join(descriptions)
    return draft


def _header_fields(header: Element, draft: Draft) -> None:
    """The OAI header: identifier (the record id), datestamp and setSpecs (kept as source metadata)."""
    identifier = text_of(header.find(OAI + "identifier"))
    if identifier:
        draft["record_id"] = identifier
    datestamp = text_of(header.find(OAI + "datestamp"))
    if datestamp:
        draft["source_datestamp"] = datestamp
    sets = [t for s in header.iterchildren(OAI + "setSpec") if (t := text_of(s))]
    if sets:
        draft["source_sets"] = sets
