"""``museum_sync.settings``: every ``MUSEUM_SYNC_*`` variable, typed, with one-line errors and one Redis rule;
and ``museum_sync.redaction.redact``, the one way a connection string is printed.

Settings are read from explicit mappings here (``get_settings(env)``), so the developer's shell cannot
change what the tests see.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import Field, SecretStr

from museum_sync.core.exceptions import MuseumSyncError
from museum_sync.redaction import redact, scrub
from museum_sync.runtime import runtime_env
from museum_sync.services import ServiceUrls
from museum_sync.settings import (
    Settings,
    SettingsError,
    SettingsGroup,
    describe,
    describe_table,
    env_name,
    get_settings,
    parse_sentinel_url,
    result_backend_for,
)

REPO = Path(__file__).resolve().parent.parent
PREFIX = "museum-sync: error: "

# Every variable with a value unlike its default, and the attribute it lands on.
EVERY = {
    "MUSEUM_SYNC_HOME": ("paths.home", "/srv/ms"),
    "MUSEUM_SYNC_ARTIFACT_ROOT": ("paths.artifact_root", "/mnt/shared/artifacts"),
    "MUSEUM_SYNC_INBOX": ("paths.inbox", "/srv/inbox"),
    "MUSEUM_SYNC_IO_DIR": ("paths.io_dir", "/srv/io"),
    "MUSEUM_SYNC_SOURCES": ("paths.sources", "/etc/ms/sources.toml"),
    "MUSEUM_SYNC_PROFILE_PATH": ("paths.profile_path", "/etc/ms/profiles"),
    "MUSEUM_SYNC_STATE_DIR": ("paths.state_dir", "/var/lib/ms"),
    "MUSEUM_SYNC_PG_URL": ("postgres.pg_url", "postgresql://museum@db.example:5432/cat"),
    "MUSEUM_SYNC_DAGSTER_PG_URL": ("postgres.dagster_pg_url", "postgresql+psycopg2://museum@db.example/cat_dagster"),
    "MUSEUM_SYNC_CATALOG_SCHEMA": ("postgres.catalog_schema", "cat2"),
    "MUSEUM_SYNC_REDIS_URL": ("redis.redis_url", "redis://cache.example:6379/2"),
    "MUSEUM_SYNC_BROKER_URL": ("redis.broker_url", "redis://broker.example:6380/4"),
    "MUSEUM_SYNC_RESULT_BACKEND": ("redis.result_backend", "redis://broker.example:6380/9"),
    "MUSEUM_SYNC_VISIBILITY_TIMEOUT": ("celery.visibility_timeout", "7200"),
    "MUSEUM_SYNC_MAX_TASKS_PER_CHILD": ("celery.max_tasks_per_child", "7"),
    "MUSEUM_SYNC_MAX_MEMORY_PER_CHILD_KB": ("celery.max_memory_per_child_kb", "250000"),
    "MUSEUM_SYNC_BROKER_POOL_LIMIT": ("celery.broker_pool_limit", "3"),
    "MUSEUM_SYNC_BROKER_HEARTBEAT": ("celery.broker_heartbeat", "11"),
    "MUSEUM_SYNC_BROKER_MAX_RETRIES": ("celery.broker_max_retries", "9"),
    "MUSEUM_SYNC_RESULT_EXPIRES": ("celery.result_expires", "60"),
    "MUSEUM_SYNC_WORKER_INSTANCE": ("celery.worker_instance", "per-step"),
    "MUSEUM_SYNC_MAX_INFLIGHT_STEPS": ("run.max_inflight_steps", "4"),
    "MUSEUM_SYNC_LOST_STEP_CHECK_S": ("run.lost_step_check_s", "1"),
    "MUSEUM_SYNC_RESULT_POLL_S": ("run.result_poll_s", "0.5"),
    "MUSEUM_SYNC_KEEP_EXPORTS": ("run.keep_exports", "5"),
    "MUSEUM_SYNC_ES_URL": ("search.url", "https://es.example:9200"),
    "MUSEUM_SYNC_ES_API_KEY": ("search.api_key", "a2V5"),
    "MUSEUM_SYNC_ES_USER": ("search.user", "museum"),
    "MUSEUM_SYNC_ES_PASSWORD": ("search.password", "es-s3cret"),
    "MUSEUM_SYNC_ES_ALIAS": ("search.alias", "objects-test"),
    "MUSEUM_SYNC_ES_INDEX_PREFIX": ("search.index_prefix", "objects-test-v-"),
    "MUSEUM_SYNC_ES_CA_CERTS": ("search.ca_certs", "/etc/ssl/es.pem"),
    "MUSEUM_SYNC_ES_REPLICAS": ("search.replicas", "0"),
    "MUSEUM_SYNC_HTTP_CONNECT_TIMEOUT": ("http.connect_timeout", "2.5"),
    "MUSEUM_SYNC_HTTP_TIMEOUT": ("http.timeout", "30"),
    "MUSEUM_SYNC_HTTP_TOTAL_TIMEOUT": ("http.total_timeout", "0"),
    "MUSEUM_SYNC_HTTP_ATTEMPTS": ("http.attempts", "2"),
    "MUSEUM_SYNC_HTTP_MAX_BYTES": ("http.max_bytes", "1024"),
    "MUSEUM_SYNC_HTTP_CONTACT": ("http.contact", "(+mailto:it@museum.example)"),
    "MUSEUM_SYNC_HTTP_ALLOWED_ORIGINS": ("http.allowed_origins", "https://cdn.museum.example, http://10.0.0.5:8080"),
    "MUSEUM_SYNC_IIIF_ENABLED": ("iiif.enabled", "true"),
    "MUSEUM_SYNC_IIIF_ALLOWED_HOSTS": ("iiif.allowed_hosts", "iiif.internal.example, 10.8.0.0/16"),
    "MUSEUM_SYNC_IIIF_CONNECT_TIMEOUT": ("iiif.connect_timeout", "2"),
    "MUSEUM_SYNC_IIIF_TIMEOUT": ("iiif.timeout", "10"),
    "MUSEUM_SYNC_IIIF_TOTAL_TIMEOUT": ("iiif.total_timeout", "30"),
    "MUSEUM_SYNC_IIIF_ATTEMPTS": ("iiif.attempts", "2"),
    "MUSEUM_SYNC_IIIF_MAX_RETRY_AFTER": ("iiif.max_retry_after", "5"),
    "MUSEUM_SYNC_IIIF_MAX_BYTES": ("iiif.max_bytes", "2048"),
    "MUSEUM_SYNC_IIIF_MAX_REDIRECTS": ("iiif.max_redirects", "3"),
    "MUSEUM_SYNC_IIIF_PER_HOST": ("iiif.per_host", "2"),
    "MUSEUM_SYNC_IIIF_FETCH_THREADS": ("iiif.fetch_threads", "8"),
    "MUSEUM_SYNC_IIIF_HTTP2": ("iiif.http2", "true"),
    "MUSEUM_SYNC_IIIF_WORKER_CONCURRENCY": ("iiif.worker_concurrency", "3"),
    "MUSEUM_SYNC_IIIF_WORKER_MAX_TASKS_PER_CHILD": ("iiif.worker_max_tasks_per_child", "500"),
    "MUSEUM_SYNC_IIIF_MAX_INFLIGHT_STEPS": ("iiif.max_inflight_steps", "6"),
    "MUSEUM_SYNC_NIGHTLY_CRON": ("schedules.nightly_cron", "0 3 * * *"),
    "MUSEUM_SYNC_HARVEST_CRON": ("schedules.harvest_cron", "15 1 * * *"),
    "MUSEUM_SYNC_TIMEZONE": ("schedules.timezone", "Europe/Berlin"),
    "MUSEUM_SYNC_LOG_FORMAT": ("telemetry.log_format", "json"),
    "MUSEUM_SYNC_LOG_LEVEL": ("telemetry.log_level", "DEBUG"),
    "MUSEUM_SYNC_METRICS_PORT": ("telemetry.metrics_port", "9100"),
    "MUSEUM_SYNC_METRICS_DIR": ("telemetry.metrics_dir", "/run/ms-metrics"),
    "MUSEUM_SYNC_RSS_SAMPLE_S": ("telemetry.rss_sample_s", "0.5"),
    "MUSEUM_SYNC_HEARTBEAT_S": ("telemetry.heartbeat_s", "5"),
    "MUSEUM_SYNC_STALE_AFTER_S": ("telemetry.stale_after_s", "30"),
    "MUSEUM_SYNC_FORGET_AFTER_S": ("telemetry.forget_after_s", "600"),
    "MUSEUM_SYNC_BUILD_ID": ("telemetry.build_id", "abc1234"),
    "MUSEUM_SYNC_HEALTH_GATE": ("telemetry.health_gate", "false"),
    "MUSEUM_SYNC_FAILPOINTS": ("testing.failpoints", "load_chunk=sleep:2"),
    "MUSEUM_SYNC_SHARED_DATA": ("testing.shared_data", "/data/shared"),
}
# Families the operator names (``<NAME>``): documented, read outside the groups' fields.
PATTERNS = {"MUSEUM_SYNC_CREDENTIAL_<NAME>", "MUSEUM_SYNC_CREDENTIAL_<NAME>_ORIGIN"}


def _get(settings: Settings, path: str) -> object:
    group, _, field = path.partition(".")
    return getattr(getattr(settings, group), field)


def _error(env: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as caught:
        get_settings(env)
    message = str(caught.value)
    assert "\n" not in message and isinstance(caught.value, MuseumSyncError)
    return message


# ----------------------------------------------------------------------------------------------- defaults


def test_defaults_are_the_ones_every_module_has_always_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = get_settings({})
    home = (tmp_path / ".state").resolve()
    assert (settings.home, settings.artifact_root, settings.inbox) == (home, home / "artifacts", home / "inbox")
    assert settings.paths.io_dir == home / "io" and settings.paths.sources == home / "sources.toml"
    assert settings.pg_url == "postgresql://postgres@127.0.0.1:5432/museum_sync"
    assert settings.catalog_schema == "catalog"
    assert settings.broker_url == "redis://127.0.0.1:6379/0"
    assert settings.result_backend == "redis://127.0.0.1:6379/1"
    assert settings.keep_exports == 3
    assert settings.postgres.pg_url is None and settings.redis.redis_url is None  # unset: services embed
    celery = settings.celery
    assert (celery.visibility_timeout, celery.max_tasks_per_child, celery.max_memory_per_child_kb) == (
        1800,
        100,
        400_000,
    )
    assert (celery.broker_pool_limit, celery.broker_heartbeat, celery.broker_max_retries) == (10, 30, 100)
    assert celery.result_expires == 3600
    assert (settings.run.max_inflight_steps, settings.run.lost_step_check_s) == (8, 10)
    assert (settings.search.url, settings.search.alias, settings.search.index_prefix) == (
        None,
        "museum-objects",
        "museum-objects-",
    )
    assert settings.search.credentials() == (None, None)
    http = settings.http
    assert (http.connect_timeout, http.timeout, http.total_timeout, http.attempts) == (10.0, 60.0, 600.0, 5)
    assert (http.max_bytes, http.contact) == (64 * 1024 * 1024, None)
    assert (settings.schedules.nightly_cron, settings.schedules.harvest_cron, settings.schedules.timezone) == (
        "0 2 * * *",
        "30 1 * * *",
        "UTC",
    )
    assert (settings.testing.failpoints, settings.paths.profile_dirs, settings.paths.state_dir) == (
        "",
        [],
        Path(".state"),
    )


def test_home_moves_what_lives_under_it_and_empty_means_unset(tmp_path: Path) -> None:
    home = tmp_path / "h"
    settings = get_settings({"MUSEUM_SYNC_HOME": str(home), "MUSEUM_SYNC_INBOX": "", "MUSEUM_SYNC_KEEP_EXPORTS": " "})
    assert settings.artifact_root == home / "artifacts" and settings.inbox == home / "inbox"
    assert settings.paths.io_dir == home / "io" and settings.paths.sources == home / "sources.toml"
    assert settings.keep_exports == 3
    assert settings.is_set("paths.home") and not settings.is_set("paths.inbox")


def test_a_changed_variable_is_read_anew(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUSEUM_SYNC_KEEP_EXPORTS", "4")
    assert get_settings().keep_exports == 4
    monkeypatch.setenv("MUSEUM_SYNC_KEEP_EXPORTS", "6")
    assert get_settings().keep_exports == 6
    monkeypatch.delenv("MUSEUM_SYNC_KEEP_EXPORTS")
    assert get_settings().keep_exports == 3
    monkeypatch.setenv("MUSEUM_SYNC_CREDENTIAL_MUSEUM", "s3cret")
    monkeypatch.setenv("MUSEUM_SYNC_CREDENTIAL_MUSEUM_ORIGIN", "https://api.example.org")
    assert "MUSEUM" in get_settings().credentials


def test_unchanged_variables_and_directory_give_the_same_frozen_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MUSEUM_SYNC_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    first = get_settings()
    assert get_settings() is first
    monkeypatch.setenv("UNRELATED_VARIABLE", "x")  # settings read only MUSEUM_SYNC_*
    assert get_settings() is first
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the default home follows the working directory
    assert get_settings().paths.home == tmp_path / "elsewhere" / ".state"
    assert first.paths.home == tmp_path / ".state"


def test_every_variable_settings_read_has_the_prefix_the_cache_watches() -> None:
    from museum_sync.core.profiles import CREDENTIAL_ENV_PREFIX
    from museum_sync.settings import VARIABLE_PREFIX, Settings
    from museum_sync.settings.values import variables_of

    assert CREDENTIAL_ENV_PREFIX.startswith(VARIABLE_PREFIX)
    assert all(name.startswith(VARIABLE_PREFIX) for name, _, _ in variables_of(Settings))


# ------------------------------------------------------------------------------------------ every group


def test_every_variable_is_read_into_its_group() -> None:
    settings = get_settings({name: raw for name, (_, raw) in EVERY.items()})
    for name, (path, raw) in EVERY.items():
        assert env_name(path) == name
        value = _get(settings, path)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        expected: object = raw
        if isinstance(value, Path):
            expected = Path(raw)
        elif isinstance(value, bool):
            expected = raw.lower() in ("1", "true", "yes", "on")
        elif isinstance(value, int | float):
            expected = type(value)(raw)
        assert value == expected, name
    assert settings.paths.profile_dirs == [Path("/etc/ms/profiles")]


def test_settings_know_every_variable_the_code_deploy_and_tests_use() -> None:
    known = {var.name for var in describe()}
    assert known == set(EVERY) | PATTERNS
    used: set[str] = set()
    roots = [REPO / "museum_sync", REPO / "museum_sync_tests", REPO / "benchmarks", REPO / "deploy"]
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and (path.suffix in (".py", ".yaml", ".toml", ".md") or path.name == "Dockerfile"):
                used |= set(re.findall(r"MUSEUM_SYNC_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))
    unknown = {name for name in used - known if not name.startswith(("MUSEUM_SYNC_T_", "MUSEUM_SYNC_CREDENTIAL_"))}
    assert unknown == set(), "add these to museum_sync/settings/groups.py"


def test_names_written_for_child_processes_are_the_settings_own(tmp_path: Path) -> None:
    services = ServiceUrls(
        pg_url="postgresql://museum:pw@127.0.0.1:5432/museum_sync",
        dagster_pg_url="postgresql+psycopg2://museum:pw@127.0.0.1:5432/museum_sync_dagster",
        broker_url="redis://127.0.0.1:6379/2",
        result_backend_url="redis://127.0.0.1:6379/3",
        redis_py_url="redis://127.0.0.1:6379/2",
        pg_embedded=False,
        redis_embedded=False,
    )
    env = runtime_env(services, tmp_path, catalog_schema="cat2")
    settings = get_settings(env)  # a child reading what it was handed sees the same servers and paths
    assert {k for k in env if k != "DAGSTER_HOME"} <= set(EVERY)
    assert (settings.pg_url, settings.postgres.dagster_pg_url) == (services.pg_url, services.dagster_pg_url)
    assert (settings.broker_url, settings.result_backend) == (services.broker_url, services.result_backend_url)
    assert (settings.home, settings.catalog_schema) == (tmp_path.resolve(), "cat2")


# ------------------------------------------------------------------------------------ one-line errors


def test_a_bad_integer_names_variable_value_and_expectation() -> None:
    assert _error({"MUSEUM_SYNC_KEEP_EXPORTS": "abc"}) == "MUSEUM_SYNC_KEEP_EXPORTS='abc': expected an integer >= 1"
    assert _error({"MUSEUM_SYNC_VISIBILITY_TIMEOUT": "0"}) == (
        "MUSEUM_SYNC_VISIBILITY_TIMEOUT='0': expected an integer >= 1"
    )
    assert _error({"MUSEUM_SYNC_HTTP_TIMEOUT": "soon"}) == "MUSEUM_SYNC_HTTP_TIMEOUT='soon': expected a number > 0"


def test_several_bad_values_are_still_one_line() -> None:
    message = _error({"MUSEUM_SYNC_KEEP_EXPORTS": "x", "MUSEUM_SYNC_ES_REPLICAS": "-1"})
    assert "MUSEUM_SYNC_KEEP_EXPORTS='x': expected an integer >= 1" in message
    assert "MUSEUM_SYNC_ES_REPLICAS='-1': expected an integer >= 0" in message


def test_a_bad_url_is_named_with_its_password_hidden() -> None:
    assert _error({"MUSEUM_SYNC_REDIS_URL": "amqp://guest:s3cret@mq//"}) == (
        "MUSEUM_SYNC_REDIS_URL='amqp://guest:***@mq//': expected a redis://, rediss://, unix:// or redis+socket:// URL"
    )
    assert _error({"MUSEUM_SYNC_PG_URL": "mysql://u:s3cret@db/x"}) == (
        "MUSEUM_SYNC_PG_URL='mysql://u:***@db/x': expected a postgresql:// URL (or libpq key=value conninfo)"
    )
    assert _error({"MUSEUM_SYNC_ES_URL": "es.example:9200"}) == (
        "MUSEUM_SYNC_ES_URL='es.example:9200': expected an http:// or https:// URL"
    )
    assert _error({"MUSEUM_SYNC_BROKER_URL": "localhost"}).startswith("MUSEUM_SYNC_BROKER_URL='localhost': expected")


class _Flags(SettingsGroup):
    env_prefix = "MUSEUM_SYNC_T_"
    enabled: bool = Field(False, description="a switch")
    token: SecretStr | None = Field(None, description="a secret", min_length=8)


class _WithFlags(Settings):
    flags: _Flags


def test_a_bad_bool_and_a_bad_secret_are_one_line_and_the_secret_stays_hidden() -> None:
    assert _WithFlags.from_env({"MUSEUM_SYNC_T_ENABLED": "yes"}).flags.enabled is True
    with pytest.raises(SettingsError) as caught:
        _WithFlags.from_env({"MUSEUM_SYNC_T_ENABLED": "maybe", "MUSEUM_SYNC_T_TOKEN": "short"})
    assert str(caught.value) == (
        "MUSEUM_SYNC_T_ENABLED='maybe': expected true or false (1/0, yes/no, on/off); "
        "MUSEUM_SYNC_T_TOKEN='***': expected text"
    )


def test_the_cli_prints_a_bad_setting_as_one_line(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MUSEUM_SYNC_", "DAGSTER_"))}
    result = subprocess.run(
        [sys.executable, "-m", "museum_sync.cli", "--state-dir", str(tmp_path / "state"), "status"],
        cwd=tmp_path,
        env={**clean, "MUSEUM_SYNC_KEEP_EXPORTS": "abc"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip() == PREFIX + "MUSEUM_SYNC_KEEP_EXPORTS='abc': expected an integer >= 1"
    assert not (tmp_path / "state" / "pg").exists(), "nothing is started before the settings are read"


def test_es_credentials_are_one_scheme_or_the_other() -> None:
    url = {"MUSEUM_SYNC_ES_URL": "https://es:9200"}
    assert get_settings({**url, "MUSEUM_SYNC_ES_API_KEY": "a2V5"}).search.credentials() == ("a2V5", None)
    basic = {**url, "MUSEUM_SYNC_ES_USER": "museum", "MUSEUM_SYNC_ES_PASSWORD": "pw"}
    assert get_settings(basic).search.credentials() == (None, ("museum", "pw"))
    with pytest.raises(ValueError, match="not both"):
        get_settings({**basic, "MUSEUM_SYNC_ES_API_KEY": "a2V5"}).search.credentials()
    with pytest.raises(SettingsError, match="MUSEUM_SYNC_ES_USER and MUSEUM_SYNC_ES_PASSWORD must be set together"):
        get_settings({**url, "MUSEUM_SYNC_ES_USER": "museum"}).search.credentials()


# -------------------------------------------------------------------------------- the result-db rule


# ------------------------------------------------------------------------- harvest credentials, origins


def test_a_credential_is_its_value_and_the_one_origin_it_is_for() -> None:
    settings = get_settings(
        {
            "MUSEUM_SYNC_CREDENTIAL_AIC": "aic-s3cret",
            "MUSEUM_SYNC_CREDENTIAL_AIC_ORIGIN": "HTTPS://API.Artic.edu",
            "MUSEUM_SYNC_CREDENTIAL_KENOM_2": "kenom-s3cret",
            "MUSEUM_SYNC_CREDENTIAL_KENOM_2_ORIGIN": "http://oai.kenom.example:8080/",
        }
    )
    aic = settings.credentials["AIC"]
    assert aic.origin == "https://api.artic.edu:443" and aic.value.get_secret_value() == "aic-s3cret"
    assert settings.credentials["KENOM_2"].origin == "http://oai.kenom.example:8080"
    assert aic.name == "AIC" and len(settings.credentials) == 2
    for text in (repr(settings.credentials), repr(aic), str(aic)):
        assert "s3cret" not in text
    with pytest.raises(SettingsError, match=r"^kenom needs credential 'OTHER': set MUSEUM_SYNC_CREDENTIAL_OTHER and"):
        settings.credentials.require("OTHER", wanted_by="kenom")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MUSEUM_SYNC_CREDENTIAL_AIC": "aic-s3cret"}, "MUSEUM_SYNC_CREDENTIAL_AIC is set without "),
        (
            {"MUSEUM_SYNC_CREDENTIAL_AIC": "aic-s3cret", "MUSEUM_SYNC_CREDENTIAL_AIC_ORIGIN": "https://a.example/api"},
            "MUSEUM_SYNC_CREDENTIAL_AIC_ORIGIN='https://a.example/api': expected an origin",
        ),
        (
            {"MUSEUM_SYNC_CREDENTIAL_AIC": "aic-s3cret", "MUSEUM_SYNC_CREDENTIAL_AIC_ORIGIN": "ftp://a.example"},
            "expected an http:// or https:// URL",
        ),
        ({"MUSEUM_SYNC_CREDENTIAL_aic": "aic-s3cret"}, "MUSEUM_SYNC_CREDENTIAL_aic: a credential name is upper"),
    ],
)
def test_a_bad_credential_declaration_is_one_line_without_the_secret(env: dict[str, str], message: str) -> None:
    text = _error(env)
    assert message in text and "s3cret" not in text


def test_allowed_origins_are_origins() -> None:
    settings = get_settings({"MUSEUM_SYNC_HTTP_ALLOWED_ORIGINS": "https://cdn.example, http://10.0.0.5:8080,"})
    assert settings.http.allowed_origin_set == {"https://cdn.example:443", "http://10.0.0.5:8080"}
    assert get_settings({}).http.allowed_origin_set == frozenset()
    text = _error({"MUSEUM_SYNC_HTTP_ALLOWED_ORIGINS": "https://cdn.example/path"})
    assert text.startswith("MUSEUM_SYNC_HTTP_ALLOWED_ORIGINS='https://cdn.example/path': expected comma-separated")


@pytest.mark.parametrize(
    ("broker", "results"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/1"),
        ("redis://h:6379/4", "redis://h:6379/5"),
        ("redis://h:6379/15", "redis://h:6379/14"),
        ("redis://h:6379", "redis://h:6379/1"),
        ("redis://:pw@h:6379/2?ssl_cert_reqs=required", "redis://:pw@h:6379/3?ssl_cert_reqs=required"),
        ("rediss://h:6380/0?ssl_cert_reqs=none&socket_timeout=5", "rediss://h:6380/1?ssl_cert_reqs=none&socket_timeout=5"),
        ("redis+socket:///tmp/r.sock?virtual_host=2", "redis+socket:///tmp/r.sock?virtual_host=3"),
        ("redis+socket:///tmp/r.sock?virtual_host=0&foo=bar", "redis+socket:///tmp/r.sock?virtual_host=1&foo=bar"),
        ("amqp://guest:pw@mq//", "amqp://guest:pw@mq//"),  # unchanged: the settings then require the backend
        ("sentinel://h1:26379;sentinel://h2:26379/2?master_name=m",  # the same sentinels and master, next db
         "sentinel://h1:26379/3?master_name=m;sentinel://h2:26379/3?master_name=m"),
    ],
)  # fmt: skip
def test_results_go_to_the_next_db_of_the_brokers_server(broker: str, results: str) -> None:
    assert result_backend_for(broker) == results


@pytest.mark.parametrize("broker", ["amqp://guest:pw@mq//"])
def test_a_broker_that_is_not_redis_needs_the_result_backend_named(broker: str) -> None:
    """No Redis db is derived from an AMQP URL: one line asks for MUSEUM_SYNC_RESULT_BACKEND."""
    text = _error({"MUSEUM_SYNC_BROKER_URL": broker})
    assert text == "settings: MUSEUM_SYNC_BROKER_URL not Redis: set MUSEUM_SYNC_RESULT_BACKEND"
    named = get_settings({"MUSEUM_SYNC_BROKER_URL": broker, "MUSEUM_SYNC_RESULT_BACKEND": "redis://r:6379/1"})
    assert (named.broker_url, named.result_backend) == (broker, "redis://r:6379/1")


def test_a_sentinel_list_names_its_master_and_one_db() -> None:
    """kombu and Celery take the master as a transport option: the settings read it from the URL, and the URL
    they are given has none (parse_sentinel_url); a list without a master, or with two dbs, is one line."""
    url = "sentinel://:s3cret@h1:26379;sentinel://h2/4?master_name=museum&socket_timeout=3"
    parsed = parse_sentinel_url(url)
    assert (parsed.master_name, parsed.db, parsed.sentinels) == ("museum", 4, (":s3cret@h1:26379", "h2:26379"))
    assert parsed.url == "sentinel://:s3cret@h1:26379/4?socket_timeout=3;sentinel://h2:26379/4?socket_timeout=3"
    settings = get_settings({"MUSEUM_SYNC_BROKER_URL": url})
    assert parse_sentinel_url(settings.result_backend).db == 5, "results on the next db, same sentinels and master"
    for bad in ("sentinel://h1:26379;sentinel://h2:26379", "sentinel://h1/1?master_name=m;sentinel://h2/2"):
        text = _error({"MUSEUM_SYNC_BROKER_URL": bad, "MUSEUM_SYNC_RESULT_BACKEND": "redis://r/1"})
        assert text.startswith(f"MUSEUM_SYNC_BROKER_URL={bad!r}: expected a Celery broker/backend URL")
        assert "?master_name=NAME" in text and "\n" not in text
    with pytest.raises(SettingsError, match="names no master: add [?]master_name=NAME") as caught:
        parse_sentinel_url("sentinel://:s3cret@h1:26379")
    assert "s3cret" not in str(caught.value), "the password stays out of the message"


def test_one_rule_whichever_variable_names_the_broker() -> None:
    only_redis = get_settings({"MUSEUM_SYNC_REDIS_URL": "redis://cache.example:6379/2?health_check_interval=5"})
    assert only_redis.broker_url == "redis://cache.example:6379/2?health_check_interval=5"
    assert only_redis.result_backend == "redis://cache.example:6379/3?health_check_interval=5"
    redis_py_form = get_settings({"MUSEUM_SYNC_REDIS_URL": "unix:///tmp/r.sock?db=4"})
    assert redis_py_form.broker_url == "redis+socket:///tmp/r.sock?virtual_host=4"  # kombu's form
    assert redis_py_form.result_backend == "redis+socket:///tmp/r.sock?virtual_host=5"
    only_broker = get_settings({"MUSEUM_SYNC_BROKER_URL": "redis+socket:///tmp/r.sock?virtual_host=6"})
    assert only_broker.result_backend == "redis+socket:///tmp/r.sock?virtual_host=7"
    explicit = get_settings({"MUSEUM_SYNC_BROKER_URL": "redis://b/4", "MUSEUM_SYNC_RESULT_BACKEND": "redis://b/5"})
    assert (explicit.broker_url, explicit.result_backend) == ("redis://b/4", "redis://b/5")


# ----------------------------------------------------------------------------------- secrets and docs


def test_secrets_never_appear_in_repr_or_str() -> None:
    settings = get_settings(
        {
            "MUSEUM_SYNC_PG_URL": "postgresql://museum:pg-s3cret@db/cat",
            "MUSEUM_SYNC_DAGSTER_PG_URL": "postgresql+psycopg2://museum:pg-s3cret@db/cat_dagster",
            "MUSEUM_SYNC_REDIS_URL": "redis://:redis-s3cret@cache:6379/0",
            "MUSEUM_SYNC_ES_URL": "https://elastic:url-s3cret@es:9200",
            "MUSEUM_SYNC_ES_API_KEY": "key-s3cret",
            "MUSEUM_SYNC_ES_USER": "museum",
            "MUSEUM_SYNC_ES_PASSWORD": "es-s3cret",
        }
    )
    for text in (repr(settings), str(settings), repr(settings.search), repr(settings.redis)):
        assert "s3cret" not in text
    assert "museum:***@db" in repr(settings) and "SecretStr('**********')" in repr(settings)
    assert settings.search.password is not None and settings.search.password.get_secret_value() == "es-s3cret"
    assert "redis-s3cret" in settings.broker_url  # the value itself is intact: only printing masks it


def test_describe_lists_every_variable_with_default_and_meaning() -> None:
    variables = describe()
    assert len({v.name for v in variables}) == len(variables) == len(EVERY) + len(PATTERNS)
    assert all(v.meaning and v.default for v in variables)
    assert {v.name for v in variables if v.secret} == {
        "MUSEUM_SYNC_ES_API_KEY",
        "MUSEUM_SYNC_ES_PASSWORD",
        "MUSEUM_SYNC_CREDENTIAL_<NAME>",
    }
    table = describe_table()
    for var in variables:
        assert (f"`{var.name}`" in table) == var.for_users
    assert "MUSEUM_SYNC_FAILPOINTS" in describe_table(for_users=False)


def test_readme_configuration_table_mentions_every_variable_users_set() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    missing = [v.name for v in describe() if v.for_users and f"`{v.name}`" not in readme]
    assert missing == [], "paste museum_sync.settings.describe_table() into README.md's configuration table"


# -------------------------------------------------------------------------------------------- redaction
# One redact() for what four redactors did: services' describe_url, the catalogue's redact (libpq URL and
# key=value conninfo), the search client's _redact_url and the HTTP client's redact_url.


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        # services: PostgreSQL and Redis URLs, password in the userinfo or the query, unparseable ones
        ("postgresql://museum:s3cret@db.example:5432/cat", "postgresql://museum:***@db.example:5432/cat"),
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("unix://:s3cret@/tmp/ms-x/redis.sock?db=2", "unix://:***@/tmp/ms-x/redis.sock?db=2"),
        ("postgresql://u:s3cret@[broken/x", "postgresql://u:***@[broken/x"),
        ("redis+socket:///tmp/ms-x/redis.sock?virtual_host=1", "redis+socket:///tmp/ms-x/redis.sock?virtual_host=1"),
        # catalogue: libpq URL (percent-encoded password, ?password=) and key=value conninfo
        ("postgresql://museum:s3cr%40t@db.example:5432/cat", "postgresql://museum:***@db.example:5432/cat"),
        ("postgres://db.example/cat?user=u&password=s3cret&sslmode=require",
         "postgres://db.example/cat?user=u&password=***&sslmode=require"),
        ("host=db user=u password='a b\\' c' dbname=cat", "host=db user=u password=*** dbname=cat"),
        ("host=db sslpassword=s3cret dbname=cat", "host=db sslpassword=*** dbname=cat"),
        ("postgresql://u@db/cat", "postgresql://u@db/cat"),
        # search: an Elasticsearch URL with basic auth in it loses the whole userinfo (HTTP)
        ("https://elastic:s3cret@es.example:9200", "https://es.example:9200"),
        ("http://es:9200", "http://es:9200"),
        # HTTP harvests: userinfo dropped, key-like parameters masked, paging tokens kept
        ("https://user:pw@api.example.org/v1/objects?apikey=abc&q=x&access_token=t&resumptionToken=r1",
         "https://api.example.org/v1/objects?apikey=***&q=x&access_token=***&resumptionToken=r1"),
        ("https://KEY123:@api.example.org/v1?wskey=k&X-Api-Key=k2", "https://api.example.org/v1?wskey=***&X-Api-Key=***"),
        # brokers: AMQP, sentinel lists, a ";" inside a password
        ("amqp://guest:s3cret@mq.example:5672//", "amqp://guest:***@mq.example:5672//"),
        ("sentinel://:s3cret@h1:26379;sentinel://:s3cret@h2:26379/0", "sentinel://:***@h1:26379;sentinel://:***@h2:26379/0"),
        ("redis://:pa;ss@h:6379/0", "redis://:***@h:6379/0"),
    ],
)  # fmt: skip
def test_redact_hides_secrets_in_every_form(raw: str, shown: str) -> None:
    assert redact(raw) == shown
    assert redact(shown) == shown  # idempotent


def test_redact_keeps_the_http_clients_placeholder_when_asked() -> None:
    shown = redact(
        "https://user:pw@api.example.org/v1/objects?apikey=abc&q=x&access_token=t&resumptionToken=r1", mask="REDACTED"
    )
    assert "user" not in shown and "pw" not in shown
    assert "abc" not in shown and "=t&" not in shown
    assert "q=x" in shown and "resumptionToken=r1" in shown
    assert shown.count("REDACTED") == 2
    assert "api_key=REDACTED" in redact("https://api.example.org/x?api_key=s3cret-key", mask="REDACTED")


def test_scrub_removes_a_urls_secrets_from_a_drivers_message() -> None:
    url = "postgresql://museum:p%40ss@db/cat"
    assert scrub('FATAL: password "p@ss" (p%40ss) rejected for museum', url) == (
        'FATAL: password "***" (***) rejected for museum'
    )
    assert scrub("refused", "postgresql://museum@db/cat") == "refused"
    assert scrub("bad key s3cret", "https://es/x?api_key=s3cret") == "bad key ***"


# ------------------------------------------------------------------------------ one reader of MUSEUM_SYNC_*
# Only museum_sync/settings/ reads MUSEUM_SYNC_* variables by name. Another module that needs one asks
# get_settings(), or spells the name with env_name() (pipeline/failpoints.py does, on its hot path).

_VARIABLE = re.compile(r"MUSEUM_SYNC_[A-Z0-9_]+")
_ENVIRON_NAMES = frozenset({"environ", "env", "environment"})


def environ_reads_by_literal(source: str) -> list[tuple[int, str]]:
    """``(line, variable)`` of every read of the environment keyed by a ``"MUSEUM_SYNC_..."`` literal.

    Reads: ``os.environ[...]``/``.get``/``.pop``/``in``, ``os.getenv``, Dagster's ``EnvVar``, on
    ``os.environ`` or a name for it (``environ``, ``env``, or a variable assigned from ``os.environ``),
    and calls of a function of the same module that reads the environment (``_int("MUSEUM_SYNC_HOME", 1)``).
    The key may be the literal itself or a module constant holding it.
    """
    import ast

    tree = ast.parse(source)
    constants: dict[str, str] = {}
    aliases = set(_ENVIRON_NAMES)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target = node.targets[0].id
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                if _VARIABLE.fullmatch(node.value.value):
                    constants[target] = node.value.value
            elif any(isinstance(n, ast.Attribute) and n.attr == "environ" for n in ast.walk(node.value)):
                aliases.add(target)

    def key_of(node: ast.expr | None) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _VARIABLE.fullmatch(node.value):
            return node.value
        if isinstance(node, ast.Name):
            return constants.get(node.id)
        return None

    def is_environ(node: ast.expr) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
            isinstance(node, ast.Name) and node.id in aliases
        )

    def callee(node: ast.Call) -> str:
        func = node.func
        return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""

    def reads(node: ast.AST) -> ast.expr | None:
        """The key expression when ``node`` reads the environment, else None."""
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and is_environ(node.value):
            return node.slice
        if isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In | ast.NotIn):
            if is_environ(node.comparators[0]):
                return node.left
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("get", "pop") and is_environ(func.value):
                return node.args[0]
            if callee(node) in ("getenv", "EnvVar"):
                return node.args[0]
        return None

    readers = {
        fn.name
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) and any(reads(n) is not None for n in ast.walk(fn))
    }
    found = []
    for node in ast.walk(tree):
        key = key_of(reads(node))
        if key is None and isinstance(node, ast.Call) and node.args and callee(node) in readers:
            key = key_of(node.args[0])
        if key is not None:
            found.append((getattr(node, "lineno", 0), key))
    return sorted(found)


@pytest.mark.parametrize(
    "source",
    [
        'import os\nos.environ.get("MUSEUM_SYNC_HOME")',
        'import os\nx = os.environ["MUSEUM_SYNC_HOME"]',
        'import os\nx = "MUSEUM_SYNC_HOME" in os.environ',
        'import os\nos.getenv("MUSEUM_SYNC_HOME", ".state")',
        'import dagster as dg\ndg.EnvVar("MUSEUM_SYNC_HOME")',
        'import os\nenv = os.environ\nenv.get("MUSEUM_SYNC_HOME")',
        'import os\nVAR = "MUSEUM_SYNC_HOME"\nos.environ.get(VAR)',
        'import os\ndef _int(name, d):\n    return int(os.environ.get(name) or d)\n_int("MUSEUM_SYNC_HOME", 1)',
    ],
)
def test_the_environ_read_finder_finds_every_form(source: str) -> None:
    assert [variable for _, variable in environ_reads_by_literal(source)] == ["MUSEUM_SYNC_HOME"]


@pytest.mark.parametrize(
    "source",
    [
        'import os\nos.environ.get(env_name("testing.failpoints"))',
        'import os\nos.environ["MUSEUM_SYNC_HOME"] = "/srv"',  # a write, for a child process
        'print("set MUSEUM_SYNC_ES_URL to index into Elasticsearch")',  # a message naming a variable
        'import os\nchild = {k: v for k, v in os.environ.items() if k.startswith("MUSEUM_SYNC_")}',
    ],
)
def test_the_environ_read_finder_ignores_what_is_not_a_read_by_literal(source: str) -> None:
    assert environ_reads_by_literal(source) == []


def test_only_settings_reads_museum_sync_variables_by_name() -> None:
    package = REPO / "museum_sync"
    offenders = [
        f"{path.relative_to(REPO)}:{line}: {variable}"
        for path in sorted(package.rglob("*.py"))
        if package / "settings" not in path.parents
        for line, variable in environ_reads_by_literal(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "read these through museum_sync.settings.get_settings() (or env_name()):\n" + "\n".join(
        offenders
    )
