"""deploy/ kept true: every file parses, every command it runs exists, every variable it sets is a setting, every
queue has a worker, every worker is scraped, limited, probed and drained, and the dashboard and alert rules use only
metrics museum-sync exports (``promtool check rules`` too when the distribution's ``prometheus`` package is here).

Generic on purpose: services, workers and commands are found in the files, not listed here, so a new worker pool
or broker profile is checked the moment it is added.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from museum_sync.cli.parser import build_parser
from museum_sync.defs.celery_config import QUEUES
from museum_sync.settings import describe, get_settings
from museum_sync.telemetry.metrics import FAMILIES

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
VALUES = DEPLOY / "helm" / "values.yaml"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
SCRAPE = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
TEMPLATES = DEPLOY / "helm" / "templates"
PARENT_MIB = 150  # a worker's main process beside its children
SETTINGS = {variable.name for variable in describe()}
METRIC = re.compile(r"\bmuseum_sync_[a-z_]+\b")


def _yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml") and TEMPLATES not in p.parents)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _services() -> dict[str, dict[str, Any]]:
    return dict(_load(COMPOSE)["services"])


def _argv(command: Any) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _is_worker(argv: list[str]) -> bool:
    return argv[:2] == ["museum-sync", "worker"]


def _option(argv: list[str], name: str, default: str) -> str:
    return argv[argv.index(name) + 1] if name in argv else default


def _workers() -> list[dict[str, Any]]:
    """Helm worker entries merged over their defaults, as templates/workers.yaml merges them."""
    values = _load(VALUES)
    defaults = values.get("museumSyncWorkerDefaults", {})
    return [{**defaults, **entry} for entry in values.get("museumSyncWorkers", [])]


def _helm_worker_command(worker: dict[str, Any]) -> list[str]:
    """The command templates/workers.yaml renders for a worker (checked against the template below)."""
    return ["museum-sync", "worker", "--queues", str(worker["queues"]), "--concurrency", str(worker["concurrency"])]


def _commands() -> list[tuple[str, list[str]]]:
    """Every command deploy/ runs in our image: compose commands and healthchecks of the services built from
    deploy/Dockerfile (the others run their own images' commands), the Helm workers' command and probes."""
    found = []
    for name, service in _services().items():
        if "build" not in service:
            continue
        if "command" in service:
            found.append((f"compose {name}", _argv(service["command"])))
        test = (service.get("healthcheck") or {}).get("test")
        if test:
            argv = _argv(test)
            found.append((f"compose {name} healthcheck", argv[1:] if argv[0] in ("CMD", "CMD-SHELL") else argv))
    for worker in _workers():
        found.append((f"helm worker {worker['name']}", _helm_worker_command(worker)))
        probe = (worker.get("livenessProbe") or {}).get("exec", {}).get("command")
        if probe:
            found.append((f"helm worker {worker['name']} liveness", _argv(probe)))
    return found


def _mib(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti)?", str(quantity))
    assert match, f"memory quantity {quantity!r}"
    return float(match.group(1)) * units.get(match.group(2) or "", 1 / (1024 * 1024))


# ------------------------------------------------------------------------------------------------ files


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    assert _load(path) is not None


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_dashboard_loads_and_each_panel_queries_prometheus(path: Path) -> None:
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    panels = dashboard["panels"]
    assert dashboard["uid"] and panels
    assert len({p["id"] for p in panels}) == len(panels), "panel ids are unique"
    for panel in panels:
        assert panel["datasource"]["type"] == "prometheus" and panel["gridPos"]["w"] > 0, panel["title"]
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel["title"]


def test_the_dockerfile_copies_files_that_exist() -> None:
    for line in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY "):
            sources = [part for part in line.split()[1:-1] if not part.startswith("--")]
            assert all((REPO / source).exists() for source in sources), line


# ------------------------------------------------------------------------------------ commands, variables


def test_every_command_deploy_runs_exists() -> None:
    """``museum-sync ...`` parses with our own parser; Dagster's commands are the installed entry points and the
    module they load is ours."""
    parser = build_parser()
    commands = _commands()
    assert any(argv[0] == "museum-sync" for _, argv in commands)
    for where, argv in commands:
        if argv[0] == "museum-sync":
            try:
                parser.parse_args(argv[1:])
            except SystemExit:
                pytest.fail(f"{where}: `{shlex.join(argv)}` is not a museum-sync command")
        else:
            assert argv[0] in ("dagster", "dagster-daemon", "dagster-webserver"), f"{where}: unknown {argv[0]}"
            assert shutil.which(argv[0]) or (REPO / ".venv" / "bin" / argv[0]).exists(), f"{where}: {argv[0]}"
            if "-m" in argv:
                assert argv[argv.index("-m") + 1] == "museum_sync.definitions", where
    grpc = _load(VALUES)["dagster-user-deployments"]["deployments"]
    assert all(d["dagsterApiGrpcArgs"][-1] == "museum_sync.definitions" for d in grpc)


def _compose_variables() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name, service in _services().items():
        env = service.get("environment") or {}
        names = env if isinstance(env, dict) else [item.split("=", 1)[0] for item in env]
        found[name] = {n for n in names if n.startswith("MUSEUM_SYNC_")}
    return found


def _helm_variables() -> set[str]:
    names: set[str] = set()
    for worker in _workers():
        names |= set(worker.get("env") or {})
    for deployment in _load(VALUES)["dagster-user-deployments"]["deployments"]:
        names |= {item["name"] for item in deployment.get("env") or []}
    template = (TEMPLATES / "workers.yaml").read_text(encoding="utf-8")
    names |= set(re.findall(r"name: (MUSEUM_SYNC_[A-Z0-9_]+)", template))
    return {n for n in names if n.startswith("MUSEUM_SYNC_")}


def test_every_variable_deploy_sets_is_read_by_the_settings() -> None:
    compose = set().union(*_compose_variables().values())
    helm = _helm_variables()
    assert compose and helm
    assert not compose - SETTINGS, f"compose sets variables no setting reads: {sorted(compose - SETTINGS)}"
    assert not helm - SETTINGS, f"helm sets variables no setting reads: {sorted(helm - SETTINGS)}"


def test_the_build_id_is_the_same_for_the_code_location_and_the_workers() -> None:
    """``doctor`` and the sync sensor compare code versions: the code server must carry the workers' build id."""
    for name, variables in _compose_variables().items():
        if "MUSEUM_SYNC_PG_URL" in variables:  # a museum-sync process
            assert "MUSEUM_SYNC_BUILD_ID" in variables, name
    tag = _load(VALUES)["museumSyncWorkerDefaults"]["image"]["tag"]
    for deployment in _load(VALUES)["dagster-user-deployments"]["deployments"]:
        env = {item["name"]: item["value"] for item in deployment.get("env") or []}
        assert env.get("MUSEUM_SYNC_BUILD_ID") == deployment["image"]["tag"] == tag
    assert "name: MUSEUM_SYNC_BUILD_ID, value: {{ $w.image.tag | quote }}" in (TEMPLATES / "workers.yaml").read_text()


# ------------------------------------------------------------------------------------------------ compose


def test_compose_has_every_role_and_durable_state() -> None:
    services = _services()
    argvs = {name: _argv(s.get("command", [])) for name, s in services.items()}
    images = {name: str(s.get("image", "")) for name, s in services.items()}
    assert any(i.startswith("postgres:") for i in images.values())
    redis = next(n for n, i in images.items() if i.startswith("redis:"))
    assert "--appendonly" in argvs[redis] and services[redis]["volumes"], "Redis keeps its queues across a restart"
    es = next(n for n, i in images.items() if "elasticsearch" in i)
    assert services[es]["environment"]["discovery.type"] == "single-node" and services[es]["volumes"]
    assert all(v["MUSEUM_SYNC_ES_REPLICAS"] == "0" for v in _compose_env_of_museum_sync_services())
    roles = {" ".join(a[:3]) for a in argvs.values()}
    assert {"dagster code-server start", "dagster-daemon run -w", "dagster-webserver -h 0.0.0.0"} <= roles
    assert any(i.startswith("prom/prometheus") for i in images.values())
    assert any(i.startswith("grafana/grafana") for i in images.values())


def _compose_env_of_museum_sync_services() -> list[dict[str, str]]:
    return [s["environment"] for s in _services().values() if "MUSEUM_SYNC_PG_URL" in (s.get("environment") or {})]


def test_compose_has_a_worker_for_every_queue_each_scraped_probed_and_drained() -> None:
    workers = {n: _argv(s["command"]) for n, s in _services().items() if _is_worker(_argv(s.get("command", [])))}
    assert workers
    consumed = {q for argv in workers.values() for q in _option(argv, "--queues", ",".join(QUEUES)).split(",")}
    assert set(QUEUES) <= consumed, f"queues without a worker service: {sorted(set(QUEUES) - consumed)}"
    scraped = {
        name for job in _load(SCRAPE)["scrape_configs"] for sd in job.get("dns_sd_configs", []) for name in sd["names"]
    }
    for name in workers:
        service = _services()[name]
        assert name in scraped, f"add {name} to the dns_sd_configs names in deploy/prometheus/prometheus.yml"
        port = service["environment"].get("MUSEUM_SYNC_METRICS_PORT")
        assert port and all(
            sd["port"] == int(port) for job in _load(SCRAPE)["scrape_configs"] for sd in job["dns_sd_configs"]
        )
        assert _argv(service["healthcheck"]["test"])[1:] == ["museum-sync", "doctor", "--liveness"], name
        assert service["stop_signal"] == "SIGTERM" and service["stop_grace_period"], f"{name}: graceful drain"


def test_grafana_provisioning_points_at_the_mounted_dashboards() -> None:
    grafana = next(s for s in _services().values() if str(s.get("image", "")).startswith("grafana/"))
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"] if v.startswith("./"))
    provider = _load(DEPLOY / "grafana" / "provisioning" / "dashboards" / "museum-sync.yaml")["providers"][0]
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    datasource = _load(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml")["datasources"][0]
    dashboard_uids = {
        t.get("datasource", {}).get("uid") for d in DASHBOARDS for t in json.loads(d.read_text())["panels"]
    }
    assert dashboard_uids == {datasource["uid"]}


# --------------------------------------------------------------------------------------------------- helm


def test_every_helm_worker_is_limited_probed_and_drained() -> None:
    workers = _workers()
    assert workers
    visibility = get_settings({}).celery.visibility_timeout
    consumed = {q for w in workers for q in str(w["queues"]).split(",")}
    assert set(QUEUES) <= consumed, f"queues without a worker Deployment: {sorted(set(QUEUES) - consumed)}"
    for w in workers:
        limit = _mib(w["resources"]["limits"]["memory"])
        needed = w["concurrency"] * w["maxMemoryPerChildKb"] / 1024 + PARENT_MIB
        assert limit >= needed, f"worker {w['name']}: limit {limit:.0f} MiB < {needed:.0f} MiB (children + parent)"
        assert w["livenessProbe"]["exec"]["command"] == ["museum-sync", "doctor", "--liveness"], w["name"]
        assert w["terminationGracePeriodSeconds"] >= visibility, (
            f"worker {w['name']}: drain shorter than a step may run"
        )
        assert w["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, w["name"]


def test_the_worker_template_uses_only_values_that_exist() -> None:
    template = (TEMPLATES / "workers.yaml").read_text(encoding="utf-8")
    assert template.count("{{") == template.count("}}")
    keys = set(re.findall(r"\$w\.([A-Za-z]+)", template))
    for w in _workers():
        assert keys <= set(w), f"worker {w['name']} lacks {sorted(keys - set(w))}"
    assert 'command: ["museum-sync", "worker", "--queues", {{ $w.queues | quote }}, "--concurrency"' in template
    for path in TEMPLATES.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        for dotted in re.findall(r"\.Values\.([A-Za-z.]+)", text):
            node: Any = _load(VALUES)
            for part in dotted.split("."):
                assert isinstance(node, dict) and part in node, f"{path.name}: .Values.{dotted} is not in values.yaml"
                node = node[part]


# ---------------------------------------------------------------------------------------- alerts, metrics


def test_alert_rules_load_and_cover_what_on_call_needs() -> None:
    rules = [rule for group in _load(ALERTS)["groups"] for rule in group["rules"]]
    for rule in rules:
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
        assert rule["labels"]["severity"] and rule["annotations"]["summary"] and rule.get("for"), rule["alert"]
    text = " ".join(rule["expr"] for rule in rules)
    for needed in ("heartbeat", "child_rss_bytes", "chunks_quarantined", "queue_depth", "publication_age"):
        assert f"museum_sync_{needed}" in text or f"museum_sync_worker_{needed}" in text, needed
    assert _load(SCRAPE)["rule_files"] == ["/etc/prometheus/" + ALERTS.name]


def test_dashboard_and_alerts_use_only_metrics_museum_sync_exports() -> None:
    exported = set(FAMILIES)
    exported |= {f"{name}_{suffix}" for name in FAMILIES for suffix in ("bucket", "sum", "count")}
    exprs = [rule["expr"] for group in _load(ALERTS)["groups"] for rule in group["rules"]]
    exprs += [
        t["expr"] for d in DASHBOARDS for p in json.loads(d.read_text(encoding="utf-8"))["panels"] for t in p["targets"]
    ]
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    assert used and not used - exported, f"not exported by museum-sync: {sorted(used - exported)}"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing: apt-get install prometheus")
def test_promtool_accepts_the_alert_rules() -> None:
    result = subprocess.run(["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
