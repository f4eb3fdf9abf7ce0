"""A year of dynamic partitions in a real Dagster instance on PostgreSQL, before and after retirement.

    python benchmarks/bench_partitions.py                                 # 365 exports x 500 chunks (a year)
    python benchmarks/bench_partitions.py --exports 20 --chunks 50        # quick

Every nightly export adds one ``exports`` key and one ``chunks`` key per chunk (``steps.register_export``).
Without retirement a year of 500-chunk exports is 182,500 chunk keys. This script builds that state in a
Dagster instance on (embedded) PostgreSQL, with the catalogue rows a year leaves (every export registered,
its chunks loaded, the newest ``--keep`` kept by retention, the others dropped), and times:

1. adding the keys, one export at a time, as ``register_export`` does;
2. the daemon's tick of ``publication_sensor`` (``SensorDefinition.evaluate_tick`` with the instance and the
   resources: the catalogue's queries, the in-flight run check, the run request's partition check), with
   tonight's export ready to publish;
3. the UI's GraphQL queries a steward triggers (``dagster-webserver`` on the same instance, ``POST /graphql``):
   the partitions page of ``validated_chunk`` and ``published_export`` (``partitionKeysByDimension``,
   ``assetPartitionStatuses``, ``partitionStats``) and a published partition's ``staleStatus``/``staleCauses``;
4. what ``published_export``'s dependency costs anything walking the graph by partition: the upstream chunk
   partitions of one export partition with the old ``AllPartitionMapping`` and with the mapping in use;
5. ``retire_partitions`` down to the ``--keep`` exports retention kept (bulk delete), and the public
   one-key-per-call ``delete_dynamic_partition`` for one export, for comparison;

then 2. and 3. again. Before retirement the UI queries also run against the same code location with
``published_export``'s old dependency (``AllPartitionMapping``, this file's ``old_mapping_defs``), to show
what the dependency fix saves. ``--materialize N``: the newest N exports' chunk partitions get a ``validated_chunk``
materialization each, so the status queries have something to count. Prints a table and a JSON line;
asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import dagster as dg  # noqa: E402
import httpx  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from museum_sync.clients.catalog import Catalog  # noqa: E402
from museum_sync.core.keys import partition_key  # noqa: E402

PARTITIONS_QUERY = """
query Partitions($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      partitionKeysByDimension { name partitionKeys }
      assetPartitionStatuses {
        __typename
        ... on DefaultPartitionStatuses { materializedPartitions failedPartitions materializingPartitions }
      }
      partitionStats { numMaterialized numPartitions numFailed numMaterializing }
    }
  }
}
"""
STALE_QUERY = """
query Stale($key: AssetKeyInput!, $partition: String!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      staleStatus(partition: $partition)
      staleCauses(partition: $partition) { reason category }
      dependencies { partitionMapping { className } }
    }
  }
}
"""


def export_ids(count: int) -> list[str]:
    """One export a night for ``count`` nights, ending last night."""
    last = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    return [f"tate-{(last - timedelta(days=count - 1 - n)):%Y%m%d}-{n:08x}" for n in range(count)]


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Median wall seconds of ``repeat`` calls, and the last result."""
    times = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


# ------------------------------------------------------------------------------------------------ the state


def year_of_catalogue(catalog: Catalog, exports: list[str], chunks: int, keep: int) -> None:
    """The catalogue rows a year leaves: every export registered with its snapshot time and its chunks loaded,
    each published in turn; retention kept the newest ``keep`` and dropped the others. Tonight's export
    (one more, the last) is loaded and not published yet: the sensor has one export to ask for."""
    for export_id in exports:
        day = export_id.split("-")[1]
        at = f"{day[:4]}-{day[4:6]}-{day[6:]}T02:00:00+00:00"
        catalog.register_export(export_id, "tate", "tate_artworks_csv", {"fetched_at": at}, chunks, chunks * 1000)
    ident = lambda name: sql.Identifier(catalog.schema, name)  # noqa: E731
    with psycopg.connect(catalog.conninfo) as conn:  # a year of rows at once (the API writes one chunk a call)
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (partition_key, export_id, chunk_index, state, record_count, updated_at)"
                " SELECT e.export_id || '/' || lpad(i::text, 4, '0'), e.export_id, i, 'loaded', 1000, now()"
                " FROM {} e, generate_series(0, e.chunk_count - 1) i"
            ).format(ident("chunk_status"), ident("exports"))
        )
        for export_id in exports[:-1]:
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (export_id, staging_table, kind, published_at, record_count, withdrawn_count,"
                    " withdrawn_sample, metadata) SELECT export_id, staging_table, 'publish', now(), 0, 0, '[]',"
                    " '{{}}' FROM {} WHERE export_id = %s"
                ).format(ident("publications"), ident("exports")),
                (export_id,),
            )
        kept = exports[-1 - keep : -1] + exports[-1:]
        conn.execute(
            sql.SQL("UPDATE {} SET dropped_at = now() WHERE NOT (export_id = ANY(%s))").format(ident("exports")),
            (kept,),
        )
        conn.execute(
            sql.SQL("UPDATE {} SET state = 'validated' WHERE NOT (export_id = ANY(%s))").format(ident("chunk_status")),
            (kept,),
        )


