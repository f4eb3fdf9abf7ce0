"""IIIF benchmark: manifests/s on a cold and a warm header cache, and ingestion throughput with and without a
saturated iiif pool, in one run.

    python benchmarks/bench_iiif.py                                   # full (benchmarks/README.md)
    python benchmarks/bench_iiif.py --copies 1 --records 1000 --slow 8  # small (CI)

Part 1, cold vs warm: the suite's local IIIF server (``museum_sync_tests/iiif_server.py``) serves the 92 files
of ``../shared/data/iiif`` (real manifests up to 307 KB, cookbook recipes, validator fixtures), each under
``--copies`` distinct URLs. Cold: empty cache, every manifest fetched and validated (``core.iiif``), verdicts
written to PostgreSQL (``iiif_manifests``). Warm: the same URLs again, conditional (``If-None-Match``): 304s
and the cached verdicts, nothing validated. Both through ``IiifFetcher.fetch_many`` (16 threads, 4 per host).

Part 2, ingestion under IIIF load: two real worker pools on embedded PostgreSQL + Redis, as deployed: one
for ``ingestion_high,dagster`` (prefork, 2 children) and one for ``iiif`` alone (``iiif_pool_options``, 1
child here so that it saturates). Export A (``--records`` Tate rows, no manifests) syncs alone: baseline.
Then export S, whose ``--slow`` records link to manifests that take 3 s each, starts; once its iiif step
holds the iiif pool, export B (same size as A) syncs. Chunk throughput = sync_chunk steps / (first start
to last success) from each run's event log; B's publication time is printed too. Asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data" / "iiif"


def cold_and_warm(server: Any, pg_url: str, copies: int) -> dict[str, float]:
    import uuid

    from museum_sync.clients.catalog import Catalog
    from museum_sync.clients.iiif import IiifFetcher
    from museum_sync.pipeline.iiif import verdict_for
    from museum_sync.settings import IiifSettings

    files = sorted(p.relative_to(SHARED).as_posix() for p in SHARED.rglob("*.json") if "schema" not in p.parts)
    urls = [server.url("m", f"{rel}?copy={k}") for rel in files for k in range(copies)]
    catalog = Catalog(pg_url, schema=f"bench_iiif_{uuid.uuid4().hex[:6]}")
    catalog.migrate()
    fetcher = IiifFetcher(IiifSettings(allowed_hosts="127.0.0.1"))
    out: dict[str, float] = {"manifests": len(urls)}
    try:
        for phase in ("cold", "warm"):
            server.reset_log()
            started = time.monotonic()
            cached = catalog.iiif_cached(urls)
            fetched = fetcher.fetch_many(urls, cached)
            verdicts = [verdict_for(result, cached.get(url)) for url, result in fetched.items()]
            catalog.iiif_store(v for v, _ in verdicts)
            seconds = time.monotonic() - started
            out[f"{phase}_s"] = seconds
            out[f"{phase}_per_s"] = len(urls) / seconds
            out[f"{phase}_validated"] = sum(validated for _, validated in verdicts)
            out[f"{phase}_bodies"] = server.bodies_sent
            out[f"{phase}_broken"] = sum(v.outcome == "broken" for v, _ in verdicts)
    finally:
        fetcher.close()
    return out


def _step_span(instance: Any, run_id: str, prefix: str) -> tuple[float, float]:
    """(first STEP_START, last STEP_SUCCESS) of the run's steps whose key starts with ``prefix``."""
    from dagster import DagsterEventType

    logs = [e for e in instance.all_logs(run_id) if (e.step_key or "").startswith(prefix)]
    starts = [e.timestamp for e in logs if e.dagster_event_type == DagsterEventType.STEP_START]
    ends = [e.timestamp for e in logs if e.dagster_event_type == DagsterEventType.STEP_SUCCESS]
    return min(starts), max(ends)


def _chunk_throughput(instance: Any, run_id: str) -> dict[str, float]:
    from dagster import DagsterEventType

    logs = instance.all_logs(run_id)
    starts = [
        e.timestamp
        for e in logs
        if e.dagster_event_type == DagsterEventType.STEP_START and e.step_key.startswith("sync_chunk")
    ]  # noqa: E501
    ends = [
        e.timestamp
        for e in logs
        if e.dagster_event_type == DagsterEventType.STEP_SUCCESS and e.step_key.startswith("sync_chunk")
    ]  # noqa: E501
    first = min(e.timestamp for e in logs)
    published = [
        e.timestamp
        for e in logs
        if e.dagster_event_type == DagsterEventType.STEP_SUCCESS and e.step_key == "publish_synced_export"
    ]
    window = max(ends) - min(starts)
    return {
        "chunks": len(ends),
        "window_s": window,
        "chunks_per_s": len(ends) / window,
        "published_after_s": (published[0] - first) if published else float("nan"),
    }


