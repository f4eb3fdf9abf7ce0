"""Reading museum date phrases ("c. 1850", "1826-7", "late 19th century", "um 1600", "n.d.") as dates.

``parse_date`` turns a display date into the earliest and latest calendar dates it can mean (for range
search) and an EDTF string (ISO 8601-2) that keeps the phrase's precision and qualifiers. The words it
knows (qualifiers, eras, month names, century parts, in English and the other languages of the museums
whose data we read) live in ``vocab/date_phrases.json``, so a new spelling is a data change.

Conventions (also in the data file's notes):

- circa widens a year by ``approximate_spread_years`` (5) each way: "c. 1850" = 1845-01-01..1855-12-31,
  EDTF ``1850~``; "?" or "probably" sets ``uncertain`` (``1850?``); both give ``1850%``.
- "before 1900"/"after 1750" keep the named year and leave the other end open (None; ``../1900``,
  ``1750/..``). "born 1930" reads as after, "died 1870" as before.
- "19th century" = 1800-1899 (``18XX``); "late 19th century" = 1865-1899; "1890s" = ``189X``;
  "1800s" is the century.
- A list gives its first date, with a ``note``: "1826-7, reprinted 1892" -> 1826/1827. Items that are
  alternative datings of the same object ("c.1803, c.1805-10") widen that span to cover them all, marked
  uncertain, until an item names another event ("reprinted", "published", "born"). Prose containing a
  year ("Pusă în funcțiune în 1943") gives that year, with a ``note``.
- EDTF marks follow ISO 8601-2:2019: ``~`` approximate, ``?`` uncertain, ``%`` both ("?c.1785" ->
  ``1785%``; the 2012 draft's ``1785?~`` is no longer valid EDTF).
- BCE: ``datetime.date`` has no year 0 or before, so for a BCE end ``earliest``/``latest`` is None and
  only the EDTF carries it, in astronomical numbering: "500 BC" = ``-0499``.

Bad data never raises anything but ``DateError`` (a ``ValueError`` with ``code = "invalid_date"``).
"""

from __future__ import annotations

import calendar
import functools
import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Final

from museum_sync.core.exceptions import VocabularyError
from museum_sync.core.vocabularies import fold, load_vocabulary

__all__ = ["DateError", "ParsedDate", "parse_date", "parse_year"]

_MAX_LEN: Final = 300  # longer "dates" are notes: only the first year in them is looked for


class DateError(ValueError):
    """A value that is not a date at all; ``code`` is the validation reason code."""

    code: Final = "invalid_date"

    def __init__(self, message: str, value: object = None) -> None:
        super().__init__(message)
        self.value = value


@dataclass(frozen=True, slots=True)
class ParsedDate:
    """What a date phrase means: ``earliest``/``latest`` are None for an open or BCE end."""

    earliest: date | None
    latest: date | None
    edtf: str
    approximate: bool = False
    uncertain: bool = False
    note: str | None = None


# ------------------------------------------------------------------------------------------- model

_DAY, _MONTH, _YEAR, _COARSE = 0, 1, 2, 3  # precision of an end; only _YEAR ends are widened by circa


@dataclass(frozen=True, slots=True)
class _End:
    y: int  # astronomical year: 1 BC = 0, 500 BC = -499
    m: int | None = None
    d: int | None = None
    prec: int = _YEAR
    approx: bool = False
    unc: bool = False

    def lo_key(self) -> tuple[int, int, int]:
        return (self.y, self.m or 1, self.d or 1)

    def hi_key(self) -> tuple[int, int, int]:
        return (self.y, self.m or 12, self.d or 31)


@dataclass(frozen=True, slots=True)
class _Span:
    lo: _End | None  # None: open ("before 1900")
    hi: _End | None
    x: str | None = None  # EDTF with unspecified digits ("18XX", "189X") when the span is exactly that
    ranged: bool = False  # built from two sides ("1850-60"), as opposed to one phrase

    def qualify(self, approx: bool = False, unc: bool = False) -> _Span:
        if not approx and not unc:
            return self

        def q(end: _End | None) -> _End | None:
            if end is None:
                return None
            return _End(end.y, end.m, end.d, end.prec, end.approx or approx, end.unc or unc)

        return _Span(q(self.lo), q(self.hi), self.x, self.ranged)


def _point(y: int, m: int | None = None, d: int | None = None, prec: int | None = None) -> _Span:
    if prec is None:
        prec = _DAY if d is not None else _MONTH if m is not None else _YEAR
    end = _End(y, m, d, prec)
    return _Span(end, end)


def _years(lo: int, hi: int, x: str | None = None) -> _Span:
    return _Span(_End(lo, prec=_COARSE), _End(hi, prec=_COARSE), x)


# ------------------------------------------------------------------------------------------ grammar