def add_partitions(instance: Any, exports: list[str], chunks: int) -> list[float]:
    """What ``register_export`` does for each export; seconds per export."""
    per_export = []
    for export_id in exports:
        started = time.perf_counter()
        instance.add_dynamic_partitions("exports", [export_id])
        instance.add_dynamic_partitions("chunks", [partition_key(export_id, i) for i in range(chunks)])
        per_export.append(time.perf_counter() - started)
    return per_export


def materialize(instance: Any, exports: list[str], chunks: int, published: str) -> float:
    """Each chunk of ``exports`` validated, loaded and indexed, and ``published`` published: the materializations
    a staleness check of ``published_export[published]`` reads."""
    from museum_sync.defs.asset_keys import CATALOG_CHUNK, PUBLISHED_EXPORT, SEARCH_CHUNK, VALIDATED_CHUNK

    started = time.perf_counter()
    for export_id in exports:
        for i in range(chunks):
            for asset_key in (VALIDATED_CHUNK, CATALOG_CHUNK, SEARCH_CHUNK):
                instance.report_runless_asset_event(
                    dg.AssetMaterialization(asset_key=asset_key, partition=partition_key(export_id, i))
                )
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=PUBLISHED_EXPORT, partition=published))
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------------------- what we time


def sensor_tick(instance: Any, catalog: Catalog) -> Callable[[], Any]:
    from museum_sync.definitions import defs
    from museum_sync.defs.resources import CatalogResource

    repo = defs.get_repository_def()
    sensor = repo.get_sensor_def("publication_sensor")
    resources = {"catalog": CatalogResource(pg_url=catalog.conninfo, schema_name=catalog.schema)}

    def tick() -> Any:
        # The daemon's code server gives the context an instance ref: run requests' partition keys are then
        # checked against the instance's dynamic partitions, as in production.
        context = dg.build_sensor_context(
            instance=instance, instance_ref=instance.get_ref(), repository_def=repo, resources=resources
        )
        return sensor.evaluate_tick(context)

    return tick


def upstream_of_one_export(instance: Any, export_id: str, mapping: Any) -> Callable[[], int]:
    from museum_sync.defs.partitions import chunk_partitions, export_partitions

    def upstream() -> int:
        result = mapping.get_upstream_mapped_partitions_result_for_partitions(
            export_partitions.empty_subset().with_partition_keys([export_id]),
            export_partitions,
            chunk_partitions,
            dynamic_partitions_store=instance,
        )
        return len(result.partitions_subset.get_partition_keys())

    return upstream


