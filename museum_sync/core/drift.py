"""Schema drift: what a chunk actually contains, compared with what its profile expects.

A ``Fingerprint`` is built in the same streaming pass that validates a chunk: field names in order,
how many records carry each field, the inferred type of each field's values, signs of an encoding
change (mojibake, replacement characters) and the LIDO schema versions seen. ``compare`` classifies
every difference from the profile:

- **additive** (warn, recorded, does not block): a new field, an optional field gone, fields reordered;
- **breaking** (blocks the chunk): a required field missing, empty throughout the chunk or renamed,
  a declared type no longer held by most values, an encoding change, a LIDO schema version change.

A profile with ``policy.drift = "freeze"`` (dlt's word) blocks on additive drift too.

Type changes are decided by majority, on purpose: one bad value in a numeric column is a bad record
(rejected with ``invalid_value`` by validation), while most values changing type is the export itself
changing, which must stop the chunk before it reaches the catalogue.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from museum_sync.core.field_types import fitting_types, narrowest
from museum_sync.core.profiles import FieldType, Profile

__all__ = ["Change", "DriftReport", "Fingerprint", "FingerprintBuilder", "compare"]

# UTF-8 read as Latin-1/cp1252 and re-encoded: "Ã©", "Ã¼", "â€™" ... Real text almost never has these.
_MOJIBAKE = re.compile("[ÃÂ][\u0080-\u00bf]|â€[\u0080-\u00bf™œ\u009d˜“”]")


_BROKEN_MARKERS = ("__unparseable__", "__extra__", "__missing__")


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What one chunk contains. Deterministic: same records, same fingerprint."""

    records: int
    fields: tuple[str, ...]
    present: Mapping[str, int]
    types: Mapping[str, Mapping[str, int]]
    samples: Mapping[str, str]
    encoding: str
    mojibake_records: int
    lido_versions: Mapping[str, int]
    # per field, how many values fit each declared type (``field_types.fits``, validation's own rule)
    fits: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "fields": list(self.fields),
            "present": dict(sorted(self.present.items())),
            "types": {k: dict(sorted(v.items())) for k, v in sorted(self.types.items())},
            "encoding": self.encoding,
            "mojibake_records": self.mojibake_records,
            "lido_versions": dict(sorted(self.lido_versions.items())),
        }


# What drift needs to know of one value: the types it fits, the narrowest of them (None: blank) and whether
# it looks like mojibake.
_Seen = tuple[frozenset[FieldType], FieldType | None, bool]


