"""Guards on the shape of the code: the pure core stays pure, typed and lint-clean."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import museum_sync.core

REPO = Path(__file__).resolve().parent.parent
FORBIDDEN = ("dagster", "celery", "kombu", "psycopg", "psycopg2", "elasticsearch", "redis", "httpx")


def test_core_imports_no_service_client():
    """museum_sync.core is pure Python: importing all of it must not pull in any orchestration or client."""
    modules = [m.name for m in pkgutil.walk_packages(museum_sync.core.__path__, "museum_sync.core.")]
    assert len(modules) >= 10
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(json.loads(out))
    assert not loaded & set(FORBIDDEN), f"core imported {sorted(loaded & set(FORBIDDEN))}"


def test_core_is_mypy_strict_clean():
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "museum_sync/core"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:]


def test_ruff_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