def under_load(server: Any, services: Any, tmp: Path, records: int, slow: int, loaded_first: bool) -> dict[str, Any]:
    from museum_sync.defs.celery_config import iiif_pool_options
    from museum_sync.defs.run_config import sync_run_config
    from museum_sync.runtime import WorkerPool, configure_environment, dagster_instance, run_job, runtime_env
    from museum_sync.samples.generate import ExportSpec, write_export
    from museum_sync_tests.iiif_server import iiif_profile, with_manifest_links

    home = tmp / "home"
    env = {
        **runtime_env(services, home, catalog_schema="bench_iiif_load"),
        "MUSEUM_SYNC_IIIF_ALLOWED_HOSTS": "127.0.0.1",
    }
    configure_environment(env)
    instance = dagster_instance()
    export_a = write_export(ExportSpec(records=records, seed=21, chunk_size=500), tmp / "a.csv")
    export_b = write_export(ExportSpec(records=records, seed=22, chunk_size=500), tmp / "b.csv")
    links = [server.url("slow", f"3/cookbook/0001-mvm-image.json?r={i}") for i in range(slow)]
    plain_s = write_export(ExportSpec(records=slow, seed=23, chunk_size=500, id_offset=900_000), tmp / "s0.csv")
    export_s = with_manifest_links(plain_s.read_text(encoding="utf-8"), tmp / "s.csv", links)
    profile = str(iiif_profile(tmp))
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}

    def sync(path: Path, profile_name: str, source: str) -> Any:
        config: dict[str, Any] = {**sync_run_config(path, profile_name, source, chunk_size=500), **quiet}
        return run_job("sync_export_job_def", instance=instance, run_config=config)

    warmup = write_export(ExportSpec(records=500, seed=20, chunk_size=500), tmp / "w.csv")
    concurrency, options = iiif_pool_options(("iiif",))
    ingestion = WorkerPool(
        env=env, log_dir=home / "logs", concurrency=2, queues=("ingestion_high", "dagster"), name="ing"
    )
    iiif = WorkerPool(
        env=env, log_dir=home / "logs", concurrency=1, queues=("iiif",), name="iiif", extra_args=tuple(options)
    )
    out: dict[str, Any] = {"iiif_pool_default_concurrency": concurrency}
    with ingestion, iiif:
        sync(warmup, "tate_artworks_csv", "bench-warmup")  # every child imports the code location once
        if not loaded_first:
            alone = sync(export_a, "tate_artworks_csv", "bench-a")
            out["alone"] = {"ok": alone.success, **_chunk_throughput(instance, alone.run_id)}
        holder: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: holder.update(run=sync(export_s, profile, "bench-slow")))
        thread.start()
        started_waiting = time.monotonic()
        deadline = started_waiting + 300
        while server.in_flight == 0 and time.monotonic() < deadline:  # the iiif step is fetching: pool busy
            time.sleep(0.2)
        saturated_at = time.monotonic()
        loaded = sync(export_b, "tate_artworks_csv", "bench-b")
        out["with_iiif_load"] = {"ok": loaded.success, **_chunk_throughput(instance, loaded.run_id)}
        thread.join()
        if loaded_first:  # the other order, to tell an order effect from IIIF load
            alone = sync(export_a, "tate_artworks_csv", "bench-a")
            out["alone"] = {"ok": alone.success, **_chunk_throughput(instance, alone.run_id)}
        busy = _step_span(instance, holder["run"].run_id, "check_iiif_chunk")
        b_window = _step_span(instance, loaded.run_id, "sync_chunk")
        overlap = max(0.0, min(busy[1], b_window[1]) - max(busy[0], b_window[0]))
        out["slow_export"] = {
            "ok": holder["run"].success,
            "iiif_step_s": busy[1] - busy[0],
            "b_chunks_window_covered_by_iiif_step": overlap / (b_window[1] - b_window[0]),
            "waited_for_saturation_s": saturated_at - started_waiting,
            "slow_manifests": slow,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=5, help="distinct URLs per shared file (cold/warm)")
    parser.add_argument("--records", type=int, default=4000, help="records of exports A and B (chunks of 500)")
    parser.add_argument("--slow", type=int, default=80, help="records of the slow export S (3 s manifests)")
    parser.add_argument("--skip-load", action="store_true", help="part 1 only")
    parser.add_argument("--skip-cold", action="store_true", help="part 2 only")
    parser.add_argument("--loaded-first", action="store_true", help="part 2: B under IIIF load before A alone")
    args = parser.parse_args(argv)

    from museum_sync.services import start_services
    from museum_sync_tests.iiif_server import IiifServer

    with tempfile.TemporaryDirectory(prefix="ms-bench-iiif-", dir="/tmp") as tmp, start_services() as services:
        with IiifServer(SHARED) as server:
            if not args.skip_cold:
                cw = cold_and_warm(server, services.pg_url, args.copies)
                print(
                    f"IIIF manifests: {cw['manifests']:.0f}; cold {cw['cold_per_s']:.1f}/s ({cw['cold_s']:.1f} s, "
                    f"{cw['cold_validated']:.0f} validated, {cw['cold_bodies']:.0f} bodies, "
                    f"{cw['cold_broken']:.0f} broken); "
                    f"warm {cw['warm_per_s']:.1f}/s ({cw['warm_s']:.1f} s, {cw['warm_validated']:.0f} validated, "
                    f"{cw['warm_bodies']:.0f} bodies): {cw['warm_per_s'] / cw['cold_per_s']:.1f}x",
                    flush=True,
                )
            if not args.skip_load:
                load = under_load(server, services, Path(tmp), args.records, args.slow, args.loaded_first)
                a, b = load["alone"], load["with_iiif_load"]
                print(
                    f"ingestion alone: {a['chunks']} chunks in {a['window_s']:.1f} s = "
                    f"{a['chunks_per_s']:.3f} chunks/s, "
                    f"published after {a['published_after_s']:.1f} s ({'ok' if a['ok'] else 'FAILED'})"
                )
                print(
                    f"ingestion with the iiif pool saturated: {b['chunks']} chunks in {b['window_s']:.1f} s = "
                    f"{b['chunks_per_s']:.3f} chunks/s ({b['chunks_per_s'] / a['chunks_per_s']:.2f}x), published after "
                    f"{b['published_after_s']:.1f} s ({'ok' if b['ok'] else 'FAILED'}); slow export S: "
                    f"{load['slow_export']}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
