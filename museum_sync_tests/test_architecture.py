"""Guards on the shape of the code: the pure core stays pure, typed and lint-clean; private Dagster and
dagster-celery APIs are imported in one module; the light CLI commands load no orchestration."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import museum_sync.core

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "museum_sync"
# The one module allowed to import private Dagster / dagster-celery APIs, with why for each (see there).
DAGSTER_INTERNALS = PACKAGE / "defs" / "dagster_internals.py"
# Its worker-side counterpart (issue #18): the compute log manager's base class, the per-child step task, pooling.
WORKER_INTERNALS = PACKAGE / "defs" / "worker_internals.py"
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


def _private_dagster_imports(path: Path) -> list[str]:
    """``dagster._*`` modules and dagster-celery's submodules (it exports only ``celery_executor``) that
    ``path`` imports, at the top or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names if node.module == "dagster"]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [n for n in names if n.startswith(("dagster._", "dagster_celery."))]
    return found


def test_private_dagster_apis_are_imported_in_one_module():
    """An upgrade of Dagster or dagster-celery is checked in one place: ``defs/dagster_internals.py``."""
    offenders = {
        str(path.relative_to(REPO)): imports
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in (DAGSTER_INTERNALS, WORKER_INTERNALS) and (imports := _private_dagster_imports(path))
    }
    assert not offenders, f"import these through museum_sync.defs.dagster_internals: {offenders}"
    assert _private_dagster_imports(DAGSTER_INTERNALS), "the guard above would pass vacuously"
    assert _private_dagster_imports(WORKER_INTERNALS), "the guard above would pass vacuously"


def test_the_code_location_loads_without_the_elasticsearch_client_until_search_is_used():
    """The CLI's orchestrator imports the code location for every sync: elasticsearch costs 0.16 s there and is
    loaded by the search package only when something asks for its client (issue #18)."""
    code = (
        "import sys, museum_sync.definitions; loaded = 'elasticsearch' in sys.modules\n"
        "from museum_sync.clients.search import ALIAS, SearchClient\n"
        "import museum_sync.clients.search as search\n"
        "print(loaded, 'elasticsearch' in sys.modules, SearchClient.__module__, ALIAS == search.client.ALIAS)\n"
        "try:\n    search.NoSuchName\nexcept AttributeError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "False True museum_sync.clients.search.client True"
    assert out[1] == "module 'museum_sync.clients.search' has no attribute 'NoSuchName'"


def test_worker_children_inherit_the_search_client_from_the_parent():
    from museum_sync.defs.worker_internals import _STEP_CODE

    assert "museum_sync.clients.search.client" in _STEP_CODE