def _norm(text: str, *, phrase: bool = False) -> str:
    """Lower case, accents off, dashes unified, a space after letter-dots and around '?'.

    Input values also lose a final dot after a digit ("1850.") and wrapping brackets; vocabulary
    phrases (``phrase=True``) keep them ("1." is an ordinal).
    """
    s = fold(text)
    # Each step is guarded by a cheap test: this runs for every value and most values are plain years.
    if not s.isascii():
        s = _DASHES.sub("–", s)
    if "?" in s:
        s = s.replace("(?)", " ? ").replace("[?]", " ? ").replace("?", " ? ")
    if "'" in s or "\u2019" in s:
        s = _APOS_S.sub(r"\1s", s)
    if "." in s:
        s = _LETTER_DOT.sub(". ", s)
    if "(" in s:
        s = _EMPTY_PARENS.sub(" ", s)  # "1925 () - 1925 ()": an export's empty qualifier slot
    if "c" in s:
        s = _GLUED_CIRCA.sub(r"\1 ", s)  # "c1850" -> "c 1850"
    s = " ".join(s.split())
    if not s:
        return s
    if s[0] in "-–":
        s = _LEAD_DASH.sub(r"\1 ", s)
    if s[-1] in "-–":
        s = _TRAIL_DASH.sub(r" \1", s)
    if phrase:
        return s
    if s.endswith("."):
        s = _TRAIL_DOT.sub("", s)
    while len(s) >= 2 and (s[0], s[-1]) in _WRAPPERS:
        s = s[1:-1].strip()
    return s


_DASHES = re.compile(r"[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]")  # hyphens/dashes except ASCII '-' -> en dash
_APOS_S = re.compile(r"(\d)['\u2019]s\b")
_LETTER_DOT = re.compile(r"(?<=[^\W\d_])\.(?=[^\s.,;)\]])")
_LEAD_DASH = re.compile(r"^([-–])(?=\d)")
_EMPTY_PARENS = re.compile(r"\(\s*\)")
_GLUED_CIRCA = re.compile(r"(?<![^\s(\[–-])(ca?)(?=\d{3,4}(?!\d))")
_TRAIL_DASH = re.compile(r"(?<=\d)([-–])$")
_TRAIL_DOT = re.compile(r"(?<=\d)\.$")
_WRAPPERS: Final = frozenset({("(", ")"), ("[", "]"), ('"', '"'), ("'", "'"), ("\u201c", "\u201d")})


def _alt(phrases: Iterable[str]) -> str:
    """Regex alternation, longest first, of already normalised phrases."""
    uniq = sorted({p for p in phrases if p}, key=lambda p: (-len(p), p))
    return "|".join(re.escape(p) for p in uniq)


@dataclass(frozen=True, slots=True)
class _Grammar:
    spread: int
    no_date: frozenset[str]
    prefixes: dict[str, str]  # phrase -> class ("approx", "unc", "before", "after", "from", ...)
    suffixes: dict[str, str]
    prefix_starts: frozenset[str]  # first words of prefixes: most values have none, one set lookup
    suffix_ends: frozenset[str]
    max_words: int  # longest prefix/suffix phrase, in words
    range_re: re.Pattern[str]
    alt_re: re.Pattern[str]
    months: dict[str, int]
    fillers: frozenset[str]
    century_parts: dict[str, tuple[int, int]]  # filled phrase -> year offsets in the century
    decade_parts: dict[str, tuple[int, int]]
    part_nouns: dict[str, int]  # "half" -> 2
    ordinals: dict[str, int]  # "first" -> 1, "last" -> -1
    decade_nouns: frozenset[str]
    decade_prefixes: frozenset[str]
    century_words_ord: dict[str, int]  # "nineteenth" -> 19
    century_re: re.Pattern[str]
    decade_re: re.Pattern[str]
    hundreds_re: re.Pattern[str]
    named: dict[str, tuple[int, int]]
    prose_re: re.Pattern[str]


def _strings(data: Mapping[str, Any], key: str) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise VocabularyError(f"museum_sync/core/vocab/date_phrases.json: {key!r} must be a list of strings")
    return value


@functools.cache
def _grammar() -> _Grammar:
    """Compile the phrase lists of ``date_phrases.json`` into lookup tables and regexes, once per process.

    Qualifiers and century words are matched by dictionary lookups of whole words, not by regex
    alternations of hundreds of phrases, which would cost tens of microseconds per value.
    """
    try:
        return _build_grammar(load_vocabulary("date_phrases"))
    except (KeyError, TypeError, ValueError) as exc:
        raise VocabularyError(f"museum_sync/core/vocab/date_phrases.json: malformed: {exc!r}") from exc


