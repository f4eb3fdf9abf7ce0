"""Canonical JSON (what content hashes are made of) is json.dumps' text, whichever encoder produced it."""

from __future__ import annotations

import hashlib
import json
import math
import random
import struct
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pytest

from museum_sync.core.models import StoredRecord, canonical_json, canonical_json_bytes


def _definition(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class Colour(StrEnum):
    RED = "red"


@dataclass
class Point:
    x: int


# Each case is one where orjson alone would write other bytes than json.dumps, or write where json raises.
EDGE_VALUES: list[Any] = [
    {"value": 1e-05, "unit": "m"},  # orjson: 0.00001
    {"value": 9.9999e-05},
    [1e-06, -2.5e-07, 1e-10, 1e16, 1.5e300, -0.0, 0.0001, 12.0],  # one-digit exponents: orjson 1e-6
    {"b": None, "a": [None, 1]},  # nulls that are data
    None,
    {"title": "v1e-6 of 0.00001", "note": "null and void"},  # texts that only look like the cases above
    {"z": 'a\x00b\x1f\x7f\u2028 é "\\ \n\t'},  # control characters, line separators, escapes
    {"label": Colour.RED, Colour.RED: 1},  # str subclasses, as value and key
    {2: "int keys", 10: "sorted as json sorts them"},
    {"big": 2**70, "neg": -(2**64)},
    {"nested": {"b": {"d": 1, "c": [{"f": 2, "e": 3}]}, "a": ()}},
]


@pytest.mark.parametrize("value", EDGE_VALUES, ids=range(len(EDGE_VALUES)))
def test_canonical_json_is_json_dumps_text(value: Any) -> None:
    assert canonical_json(value) == _definition(value)
    assert canonical_json_bytes(value) == _definition(value).encode("utf-8")


def test_canonical_json_writes_every_float_as_json_does() -> None:
    """Floats of the whole double range (random bit patterns, decimals, every power of ten) give json.dumps'
    text, one by one (a list holding one tiny float would fall back whole and prove nothing)."""
    rng = random.Random(18)
    floats = [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(100_000)]
    floats += [round(rng.uniform(0, 10_000), rng.randint(0, 6)) for _ in range(50_000)]
    floats += [m * 10.0**-k for k in range(330) for m in (1.0, 1.2345, 5.0, 9.87654321)]
    floats = [f for f in floats if math.isfinite(f)]
    assert len(floats) > 140_000
    assert [f for f in floats if canonical_json(f) != _definition(f)] == []


@pytest.mark.parametrize("value", [float("nan"), {"value": float("inf")}, [Point(1)], "\ud800"])
def test_canonical_json_refuses_what_json_refuses(value: Any) -> None:
    with pytest.raises((ValueError, TypeError)) as raised:
        _definition(value).encode("utf-8")
    with pytest.raises(raised.type):
        canonical_json_bytes(value)


def test_a_stored_records_hash_drops_nones_at_every_depth_as_model_dump_does() -> None:
    """The content hash of a stored record (loading) is taken without the None fields of its objects, at
    every depth, inside lists and lists of lists too, keeping None items of a list (as exclude_none does)."""
    stored = {"a": None, "b": [{"c": None, "d": [[{"e": None, "f": 1}], None]}], "g": {"h": {"i": None}}, "j": 0}
    content = {"b": [{"d": [[{"f": 1}], None]}], "g": {"h": {}}, "j": 0}
    content_hash, _ = StoredRecord({**stored, "export_id": "e"}, "{}").catalog_json()
    assert content_hash == hashlib.sha256(_definition(content).encode("utf-8")).hexdigest()