@dataclass
class FingerprintBuilder:
    """Feed raw records with ``add``; ``finish`` returns the fingerprint.

    ``header`` is the CSV header (its order matters); for JSON the field order is first appearance.

    ``add`` runs for every value of every record, so it only counts each field's values by the set of types
    they fit (a repeated text classified once per chunk); ``finish`` derives presence, narrowest types and
    fits from those counts. Building the counters per value was a fifth of a chunk step's CPU (issue #18).
    """

    encoding: str = "utf-8"
    header: tuple[str, ...] | None = None
    nulls: frozenset[str] = frozenset()  # the profile's placeholders for "no value" (field_types.null_set)
    _records: int = 0
    _order: dict[str, None] = field(default_factory=dict)
    # per field, in order of first non-blank value: how many values fit exactly each set of types
    _kinds: dict[str, dict[frozenset[FieldType], int]] = field(default_factory=dict)
    _samples: dict[str, str] = field(default_factory=dict)
    _mojibake: int = 0
    _lido: Counter[str] = field(default_factory=Counter)
    _texts: dict[str, _Seen] = field(default_factory=dict)  # this chunk's texts, classified

    def add(self, raw: Mapping[str, Any] | bytes, lido_version: str | None = None) -> None:
        self._records += 1
        if lido_version:
            self._lido[lido_version] += 1
        if isinstance(raw, bytes):
            if _MOJIBAKE.search(raw.decode("utf-8", errors="replace")):
                self._mojibake += 1
            return
        if any(marker in raw for marker in _BROKEN_MARKERS):
            # A ragged or unparseable record's values sit under the wrong columns; it is rejected on its own
            # and must not make the chunk look drifted.
            return
        suspicious = False
        order, by_field, texts = self._order, self._kinds, self._texts
        for key, value in raw.items():
            if key.startswith("__"):
                continue
            if key not in order:
                order[key] = None
            if isinstance(value, str):
                seen = texts.get(value)
                if seen is None:
                    seen = texts[value] = self._classify(value)
            else:
                seen = self._classify(value)
            kinds, kind, mojibake = seen
            if kind is None:
                continue
            counts = by_field.get(key)
            if counts is None:
                counts = by_field[key] = {}
            if kinds in counts:
                counts[kinds] += 1
            else:
                counts[kinds] = 1
                self._samples.setdefault(f"{key}:{kind}", str(value)[:80])
            suspicious = suspicious or mojibake
        if suspicious:
            self._mojibake += 1

    def _classify(self, value: Any) -> _Seen:
        kinds = fitting_types(value, self.nulls)
        kind = narrowest(kinds)
        textual = isinstance(value, str) and kind not in ("integer", "number", "boolean")
        return kinds, kind, textual and _MOJIBAKE.search(value) is not None

    def finish(self) -> Fingerprint:
        fields = self.header if self.header is not None else tuple(self._order)
        types: dict[str, dict[str, int]] = {}
        fits: dict[str, dict[str, int]] = {}
        for key, counts in self._kinds.items():
            named = types[key] = {}
            fitting = fits[key] = {}
            for kinds, n in counts.items():
                kind = narrowest(kinds)
                assert kind is not None  # blank values are never counted
                named[kind] = named.get(kind, 0) + n
                for each in kinds:
                    fitting[each] = fitting.get(each, 0) + n
        return Fingerprint(
            records=self._records,
            fields=tuple(fields),
            present={key: sum(counts.values()) for key, counts in self._kinds.items()},
            types=types,
            samples=dict(self._samples),
            encoding=self.encoding,
            mojibake_records=self._mojibake,
            lido_versions=dict(self._lido),
            fits=fits,
        )


Severity = Literal["additive", "breaking"]


@dataclass(frozen=True, slots=True)
class Change:
    severity: Severity
    code: str
    field: str | None
    expected: str | None
    actual: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("severity", "code", "field", "expected", "actual", "message")}


@dataclass(frozen=True, slots=True)
class DriftReport:
    profile: str
    changes: tuple[Change, ...]
    fingerprint: Fingerprint
    mode: str = "evolve"

    @property
    def breaking(self) -> tuple[Change, ...]:
        if self.mode == "freeze":
            return self.changes
        return tuple(c for c in self.changes if c.severity == "breaking")

    @property
    def additive(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.severity == "additive")

    @property
    def blocks(self) -> bool:
        return bool(self.breaking)

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "mode": self.mode,
            "blocks": self.blocks,
            "changes": [c.to_dict() for c in self.changes],
            "fingerprint": self.fingerprint.to_dict(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)

    def diff_text(self) -> str:
        """A readable diff: ``-`` missing, ``+`` new, ``~`` changed; breaking lines marked ``!``."""
        if not self.changes:
            return f"no drift from profile {self.profile}"
        marks = {"new_field": "+", "optional_field_missing": "-", "required_field_missing": "-"}
        lines = []
        for c in self.changes:
            flag = "!" if c in self.breaking else " "
            lines.append(f"{flag}{marks.get(c.code, '~')} {c.message}")
        return "\n".join(lines)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _dominant(counter: Mapping[str, int]) -> str:
    return max(sorted(counter), key=lambda k: counter[k])


