"""The one safe way museum-sync parses XML: no DTD, no network, no entity substitution, entities refused.

Every byte of XML goes through ``parse_xml_bytes`` (a whole document), ``iterparse_safely`` (streaming)
or a ``safe_parser()``: no DTD loading, no network, no entity substitution, no huge-tree mode. Documents
that *declare* entities are refused outright (``SourceFormatError``) rather than parsed with the entity
left unexpanded, so an entity-expansion ("billion laughs") or external-entity (``file:///etc/passwd``)
payload can neither blow up memory nor leak a file into a record.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any

from lxml import etree

from museum_sync.core.exceptions import EmptySource, SourceDecodeError, SourceError, SourceFormatError
from museum_sync.core.lido.tree import Element, start_line

__all__ = ["iterparse_safely", "parse_xml_bytes", "refuse_unexpanded_entities", "safe_parser"]

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
    if "amplification" in message.lower():  # lxml >= 6.2 (libxml2's own limit) refuses entity bombs while parsing
        return SourceFormatError(f"{_ENTITY_MESSAGE}: {message}", file=file, line=line)
    if "encoding" in message.lower() or "utf-8" in message.lower():
        return SourceDecodeError(f"not valid XML text: {message}", file=file, line=line)
    return SourceFormatError(f"XML does not parse: {message}", file=file, line=line)


def parse_xml_bytes(xml: bytes, file: str) -> Element:
    """The root of a whole XML document, parsed safely; entity declarations and references are refused.

    Broken XML raises ``SourceFormatError`` (``SourceDecodeError`` for bad encoding, ``EmptySource`` for
    no content), naming ``file`` and the line.
    """
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


_iterparse: Callable[..., Iterator[tuple[str, Element]]] = etree.iterparse  # not in lxml-stubs 0.5


def iterparse_safely(
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
                raise SourceFormatError(_ENTITY_MESSAGE, file=name, line=start_line(elem))
        yield event, elem


def refuse_unexpanded_entities(data: bytes, name: str, line: int | None) -> bytes:
    """``data`` (a serialised record) itself, unless it holds an entity reference other than XML's own five."""
    if _ENTITY_REF.search(data):
        raise SourceFormatError(f"unexpanded entity reference: {_ENTITY_MESSAGE}", file=name, line=line)
    return data
