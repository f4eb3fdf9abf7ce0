"""Tolerant reading of LIDO trees: text, languages, concepts, names and source lines, never raising.

Real exports write attributes qualified or not, mix ``lido:term`` with ``skos:Concept``, indent running
text and leave elements empty: these helpers answer ``None`` (or nothing) for anything missing, so the
mapping in ``read.py`` reads as a list of rules, not of checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from lxml import etree

from museum_sync.core.lido.namespaces import LIDO, RDF_ABOUT, SKOS_ALT_LABEL, SKOS_CONCEPT, SKOS_PREF_LABEL, XML_LANG

__all__ = [
    "ALTERNATE",
    "PREFERRED",
    "Concept",
    "Element",
    "aat_uri",
    "appellation",
    "collapse_space",
    "is_http",
    "lang_of",
    "lido_attr",
    "local_name",
    "norm_term",
    "norm_uri",
    "path_children",
    "path_first",
    "read_concept",
    "running_text",
    "start_line",
    "text_of",
]

Element = etree._Element


def lido_attr(el: Element, name: str) -> str | None:
    """A LIDO attribute, qualified (as the schema says) or not (as some exports write it)."""
    value = el.get(LIDO + name)
    if value is None:
        value = el.get(name)
    return value


def collapse_space(text: str | None) -> str | None:
    """Runs of whitespace as one space, trimmed; ``None`` for nothing left."""
    if text is None:
        return None
    out = " ".join(text.split())
    return out or None


def text_of(el: Element | None) -> str | None:
    """The element's text with whitespace collapsed; ``None`` when empty."""
    if el is None:
        return None
    if len(el) == 0:
        return collapse_space(el.text)
    return collapse_space("".join(cast("Iterator[str]", el.itertext())))


_BLANK_LINES = re.compile(r"\n{3,}")


def running_text(el: Element | None) -> str | None:
    """Running text (descriptions, inscriptions): keep line breaks, drop indentation."""
    if el is None:
        return None
    raw = el.text if len(el) == 0 else "".join(cast("Iterator[str]", el.itertext()))
    if not raw:
        return None
    lines = [" ".join(line.split()) for line in raw.splitlines()]
    out = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    return out or None


def lang_of(el: Element) -> str | None:
    """xml:lang as XML defines it: inherited from the nearest ancestor that sets it."""
    node: Element | None = el
    while node is not None:
        value = node.get(XML_LANG)
        if value is not None:
            return value.strip() or None
        node = node.getparent()
    return None


def is_http(value: str | None) -> bool:
    """True for an http(s) URL (any case), as opposed to a bare term or file name."""
    return value is not None and value[:8].lower().startswith(("http://", "https://"))


_AAT_RE = re.compile(
    r"^(?:https?://vocab\.getty\.edu/(?:page/)?aat/|aat:)(\d+)(?:\.(?:json|html|rdf))?/?$", re.IGNORECASE
)


def aat_uri(value: str | None, source: str | None = None) -> str | None:
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


def norm_uri(value: str) -> str:
    """A URI for comparison only: lower case, http for https, no trailing slash."""
    v = value.strip().lower()
    if v.startswith("https://"):
        v = "http://" + v[8:]
    return v.rstrip("/")


@dataclass(slots=True)
class Concept:
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
            uri = aat_uri(cid)
            if uri:
                return uri
        return None

    def norm_ids(self) -> set[str]:
        return {norm_uri(i) for i in self.ids}

    def norm_terms(self) -> set[str]:
        return {norm_term(t) for t, _ in self.terms}


_PAREN = re.compile(r"\s*\([^)]*\)\s*$")


def norm_term(text: str) -> str:
    """A term for comparison only: lower case, a trailing "(qualifier)" dropped."""
    return _PAREN.sub("", text).strip().lower()


def read_concept(el: Element | None) -> Concept:
    """Everything a concept element (``objectWorkType``, ``eventType``...) says; empty for ``None``."""
    ids: list[str] = []
    terms: list[tuple[str, str | None]] = []
    added: list[tuple[str, str | None]] = []
    alt: list[str] = []
    if el is None:
        return Concept(ids, terms, alt, None)
    skos_terms: list[tuple[str, str | None]] = []
    for child in el:
        tag = child.tag
        if tag == LIDO + "conceptID":
            value = text_of(child)
            if value:
                source = lido_attr(child, "source")
                aat = aat_uri(value, source)
                ids.append(aat or value)
        elif tag == LIDO + "term":
            value = text_of(child)
            if value:
                entry = (value, child.get(XML_LANG))
                (added if lido_attr(child, "addedSearchTerm") == "yes" else terms).append(entry)
        elif tag == SKOS_CONCEPT:
            about = child.get(RDF_ABOUT)
            if about:
                ids.append(about.strip())
            for sub in child:
                if sub.tag == SKOS_PREF_LABEL:
                    value = text_of(sub)
                    if value:
                        skos_terms.append((value, sub.get(XML_LANG)))
                elif sub.tag == SKOS_ALT_LABEL:
                    value = text_of(sub)
                    if value:
                        alt.append(value)
    direct = collapse_space(el.text) if el.text else None
    return Concept(ids, terms + added + skos_terms, alt, direct)


# ``pref`` values that mark an alternate / the preferred appellation (plain words or LIDO terminology).
ALTERNATE = frozenset({"alternate", "alternative", "alt", "http://terminology.lido-schema.org/lido00170"})
PREFERRED = frozenset({"preferred", "pref", "http://terminology.lido-schema.org/lido00169"})


def appellation(el: Element | None, lang: str | None) -> str | None:
    """The preferred appellationValue of a name set, in the record language when there is a choice."""
    if el is None:
        return None
    values = [v for v in el.iterchildren(LIDO + "appellationValue") if text_of(v)]
    if not values:
        return None
    preferred = [v for v in values if (lido_attr(v, "pref") or "preferred") in PREFERRED]
    pool = preferred or values
    if lang:
        for v in pool:
            if v.get(XML_LANG) == lang:
                return text_of(v)
    return text_of(pool[0])


def path_children(el: Element | None, *names: str) -> Iterator[Element]:
    """Descend through a chain of child names (``path_children(dm, "eventWrap", "eventSet")``)."""
    if el is None:
        return
    current = [el]
    for name in names:
        current = [c for parent in current for c in parent.iterchildren(LIDO + name)]
    yield from current


def path_first(el: Element | None, *names: str) -> Element | None:
    """The first element ``path_children`` finds, or ``None``."""
    return next(path_children(el, *names), None)


_BIG_LINE = 65535  # libxml2 keeps an element's line in 16 bits; this value means "look elsewhere"


def start_line(el: Element) -> int:
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


def local_name(el: Element) -> str:
    """The tag without its namespace (``lido`` for ``{http://www.lido-schema.org}lido``)."""
    tag = el.tag
    if not isinstance(tag, str):
        return "?"
    return tag.rsplit("}", 1)[-1]
