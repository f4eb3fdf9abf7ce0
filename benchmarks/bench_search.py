"""Search indexing and publication benchmark, against per-document indexing, in the same run.

    python benchmarks/bench_search.py                    # 50k records (make bench)
    python benchmarks/bench_search.py --records 5000     # quick (CI runs a small size in the test suite)

Against the suite's Elasticsearch test server, started in its own process (so it does not share this
process's GIL), or a real cluster when ``MUSEUM_SYNC_ES_URL`` is set (own alias and index prefix, deleted
after). PostgreSQL: ``MUSEUM_SYNC_PG_URL`` or an embedded server, in a scratch schema.

1. A full export of ``--records`` valid Tate records, chunk by chunk as the pipeline does it: COPY into
   the staging table, then ``SearchClient.index_records`` (``streaming_bulk``, bounded). Timed client
   side: documents/s of the indexing calls alone.
2. Its publication: gate, one ``_aliases`` call, one PostgreSQL transaction (the swap), check.
3. An incremental export on it (``--changed-share`` revised, 1% new, 0.5% deleted): its chunks indexed,
   then its publication, which first carries the unchanged public documents into its index.
Baseline: one index request per document (what a hand-rolled sync does), on ``--naive-max`` documents.
Prints a table and a JSON line; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from museum_sync.clients.catalog import Catalog  # noqa: E402
from museum_sync.clients.search import SearchClient, to_document  # noqa: E402
from museum_sync.core.keys import partition_key  # noqa: E402
from museum_sync.core.locator import Locator  # noqa: E402
from museum_sync.core.models import MuseumRecord  # noqa: E402
from museum_sync.core.validation import ChunkValidator, Valid  # noqa: E402
from museum_sync.pipeline.profiles import load_profile  # noqa: E402
from museum_sync.publication import PublicationOutcome, publish_export  # noqa: E402
from museum_sync.redaction import redact  # noqa: E402
from museum_sync.samples.generate import ExportSpec, generate  # noqa: E402
from museum_sync.settings import get_settings  # noqa: E402


def _serve(conn: Any) -> None:
    from museum_sync_tests.es_server import EsTestServer

    with EsTestServer(record_bodies=False) as server:
        conn.send(server.url)
        conn.recv()  # until the parent says stop (or dies: EOFError)


@contextmanager
def search_target(tag: str) -> Iterator[tuple[SearchClient, str]]:
    """A real cluster from the environment, or the test server in a child process."""
    es_url = get_settings().search.url
    if es_url:
        client = SearchClient.from_env(alias=f"ms-bench-{tag}", index_prefix=f"ms-bench-{tag}-")
        assert client is not None
        try:
            yield client, "cluster " + redact(es_url)
        finally:
            from museum_sync_tests.es_server import remove_scratch_alias_and_indices

            remove_scratch_alias_and_indices(client)
            client.close()
        return
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("spawn").Process(target=_serve, args=(child,), daemon=True)
    proc.start()
    url = parent.recv()
    client = SearchClient(url, request_timeout=60.0)
    try:
        yield client, "test server (own process)"
    finally:
        client.close()
        parent.send("stop")
        proc.join(timeout=10)


def records(export_id: str, count: int, *, id_offset: int = 100_000) -> Iterator[MuseumRecord]:
    validator = ChunkValidator(profile=load_profile("tate_artworks_csv"), export_id=export_id)
    for line, row in enumerate(generate(ExportSpec(records=count, id_offset=id_offset)), start=2):
        result = validator.validate(Locator(file="bench.csv", line=line), row)
        assert isinstance(result, Valid), result
        yield result.record


def batches(items: Iterator[MuseumRecord], size: int) -> Iterator[list[MuseumRecord]]:
    batch: list[MuseumRecord] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def load_export(
    catalog: Catalog,
    search: SearchClient,
    export_id: str,
    chunks: list[list[MuseumRecord]] | Iterator[list[MuseumRecord]],
    n_chunks: int,
    n_records: int,
    kind: str = "full",
) -> dict[str, float]:
    """Per chunk: COPY into PostgreSQL, then index what it kept. Returns seconds spent in each, and docs."""
    catalog.register_export(export_id, "bench", "tate_artworks_csv", {}, n_chunks, n_records, kind=kind)
    search.ensure_index(export_id)
    pg_s = es_s = 0.0
    docs = 0
    for index, chunk in enumerate(chunks):
        key = partition_key(export_id, index)
        catalog.record_validation(export_id, key, index, True, "bench", len(chunk), 0, "bench")
        started = time.perf_counter()
        catalog.load_chunk(export_id, key, index, chunk, "bench")
        pg_s += time.perf_counter() - started
        started = time.perf_counter()
        result = search.index_records(export_id, chunk)
        es_s += time.perf_counter() - started
        assert result.ok, result.errors[:3]
        docs += result.indexed
    return {"pg_s": pg_s, "es_s": es_s, "docs": docs}


def naive(search: SearchClient, export_id: str, count: int) -> float:
    """One HTTP index request per document, refresh left on: docs/s."""
    index = search.index_name(export_id)
    search.ensure_index(export_id)
    search.finish_load(export_id)  # a naive sync never turns refresh off
    started = time.perf_counter()
    for record in records(export_id, count, id_offset=700_000):
        body = [{"index": {"_index": index, "_id": record.record_id}}, to_document(record)]
        result = search.es.bulk(operations=body).body  # a request per document (the test server has no _doc API)
        assert not result["errors"], result
    return count / (time.perf_counter() - started)


def swap_row(name: str, outcome: PublicationOutcome) -> dict[str, Any]:
    t = outcome.timings
    return {
        "publication": name,
        "records": outcome.publication.record_count,
        "gate_s": round(t.get("gate", 0.0), 3),
        "carry_over_s": round(t.get("carry_over", 0.0), 3),
        "alias_ms": round(t.get("alias", 0.0) * 1000, 1),
        "postgres_ms": round(t.get("postgres", 0.0) * 1000, 1),
        "swap_ms": round(outcome.swap_seconds * 1000, 1),
        "check_s": round(t.get("check", 0.0), 3),
        "check": outcome.check.describe(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--changed-share", type=float, default=0.1)
    parser.add_argument("--naive-max", type=int, default=2000)
    args = parser.parse_args(argv)

    from museum_sync.services import start_services

    tag = uuid.uuid4().hex[:8]
    full_id, inc_id, naive_id = f"bench-{tag}-full", f"bench-{tag}-inc", f"bench-{tag}-naive"
    n = args.records
    with start_services() as services, search_target(tag) as (search, where):
        catalog = Catalog(services.pg_url, schema=f"bench_{tag}")
        catalog.migrate()
        n_chunks = -(-n // args.chunk)
        full = load_export(catalog, search, full_id, batches(records(full_id, n), args.chunk), n_chunks, n)
        published = publish_export(catalog, search, full_id, n_chunks, sample_size=200)

        changed = int(n * args.changed_share)
        new = max(1, n // 100)
        deleted_ids = [r.record_id for r in records(full_id, changed + n // 200)][changed:]
        revised = (
            r.model_copy(update={"export_id": inc_id, "credit_line": f"{r.credit_line} (revised)"})
            for r in records(inc_id, changed)
        )
        inc_records = [*revised, *records(inc_id, new, id_offset=800_000)]
        inc_chunks = [inc_records[i : i + args.chunk] for i in range(0, len(inc_records), args.chunk)]
        load_export(catalog, search, inc_id, inc_chunks, len(inc_chunks), len(inc_records), "incremental")
        incremental = publish_export(
            catalog, search, inc_id, len(inc_chunks), sample_size=200, deleted_record_ids=deleted_ids
        )
        naive_rate = naive(search, naive_id, min(args.naive_max, n))
        catalog_rows = catalog.count()
        es_docs = search.count()
        with psycopg.connect(services.pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(catalog.schema)))

    ours = full["docs"] / full["es_s"]
    carried = int(incremental.publication.metadata.get("carried_over", 0))
    carry_rate = carried / incremental.timings["carry_over"] if carried else 0.0
    rows = [swap_row("full", published), swap_row("incremental", incremental)]
    print(f"search: {where}; {n} records in chunks of {args.chunk}; peak RSS {_peak_mib():.0f} MiB")
    print(f"{'indexing':<34}{'docs/s':>12}")
    print(f"{'streaming_bulk per chunk (ours)':<34}{ours:>12,.0f}")
    print(f"{'one request per document (naive)':<34}{naive_rate:>12,.0f}   ours is {ours / naive_rate:.1f}x")
    print(f"{'carry-over (incremental publish)':<34}{carry_rate:>12,.0f}   {carried} documents")
    print(f"PostgreSQL COPY of the same chunks: {full['docs'] / full['pg_s']:,.0f} rows/s")
    for row in rows:
        print(
            f"publish {row['publication']:<12} {row['records']:>7} records: swap {row['swap_ms']} ms"
            f" (alias {row['alias_ms']} ms + PostgreSQL {row['postgres_ms']} ms), gate {row['gate_s']} s,"
            f" carry-over {row['carry_over_s']} s, check {row['check_s']} s: {row['check']}"
        )
    figures = {
        "records": n,
        "search": where,
        "index_docs_per_s": round(ours),
        "naive_docs_per_s": round(naive_rate),
        "carry_over_docs_per_s": round(carry_rate),
        "carried": carried,
        "incremental_changed": len(inc_records),
        "incremental_deleted": len(deleted_ids),
        "public_rows": catalog_rows,
        "public_docs": es_docs,
        "peak_rss_mib": round(_peak_mib(), 1),
        "publications": rows,
    }
    print(json.dumps(figures))
    return 0


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    raise SystemExit(main())
