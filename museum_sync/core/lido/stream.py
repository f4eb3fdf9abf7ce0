"""Streaming records out of XML files: ``lidoWrap`` files, single records and OAI-PMH envelopes.

Each record element becomes standalone one-line bytes with a ``Locator`` (file, start-tag line, XPath
pointer), so an XML export is chunked like any line-oriented snapshot. Memory stays flat: every record
is cleared once the consumer has it. Parsing goes through ``safe_xml.iterparse_safely``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from lxml import etree

from museum_sync.core.exceptions import EmptySource, SourceFormatError, SourceNotFound
from museum_sync.core.lido.namespaces import LIDO, LIDO_NS, OAI, OAI_DC_NS, OAI_DC_TAG, XSI_SCHEMA_LOCATION
from museum_sync.core.lido.safe_xml import iterparse_safely, refuse_unexpanded_entities
from museum_sync.core.lido.schemas import LINE_MARK, declared_elements
from museum_sync.core.lido.tree import Element, local_name, start_line, text_of
from museum_sync.core.locator import Locator

__all__ = ["OaiRecord", "iter_lido_elements", "iter_oai_records", "read_resumption_token"]


@dataclass(frozen=True, slots=True)
class OaiRecord:
    """One ``record`` of an OAI-PMH ListRecords/GetRecord response.

    ``metadata`` is the record's metadata element (``lido:lido``...) serialised on one line, or ``None``
    for deleted records; for ``oai_dc`` it is the whole ``record`` (header and metadata: Dublin Core has no
    record id of its own, so the header identifier is the id, as for deletions, and the datestamp and
    setSpecs travel with it). ``metadata_format`` is "lido", "oai_dc", or else the element's local name.
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


def _oai_dc_record_line(record: Element) -> bytes:
    """An OAI ``record`` holding ``oai_dc`` as one line: header and metadata (``about`` dropped).

    ``parse_oai_dc`` takes the record id from the header identifier, the key deletions use too.
    """
    for about in record.findall(OAI + "about"):
        record.remove(about)
    return _one_line(record)


def _holds_oai_dc(record: Element) -> bool:
    header = record.find(OAI + "header")
    if header is not None and header.get("status") == "deleted":
        return False
    metadata = record.find(OAI + "metadata")
    return metadata is not None and metadata.find(OAI_DC_TAG) is not None


def _pointer(elem: Element, record_index: int, last_step: str) -> str:
    steps: list[str] = []
    node = elem.getparent()
    while node is not None:
        step = local_name(node)
        if node.tag == OAI + "record":
            step += f"[{record_index}]"
        steps.append(step)
        node = node.getparent()
    return "/" + "/".join([*reversed(steps), last_step])


_HEAD = 64 * 1024
_WRAP_START = (
    b'<lido:lidoWrap xmlns:lido="http://www.lido-schema.org" xmlns:gml="http://www.opengis.net/gml"'
    b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
)
_WRAP_END = b"</lido:lidoWrap>"


