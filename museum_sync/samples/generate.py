"""Deterministic exports of any size, derived from real Tate rows (CC0), with bad records and drift on demand.

The 52 real rows of Tate's ``artwork_data.csv`` excerpt (shipped beside this module) are cycled with
new ids and accession numbers, lightly perturbed dates and sizes, and a ``rights`` column written in the
spellings museums really use. A seeded share of records is broken on purpose, each kind mapping to the
reason validation must give it; chosen chunks are *drifted* (their ``width``/``height`` columns switch to
"394 mm" text, the way a CMS upgrade changes an export). Same arguments, same bytes.

``python -m museum_sync.samples.generate --records 50000 --out /tmp/tate50k.csv`` writes one;
``benchmarks/generate.py`` is the same entry point.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

__all__ = ["BAD_KINDS", "ExportSpec", "base_rows", "generate", "write_export"]

RIGHTS_SPELLINGS = (
    "CC0",
    "http://creativecommons.org/publicdomain/zero/1.0/",
    "In Copyright",
    "https://rightsstatements.org/vocab/InC/1.0/",
    "CC BY 4.0",
    "Public Domain Mark",
    "http://rightsstatements.org/vocab/InC-EDU/1.0/",
)

# kind -> the reason validation must give it
BAD_KINDS: dict[str, str] = {
    "unknown_rights": "unknown_rights",
    "invalid_date": "invalid_date",
    "invalid_url": "invalid_url",
    "missing_title": "missing_required",
    "malformed_rights": "malformed_rights",
    "missing_provenance": "missing_provenance",
    "duplicate_id": "duplicate_id",
}
NON_BLOCKING_KINDS = ("unknown_rights", "invalid_date", "invalid_url", "missing_title", "duplicate_id")


@dataclass(frozen=True)
class ExportSpec:
    records: int
    seed: int = 7
    chunk_size: int = 1000
    bad_share: float = 0.0
    bad_kinds: Sequence[str] = NON_BLOCKING_KINDS
    # kind -> chunk indexes where *every* bad record is of that kind (e.g. blocking reasons in one chunk)
    bad_chunks: dict[str, Sequence[int]] = field(default_factory=dict)
    drift_chunks: Sequence[int] = ()
    id_offset: int = 100_000
    skip_every: int = 0  # drop every n-th record (a later export that withdrew some objects)


def base_rows() -> tuple[list[str], list[dict[str, str]]]:
    text = resources.files("museum_sync.samples").joinpath("tate_artwork_data_first52rows.csv").read_text("utf-8")
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), list(reader)


def _break(row: dict[str, str], kind: str, rng: random.Random, previous_id: str | None) -> None:
    if kind == "unknown_rights":
        row["rights"] = rng.choice(
            ["All rights reserved", "© the museum, ask before use", "http://example.org/our-licence"]
        )
    elif kind == "invalid_date":
        row["dateText"] = rng.choice(["sometime in spring", "unknown-ish", "the year of the flood"])
    elif kind == "invalid_url":
        row["thumbnailUrl"] = rng.choice(["not a url", "ftp//images/broken.jpg", "www tate org uk"])
    elif kind == "missing_title":
        row["title"] = ""
    elif kind == "malformed_rights":
        row["rights"] = rng.choice(
            [
                "htp://creativecommons.org/licenses/by/4.0/",
                "http//rightsstatements.org/vocab/InC/1.0/",
                "http://creativecommons.org/licenses/by/9.0/",
            ]
        )
    elif kind == "missing_provenance":
        row["creditLine"] = ""
    elif kind == "duplicate_id" and previous_id:
        row["id"] = previous_id


def generate(spec: ExportSpec) -> Iterator[dict[str, str]]:
    """Rows of the export, in order. Memory stays flat at any size."""
    _, rows = base_rows()
    rng = random.Random(spec.seed)
    previous_id: str | None = None
    emitted = 0
    for i in itertools.count():
        if emitted >= spec.records:
            break
        if spec.skip_every and i % spec.skip_every == spec.skip_every - 1:
            continue
        base = rows[i % len(rows)]
        row = dict(base)
        row["id"] = str(spec.id_offset + i)
        row["accession_number"] = f"{base['accession_number']}.{i:06d}"
        if base.get("year"):
            row["year"] = str(int(base["year"]) + rng.randint(-2, 2))
            if base["dateText"] and base["dateText"].isdigit():
                row["dateText"] = row["year"]
        for dim in ("width", "height"):
            if base.get(dim):
                row[dim] = str(int(base[dim]) + rng.randint(0, 9))
        row["rights"] = RIGHTS_SPELLINGS[i % len(RIGHTS_SPELLINGS)]
        chunk = emitted // spec.chunk_size
        kinds_here = [k for k, chunks in spec.bad_chunks.items() if chunk in chunks]
        if kinds_here and rng.random() < 0.05:
            _break(row, rng.choice(kinds_here), rng, previous_id)
        elif spec.bad_share and rng.random() < spec.bad_share:
            _break(row, rng.choice(list(spec.bad_kinds)), rng, previous_id)
        if chunk in spec.drift_chunks:
            for dim in ("width", "height"):
                if row.get(dim):
                    row[dim] = f"{row[dim]} {row.get('units') or 'mm'}"
        previous_id = row["id"]
        emitted += 1
        yield row


def write_export(spec: ExportSpec, path: Path) -> Path:
    header, _ = base_rows()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*header, "rights"], lineterminator="\n")
        writer.writeheader()
        for row in generate(spec):
            writer.writerow(row)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--bad-share", type=float, default=0.0)
    parser.add_argument("--drift-chunks", default="", help="comma-separated chunk indexes to drift")
    args = parser.parse_args(argv)
    drift = [int(x) for x in args.drift_chunks.split(",") if x]
    spec = ExportSpec(
        records=args.records, seed=args.seed, chunk_size=args.chunk_size, bad_share=args.bad_share, drift_chunks=drift
    )
    write_export(spec, args.out)
    print(f"wrote {args.records} records to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
