"""Worker-side orchestration cost (issue #18): the same sync per variant, interleaved rounds, one run.

    python benchmarks/bench_worker_side.py --records 20000 --rounds 3
    python benchmarks/bench_worker_side.py --records 20000 --rounds 1 --variants stock --profile /tmp/prof

A variant is a compute log manager (``local``: Dagster's default, ``tail`` + ``watch_orphans.py`` per step;
``tee``: ``defs.compute_logs``, in-process) and a worker instance mode (``per-step``: dagster-celery's task,
``DagsterInstance.from_ref`` and NullPool connections per step; ``per-child``: ``defs.worker_instance``, one
pooled instance per worker child). ``MUSEUM_SYNC_WORKER_INSTANCE`` picks the mode in the workers; the compute
log manager is the ``compute_logs`` block of ``$DAGSTER_HOME/dagster.yaml``, removed for ``local``.

Per run: wall time; CPU seconds of the worker's process tree and of the embedded PostgreSQL server (the
machine is shared: CPU moves far less with load than wall time); PostgreSQL sessions opened in the Dagster
database (``pg_stat_database.sessions``); processes started under the worker (psutil, sampled every 20 ms:
short-lived ones can be missed, a lower bound); load average. ``--profile DIR``: ``py-spy record
--subprocesses`` on the worker for each run, raw collapsed stacks in DIR, and the share of worker samples in a
few places. Asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bench_sync import tree_cpu_s  # noqa: E402 - needs the path set-up above

VARIANTS: dict[str, tuple[str, str]] = {
    "stock": ("local", "per-step"),
    "tee": ("tee", "per-step"),
    "pooled": ("local", "per-child"),
    "both": ("tee", "per-child"),
}
# Where a worker sample is, for --profile: the first matching pattern (in this order) counts the sample.
PLACES = [
    ("new PostgreSQL connection", r"connect \(sqlalchemy/engine/default\.py|connect \(psycopg/connection\.py"),
    ("process start/reap (compute logs)", r"execute_posix_tail|_clean_up_subprocess"),
    ("DagsterInstance.from_ref", r"from_ref \(dagster"),
    ("other event writes (store_event)", r"store_event"),
    ("record work (pipeline, clients)", r"museum_sync/pipeline|museum_sync/clients"),
]


class SpawnWatch(threading.Thread):
    """Processes started below the worker's parent during a run, by command name (psutil, every 20 ms)."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.stop, self.seen = root, threading.Event(), {}  # type: ignore[var-annotated]

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                for proc in psutil.Process(self.root).children(recursive=True):
                    if proc.pid not in self.seen:
                        try:
                            self.seen[proc.pid] = " ".join(proc.cmdline()[:2])
                        except psutil.Error:
                            self.seen[proc.pid] = "?"
            except psutil.Error:
                pass
            self.stop.wait(0.02)

    def helpers(self) -> Counter[str]:
        return Counter(
            "tail" if cmd.startswith("tail") else "watch_orphans" if "watch_orphans" in cmd else "pool child"
            for cmd in self.seen.values()
        )


def embedded_postgres() -> psutil.Process | None:
    """The embedded PostgreSQL server this benchmark started (a child of this process), if any."""
    return next((p for p in psutil.Process().children() if p.name() in ("postgres", "postmaster")), None)


def dagster_sessions(url: str) -> int:
    import psycopg

    url = url.replace("+psycopg2", "")
    with psycopg.connect(url, autocommit=True) as conn:
        (count,) = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()").fetchone()
    return int(count)


def write_instance(home: Path, compute_logs: str) -> None:
    from museum_sync.runtime import instance_yaml

    text = instance_yaml()
    if compute_logs == "local":
        text = re.sub(r"\ncompute_logs:\n(?:  .*\n|\s*#.*\n)*", "\n", text)
        assert not re.search(r"^compute_logs:", text, re.MULTILINE)
    (home / "dagster.yaml").write_text(text, encoding="utf-8")


def profile_places(raw: Path) -> dict[str, float]:
    """Share of samples per place in py-spy's raw (collapsed) output, worker children only."""
    counts: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, n = line.rpartition(" ")
        if "celery" not in stack or "execute_plan" not in stack and "_execute_plan" not in stack:
            continue
        total += int(n)
        for place, pattern in PLACES:
            if re.search(pattern, stack):
                counts[place] += int(n)
                break
    return {"steps' samples": float(total), **{p: counts[p] / total * 100 if total else 0.0 for p, _ in PLACES}}