def compare(fp: Fingerprint, profile: Profile, *, majority: float = 0.5) -> DriftReport:
    """Classify the differences between a chunk's fingerprint and its profile."""
    changes: list[Change] = []
    expected = {f.name: f for f in profile.fields}
    if expected and profile.format in ("csv", "jsonl", "json"):
        actual = set(fp.fields)
        missing = [name for name, spec in expected.items() if name not in actual and not spec.may_be_absent]
        new = [name for name in fp.fields if name not in expected]
        renamed: dict[str, str] = {}
        for name in missing:
            candidates = [n for n in new if n not in renamed.values()]
            close = [n for n in candidates if _norm(n) == _norm(name)] or difflib.get_close_matches(
                name, candidates, n=1, cutoff=0.8
            )
            if close:
                renamed[name] = close[0]
        for name in missing:
            spec = expected[name]
            if name in renamed:
                changes.append(
                    Change(
                        "breaking",
                        "field_renamed",
                        name,
                        name,
                        renamed[name],
                        f"field '{name}' renamed to '{renamed[name]}'",
                    )
                )
            elif spec.required:
                changes.append(
                    Change(
                        "breaking",
                        "required_field_missing",
                        name,
                        spec.type,
                        None,
                        f"required field '{name}' ({spec.type}) is missing",
                    )
                )
            else:
                changes.append(
                    Change(
                        "additive",
                        "optional_field_missing",
                        name,
                        spec.type,
                        None,
                        f"optional field '{name}' is missing",
                    )
                )
        for name in new:
            if name in renamed.values():
                continue
            kinds = fp.types.get(name)
            kind = _dominant(kinds) if kinds else "empty"
            changes.append(Change("additive", "new_field", name, None, kind, f"new field '{name}' ({kind})"))
        if fp.records:
            for name, spec in expected.items():
                if name not in actual:
                    continue
                present = fp.present.get(name, 0)
                if spec.required and present == 0:
                    changes.append(
                        Change(
                            "breaking",
                            "required_field_empty",
                            name,
                            spec.type,
                            "empty",
                            f"required field '{name}' is empty in all {fp.records} records",
                        )
                    )
                    continue
                changes.extend(_type_change(fp, name, spec.type, majority))
        expected_order = [n for n in expected if n in actual]
        seen_order = [n for n in fp.fields if n in expected]
        if profile.format == "csv" and expected_order != seen_order and not missing:
            changes.append(
                Change(
                    "additive",
                    "field_order_changed",
                    None,
                    ",".join(expected_order),
                    ",".join(seen_order),
                    "columns are in a different order (read by name, so this does not block)",
                )
            )
    if fp.records and fp.mojibake_records / fp.records > 0.01:
        changes.append(
            Change(
                "breaking",
                "encoding_changed",
                None,
                fp.encoding,
                "double-encoded",
                f"{fp.mojibake_records} of {fp.records} records look double-encoded (e.g. 'Ã©' for 'é'): "
                f"the export was not written as {fp.encoding}",
            )
        )
    if profile.lido_schema_version and fp.lido_versions:
        accepted = {profile.lido_schema_version, *profile.accepted_lido_versions}
        others = {v: n for v, n in fp.lido_versions.items() if v not in accepted}
        if others:
            seen = ", ".join(f"{v} ({n} records)" for v, n in sorted(others.items()))
            changes.append(
                Change(
                    "breaking",
                    "schema_version_changed",
                    None,
                    profile.lido_schema_version,
                    seen,
                    f"LIDO schema version {seen}, profile expects {profile.lido_schema_version}",
                )
            )
    return DriftReport(profile=profile.name, changes=tuple(changes), fingerprint=fp, mode=profile.policy.drift)


def _type_change(fp: Fingerprint, name: str, expected: FieldType, majority: float) -> list[Change]:
    """A declared type most non-blank values no longer fit, judged by ``field_types.fits`` (as records are)."""
    kinds = fp.types.get(name)
    if not kinds or expected == "string":
        return []
    total = sum(kinds.values())
    fitting = fp.fits.get(name, {}).get(expected, 0)
    if fitting / total >= majority:
        return []
    # name what the misfits look like: not the expected type, nor integers where numbers are expected
    misfit = {k: n for k, n in kinds.items() if k != expected and (k, expected) != ("integer", "number")}
    actual = _dominant(misfit or kinds)
    sample = fp.samples.get(f"{name}:{actual}", "")
    return [
        Change(
            "breaking",
            "type_changed",
            name,
            expected,
            actual,
            f"'{name}': expected {expected}, found {actual} in {total - fitting} of {total} values (e.g. {sample!r})",
        )
    ]