def _build_grammar(data: Mapping[str, Any]) -> _Grammar:
    def n(p: str) -> str:
        return _norm(p, phrase=True)

    fillers = frozenset(n(f) for f in _strings(data, "filler"))

    def fill(p: str) -> str:  # century-parser form: fillers dropped, hyphens as spaces
        return _fill_words(n(p), fillers)

    classes: dict[str, list[str]] = {
        "approx": _strings(data, "approximate"),
        "unc": _strings(data, "uncertain"),
        "before": _strings(data, "before") + ["-", "–"],
        "after": _strings(data, "after"),
        "born": _strings(data, "born"),
        "died": _strings(data, "died"),
        "ignore": _strings(data, "ignore_prefix"),
        "range": _strings(data, "range_prefix"),
        "ce": _strings(data, "era_ce"),
    }
    range_prefixes = {n(p) for p in classes["range"]}
    prefixes: dict[str, str] = {}
    for cls in ("range", "approx", "unc", "before", "after", "born", "died", "ignore", "ce"):
        for phrase in classes[cls]:
            key = n(phrase)
            if cls == "after" and key in range_prefixes:
                prefixes[key] = "from"  # "from 1850" = after, "from 1850 to 1860" = a range
            else:
                prefixes.setdefault(key, cls)
    # A qualifier in brackets is one whatever its length: "(c.) 1850", "1850 (um)", "1897 (ca.)".
    bracketed_approx = {f"({n(p)})" for p in classes["approx"] if " " not in n(p)}
    for key in bracketed_approx:
        prefixes.setdefault(key, "approx")

    suffixes: dict[str, str] = {}
    approx_suffix = [p for p in classes["approx"] if len(n(p).rstrip(".")) > 2]  # not "c", "ca": "19th c."
    for cls, phrases in (
        ("unc", classes["unc"]),
        ("approx", approx_suffix),
        ("bce", _strings(data, "era_bce")),
        ("ce", _strings(data, "era_ce")),
        ("after", _strings(data, "after_suffix") + ["-", "–"]),
        ("before", _strings(data, "before_suffix")),
    ):
        for phrase in phrases:
            key = n(phrase)
            suffixes.setdefault(key, cls)
            if " " not in key and not key.startswith("("):
                suffixes.setdefault(f"({key})", cls)
    for key in bracketed_approx:
        suffixes.setdefault(key, "approx")
    max_words = max(len(p.split(" ")) for p in [*prefixes, *suffixes])

    range_words = _alt(n(w) for w in _strings(data, "range_words"))
    range_re = re.compile(rf"\s*[–/]\s*|-|\s+-\s+|\s+(?:{range_words})\s+")
    alt_re = re.compile(rf"\s+(?:{_alt(n(w) for w in _strings(data, 'alternative_words'))})\s+")

    months: dict[str, int] = {}
    for number, names in dict(data["months"]).items():
        for name in names:
            months[n(str(name)).rstrip(".")] = int(number)

    century_parts: dict[str, tuple[int, int]] = {}
    part_names: dict[str, str] = {}
    for name, spec in dict(data["century_parts"]).items():
        lo, hi = spec["span"]
        for phrase in spec["phrases"]:
            key = fill(phrase)
            century_parts.setdefault(key, (int(lo), int(hi)))
            part_names.setdefault(key, name)
    decade_spans = {k: (int(v[0]), int(v[1])) for k, v in dict(data["decade_parts"]).items()}
    decade_parts = {p: decade_spans[name] for p, name in part_names.items() if name in decade_spans}

    century_words = {fill(w) for w in _strings(data, "century_words")}
    century_words_ord = {fill(k): int(v) for k, v in dict(data["century_ordinal_words"]).items()}
    cw = _alt(century_words)
    century_re = re.compile(
        rf"^(?P<pre>.*?)\s*(?:(?<!\S)(?P<cw1>{cw})\s*)?"
        rf"(?<![^\s.])(?P<num>\d{{1,2}}|[ivxl]+|{_alt(century_words_ord)})"
        rf"(?P<suf>st|nd|rd|th|ieme|eme|er|e|de|ste|\.)?(?:\s*(?P<cw2>{cw}))?$"
    )
    hundreds = dict(data["hundreds_suffixes"])
    cent_suf = _alt(n(x) for x in hundreds["century"])
    dec_suf = _alt(n(x) for x in hundreds["decade"])
    decade_re = re.compile(rf"^(?P<pre>.*?)[\s-]*(?<!\d)(?P<d>\d{{2,3}})0(?:(?P<suf>{dec_suf})(?:\s+(?P<post>.+))?)?$")
    hundreds_re = re.compile(rf"^(?P<pre>.*?)\s*(?<!\d)(?P<c>\d{{1,2}})00(?:{cent_suf})(?:\s+(?P<post>.+))?$")

    named: dict[str, tuple[int, int]] = {}
    for spec in dict(data["named_periods"]).values():
        for phrase in spec["phrases"]:
            named[n(phrase)] = (int(spec["span"][0]), int(spec["span"][1]))

    prose_q = _alt(n(p) for cls in ("approx", "unc", "before", "after") for p in classes[cls] if len(n(p)) > 1)
    prose_re = re.compile(
        rf"(?<![\w.])(?:(?:{prose_q})\s+)?(?<!\d)(?:1\d{{3}}|20\d{{2}}|21\d{{2}})"
        rf"(?:\s*[-–/]\s*\d{{1,4}}(?![\d.]))?(?!\d)"
    )
    return _Grammar(
        spread=int(data.get("approximate_spread_years", 5)),
        no_date=frozenset(n(p) for p in _strings(data, "no_date")),
        prefixes=prefixes,
        suffixes=suffixes,
        prefix_starts=frozenset(p.split(" ")[0] for p in prefixes),
        suffix_ends=frozenset(p.split(" ")[-1] for p in suffixes),
        max_words=max_words,
        range_re=range_re,
        alt_re=alt_re,
        months=months,
        fillers=fillers,
        century_parts=century_parts,
        decade_parts=decade_parts,
        part_nouns={fill(k): int(v) for k, v in dict(data["part_nouns"]).items()},
        ordinals={fill(k): int(v) for k, v in dict(data["part_ordinals"]).items()},
        decade_nouns=frozenset(fill(w) for w in _strings(data, "decade_nouns")),
        decade_prefixes=frozenset(n(w) for w in _strings(data, "decade_prefix")),
        century_words_ord=century_words_ord,
        century_re=century_re,
        decade_re=decade_re,
        hundreds_re=hundreds_re,
        named=named,
        prose_re=prose_re,
    )