class _DeclaredLido:
    """A file of bare ``lido:`` fragments whose prefix is never declared (MKG Hamburg's Coding da Vinci
    exports), read as if a ``lidoWrap`` declared it: the wrapper opens on line 1 and an XML declaration
    becomes spaces, so lines and columns stay the file's own."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.parts = [_WRAP_START]
        self.tail = [_WRAP_END]
        head = fh.read(_HEAD)
        stripped = head.lstrip()
        if stripped.startswith(b"<?xml"):
            end = head.find(b"?>") + 2
            head = b" " * end + head[end:]
        self.parts.append(head)

    def read(self, size: int = -1) -> bytes:
        if self.parts:
            return self.parts.pop(0)
        data = self.fh.read(size)
        if data:
            return data
        return self.tail.pop() if self.tail else b""


def _undeclared_lido_prefix(fh: IO[bytes]) -> bool:
    """Whether the file uses the ``lido:`` prefix without declaring it anywhere in its head."""
    head = fh.peek(_HEAD)[:_HEAD] if hasattr(fh, "peek") else b""
    return b"<lido:" in head and b"xmlns:lido" not in head


RecordFormat = Literal["lido", "oai_dc"]
_FORMAT_NAMES = {"lido": "LIDO", "oai_dc": "oai_dc (simple Dublin Core)"}


def _check_format(found: RecordFormat, expect: RecordFormat | None, name: str, line: int | None) -> None:
    if expect is not None and found != expect:
        raise SourceFormatError(
            f"this is {_FORMAT_NAMES[found]}, not {_FORMAT_NAMES[expect]}: use a profile with format = "
            f"{found!r} for this file",
            file=name,
            line=line,
        )


def _open(path: str | os.PathLike[str]) -> tuple[Path, IO[bytes]]:
    p = Path(path)
    try:
        fh = p.open("rb", buffering=_HEAD)
    except FileNotFoundError:
        raise SourceNotFound("file does not exist", file=str(p)) from None
    except IsADirectoryError:
        raise SourceNotFound("is a directory, not a file", file=str(p)) from None
    if os.fstat(fh.fileno()).st_size == 0:
        fh.close()
        raise EmptySource("file is empty (0 bytes)", file=p.name)
    return p, fh


def _drop_previous(elem: Element) -> None:
    """Free what has been processed: the element's content and its earlier siblings."""
    elem.clear()
    parent = elem.getparent()
    if parent is not None:
        while elem.getprevious() is not None:
            del parent[0]


def _mark_undeclared(lido: Element) -> None:
    """Put the source line before each LIDO element the XSD does not declare (``ObjectIdentificationWrap``).

    The record becomes one line, so its inner line numbers are lost; a misnamed element is what a steward
    must find in the museum's file, so its line travels as a comment (``<!-- museum-sync: line 27 -->``)
    that XML readers and the XSD ignore and ``schema_errors`` reads back. Well-named records are untouched.
    """
    known = declared_elements("lido-1.1")
    undeclared = [
        el
        for el in lido.iterdescendants()
        if isinstance(el.tag, str) and el.tag.startswith(LIDO) and "lido:" + el.tag[len(LIDO) :] not in known
    ]
    for el in undeclared:
        el.addprevious(etree.Comment(f" {LINE_MARK} {el.sourceline} "))


def _inherit_schema_location(lido: Element) -> None:
    """Copy the wrapper's LIDO ``xsi:schemaLocation`` onto a record that lacks one (self-describing lines)."""
    if lido.get(XSI_SCHEMA_LOCATION) is not None or lido.get("schemaLocation") is not None:
        return
    node = lido.getparent()
    while node is not None:
        location = node.get(XSI_SCHEMA_LOCATION)
        bare = node.get("schemaLocation")
        if location and "lido" in location.lower():
            lido.set(XSI_SCHEMA_LOCATION, location)
            return
        if bare and "lido" in bare.lower():
            lido.set("schemaLocation", bare)
            return
        node = node.getparent()


