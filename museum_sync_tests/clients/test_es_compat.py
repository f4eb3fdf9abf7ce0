"""The Elasticsearch side of what we declare and deploy: the lowest elasticsearch-py pyproject.toml accepts
really works, and the compose stack's single node keeps our indices green and its data.

``make test`` builds ``.venv-esmin`` (the declared lower bound of elasticsearch-py and the lowest
elastic-transport it accepts, over the main venv's other packages) before pytest; the search client's tests
run again with that interpreter, against the same test server.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ESMIN_PYTHON = REPO / ".venv-esmin" / "bin" / "python"
LOWER_BOUND_TESTS = ["museum_sync_tests/clients/test_search.py", "museum_sync_tests/safety/test_search_safety.py"]


def declared_lower_bound() -> str:
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    (spec,) = [d for d in dependencies if re.match(r"elasticsearch\b", d)]
    found = re.search(r">=\s*([0-9.]+)", spec)
    assert found, f"{spec!r}: declare a lower bound"
    return found.group(1)


def _release(text: str) -> tuple[int, ...]:
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


@pytest.mark.skipif(
    not ESMIN_PYTHON.exists(),
    reason=".venv-esmin does not exist: `make esmin` (run by `make test`) installs the declared lowest "
    "elasticsearch-py into it",
)
def test_the_declared_lowest_elasticsearch_py_passes_the_search_client_tests() -> None:
    lowest = declared_lower_bound()
    probe = subprocess.run(
        [str(ESMIN_PYTHON), "-c", "import elasticsearch, elastic_transport as t; print(elasticsearch.__versionstr__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = probe.stdout.strip()
    assert _release(installed) == _release(lowest), (
        f".venv-esmin has elasticsearch {installed}, pyproject.toml declares >={lowest}: run `make esmin`"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    run = subprocess.run(
        [str(ESMIN_PYTHON), "-m", "pytest", "-q", "-p", "no:cacheprovider", *LOWER_BOUND_TESTS],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    tail = run.stdout[-4000:] + run.stderr[-2000:]
    assert run.returncode == 0, f"the search tests fail on elasticsearch {installed}:\n{tail}"
    passed = re.search(r"(\d+) passed", run.stdout)
    assert passed and int(passed.group(1)) >= 30 and " skipped" not in run.stdout, tail


def test_compose_keeps_the_single_nodes_indices_green_and_its_data() -> None:
    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    es = services["elasticsearch"]
    assert es["environment"]["discovery.type"] == "single-node"
    assert es["environment"]["action.destructive_requires_name"] == "true"
    # Every service that reads the settings gets replicas 0: a replica can never be assigned on one node.
    app = [name for name, service in services.items() if "MUSEUM_SYNC_ES_URL" in service.get("environment", {})]
    assert {"codelocation", "daemon", "webserver", "worker-ingestion", "worker-iiif"} <= set(app)
    for name in app:
        assert str(services[name]["environment"]["MUSEUM_SYNC_ES_REPLICAS"]) == "0", name
    # Its data on a named volume: indices (and the versions kept for rollback) survive a re-created container.
    mounts = [m.split(":") for m in es.get("volumes", [])]
    data = [source for source, target, *_ in mounts if target == "/usr/share/elasticsearch/data"]
    assert data and data[0] in compose["volumes"], mounts


def test_the_settings_read_the_composes_replicas() -> None:
    from museum_sync.settings import get_settings

    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    env = {k: str(v) for k, v in compose["services"]["worker-ingestion"]["environment"].items() if "${" not in str(v)}
    assert get_settings(env).search.replicas == 0