def _fill_words(s: str, fillers: frozenset[str]) -> str:
    return " ".join(t for t in s.replace("-", " ").split() if t not in fillers)


# -------------------------------------------------------------------------------------------- atoms

_YEAR4 = re.compile(r"\d{4}")
_DIGITS = re.compile(r"\d{1,4}")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:t\d{2}(?::\d{2}){0,2}(?:\.\d+)?(?:z|[+-]\d{2}(?::?\d{2})?)?)?")
_ISO_MONTH = re.compile(r"(\d{4})-(\d{2})")
_YMD_SEP = re.compile(r"(\d{4})([./])(\d{1,2})\2(\d{1,2})")
_DMY_DOT = re.compile(r"(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{3,4})")
_MY_DOT = re.compile(r"(\d{1,2})\.\s?(\d{4})")
_DMY_SLASH = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_MY_SLASH = re.compile(r"(\d{1,2})/(\d{4})")
_D_MON_Y = re.compile(r"(\d{1,2})(?:st|nd|rd|th|er|\.)?\s*(?:of\s+|de\s+)?([^\W\d_]+)\.?,?\s+(?:de\s+)?(\d{3,4})")
_MON_D_Y = re.compile(r"([^\W\d_]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{3,4})")
_MON_Y = re.compile(r"([^\W\d_]+)\.?,?\s+(?:de\s+|of\s+)?(\d{3,4})")
_ROMAN = re.compile(r"x{0,3}(?:ix|iv|v?i{0,3})|xl")
_ROMAN_VALUES: Final = {"i": 1, "v": 5, "x": 10, "l": 50}


def _roman(text: str) -> int | None:
    if not text or not _ROMAN.fullmatch(text):
        return None
    total, prev = 0, 0
    for ch in reversed(text):
        value = _ROMAN_VALUES[ch]
        total = total - value if value < prev else total + value
        prev = max(prev, value)
    return total or None


def _valid_day(y: int, m: int, d: int) -> bool:
    return 1 <= m <= 12 and 1 <= y <= 9999 and 1 <= d <= calendar.monthrange(y, m)[1]


def _ymd(y: int, m: int, d: int | None = None) -> _Span | None:
    if not 1 <= m <= 12 or not 1 <= y <= 9999:
        return None
    if d is not None and not _valid_day(y, m, d):
        return None
    return _point(y, m, d)


def _atom(g: _Grammar, s: str, era: str | None, ctx: _End | None) -> _Span | None:
    """One date expression without qualifiers: a year, a day, a month, a decade, a century."""
    if _DIGITS.fullmatch(s):
        return _year_atom(s, era, ctx)
    if era == "bce":
        return _century(g, s, era) or _decade(g, s, era)
    if m := _ISO_DATE.fullmatch(s):
        return _ymd(int(m[1]), int(m[2]), int(m[3]))
    if m := _ISO_MONTH.fullmatch(s):
        year, month = int(m[1]), int(m[2])
        # "1923-04" is April 1923, but "1805-10" is 1805-1810 (ranges are far more common in display
        # dates than ISO months): only a zero-padded month, or one a range cannot be, is a month.
        if m[2].startswith("0") or month <= year % 100:
            return _ymd(year, month)
        return None
    if m := _YMD_SEP.fullmatch(s):
        return _ymd(int(m[1]), int(m[3]), int(m[4]))
    if m := _DMY_DOT.fullmatch(s):
        return _ymd(int(m[3]), int(m[2]), int(m[1]))
    if m := _MY_DOT.fullmatch(s):
        return _ymd(int(m[2]), int(m[1]))
    if m := _DMY_SLASH.fullmatch(s):
        return _dmy_slash(int(m[1]), int(m[2]), int(m[3]))
    if m := _MY_SLASH.fullmatch(s):
        return _ymd(int(m[2]), int(m[1]))
    if s[0].isdigit():
        if (m := _D_MON_Y.fullmatch(s)) and (mon := g.months.get(m[2])):
            return _ymd(int(m[3]), mon, int(m[1]))
    else:
        if (m := _MON_D_Y.fullmatch(s)) and (mon := g.months.get(m[1])):
            return _ymd(int(m[3]), mon, int(m[2]))
        if (m := _MON_Y.fullmatch(s)) and (mon := g.months.get(m[1])):
            return _ymd(int(m[2]), mon)
        if (period := g.named.get(s)) is not None:
            return _years(*period)
    return _decade(g, s, era) or _century(g, s, era)


