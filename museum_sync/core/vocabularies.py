"""Controlled vocabularies: rights statements, languages and a Getty AAT subset.

The vocabularies are JSON data files shipped in ``museum_sync/core/vocab/`` (each with its version, source,
licence and notes), read once per process and turned into plain dict indexes, because these functions run
for every record (tens of thousands per second per worker). Results are memoised per distinct input.

Misses are reported with one exception type, ``TermError`` (a ``ValueError``), whose ``code`` is the
validation reason code (``malformed_rights``, ``unknown_rights``, ``invalid_language``) and whose
``value`` is the offending input, so ``validation`` can turn it into a ``Problem`` without parsing the
message. ``lookup_aat`` and ``normalise_aat_uri`` never raise: an unknown term simply has no AAT concept.
A missing or broken data file is not a record problem and raises ``VocabularyError`` instead.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final, Literal, get_args

from museum_sync.core.exceptions import VocabularyError

__all__ = [
    "AAT_PREFIX",
    "VOCABULARIES",
    "AatKind",
    "TermError",
    "TermErrorCode",
    "coerce_language",
    "coerce_rights",
    "fold",
    "load_vocabulary",
    "lookup_aat",
    "normalise_aat_uri",
    "vocabulary_versions",
]

AatKind = Literal["work_type", "role", "material", "technique"]
TermErrorCode = Literal["malformed_rights", "unknown_rights", "invalid_language"]

AAT_PREFIX: Final = "http://vocab.getty.edu/aat/"
VOCABULARIES: Final = ("rights", "languages", "aat", "date_phrases", "event_types")
_AAT_KINDS: Final = frozenset(get_args(AatKind))
_CACHE_SIZE: Final = 8192


class TermError(ValueError):
    """A value that the controlled vocabulary cannot accept; ``code`` says why, ``value`` what."""

    def __init__(self, code: TermErrorCode, value: str, message: str) -> None:
        super().__init__(message)
        self.code: TermErrorCode = code
        self.value = value


# --------------------------------------------------------------------------------------------- loading


@functools.cache
def load_vocabulary(name: str) -> Mapping[str, Any]:
    """The parsed JSON of ``vocab/<name>.json``, read once per process.

    Raises ``VocabularyError`` naming the file when it is missing, not JSON, or lacks the header every
    vocabulary file carries (``vocabulary``, ``version``, ``source``).
    """
    if name not in VOCABULARIES:
        raise VocabularyError(f"unknown vocabulary {name!r}; known: {', '.join(VOCABULARIES)}")
    path = f"museum_sync/core/vocab/{name}.json"
    try:
        text = resources.files("museum_sync").joinpath("core", "vocab", f"{name}.json").read_text("utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise VocabularyError(f"{path}: cannot read vocabulary file: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VocabularyError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise VocabularyError(f"{path}: top level must be an object")
    for key in ("vocabulary", "version", "source"):
        if key not in data:
            raise VocabularyError(f"{path}: missing header field {key!r}")
    if data["vocabulary"] != name:
        raise VocabularyError(f"{path}: declares vocabulary {data['vocabulary']!r}, expected {name!r}")
    return data


def vocabulary_versions() -> dict[str, str]:
    """``{name: version}`` of every vocabulary, so a worker can report exactly what it runs with."""
    return {name: str(load_vocabulary(name)["version"]) for name in VOCABULARIES}


def _terms(name: str) -> list[dict[str, Any]]:
    terms = load_vocabulary(name).get("terms")
    if not isinstance(terms, list) or not all(isinstance(t, dict) for t in terms):
        raise VocabularyError(f"museum_sync/core/vocab/{name}.json: 'terms' must be a list of objects")
    return terms


_NON_WORD = re.compile(r"[^\w]+")
_UNDERSCORE = re.compile(r"_+")


def fold(text: str) -> str:
    """Lower case without accents ("Künstler" -> "kunstler"), for comparing labels across spellings."""
    text = text.casefold()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _key(text: str) -> str:
    """Comparison key: folded, punctuation and underscores to single spaces."""
    return _UNDERSCORE.sub(" ", _NON_WORD.sub(" ", fold(text))).strip()


# ---------------------------------------------------------------------------------------------- rights


@dataclass(frozen=True, slots=True)
class _RightsIndex:
    by_alias: dict[str, str]  # _key(alias or label or id) -> canonical URI
    rs_ids: dict[str, str]  # casefolded statement id -> canonical URI (rightsstatements.org)
    cc_licences: dict[tuple[str, str], str]  # (code, version) -> canonical URI
    cc_tools: dict[tuple[str, str], str]  # ("zero" | "mark", version) -> canonical URI


@functools.cache
def _rights_index() -> _RightsIndex:
    by_alias: dict[str, str] = {}
    rs_ids: dict[str, str] = {}
    cc_licences: dict[tuple[str, str], str] = {}
    cc_tools: dict[tuple[str, str], str] = {}
    for term in _terms("rights"):
        uri = str(term["uri"])
        m = _RS_PATH.match(uri.removeprefix("http://rightsstatements.org"))
        if uri.startswith("http://rightsstatements.org/") and m:
            rs_ids[m["id"].casefold()] = uri
        elif (m := _CC_LICENCE_PATH.match(uri.removeprefix("http://creativecommons.org"))) is not None:
            cc_licences[(m["code"], m["version"])] = uri
        elif (m := _CC_TOOL_PATH.match(uri.removeprefix("http://creativecommons.org"))) is not None:
            cc_tools[(m["tool"], m["version"])] = uri
        else:
            raise VocabularyError(f"museum_sync/core/vocab/rights.json: term {term.get('id')!r} has URI {uri!r}")
        for alias in [term["id"], term["label"], *term.get("aliases", [])]:
            by_alias.setdefault(_key(str(alias)), uri)
    return _RightsIndex(by_alias, rs_ids, cc_licences, cc_tools)


# Creative Commons codes and versions that exist (https://creativecommons.org/licenses/list.en), so that
# a real licence outside the vocabulary (a 3.0 port, a 1.0) is "unknown", while by/9.0 is "malformed".
_CC_CODES: Final = frozenset(
    {
        "by",
        "by-sa",
        "by-nd",
        "by-nc",
        "by-nc-sa",
        "by-nc-nd",
        "by-nd-nc",
        "nc",
        "nd",
        "sa",
        "nc-sa",
        "nd-nc",
        "sampling",
        "sampling+",
        "nc-sampling+",
        "devnations",
        "publicdomain",
    }
)
_CC_VERSIONS: Final = frozenset({"1.0", "2.0", "2.1", "2.5", "3.0", "4.0"})

_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):", re.IGNORECASE)
_URLISH = re.compile(r"://|^www\.|^(?:creativecommons|rightsstatements)\.org\b|^https?[:/]", re.IGNORECASE)
_HAS_URL_INSIDE = re.compile(r"https?:|://|\bwww\.|\b(?:creativecommons|rightsstatements)\.org\b", re.IGNORECASE)
_HOST = re.compile(r"^(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}(?::\d{1,5})?$", re.IGNORECASE)
_RS_PATH = re.compile(r"^/(?:vocab|page|data)/(?P<id>[A-Za-z\-]+)/(?P<version>[^/]+)/?$")
_CC_LICENCE_PATH = re.compile(r"^/licenses/(?P<code>[a-z\-+]+)/(?P<version>\d+\.\d+)/(?:(?P<port>[a-z\-]{2,6})/)?$")
_CC_TOOL_PATH = re.compile(r"^/publicdomain/(?P<tool>zero|mark)/(?P<version>\d+\.\d+)/$")
_CC_DEED = re.compile(
    r"(?:/(?:deed|legalcode)(?:\.[a-z]{2,3}(?:[_\-][a-z]{2,4})?)?(?:\.txt|\.html?)?|/rdf|/index\.html?)/*$",
    re.IGNORECASE,
)
_TRAILING_PAREN = re.compile(r"\(([^()]*)\)\s*$")


def coerce_rights(value: str) -> str:
    """The canonical URI of a rights statement or licence, e.g. ``http://creativecommons.org/licenses/by/4.0/``.

    Accepted: rightsstatements.org and Creative Commons URIs in any of their published forms (https or
    http, with or without ``www.``, trailing slash, ``/deed.xx``, ``/legalcode``, rightsstatements.org
    ``/page/`` pages, any letter case, surrounding whitespace), the statement ids (``InC``, ``NoC-US``),
    labels (``In Copyright``, ``Attribution 4.0 International``) and common spellings (``CC BY 4.0``,
    ``CC-BY-SA-4.0``, ``cc by-nc 4.0``, ``CC0``, ``Public Domain``), also as a trailing parenthetical
    (``Namensnennung 4.0 (CC BY 4.0)``).

    Raises ``TermError`` with ``code``:

    - ``"malformed_rights"``: not usable as a rights value at all: empty or whitespace; a URL that is
      syntactically broken (``htp://...``, ``http//...``, a space inside, no host); a non-http(s) scheme;
      a creativecommons.org or rightsstatements.org URL whose path is not a licence or statement that
      exists (``/licenses/by/9.0/``, ``/vocab/InC/2.0/``, the site's home page); free text with a URL in it
      (put the URL alone in the field); ``CC BY 9.0``-style text naming a version that never existed.
    - ``"unknown_rights"``: well-formed but not in the vocabulary: a URL of another site
      (``http://example.org/my-licence``, Europeana's retired ``/rights/rr-f/``), a real Creative Commons
      licence that the vocabulary does not carry (a jurisdiction port such as ``/by/3.0/de/``, version
      1.0), or free text (``All rights reserved``, ``©2014 Tate``, ``CC BY`` without a version).
    """
    return _coerce_rights(value)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _coerce_rights(value: str) -> str:
    text = value.strip()
    if not text:
        raise TermError("malformed_rights", value, "empty rights value")
    if _HAS_URL_INSIDE.search(text) and any(c.isspace() for c in text):
        raise TermError(
            "malformed_rights", value, "free text containing a URL; the rights field must hold the URI alone"
        )
    if _URLISH.search(text):
        return _rights_url(value, text)
    if (uri := _rights_alias(text)) is not None:
        return uri
    if (m := _TRAILING_PAREN.search(text)) and (uri := _rights_alias(m[1])) is not None:
        return uri
    if _HAS_URL_INSIDE.search(text):
        raise TermError("malformed_rights", value, "text with a URL fragment is not a rights URI")
    if (m := _CC_TEXT.match(_key(text))) is not None:
        version = m["version"].replace(" ", ".")
        if version not in _CC_VERSIONS and f"{version}.0" not in _CC_VERSIONS:
            raise TermError("malformed_rights", value, f"Creative Commons licences have no version {version}")
    raise TermError(
        "unknown_rights",
        value,
        "not a rightsstatements.org statement or Creative Commons licence in the vocabulary",
    )


_CC_TEXT = re.compile(r"^cc (?:by|by sa|by nd|by nc|by nc sa|by nc nd|0|zero) (?P<version>\d+(?: \d+)?)$")
_CC_SHORT_VERSION = re.compile(r"^(cc .*\d)$")
_SCHEMELESS_SLASHES = re.compile(r"^https?//", re.IGNORECASE)


def _rights_alias(text: str) -> str | None:
    """Alias lookup; "CC BY 4" is read as "CC BY 4.0" (the keys turn "4.0" into "4 0")."""
    key = _key(text)
    aliases = _rights_index().by_alias
    uri = aliases.get(key)
    if uri is None and _CC_SHORT_VERSION.match(key) and not key.endswith(" 0"):
        uri = aliases.get(key + " 0")
    return uri


def _rights_url(value: str, text: str) -> str:
    if any(c.isspace() for c in text):
        raise TermError("malformed_rights", value, "a rights URI cannot contain whitespace")
    scheme_match = _SCHEME.match(text)
    if scheme_match is None:
        if _SCHEMELESS_SLASHES.match(text):
            raise TermError("malformed_rights", value, "broken URL: missing ':' after the scheme")
        rest = text  # "www.example.org/..." or "creativecommons.org/..." without a scheme
    else:
        scheme = scheme_match[1].lower()
        if scheme not in ("http", "https"):
            raise TermError("malformed_rights", value, f"rights URIs are http(s) URLs, not {scheme}:")
        rest = text[scheme_match.end() :]
        if not rest.startswith("//"):
            raise TermError("malformed_rights", value, "broken URL: expected '//' after the scheme")
        rest = rest[2:]
    host, slash, path = rest.partition("/")
    path = slash + path
    for sep in ("?", "#"):
        path = path.split(sep, 1)[0]
        host = host.split(sep, 1)[0]
    host = host.lower().removeprefix("www.")
    if not _HOST.match(host):
        raise TermError("malformed_rights", value, f"broken URL: {host!r} is not a host name")
    if host == "rightsstatements.org":
        m = _RS_PATH.match(path if path.endswith("/") else path + "/")
        uri = _rights_index().rs_ids.get(m["id"].casefold()) if m else None
        if m is None or uri is None or m["version"] != "1.0":
            raise TermError("malformed_rights", value, "not a rightsstatements.org statement URI (/vocab/<ID>/1.0/)")
        return uri
    if host == "creativecommons.org":
        return _cc_url(value, path)
    raise TermError("unknown_rights", value, f"{host} is not a rights vocabulary this catalogue accepts")


def _cc_url(value: str, path: str) -> str:
    index = _rights_index()
    path = _CC_DEED.sub("", path.lower())
    path = path.rstrip("/") + "/"
    if (m := _CC_LICENCE_PATH.match(path)) is not None:
        code, version, port = m["code"], m["version"], m["port"]
        if port is None and (uri := index.cc_licences.get((code, version))) is not None:
            return uri
        if code in _CC_CODES and version in _CC_VERSIONS:
            what = f"the {port!r} port of " if port else ""
            raise TermError(
                "unknown_rights",
                value,
                f"{what}Creative Commons {code} {version} exists but is not in the vocabulary "
                "(international/unported/generic 2.0-4.0 licences, CC0 and PDM are)",
            )
        raise TermError("malformed_rights", value, f"no Creative Commons licence {code}/{version}")
    if (m := _CC_TOOL_PATH.match(path)) is not None:
        if (uri := index.cc_tools.get((m["tool"], m["version"]))) is not None:
            return uri
        raise TermError("malformed_rights", value, f"no Creative Commons public-domain tool {m['tool']}/{m['version']}")
    if path.startswith("/licenses/publicdomain/"):
        raise TermError("unknown_rights", value, "the retired Creative Commons public-domain certification")
    raise TermError("malformed_rights", value, "a creativecommons.org URL that is not a licence or public-domain tool")


# ------------------------------------------------------------------------------------------- languages


@dataclass(frozen=True, slots=True)
class _LanguageIndex:
    by_code: dict[str, str]  # any 639-1/2B/2T/3 code -> preferred code
    by_name: dict[str, str]  # _key(name) -> preferred code


@functools.cache
def _language_index() -> _LanguageIndex:
    by_code: dict[str, str] = {}
    by_name: dict[str, str] = {}
    terms = _terms("languages")
    # 639-1 languages first so that a name shared with a minor language ("Tonga") means the major one.
    for term in sorted(terms, key=lambda t: t.get("iso639_1") is None):
        preferred = term.get("iso639_1") or term.get("iso639_2t") or term.get("iso639_3")
        if not preferred:
            raise VocabularyError(f"museum_sync/core/vocab/languages.json: term without a code: {term}")
        for field in ("iso639_1", "iso639_2b", "iso639_2t", "iso639_3"):
            if code := term.get(field):
                by_code.setdefault(str(code), str(preferred))
        for alias in term.get("aliases", []):
            by_code.setdefault(str(alias), str(preferred))
        for name in term.get("names", []):
            by_name.setdefault(_key(str(name)), str(preferred))
    return _LanguageIndex(by_code, by_name)


_LANG_TAG = re.compile(r"^([A-Za-z]{2,3})((?:[-_][A-Za-z0-9]{1,8})*)$")


def coerce_language(value: str) -> str:
    """An ISO 639 code: 639-1 where the language has one (``en``), else 639-2/T = 639-3 (``grc``).

    Accepts codes in any case and any ISO 639 part (``en``, ``EN``, ``eng``; ``dut``/``nld`` -> ``nl``;
    ``ger``/``deu`` -> ``de``), English names and a few endonyms (``English``, ``Deutsch``, ``suomi``),
    and BCP 47 tags: subtags are kept and given their registry case (``en-gb`` -> ``en-GB``,
    ``eng_GB`` -> ``en-GB``, ``zh-hant-tw`` -> ``zh-Hant-TW``), because a region or script is
    information a title's language should not lose. Anything else raises ``TermError`` with
    ``code="invalid_language"``.
    """
    return _coerce_language(value)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _coerce_language(value: str) -> str:
    text = value.strip()
    index = _language_index()
    m = _LANG_TAG.match(text)
    if m is not None:
        primary = index.by_code.get(m[1].lower())
        if primary is not None:
            subtags = [s for s in re.split(r"[-_]", m[2]) if s]
            return "-".join([primary, *(_subtag_case(s) for s in subtags)])
    if (code := index.by_name.get(_key(text))) is not None:
        return code
    raise TermError("invalid_language", value, f"{text!r} is not an ISO 639 language code or name")


def _subtag_case(subtag: str) -> str:
    if len(subtag) == 2 and subtag.isalpha():
        return subtag.upper()  # region: GB
    if len(subtag) == 4 and subtag.isalpha():
        return subtag.title()  # script: Latn
    return subtag.lower()


# ----------------------------------------------------------------------------------------------- AAT


@functools.cache
def _aat_index() -> dict[str, dict[str, str]]:
    index: dict[str, dict[str, str]] = {kind: {} for kind in _AAT_KINDS}
    for term in _terms("aat"):
        kind = str(term.get("kind"))
        if kind not in _AAT_KINDS:
            raise VocabularyError(f"museum_sync/core/vocab/aat.json: unknown kind {kind!r} in {term}")
        aat = term.get("aat")
        if aat is None:
            continue  # documented synonyms without a checked AAT id: no concept rather than a guess
        if not re.fullmatch(r"300\d{6}", str(aat)):
            raise VocabularyError(f"museum_sync/core/vocab/aat.json: bad AAT id {aat!r}")
        uri = AAT_PREFIX + str(aat)
        for label in [term["label"], *term.get("synonyms", [])]:
            for key in _aat_keys(str(label)):
                index[kind].setdefault(key, uri)
    return index


_PAREN = re.compile(r"\s*\([^)]*\)")
_GENDER_SUFFIX = re.compile(r"(?:[*:_/](?:in|innen)|\((?:in|innen)\))$")


def _aat_keys(label: str) -> list[str]:
    base = _aat_key(label)
    keys = [base]
    if (bare := _aat_key(_PAREN.sub("", label))) and bare != base:
        keys.append(bare)
    return keys


def _aat_key(label: str) -> str:
    return _key(_GENDER_SUFFIX.sub("", label.strip()))


def lookup_aat(label: str, kind: AatKind) -> str | None:
    """The AAT concept URI for a label of the given kind, or None when the vocabulary has none.

    Case, accents, spacing, a trailing parenthetical qualifier ("Druckgrafik (Visuelles Werk)"), German
    gender suffixes ("Fotograf*in") and a simple English plural ("paintings", "watercolours") are ignored.
    """
    return _lookup_aat(label, kind)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _lookup_aat(label: str, kind: AatKind) -> str | None:
    index = _aat_index().get(kind)
    if index is None:
        return None
    for key in _aat_keys(label):
        if (uri := index.get(key)) is not None:
            return uri
        for singular in _singulars(key):
            if (uri := index.get(singular)) is not None:
                return uri
    return None


def _singulars(key: str) -> list[str]:
    if not key.endswith("s") or len(key) < 4:
        return []
    out = [key[:-1]]
    if key.endswith("ies"):
        out.append(key[:-3] + "y")
    elif key.endswith("es"):
        out.append(key[:-2])
    return out


_AAT_URI = re.compile(
    r"^(?:(?:https?://)?vocab\.getty\.edu/(?:page/|resource/)?aat/|aat:|aat/)?(?P<id>300\d{6})"
    r"(?:[/\-](?:agent)?)?(?:\.(?:json|jsonld|rdf|ttl|nt|html))?/?$",
    re.IGNORECASE,
)


def normalise_aat_uri(value: str) -> str | None:
    """``http://vocab.getty.edu/aat/<id>`` for any common spelling of an AAT reference, else None.

    Accepts ``aat:300033618``, ``300033618``, ``http(s)://vocab.getty.edu/aat/300033618``, the
    ``/page/aat/`` HTML address and ``.json``/``.jsonld`` forms. Only ids in the AAT range (300xxxxxx)
    are accepted, so a malformed reference yields None rather than a URI that resolves to nothing.
    """
    m = _AAT_URI.match(value.strip())
    return AAT_PREFIX + m["id"] if m else None
