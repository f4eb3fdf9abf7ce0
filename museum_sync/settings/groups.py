"""The groups of ``MUSEUM_SYNC_*`` variables: one class per concern, one field per variable."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import SecretStr, model_validator
from pydantic_core import PydanticCustomError

from museum_sync.core.profiles import CREDENTIAL_ENV_PREFIX
from museum_sync.settings.urls import (
    DEFAULT_PG_URL,
    DEFAULT_REDIS_URL,
    ENV_PREFIX,
    SettingsError,
    is_sentinel_url,
    origin_set,
    redis_urls,
    result_backend_for,
)
from museum_sync.settings.values import (
    CeleryUrl,
    DagsterPgUrl,
    HttpUrl,
    OriginList,
    PgUrl,
    RedisUrl,
    ResolvedPath,
    SettingsGroup,
    _is_redis_url,
    _var,
)

# ------------------------------------------------------------------------------------------- groups

_UNDER_HOME = {"artifact_root": "artifacts", "inbox": "inbox", "io_dir": "io", "sources": "sources.toml"}


class PathSettings(SettingsGroup):
    title: ClassVar[str] = "Storage and paths"

    home: ResolvedPath = _var(
        ..., "state root: artifacts, inbox, Dagster home and step outputs, sources file", shown="`./.state`"
    )
    artifact_root: ResolvedPath = _var(
        ..., "shared storage every worker mounts (snapshots, chunk outputs)", shown="`$MUSEUM_SYNC_HOME/artifacts`"
    )
    inbox: ResolvedPath = _var(
        ..., "inbox watched by the sensor: `<inbox>/<profile>/<file>`", shown="`$MUSEUM_SYNC_HOME/inbox`"
    )
    io_dir: ResolvedPath = _var(
        ..., "Dagster's filesystem IO manager (small step outputs)", shown="`$MUSEUM_SYNC_HOME/io`"
    )
    sources: ResolvedPath = _var(
        ..., "TOML list of sources and harvests for the nightly schedules", shown="`$MUSEUM_SYNC_HOME/sources.toml`"
    )
    profile_path: str = _var("", "extra folders of mapping profiles (`*.toml`), `os.pathsep`-separated, searched first")
    state_dir: Path = _var(Path(".state"), "the CLI's `--state-dir`: embedded PostgreSQL/Redis, logs")

    @model_validator(mode="before")
    @classmethod
    def _under_home(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            home = Path(data.setdefault("home", Path.cwd() / ".state"))
            for name, leaf in _UNDER_HOME.items():
                data.setdefault(name, home / leaf)
        return data

    @property
    def profile_dirs(self) -> list[Path]:
        """``profile_path`` as folders, in order, empty entries skipped."""
        return [Path(p) for p in self.profile_path.split(os.pathsep) if p]


class PostgresSettings(SettingsGroup):
    title: ClassVar[str] = "PostgreSQL"

    pg_url: PgUrl | None = _var(
        None, "catalogue PostgreSQL (libpq URL)", shown=f"embedded (CLI, tests); else `{DEFAULT_PG_URL}`"
    )
    dagster_pg_url: DagsterPgUrl | None = _var(
        None, "Dagster instance storage (`postgresql+psycopg2://…`)", shown="`<catalogue db>_dagster`, created"
    )
    catalog_schema: str = _var("catalog", "schema of the catalogue tables and the public view `objects`")


class RedisSettings(SettingsGroup):
    title: ClassVar[str] = "Redis / Celery broker"

    redis_url: RedisUrl | None = _var(
        None,
        "Redis for the Celery broker (db n) and results (db n+1)",
        shown=f"embedded (CLI, tests); else `{DEFAULT_REDIS_URL}`",
    )
    broker_url: CeleryUrl = _var(
        ...,
        "Celery broker, when not `$MUSEUM_SYNC_REDIS_URL`: `redis://`, `sentinel://…?master_name=`, `amqp://`",
        shown="`$MUSEUM_SYNC_REDIS_URL`",
    )
    result_backend: CeleryUrl = _var(
        ...,
        "Celery results (Redis or Sentinel), when not the broker's next db",
        shown="broker's db n+1; required for amqp",
    )

    @model_validator(mode="before")
    @classmethod
    def _one_rule(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            redis_url = str(data.get("redis_url") or DEFAULT_REDIS_URL).strip()
            try:
                from_redis = redis_urls(redis_url)[0]
            except ValueError:  # reported as redis_url's own error
                from_redis = redis_url
            named, broker = "broker_url" in data, str(data.setdefault("broker_url", from_redis)).strip()
            redis_like = _is_redis_url(broker) or is_sentinel_url(broker)
            if named and "result_backend" not in data and "://" in broker and not redis_like:
                raise PydanticCustomError("results", "MUSEUM_SYNC_BROKER_URL not Redis: set MUSEUM_SYNC_RESULT_BACKEND")
            data.setdefault("result_backend", result_backend_for(broker))
        return data


class CelerySettings(SettingsGroup):
    title: ClassVar[str] = "Celery worker limits"

    visibility_timeout: int = _var(1800, "seconds before an unacked step is redelivered: above the longest step", ge=1)
    max_tasks_per_child: int = _var(100, "steps a worker child runs before it is recycled (bounded memory)", ge=1)
    max_memory_per_child_kb: int = _var(400_000, "KiB a worker child may grow to before it is recycled", ge=1)
    broker_pool_limit: int = _var(10, "broker connections per process", ge=0)
    broker_heartbeat: int = _var(30, "seconds between AMQP heartbeats (no-op on Redis)", ge=0)
    broker_max_retries: int = _var(100, "reconnects to broker/result backend before a process gives up", ge=0)
    result_expires: int = _var(3600, "seconds a step result stays in Redis", ge=0)
    worker_instance: Literal["per-child", "per-step"] = _var(
        "per-child",
        "Dagster instance of a worker child's steps: kept per child, connections pooled (`per-step`: dagster-celery's"
        " own, one per step, a rollback)",
    )


class RunSettings(SettingsGroup):
    title: ClassVar[str] = "Run tuning"

    max_inflight_steps: int = _var(8, "queued+running steps one run submits at a time", ge=1)
    lost_step_check_s: int = _var(10, "seconds before a step whose broker message was lost is resubmitted", ge=1)
    result_poll_s: float = _var(
        0.1, "seconds the run's orchestrator waits between looks at its steps' results (dagster-celery: 1)", gt=0, le=5
    )
    keep_exports: int = _var(
        3, "published versions kept in both stores for rollback (1: the public one only, no rollback)", ge=1
    )


class SearchSettings(SettingsGroup):
    title: ClassVar[str] = "Elasticsearch"
    env_prefix: ClassVar[str] = ENV_PREFIX + "ES_"

    url: HttpUrl | None = _var(None, "Elasticsearch; unset = PostgreSQL-only publication (said in every summary)")
    api_key: SecretStr | None = _var(None, "encoded API key (or user + password; read at use, never in messages)")
    user: str | None = _var(None, "basic-auth user, with `MUSEUM_SYNC_ES_PASSWORD`")
    password: SecretStr | None = _var(None, "basic-auth password (read at use, never in messages)")
    alias: str = _var("museum-objects", "public alias the published index is behind")
    index_prefix: str = _var("museum-objects-", "per-export index name prefix")
    ca_certs: str | None = _var(None, "CA bundle for a TLS cluster")
    replicas: int | None = _var(
        None, "replicas of a loaded index (0 keeps a single-node cluster green)", shown="`1`", ge=0
    )

    def credentials(self) -> tuple[str | None, tuple[str, str] | None]:
        """``(api_key, basic_auth)`` for the client, unwrapped here at use. One scheme or the other, not both."""
        api_key = self.api_key.get_secret_value() if self.api_key else None
        password = self.password.get_secret_value() if self.password else None
        key_env, user_env, password_env = (self.env_name(f) for f in ("api_key", "user", "password"))
        if api_key and (self.user or password):
            raise SettingsError(f"set {key_env} or {user_env}/{password_env}, not both")
        if bool(self.user) != bool(password):
            raise SettingsError(f"{user_env} and {password_env} must be set together")
        return api_key, ((self.user, password) if self.user and password else None)


class HttpClientSettings(SettingsGroup):
    title: ClassVar[str] = "HTTP harvest client"
    env_prefix: ClassVar[str] = ENV_PREFIX + "HTTP_"
    patterns: ClassVar[tuple[tuple[str, str, bool], ...]] = (
        (f"{CREDENTIAL_ENV_PREFIX}<NAME>", 'a harvest credential a profile names: `credential = "<NAME>"`', True),
        (f"{CREDENTIAL_ENV_PREFIX}<NAME>_ORIGIN", "the one origin (`https://host[:port]`) it is sent to", False),
    )

    connect_timeout: float = _var(10.0, "seconds to connect", gt=0)
    timeout: float = _var(60.0, "seconds a server may send nothing before the read fails", gt=0)
    total_timeout: float = _var(600.0, "seconds for a whole response, headers to last byte (0 = no limit)", ge=0)
    attempts: int = _var(5, "tries per request (retries on 429/5xx/timeouts, honouring Retry-After)", ge=1)
    max_bytes: int = _var(64 * 1024 * 1024, "largest response body accepted", shown="`67108864` (64 MiB)", ge=1)
    contact: str | None = _var(None, "operator contact added to the User-Agent, e.g. `(+mailto:it@museum.example)`")
    allowed_origins: OriginList = _var(
        "",
        "origins (`https://host[:port]`, comma-separated) a harvest may also be redirected or linked to; "
        "credentials are never sent there",
    )

    @property
    def allowed_origin_set(self) -> frozenset[str]:
        return origin_set(self.allowed_origins)


class IiifSettings(SettingsGroup):
    title: ClassVar[str] = "IIIF manifest checks"
    env_prefix: ClassVar[str] = ENV_PREFIX + "IIIF_"

    enabled: bool = _var(True, "fetch and validate records' IIIF manifests (`false`: the iiif steps do nothing)")
    allowed_hosts: str = _var(
        "",
        "hosts, addresses or CIDR networks (comma-separated) the IIIF fetcher may reach although not public "
        "(internal IIIF servers, tests); cloud-metadata addresses never",
    )
    connect_timeout: float = _var(5.0, "seconds to connect to a manifest's server", gt=0)
    timeout: float = _var(20.0, "seconds a manifest server may send nothing before the read fails", gt=0)
    total_timeout: float = _var(60.0, "seconds for one whole manifest response", gt=0)
    attempts: int = _var(3, "tries per manifest (429/5xx/timeouts retried, honouring Retry-After)", ge=1)
    max_retry_after: float = _var(30.0, "longest Retry-After waited for; longer: the manifest is unavailable", ge=0)
    max_bytes: int = _var(16 * 1024 * 1024, "largest manifest accepted", shown="`16777216` (16 MiB)", ge=1)
    max_redirects: int = _var(5, "redirect hops followed per manifest (each checked by the SSRF guard)", ge=0)
    per_host: int = _var(4, "concurrent requests to one host from one worker process", ge=1)
    fetch_threads: int = _var(16, "manifests one iiif step fetches at once (network-bound threads)", ge=1)
    http2: bool = _var(False, "HTTP/2 where a server offers it (needs the optional `h2` package)")
    worker_concurrency: int = _var(2, "`museum-sync worker --queues iiif`: prefork children", ge=1)
    worker_max_tasks_per_child: int = _var(
        1000, "iiif steps a worker child runs before it is recycled (keeps its pooled connections longer)", ge=1
    )
    max_inflight_steps: int = _var(
        4, "iiif steps one run keeps queued+running, on top of (not out of) the ingestion steps", ge=1
    )

    @property
    def allowed_host_set(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip())


class ScheduleSettings(SettingsGroup):
    title: ClassVar[str] = "Schedules"

    nightly_cron: str = _var("0 2 * * *", "cron of the nightly sync of the configured sources")
    harvest_cron: str = _var("30 1 * * *", "cron of the nightly incremental harvests")
    timezone: str = _var("UTC", "time zone of both schedules")


class TelemetrySettings(SettingsGroup):
    title: ClassVar[str] = "Logs, metrics and worker health"

    log_format: Literal["auto", "json", "console"] = _var(
        "auto", "`json` (one object a line), `console` (for people), `auto`: console on a terminal, else json"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = _var("INFO", "lowest level logged by every process")
    metrics_port: int = _var(9808, "port of a worker's Prometheus `/metrics` (0: no metrics kept or served)", ge=0)
    metrics_dir: Path | None = _var(
        None,
        "folder of the worker children's prometheus-client files (`PROMETHEUS_MULTIPROC_DIR`), one per worker",
        shown="`<temp dir>/museum-sync-metrics`",
    )
    rss_sample_s: float = _var(1.0, "seconds between RSS samples of a worker child while it runs a step", gt=0)
    heartbeat_s: float = _var(10.0, "seconds between a worker's heartbeats (Redis record, liveness file)", gt=0)
    stale_after_s: float = _var(
        60.0, "a worker whose last heartbeat is older is stale: `doctor` fails, sync sensors refuse", gt=0
    )
    forget_after_s: int = _var(900, "seconds a dead worker's record stays visible (stale) before it expires", ge=1)
    build_id: str = _var("", "the build's id (git commit, image tag) when the code has no .git folder")
    health_gate: bool = _var(True, "sync sensors and schedules refuse to launch while `museum-sync doctor` fails")


class HookSettings(SettingsGroup):
    title: ClassVar[str] = "Test-only hooks"
    for_users: ClassVar[bool] = False

    failpoints: str = _var("", "fault suite only: `stage=sleep:<s>,…` makes stages slow enough to strike")
    shared_data: Path | None = _var(None, "test suite only: the shared real data", shown="`../shared/data`")