def _year_atom(s: str, era: str | None, ctx: _End | None) -> _Span | None:
    value = int(s)
    if len(s) <= 2 and era is None:
        # "1850-60", "1826-7", "1767 or 9": the digits replace the end of the previous year.
        if ctx is None or ctx.prec != _YEAR or ctx.m is not None or ctx.y < 100:
            return None
        y = ctx.y - ctx.y % 10 ** len(s) + value
        return _point(y) if y > ctx.y else None
    if value == 0:
        return None
    if era == "bce":
        return _point(1 - value)
    return _point(value) if len(s) >= 3 or era == "ce" else None


def _dmy_slash(a: int, b: int, y: int) -> _Span | None:
    """``a/b/yyyy``: day/month unless only month/day fits; both fit and differ -> both days, uncertain."""
    first, second = _ymd(y, b, a), _ymd(y, a, b)
    if first is None or second is None or a == b:
        return first or second
    lo, hi = sorted((first, second), key=lambda sp: sp.lo.lo_key() if sp.lo else (0, 0, 0))
    return _Span(lo.lo, hi.hi).qualify(unc=True)


def _decade(g: _Grammar, s: str, era: str | None) -> _Span | None:
    """ "1890s", "early 1890s", "1890er Jahre", "années 1890", "1800-talet", "1800-luvun loppu"."""
    if "00" in s and (m := g.hundreds_re.fullmatch(s)):
        ok, part = _part(g, m["pre"], m["post"])
        return _century_span(g, int(m["c"]) + 1, part, None, era) if ok else None
    m = g.decade_re.fullmatch(s)
    if m is None or era == "bce":  # "the 450s BC" runs backwards; too rare to guess its convention
        return None
    pre, suffix, digits = m["pre"], m["suf"], m["d"]
    if suffix is None:  # "années 1890": a decade word before the number instead of a suffix
        words = pre.split()
        if not words or words[-1] not in g.decade_prefixes:
            return None
        pre = " ".join(words[:-1])
    elif pre.split()[-1:] and pre.split()[-1] in g.decade_prefixes:
        pre = " ".join(pre.split()[:-1])  # "the 1890s"
    ok, part = _part(g, pre, m["post"])
    if not ok:
        return None
    if len(digits) == 3 and digits.endswith("0") and suffix is not None and suffix in ("s", "'s"):
        return _century_span(g, int(digits[:2]) + 1, part, None, era)  # "1800s" is the century
    start = int(digits) * 10
    if part is not None:
        offsets = g.decade_parts.get(part)
        return None if offsets is None else _years(start + offsets[0], start + offsets[1])
    return _years(start, start + 9, f"{digits}X")


def _part(g: _Grammar, pre: str | None, post: str | None) -> tuple[bool, str | None]:
    """The century-part phrase before or after a number: (True, None) if none, (False, None) if unknown."""
    words = [w for w in (pre, post) if w and w.strip(" -")]
    if not words:
        return True, None
    key = _fill_words(words[0], g.fillers)
    return (True, key) if len(words) == 1 and key in g.century_parts else (False, None)


def _century(g: _Grammar, s: str, era: str | None) -> _Span | None:
    """ "19th century", "late 19th century", "1. Hälfte 19. Jh.", "sfârșitul sec. XIX", "3/4 sec. XIX"."""
    m = g.century_re.fullmatch(_fill_words(s, g.fillers))
    if m is None:
        return None
    num = m["num"]
    n = int(num) if num.isdigit() else g.century_words_ord.get(num) or _roman(num)
    if not n or n > (40 if era == "bce" else 21):
        return None
    if not (m["cw1"] or m["cw2"]) and m["suf"] in (None, "."):
        return None  # "19." or "XIX" alone is not a century; "19th" and "XIXe" are
    pre = m["pre"].strip()
    if not pre:
        return _century_span(g, n, None, None, era)
    if pre in g.century_parts:
        return _century_span(g, n, pre, None, era)
    words = pre.split()
    if len(words) == 1 and (f := _FRACTION.fullmatch(pre)):  # "3/4 sec. XIX"
        return _century_fraction(g, n, int(f[1]), int(f[2]), era)
    if len(words) == 2:
        first, second = words
        if first in g.ordinals and second in g.part_nouns:  # "second half", "1. Hälfte"
            parts = g.part_nouns[second]
            k = g.ordinals[first]
            return _century_fraction(g, n, parts if k == -1 else k, parts, era)
        dk = g.ordinals.get(second) if first in g.decade_nouns else None
        if dk is None and second in g.decade_nouns:
            dk = g.ordinals.get(first)
        if dk is not None and 1 <= dk <= 10:  # "deceniul al III-lea", "primul deceniu"
            return _century_span(g, n, None, ((dk - 1) * 10, (dk - 1) * 10 + 9), era)
    return None


