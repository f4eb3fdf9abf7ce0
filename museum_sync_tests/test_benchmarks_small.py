"""The benchmarks run in CI at a small size (full sizes: ``make bench``): they must keep working, and their
figures are printed in the CI log. Nothing here asserts a timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str) -> str:
    result = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    print(result.stdout)
    return result.stdout


def test_generator_is_deterministic(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    for path in (a, b):
        _run(
            "benchmarks/generate.py",
            "--records",
            "3000",
            "--out",
            str(path),
            "--bad-share",
            "0.02",
            "--drift-chunks",
            "1",
            "--chunk-size",
            "1000",
        )
    assert a.read_bytes() == b.read_bytes()
    assert len(a.read_text(encoding="utf-8").splitlines()) == 3001


def test_core_throughput_benchmark_runs_small():
    out = _run("benchmarks/core_throughput.py", "--sizes", "3000", "--lido-records", "300")
    assert "stream" in out and "naive" in out and "lido" in out and "per new display date" in out


def test_record_work_benchmark_runs_small_beside_its_json_baselines():
    out = _run("benchmarks/bench_record_work.py", "--records", "1000", "--repeat", "1")
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["records"] == 1000 and 900 < figures["valid"] <= 1000
    pieces = figures["us_per_record"]
    assert "  baseline: json.dumps(sort_keys)" in pieces and "catalog_json (hash + JSON)" in pieces
    assert all(value > 0 for value in pieces.values())


@pytest.mark.integration
def test_sync_benchmark_runs_small_against_the_naive_baseline():
    # 1000 records: the naive baseline sends one Celery task per record, so its share of the time grows with them.
    out = _run("benchmarks/bench_sync.py", "--sizes", "1000", "--naive-max", "1000")
    figures = json.loads(out.strip().splitlines()[-1])
    ours, naive = figures["1000/museum-sync"], figures["1000/naive"]
    assert ours["ok"] and ours["pg_rows"] > 950 and ours["runs"] == 1
    assert naive["celery_tasks"] >= 950  # one task per record, carrying the record


@pytest.mark.integration
def test_search_benchmark_runs_small_against_per_document_indexing():
    out = _run("benchmarks/bench_search.py", "--records", "2000", "--naive-max", "300")
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["public_rows"] == figures["public_docs"] == 2000 - 10 + 20  # 0.5% deleted, 1% new
    assert figures["carried"] == 2000 - 200 - 10  # all but the 10% revised and the deleted
    assert all("0 of 200 sampled content hashes differ" in p["check"] for p in figures["publications"])
    assert figures["index_docs_per_s"] > 0 and figures["naive_docs_per_s"] > 0


@pytest.mark.integration
def test_partition_benchmark_runs_small_and_retirement_shrinks_the_keys():
    out = _run("benchmarks/bench_partitions.py", "--exports", "12", "--chunks", "20", "--repeat", "1", "--no-ui")
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["chunk_keys_before"] == 12 * 20
    assert figures["chunk_keys_after"] <= (figures["keep"] + 1) * 20  # kept exports and the newest unpublished
    assert figures["upstream_in_use_keys"] == 0  # an export partition depends on no chunk partition
