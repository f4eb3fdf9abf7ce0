"""A chunk step's record work, piece by piece, in microseconds per record (issue #18).

The full sync (``bench_sync.py``) says how long a chunk step takes; this says where its record work goes, so a
change to one piece can be measured on that piece, in one process, without the noise of a whole sync:

    python benchmarks/bench_record_work.py                   # 5,000 generated Tate rows, best of 5
    python benchmarks/bench_record_work.py --records 1000 --repeat 2   # quick (the test suite runs this)

Pieces, in a chunk step's order: reading the chunk's rows, validating them (mapping, vocabularies, pydantic),
the drift fingerprint, writing each valid record (``storage_json``), then loading: reading each stored line
back (``StoredRecord.from_line``) and its content hash and catalogue JSON (``catalog_json``). Baselines in the
same run: the content hash's canonical JSON by its definition (``json.dumps(sort_keys=True)``) beside the
orjson path the product takes, and ``json.loads`` beside orjson for the stored line. Never asserts timings.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def best_of(repeat: int, count: int, work: Callable[[], Any]) -> float:
    """Microseconds per record of ``work`` (which handles ``count`` records), the best of ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from museum_sync.core import chunking
    from museum_sync.core.drift import FingerprintBuilder
    from museum_sync.core.models import StoredRecord, canonical_json
    from museum_sync.core.profiles import load_profile
    from museum_sync.core.validation import ChunkValidator, Valid
    from museum_sync.samples.generate import ExportSpec, write_export

    profile = load_profile("tate_artworks_csv")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.csv"
        write_export(ExportSpec(args.records, bad_share=0.0), path)
        plan = chunking.plan_chunks(path, "csv", 1000)
        chunks = range(len(plan.chunks))
        rows = [row for index in chunks for row in chunking.read_chunk(path, plan, index)]
        read = best_of(args.repeat, len(rows), lambda: [list(chunking.read_chunk(path, plan, i)) for i in chunks])

    def validate() -> list[Any]:
        validator = ChunkValidator(profile=profile, export_id="bench")
        return [r.record for loc, raw in rows if isinstance(r := validator.validate(loc, raw), Valid)]

    def fingerprint() -> None:
        builder = FingerprintBuilder(encoding="utf-8", header=None, nulls=frozenset())
        for _, raw in rows:
            builder.add(raw)
        builder.finish()

    records = validate()
    n = len(records)
    lines = [record.storage_json() + b"\n" for record in records]
    stored = [StoredRecord.from_line(line) for line in lines]
    contents = [record.content() for record in records]  # what a content hash is taken of

    def by_definition(content: Any) -> str:
        """Canonical JSON as json.dumps defines it: the baseline the product's orjson path is held to."""
        return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    figures = {
        "read chunk rows": read,
        "validate (map, vocabularies, pydantic)": best_of(args.repeat, len(rows), validate),
        "drift fingerprint": best_of(args.repeat, len(rows), fingerprint),
        "storage_json (write valid.jsonl)": best_of(args.repeat, n, lambda: [r.storage_json() for r in records]),
        "StoredRecord.from_line": best_of(args.repeat, n, lambda: [StoredRecord.from_line(x) for x in lines]),
        "  baseline: json.loads": best_of(args.repeat, n, lambda: [json.loads(x) for x in lines]),
        "catalog_json (hash + JSON)": best_of(args.repeat, n, lambda: [s.catalog_json() for s in stored]),
        "  canonical_json (the product's path)": best_of(args.repeat, n, lambda: [canonical_json(c) for c in contents]),
        "  baseline: json.dumps(sort_keys)": best_of(args.repeat, n, lambda: [by_definition(c) for c in contents]),
    }
    assert all(canonical_json(c) == by_definition(c) for c in contents[:200])  # the same bytes, or no comparison
    print(f"{len(rows)} rows, {n} valid; microseconds per record, best of {args.repeat}")
    for name, value in figures.items():
        print(f"  {name:42s} {value:8.1f}")
    print(json.dumps({"records": len(rows), "valid": n, "us_per_record": figures}))


if __name__ == "__main__":
    main()