_FRACTION = re.compile(r"(\d)/(\d)")


def _century_fraction(g: _Grammar, n: int, k: int, parts: int, era: str | None) -> _Span | None:
    if parts not in (2, 3, 4) or not 1 <= k <= parts:
        return None
    return _century_span(g, n, None, ((k - 1) * 100 // parts, k * 100 // parts - 1), era)


def _century_span(
    g: _Grammar, n: int, part: str | None, offsets: tuple[int, int] | None, era: str | None
) -> _Span | None:
    """Century ``n`` (1-based), whole or the part named by ``part`` or given as year ``offsets``."""
    if n < 1:
        return None
    start = 1 - n * 100 if era == "bce" else (n - 1) * 100
    if part is not None:
        offsets = g.century_parts.get(part)
        if offsets is None:
            return None
    if offsets is None:
        if era == "bce":
            return _years(start, start + 99)
        return _years(max(start, 1), start + 99, f"{n - 1:02d}XX")
    lo, hi = start + offsets[0], start + offsets[1]
    if era != "bce":
        lo = max(lo, 1)
    return _years(lo, hi) if lo <= hi else None


# -------------------------------------------------------------------------------------- expressions


@dataclass(slots=True)
class _Quals:
    approx: bool = False
    unc: bool = False
    before: bool = False
    after: bool = False
    from_: bool = False
    era: str | None = None


def _strip_qualifiers(g: _Grammar, s: str, era: str | None) -> tuple[str, _Quals]:
    q = _Quals(era=era)
    for _ in range(8):  # prefixes: "? c.", "published c.", "from", "between"...
        if s.split(" ", 1)[0] not in g.prefix_starts:
            break
        words = s.split(" ", g.max_words)
        for k in range(min(g.max_words, len(words)), 0, -1):
            cls = g.prefixes.get(" ".join(words[:k]))
            if cls is not None:
                s = " ".join(words[k:])
                _set(q, cls)
                break
        else:
            break
    for _ in range(4):  # suffixes: "?", "(wahrscheinlich)", "BC", "or later"
        if s.rsplit(" ", 1)[-1] not in g.suffix_ends:
            break
        words = s.rsplit(" ", g.max_words)
        for k in range(min(g.max_words, len(words)), 0, -1):
            cls = g.suffixes.get(" ".join(words[-k:]))
            if cls is not None:
                s = " ".join(words[:-k])
                _set(q, cls)
                break
        else:
            break
    return s.strip(), q


def _set(q: _Quals, cls: str) -> None:
    if cls == "approx":
        q.approx = True
    elif cls == "unc":
        q.unc = True
    elif cls in ("before", "died"):
        q.before = True
    elif cls in ("after", "born"):
        q.after = True
    elif cls == "from":
        q.from_ = True
    elif cls in ("bce", "ce"):
        q.era = cls


def _qualified(
    g: _Grammar, s: str, era: str | None, ctx: _End | None, core: Callable[..., _Span | None]
) -> _Span | None:
    body, q = _strip_qualifiers(g, s, era)
    if not body:
        return None
    span = core(g, body, q.era, ctx)
    if span is None:
        return None
    span = span.qualify(q.approx, q.unc)
    if q.from_ and not span.ranged:
        q.after = True
    if q.before and q.after:
        return None
    if q.before:
        span = replace(span, lo=None, x=None)
    elif q.after:
        span = replace(span, hi=None, x=None)
    return None if span.lo is None and span.hi is None else span


def _expr(g: _Grammar, s: str) -> _Span | None:
    return _qualified(g, s, None, None, _any)


def _any(g: _Grammar, s: str, era: str | None, ctx: _End | None) -> _Span | None:
    """An atom, alternatives ("1480 oder 1482/1485") or a range ("1850-60", "late 19th-early 20th c.")."""
    return (
        _atom(g, s, era, ctx)
        or _split(g, s, era, ctx, g.range_re, _alt_or_atom, hull=False)
        or _split(g, s, era, ctx, g.alt_re, _range_or_atom, hull=True)
    )


def _range_or_atom(g: _Grammar, s: str, era: str | None, ctx: _End | None) -> _Span | None:
    return _atom(g, s, era, ctx) or _split(g, s, era, ctx, g.range_re, _atom, hull=False)


def _alt_or_atom(g: _Grammar, s: str, era: str | None, ctx: _End | None) -> _Span | None:
    return _atom(g, s, era, ctx) or _split(g, s, era, ctx, g.alt_re, _atom, hull=True)


def _split(
    g: _Grammar,
    s: str,
    era: str | None,
    ctx: _End | None,
    sep: re.Pattern[str],
    side: Callable[..., _Span | None],
    *,
    hull: bool,
) -> _Span | None:
    for m in sep.finditer(s):
        left, right = s[: m.start()].strip(), s[m.end() :].strip()
        if not left or not right:
            continue
        lspan = _qualified(g, left, era, ctx, side)
        if lspan is None:
            continue
        anchor = lspan.hi or lspan.lo
        rspan = _qualified(g, right, era, anchor, side)
        if rspan is None:
            continue
        joined = _join(lspan, rspan, hull)
        if joined is not None:
            return joined
    return None


def _join(a: _Span, b: _Span, hull: bool) -> _Span | None:
    if hull:  # alternatives: the span covering both, uncertain
        los = [e for e in (a.lo, b.lo) if e is not None]
        his = [e for e in (a.hi, b.hi) if e is not None]
        lo = min(los, key=_End.lo_key) if len(los) == 2 else None
        hi = max(his, key=_End.hi_key) if len(his) == 2 else None
        return _Span(lo, hi, ranged=a.ranged or b.ranged).qualify(unc=True)
    lo, hi = a.lo, b.hi
    if lo is not None and hi is not None and lo.lo_key() > hi.hi_key():
        return None  # "1860-1850": not a range in this reading
    if a.lo is None and b.hi is None:
        return None
    # A new span has no X-form, so "1890s-1910s" renders as the explicit interval "1890/1919".
    return _Span(lo, hi, ranged=True)


# ----------------------------------------------------------------------------------------- rendering


def _year_str(y: int) -> str:
    return f"{y:04d}" if y >= 0 else f"-{-y:04d}"


def _end_str(end: _End) -> str:
    text = _year_str(end.y)
    if end.m is not None:
        text += f"-{end.m:02d}"
        if end.d is not None:
            text += f"-{end.d:02d}"
    return text + _mark(end)


def _mark(end: _End) -> str:
    return "%" if end.approx and end.unc else "~" if end.approx else "?" if end.unc else ""


def _edtf(span: _Span) -> str:
    lo, hi = span.lo, span.hi
    if span.x and lo is not None and hi is not None and _mark(lo) == _mark(hi):
        return span.x + _mark(lo)
    if lo is not None and hi is not None and lo == hi:
        return _end_str(lo)
    return f"{_end_str(lo) if lo else '..'}/{_end_str(hi) if hi else '..'}"


def _to_date(end: _End | None, spread: int, *, low: bool) -> date | None:
    if end is None:
        return None
    y = end.y
    if end.approx and end.prec == _YEAR:
        if y < 1:
            return None
        y = max(1, y - spread) if low else min(9999, y + spread)
    if not 1 <= y <= 9999:
        return None
    if low:
        return date(y, end.m or 1, end.d or 1)
    month = end.m or 12
    return date(y, month, end.d or calendar.monthrange(y, month)[1])


def _render(g: _Grammar, span: _Span, note: str | None) -> ParsedDate:
    ends = [e for e in (span.lo, span.hi) if e is not None]
    return ParsedDate(
        earliest=_to_date(span.lo, g.spread, low=True),
        latest=_to_date(span.hi, g.spread, low=False),
        edtf=_edtf(span),
        approximate=any(e.approx for e in ends),
        uncertain=any(e.unc for e in ends),
        note=note,
    )


# ------------------------------------------------------------------------------------------- public


def parse_date(text: str) -> ParsedDate | None:
    """Read a display date. None for no date ("n.d.", "undated", "o.J.", empty); ``DateError`` if not a date.

    Handles years, ISO dates, day/month/year in numbers or month names (English, German, Dutch, French,
    Romanian, Italian, Spanish, Swedish, Finnish), ranges ("1850-60", "1850–1860", "1.7.1921-31.12.1921"),
    alternatives ("1767 or 9"), circa/uncertain/before/after qualifiers in those languages, decades
    ("1890s", "1890er Jahre"), centuries and their parts ("late 19th century", "1. Hälfte 19. Jh.",
    "sfârșitul sec. XIX", "XIXe siècle", "1800-luvun loppu"), BCE/CE, the first date of a list and the
    year in a sentence. See the module docstring for the conventions.
    """
    result = _parse_cached(text)
    if isinstance(result, str):
        raise DateError(result, text)
    return result


@functools.lru_cache(maxsize=16384)
def _parse_cached(text: str) -> ParsedDate | None | str:
    g = _grammar()
    s = _norm(text)
    if not s or s in g.no_date:
        return None
    if _YEAR4.fullmatch(s):
        year = int(s)
        if year:
            return ParsedDate(date(year, 1, 1), date(year, 12, 31), s)
    try:
        return _parse(g, text, s)
    except (ValueError, OverflowError) as exc:  # a calendar edge the grammar let through
        return f"cannot read {text!r} as a date: {exc}"


def _parse(g: _Grammar, raw: str, s: str) -> ParsedDate | None | str:
    if len(s) <= _MAX_LEN and (span := _expr(g, s)) is not None:
        return _render(g, span, None)
    segments = [seg for seg in _SEGMENTS.split(s) if seg] if len(s) <= _MAX_LEN else [s]
    if len(segments) > 1 and segments[0] in g.no_date:
        return None
    if len(segments) > 1 and (span := _expr(g, segments[0])) is not None:
        # "c.1803, c.1805-10": alternative datings of one object; the span covers all that follow
        # until one names another event ("1826-7, reprinted 1892", "born 1944, born 1945").
        used = [segments[0]]
        for seg in segments[1:]:
            if _starts_with_event(g, seg) or (other := _expr(g, seg)) is None:
                break
            span = _join(span, other, hull=True) or span
            used.append(seg)
        if len(used) == 1:
            return _render(g, span, f"first date of a list: read {used[0]!r} from {raw!r}")
        return _render(g, span, f"alternative dates {', '.join(used)}: the span covers them all")
    for seg in segments:
        if seg in g.no_date:
            continue
        if len(segments) > 1 and len(seg) <= _MAX_LEN and (span := _expr(g, seg)) is not None:
            return _render(g, span, f"first readable date of a list: read {seg!r} from {raw!r}")
        if not _LETTER.search(seg):
            break  # an unreadable number ("1,785", "31.02.1923"): not a note to skip over
        m = g.prose_re.search(seg)
        # Prose is text around a year ("Pusă în funcțiune în 1943"); "1923-13-01" is a broken date.
        if m is not None and _LETTER.search(seg[: m.start()] + seg[m.end() :]):
            span = _expr(g, m[0]) or _expr(g, _YEAR_IN.search(m[0])[0])  # type: ignore[index]
            if span is not None:
                return _render(g, span, f"read {m[0]!r} from the text {raw!r}")
    if (m := _TWO_YEARS.fullmatch(s)) and int(m[1]) > int(m[2]):
        return f"{raw!r}: the range ends ({m[2]}) before it starts ({m[1]})"
    return (
        f"cannot read {raw!r} as a date (expected e.g. '1850', 'c. 1850', '1850-60', '5 April 1923', "
        "'19th century', 'before 1900' or 'n.d.')"
    )


def _starts_with_event(g: _Grammar, segment: str) -> bool:
    """Does a list item name another event ("reprinted 1892", "published 1800", "born 1945")?"""
    words = segment.split(" ", g.max_words)
    for k in range(min(g.max_words, len(words) - 1), 0, -1):
        if g.prefixes.get(" ".join(words[:k])) in ("ignore", "born", "died"):
            return True
    return False


_LETTER = re.compile(r"[^\W\d_]")
_SEGMENTS = re.compile(r"\s*[,;]\s*")
_YEAR_IN = re.compile(r"\d{4}")
_TWO_YEARS = re.compile(r"(\d{3,4})\s*[-–/]\s*(\d{3,4})")
_INT_TEXT = re.compile(r"[+-]?\d{1,4}(?:\.0*)?")


def parse_year(value: object) -> int | None:
    """A year from a year column: ``1785``, ``"1785"``, ``"1785.0"``, ``1785.0``, ``"1923-04-05"``.

    Text that ``parse_date`` reads as one year, month or day is accepted too ("August 2005", "15. Mai
    2014", "c. 1785" -> 1785, "500 BC" -> -500), because LIDO and JSON exports put display dates in
    fields that a profile maps to a year. None for empty values (None, "", NaN, "n.d.") and for 0,
    which exports such as MoMA's use for "unknown" (the AD/BC calendar has no year 0). Negative numbers
    are kept as the source counts them (-500 = 500 BC). Anything else raises ``DateError``: text that
    is not a date, a span of several years ("1850-60"), a fraction, a boolean, more than four digits.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise DateError(f"not a year: {value!r}", value)
    if isinstance(value, numbers.Integral):
        return _check_year(int(value), value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            return None
        if not number.is_integer():
            raise DateError(f"not a whole year: {value!r}", value)
        return _check_year(int(number), value)
    if not isinstance(value, str):
        raise DateError(f"not a year: {value!r}", value)
    text = value.strip()
    if not text:
        return None
    if _INT_TEXT.fullmatch(text):
        return _check_year(int(float(text)), value)
    try:
        parsed = parse_date(text)
    except DateError:
        raise DateError(f"not a year: {value!r}", value) from None
    if parsed is None:
        return None
    m = _SINGLE_YEAR_EDTF.fullmatch(parsed.edtf)
    if m is None:
        raise DateError(f"{value!r} spans more than one year ({parsed.edtf}); a year column needs one", value)
    year = int(m[1])
    return year if year > 0 else year - 1  # EDTF counts astronomically: -0499 is 500 BC


_SINGLE_YEAR_EDTF = re.compile(r"(-?\d{4})(?:-\d{2}){0,2}[~?%]?")


def _check_year(year: int, value: object) -> int | None:
    if year == 0:
        return None
    if abs(year) > 9999:
        raise DateError(f"year out of range: {value!r}", value)
    return year