def iter_lido_elements(
    path: str | os.PathLike[str], *, expect: RecordFormat | None = None
) -> Iterator[tuple[Locator, bytes]]:
    """Stream every record element of a file as standalone one-line bytes, with its locator.

    Records are ``lido`` elements (a ``lidoWrap`` file, a single ``lido`` root, namespace-stripped LIDO,
    or LIDO inside OAI-PMH ``<metadata>``), the OAI ``record`` elements of an ``oai_dc`` response (header
    and metadata: the header identifier is the record's id) and bare ``oai_dc:dc`` elements: feed them to
    ``parse_lido`` / ``parse_oai_dc``. Deleted OAI records carry no metadata and are not yielded
    (``iter_oai_records`` reports them). Memory stays flat: each record is cleared once the consumer has
    it. The pointer is an XPath to the element, e.g. ``/lidoWrap/lido[3]``,
    ``/OAI-PMH/ListRecords/record[7]/metadata/lido[1]`` or, for oai_dc, ``/OAI-PMH/ListRecords/record[7]``.
    Raises ``SourceNotFound``, ``SourceFormatError`` (with line) for broken XML or entity declarations, and
    ``EmptySource`` when the file holds no record. ``expect`` ("lido" or "oai_dc", the profile's format):
    a record of the other format raises ``SourceFormatError`` once ("this is oai_dc, not LIDO"), rather
    than every record being rejected for what the wrong reader cannot find. Bare ``lido:`` fragments
    whose prefix is never declared are read as if a ``lidoWrap`` declared it (``/lidoWrap/lido[1]``).
    """
    p, fh = _open(path)
    name = p.name
    record_index = 0
    last_parent: Element | None = None
    sibling_index = 0
    found = 0
    with fh:
        stream: IO[bytes] = _DeclaredLido(fh) if _undeclared_lido_prefix(fh) else fh  # type: ignore[assignment]
        for event, elem in iterparse_safely(stream, name, (LIDO + "lido", "lido", OAI_DC_TAG, OAI + "record")):
            tag = elem.tag
            parent = elem.getparent()
            if tag == OAI + "record":
                if event == "start":
                    record_index += 1
                    continue
                if _holds_oai_dc(elem):
                    # Dublin Core inside OAI-PMH: the record with its header is the line (the id lives there).
                    line = start_line(elem)
                    _check_format("oai_dc", expect, name, line)
                    data = refuse_unexpanded_entities(_oai_dc_record_line(elem), name, line)
                    found += 1
                    pointer = _pointer(elem, record_index, f"record[{record_index}]")
                    yield Locator(file=name, line=line, pointer=pointer), data
                _drop_previous(elem)
                continue
            if event == "start":
                continue
            if tag == OAI_DC_TAG and parent is not None and parent.tag == OAI + "metadata":
                continue  # yielded with its record, above
            if parent is not None and parent is last_parent:
                sibling_index += 1
            else:
                last_parent, sibling_index = parent, 1
            pointer = _pointer(elem, record_index, f"{local_name(elem)}[{sibling_index}]")
            line = start_line(elem)
            _check_format("oai_dc" if tag == OAI_DC_TAG else "lido", expect, name, line)
            if tag != OAI_DC_TAG:
                _inherit_schema_location(elem)
                _mark_undeclared(elem)
            data = refuse_unexpanded_entities(_one_line(elem), name, line)
            found += 1
            yield Locator(file=name, line=line, pointer=pointer), data
            if parent is not None and parent.tag != OAI + "metadata":
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
        for _event, elem in iterparse_safely(fh, name, (OAI + "record",), events=("end",)):
            index += 1
            header = elem.find(OAI + "header")
            identifier = text_of(header.find(OAI + "identifier")) if header is not None else None
            datestamp = text_of(header.find(OAI + "datestamp")) if header is not None else None
            set_specs = tuple(
                t for s in (header.iterchildren(OAI + "setSpec") if header is not None else ()) if (t := text_of(s))
            )
            deleted = header is not None and header.get("status") == "deleted"
            metadata_el = elem.find(OAI + "metadata")
            payload = (
                next((c for c in metadata_el if isinstance(c.tag, str)), None) if metadata_el is not None else None
            )
            line = start_line(elem)
            data = None
            fmt = None
            if payload is not None and not deleted:
                fmt = _FORMATS.get(etree.QName(payload).namespace or "", local_name(payload))
                if fmt == "lido":
                    _inherit_schema_location(payload)
                    _mark_undeclared(payload)
                if fmt == "oai_dc":
                    data = refuse_unexpanded_entities(_oai_dc_record_line(elem), name, line)
                else:
                    data = refuse_unexpanded_entities(_one_line(payload), name, start_line(payload))
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
        for _event, elem in iterparse_safely(fh, name, (OAI + "resumptionToken", OAI + "record"), events=("end",)):
            if elem.tag == OAI + "resumptionToken":
                token = text_of(elem)
            else:
                _drop_previous(elem)
    return token
