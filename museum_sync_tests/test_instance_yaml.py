"""One Dagster instance config: ``museum_sync/dagster_instance.yaml`` (packaged) is the source.

Where a file must physically exist elsewhere, these tests fail as soon as it drifts: the root
``dagster.yaml`` (a bare ``dagster dev`` at the repo root), the image's ``$DAGSTER_HOME/dagster.yaml`` (the
Dockerfile must copy the packaged file) and the Helm values the chart renders its own instance from.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from museum_sync.runtime import configure_environment, instance_yaml

REPO = Path(__file__).resolve().parent.parent
PACKAGED = REPO / "museum_sync" / "dagster_instance.yaml"


def _instance() -> dict[str, Any]:
    loaded = yaml.safe_load(instance_yaml())
    assert isinstance(loaded, dict)
    return loaded


def test_the_packaged_file_is_what_runtime_reads() -> None:
    assert instance_yaml() == PACKAGED.read_text(encoding="utf-8")
    assert _instance()["storage"]["postgres"]["postgres_url"] == {"env": "MUSEUM_SYNC_DAGSTER_PG_URL"}


def test_root_dagster_yaml_is_a_byte_copy() -> None:
    assert (REPO / "dagster.yaml").read_bytes() == PACKAGED.read_bytes(), (
        "dagster.yaml drifted from museum_sync/dagster_instance.yaml: edit the packaged file, then "
        "cp museum_sync/dagster_instance.yaml dagster.yaml"
    )


def test_no_other_copy_lies_around() -> None:
    copies = {
        path.relative_to(REPO).as_posix()
        for pattern in ("dagster.yaml", "dagster_instance.yaml")
        for path in REPO.rglob(pattern)
        if not any(part.startswith(".") or part.endswith(".egg-info") for part in path.relative_to(REPO).parts)
    }
    assert copies == {"dagster.yaml", "museum_sync/dagster_instance.yaml"}


def test_the_image_copies_the_packaged_file_into_dagster_home() -> None:
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    home = re.search(r"^ENV DAGSTER_HOME=(\S+)$", dockerfile, re.MULTILINE)
    assert home, "the Dockerfile must set DAGSTER_HOME"
    copies = re.findall(r"^COPY (?:--\S+ )*(\S+) (\S+/dagster\.yaml)$", dockerfile, re.MULTILINE)
    assert copies == [("museum_sync/dagster_instance.yaml", f"{home.group(1)}/dagster.yaml")]


def test_helm_values_mirror_the_instance() -> None:
    """The chart renders dagster.yaml from its values: the parts museum-sync sets must say the same."""
    values = yaml.safe_load((REPO / "deploy" / "helm" / "values.yaml").read_text(encoding="utf-8"))
    daemon = values["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    monitoring = daemon["runMonitoring"]
    custom_logs = values["computeLogManager"]["config"]["customComputeLogManager"]
    assert values["computeLogManager"]["type"] == "CustomComputeLogManager"
    rendered = {
        "compute_logs": {"module": custom_logs["module"], "class": custom_logs["class"]},
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": daemon["runCoordinator"]["type"],
            "config": {
                "max_concurrent_runs": queued["maxConcurrentRuns"],
                "dequeue_interval_seconds": queued["dequeueIntervalSeconds"],
                "tag_concurrency_limits": queued["tagConcurrencyLimits"],
            },
        },
        "run_monitoring": {
            "enabled": monitoring["enabled"],
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            "max_runtime_seconds": monitoring["maxRuntimeSeconds"],
            "poll_interval_seconds": monitoring["pollIntervalSeconds"],
        },
        "run_retries": {"enabled": daemon["runRetries"]["enabled"]},
        "python_logs": {"python_log_level": values["pythonLogs"]["pythonLogLevel"]},
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
    }
    instance = _instance()
    assert rendered == {key: instance[key] for key in rendered}
    assert custom_logs["config"] == instance["compute_logs"].get("config", {})


def test_configure_environment_writes_the_packaged_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "MUSEUM_SYNC_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
        "MUSEUM_SYNC_IO_DIR": str(tmp_path / "io"),
        "MUSEUM_SYNC_INBOX": str(tmp_path / "inbox"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # so that monkeypatch restores what configure_environment sets
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text("stale: true\n", encoding="utf-8")
    configure_environment(env)
    assert (tmp_path / "dagster" / "dagster.yaml").read_bytes() == PACKAGED.read_bytes()
    assert all((tmp_path / name).is_dir() for name in ("artifacts", "io", "inbox"))