def run_once(variant: str, path: Path, env: dict[str, str], home: Path, records: int, n: int, prof: Path | None):
    from dagster import DagsterEventType

    from museum_sync.defs.run_config import sync_run_config
    from museum_sync.runtime import WorkerPool, dagster_instance, run_job

    compute_logs, mode = VARIANTS[variant]
    write_instance(Path(env["DAGSTER_HOME"]), compute_logs)
    instance = dagster_instance()
    config: dict[str, Any] = sync_run_config(path, "tate_artworks_csv", f"w{records}-{variant}-{n}")
    config["loggers"] = {"console": {"config": {"log_level": "CRITICAL"}}}
    worker_env = {**env, "MUSEUM_SYNC_WORKER_INSTANCE": mode}
    with WorkerPool(env=worker_env, log_dir=home / "logs", concurrency=2) as pool:
        root = pool.procs[0].pid
        watch = SpawnWatch(root)
        spy = None
        if prof is not None:
            raw = prof / f"{variant}-{n}.txt"
            spy = subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(root), "--subprocesses",
                 "--format", "raw", "--rate", "200", "--nonblocking", "-o", str(raw)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(1.0)
        sessions = dagster_sessions(env["MUSEUM_SYNC_DAGSTER_PG_URL"])
        postgres = embedded_postgres()
        worker_cpu, pg_cpu = tree_cpu_s(psutil.Process(root)), tree_cpu_s(postgres) if postgres else 0.0
        watch.start()
        load = os.getloadavg()[0]
        started = time.monotonic()
        result = run_job("sync_export_job_def", instance=instance, run_config=config)
        wall = time.monotonic() - started
        watch.stop.set()
        worker_cpu = tree_cpu_s(psutil.Process(root)) - worker_cpu
        pg_cpu = (tree_cpu_s(postgres) - pg_cpu) if postgres else float("nan")
        sessions = dagster_sessions(env["MUSEUM_SYNC_DAGSTER_PG_URL"]) - sessions
        if spy is not None:
            spy.send_signal(2)
            spy.wait(30)
    # From the event log: a step's STEP_START no longer reaches the orchestrator (worker_internals.for_orchestrator).
    steps = len(instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_START))
    out = {"ok": result.success, "wall_s": wall, "steps": steps, "sessions": sessions, "load": load}
    out |= {"worker_cpu_s": worker_cpu, "pg_cpu_s": pg_cpu}
    out["helpers"] = dict(watch.helpers())
    if prof is not None:
        out["profile"] = profile_places(prof / f"{variant}-{n}.txt")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default="stock,tee,pooled,both")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy raw profiles into this folder")
    args = parser.parse_args(argv)

    from museum_sync.runtime import configure_environment, runtime_env
    from museum_sync.samples.generate import ExportSpec, write_export
    from museum_sync.services import start_services

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    walls: dict[str, list[float]] = {v: [] for v in variants}
    cpus: dict[str, list[float]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="ms-wbench-", dir="/tmp") as tmp, start_services() as services:
        home = Path(tmp) / "home"
        env = runtime_env(services, home, catalog_schema="wbench")
        configure_environment(env)
        path = write_export(ExportSpec(records=args.records, seed=5, bad_share=0.01), Path(tmp) / "tate.csv")
        for n in range(args.rounds):
            for variant in variants:
                r = run_once(variant, path, env, home, args.records, n, args.profile)
                walls[variant].append(r["wall_s"])
                cpus[variant].append(r["worker_cpu_s"] + r["pg_cpu_s"])
                per_step = r["sessions"] / max(r["steps"], 1)
                print(
                    f"round {n + 1} {variant:7} {'ok' if r['ok'] else 'FAILED':6} {r['wall_s']:6.1f} s  "
                    f"CPU worker {r['worker_cpu_s']:5.1f} s + PostgreSQL {r['pg_cpu_s']:5.1f} s  "
                    f"steps {r['steps']:4}  PG sessions {r['sessions']:6} ({per_step:5.1f}/step)  "
                    f"processes seen {r['helpers']}  load {r['load']:.2f}",
                    flush=True,
                )
                if "profile" in r:
                    print("   profile: " + ", ".join(f"{k} {v:.0f}{'' if k.startswith('steps') else '%'}"
                                                   for k, v in r["profile"].items()), flush=True)  # fmt: skip
    for variant, values in walls.items():
        print(
            f"{variant:7} wall median {statistics.median(values):6.1f} s ({', '.join(f'{v:.1f}' for v in values)}); "
            f"worker + PostgreSQL CPU median {statistics.median(cpus[variant]):6.1f} s "
            f"({', '.join(f'{v:.1f}' for v in cpus[variant])})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