class Webserver:
    """``dagster-webserver`` on the instance of ``DAGSTER_HOME``, loading the museum-sync code location."""

    def __init__(
        self, env: dict[str, str], log: Path, location: tuple[str, ...] = ("-m", "museum_sync.definitions")
    ) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dagster_webserver", *location, "-h", "127.0.0.1", "-p", str(self.port)],
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=600)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if self.http.get("/server_info").status_code == 200 and self._location_loaded():
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"dagster-webserver exited; see {log}")
            time.sleep(0.5)
        raise RuntimeError(f"dagster-webserver did not load the code location in 180 s; see {log}")

    def _location_loaded(self) -> bool:
        data = self.query("{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }")
        entries = data["workspaceOrError"]["locationEntries"]
        return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)

    def query(self, text: str, variables: dict[str, Any] | None = None) -> Any:
        response = self.http.post("/graphql", json={"query": text, "variables": variables or {}})
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors'][:2]}")
        return body["data"]

    def close(self) -> None:
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def ui_queries(web: Webserver, published: str, repeat: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    for asset in ("validated_chunk", "published_export"):
        seconds, data = timed(lambda a=asset: web.query(PARTITIONS_QUERY, {"key": {"path": [a]}}), repeat)
        node = data["assetNodeOrError"]
        keys = sum(len(d["partitionKeys"]) for d in node["partitionKeysByDimension"])
        figures[f"ui_partitions_{asset}_s"] = seconds
        figures[f"ui_partitions_{asset}_keys"] = keys
    seconds, data = timed(
        lambda: web.query(STALE_QUERY, {"key": {"path": ["published_export"]}, "partition": published}), repeat
    )
    figures["ui_stale_published_export_s"] = seconds
    node = data["assetNodeOrError"]
    figures["ui_stale_published_export_status"] = node["staleStatus"]
    figures["ui_published_export_mapping"] = sorted(
        {(d["partitionMapping"] or {}).get("className", "default: AllPartitionMapping") for d in node["dependencies"]}
    )
    return figures


def __getattr__(name: str) -> Any:
    """``old_mapping_defs``: the code location as it was, ``published_export`` depending on every chunk of every
    export (``AllPartitionMapping``); the "before the fix" webserver loads it from this file (PEP 562, lazily)."""
    if name != "old_mapping_defs":
        raise AttributeError(name)
    from museum_sync.definitions import defs
    from museum_sync.defs.asset_keys import CATALOG_CHUNK, PUBLISHED_EXPORT, SEARCH_CHUNK

    every = dg.AllPartitionMapping()
    deps = [dg.AssetDep(CATALOG_CHUNK, partition_mapping=every), dg.AssetDep(SEARCH_CHUNK, partition_mapping=every)]
    return defs.map_asset_specs(
        func=lambda spec: spec.replace_attributes(deps=deps) if spec.key == PUBLISHED_EXPORT else spec
    )


# -------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exports", type=int, default=365, help="nightly exports (a year: 365)")
    parser.add_argument("--chunks", type=int, default=500, help="chunks per export")
    parser.add_argument("--keep", type=int, default=3, help="exports retention keeps (MUSEUM_SYNC_KEEP_EXPORTS)")
    parser.add_argument("--materialize", type=int, default=2, help="newest exports whose chunks get materialized")
    parser.add_argument("--repeat", type=int, default=3, help="repeats of each query (median reported)")
    parser.add_argument("--no-ui", action="store_true", help="skip the webserver's GraphQL queries")
    args = parser.parse_args(argv)

    from museum_sync.defs.dagster_internals import delete_dynamic_partitions
    from museum_sync.defs.partitions import retire_partitions
    from museum_sync.runtime import configure_environment, dagster_instance, runtime_env
    from museum_sync.services import start_services

    exports = export_ids(args.exports)
    tonight = exports[-1]
    published = exports[-2]
    figures: dict[str, Any] = {"exports": args.exports, "chunks_per_export": args.chunks, "keep": args.keep}
    with tempfile.TemporaryDirectory(prefix="ms-bench-parts-", dir="/tmp") as tmp, start_services() as services:
        env = runtime_env(services, Path(tmp) / "home", catalog_schema="bench_partitions")
        configure_environment(env)
        instance = dagster_instance()
        catalog = Catalog(services.pg_url, schema="bench_partitions")
        # The benchmark's own scratch schema: on a server it did not start (MUSEUM_SYNC_PG_URL) an earlier run's
        # rows are still there, and the year of exports it writes would collide with them.
        with psycopg.connect(services.pg_url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS bench_partitions CASCADE")
        catalog.migrate()
        year_of_catalogue(catalog, exports, args.chunks, args.keep)

        per_export = add_partitions(instance, exports, args.chunks)
        figures["add_total_s"] = sum(per_export)
        figures["add_per_export_ms_median"] = statistics.median(per_export) * 1000
        figures["add_last_export_ms"] = per_export[-1] * 1000
        figures["chunk_keys_before"] = len(instance.get_dynamic_partitions("chunks"))
        figures["materialize_s"] = materialize(instance, exports[-args.materialize :], args.chunks, published)

        from museum_sync.defs.assets import NO_CHUNK_PARTITIONS

        for name, mapping in (("all_partition_mapping", dg.AllPartitionMapping()), ("in_use", NO_CHUNK_PARTITIONS)):
            seconds, count = timed(upstream_of_one_export(instance, published, mapping), args.repeat)
            figures[f"upstream_{name}_s"] = seconds
            figures[f"upstream_{name}_keys"] = count

        def measure(phase: str, location: tuple[str, ...] | None = None) -> None:
            if location is None:
                seconds, data = timed(sensor_tick(instance, catalog), args.repeat)
                figures[f"sensor_tick_{phase}_s"] = seconds
                figures[f"sensor_requests_{phase}"] = [r.partition_key for r in data.run_requests]
                seconds, _ = timed(lambda: instance.get_dynamic_partitions("chunks"), args.repeat)
                figures[f"list_chunk_keys_{phase}_s"] = seconds
            if not args.no_ui:
                web = Webserver(env, Path(tmp) / f"webserver-{phase}.log", *([location] if location else []))
                try:
                    for key, value in ui_queries(web, published, args.repeat).items():
                        figures[f"{key}_{phase}"] = value
                finally:
                    web.close()

        measure("before")
        measure("old_mapping", ("-f", os.path.abspath(__file__), "-a", "old_mapping_defs"))

        # The public API, one key per call, for one export (what the daemon's own delete does), for comparison.
        oldest = exports[0]
        started = time.perf_counter()
        for i in range(args.chunks):
            instance.delete_dynamic_partition("chunks", partition_key(oldest, i))
        figures["delete_one_export_public_api_s"] = time.perf_counter() - started
        instance.add_dynamic_partitions("chunks", [partition_key(oldest, i) for i in range(args.chunks)])
        started = time.perf_counter()
        delete_dynamic_partitions(instance, "chunks", [partition_key(oldest, i) for i in range(args.chunks)])
        figures["delete_one_export_bulk_s"] = time.perf_counter() - started
        instance.add_dynamic_partitions("chunks", [partition_key(oldest, i) for i in range(args.chunks)])

        seconds, retired = timed(lambda: retire_partitions(instance, catalog))
        figures["retire_s"] = seconds
        figures["retired_exports"] = len(retired)
        figures["chunk_keys_after"] = len(instance.get_dynamic_partitions("chunks"))
        figures["export_keys_after"] = len(instance.get_dynamic_partitions("exports"))
        assert tonight in instance.get_dynamic_partitions("exports")
        seconds, _ = timed(lambda: retire_partitions(instance, catalog), args.repeat)
        figures["retire_nothing_left_s"] = seconds

        measure("after")
        instance.dispose()

    print_table(figures)
    print(json.dumps(figures, sort_keys=True, default=str))
    return 0


def print_table(f: dict[str, Any]) -> None:
    def pair(key: str) -> tuple[str, str]:
        return f"{f[f'{key}_before_s']:.3f} s", f"{f[f'{key}_after_s']:.3f} s"

    rows = [
        ("chunk keys", f["chunk_keys_before"], f["chunk_keys_after"]),
        ("publication_sensor tick (evaluate_tick)", *pair("sensor_tick")),
        ("list the chunk keys (instance)", *pair("list_chunk_keys")),
    ]
    for asset in ("validated_chunk", "published_export"):
        key = f"ui_partitions_{asset}_s"
        if f"{key}_before" in f:
            rows.append((f"UI partitions page of {asset}", f"{f[f'{key}_before']:.3f} s", f"{f[f'{key}_after']:.3f} s"))
    if "ui_stale_published_export_s_before" in f:
        rows.append(
            (
                "UI staleStatus/staleCauses of published_export[p]",
                f"{f['ui_stale_published_export_s_before']:.3f} s",
                f"{f['ui_stale_published_export_s_after']:.3f} s",
            )
        )
    for key in ("ui_partitions_published_export_s", "ui_stale_published_export_s"):
        if f"{key}_old_mapping" in f:
            rows.append((f"  same, old AllPartitionMapping: {key[3:-2]}", f"{f[f'{key}_old_mapping']:.3f} s", "-"))
    print(f"{f['exports']} exports x {f['chunks_per_export']} chunks; retention keeps {f['keep']}")
    print(f"{'':52} {'before retirement':>20} {'after':>12}")
    for name, before, after in rows:
        print(f"{name:52} {before!s:>20} {after!s:>12}")
    print(
        f"adding the keys: {f['add_total_s']:.1f} s in all, {f['add_per_export_ms_median']:.0f} ms per export"
        f" (median; the last export: {f['add_last_export_ms']:.0f} ms)"
    )
    print(
        f"upstream chunk partitions of published_export[one export]: AllPartitionMapping"
        f" {f['upstream_all_partition_mapping_keys']} keys in {f['upstream_all_partition_mapping_s']:.3f} s;"
        f" in use {f['upstream_in_use_keys']} keys in {f['upstream_in_use_s']:.4f} s"
    )
    print(
        f"retire_partitions: {f['retired_exports']} exports in {f['retire_s']:.1f} s"
        f" (then {f['retire_nothing_left_s'] * 1000:.0f} ms with nothing left); deleting one export's"
        f" {f['chunks_per_export']} chunk keys: public API {f['delete_one_export_public_api_s']:.2f} s,"
        f" bulk {f['delete_one_export_bulk_s'] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    raise SystemExit(main())
