"""Every ``MUSEUM_SYNC_*`` variable in one typed place: its type, default and meaning, read on each call.

``get_settings()`` reads the environment (or a given mapping) into a frozen ``Settings`` made of groups
(``paths``, ``postgres``, ``redis``, ``celery``, ``run``, ``search``, ``http``, ``schedules``, ``testing``).
A variable's name is its group's prefix plus the field name in upper case (``search.api_key`` ->
``MUSEUM_SYNC_ES_API_KEY``; ``Settings.env_name`` spells it), so code that writes the environment for a
child process uses the very names this module reads. An empty variable counts as unset.

Nothing is cached: tests and the CLI change the environment between calls. A bad value fails at once, as
a ``SettingsError`` whose message is one line naming the variable, the value (secrets masked) and what
is expected. Secrets (the Elasticsearch password and API key) are ``SecretStr``: shown as ``**********``
and only unwrapped where the client is built. ``describe()`` lists every variable for the docs. Harvest
credentials are a family the operator names: ``MUSEUM_SYNC_CREDENTIAL_<NAME>`` + ``_ORIGIN`` (``credentials``).

Every value has a default that works for the embedded demo; production sets the variables (deploy/).
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Self
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import annotated_types
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from museum_sync.core.exceptions import MuseumSyncError
from museum_sync.core.profiles import CREDENTIAL_ENV_PREFIX, credential_name_problem
from museum_sync.redaction import MASK, redact

__all__ = [
    "DEFAULT_PG_URL",
    "DEFAULT_REDIS_URL",
    "CelerySettings",
    "Credential",
    "Credentials",
    "HookSettings",
    "HttpClientSettings",
    "PathSettings",
    "PostgresSettings",
    "RedisSettings",
    "RunSettings",
    "ScheduleSettings",
    "SearchSettings",
    "Settings",
    "SettingsError",
    "SettingsGroup",
    "Variable",
    "describe",
    "describe_table",
    "env_name",
    "get_settings",
    "origin_of",
    "redis_db",
    "redis_urls",
    "result_backend_for",
]

ENV_PREFIX = "MUSEUM_SYNC_"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/museum_sync"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class SettingsError(MuseumSyncError, ValueError):
    """A ``MUSEUM_SYNC_*`` variable cannot be used as set. One line: variable, value, what is expected."""


# ------------------------------------------------------------------- Redis URLs and the result-db rule


def redis_urls(url: str, db: int | None = None) -> tuple[str, str]:
    """``(kombu_url, redis_py_url)`` for a Redis URL in any supported form, optionally on another db number.

    Accepts ``redis://``, ``rediss://`` (same form for both libraries, db in the path), redis-py's
    ``unix:///path?db=N`` and kombu's ``redis+socket:///path?virtual_host=N``. Other query options are kept.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if parts.scheme in ("redis", "rediss"):
        path_db = parts.path.strip("/")
        current = int(path_db) if path_db.isdigit() else int(dict(query).get("db", "0"))
        rest = [(k, v) for k, v in query if k != "db"]
        same = urlunsplit(parts._replace(path=f"/{current if db is None else db}", query=urlencode(rest)))
        return same, same
    if parts.scheme in ("unix", "redis+socket", "socket"):
        key = "db" if parts.scheme == "unix" else "virtual_host"
        current = int(dict(query).get(key, "0") or "0")
        others = urlencode([(k, v) for k, v in query if k not in ("db", "virtual_host")])
        n = current if db is None else db
        path = quote(unquote(parts.path), safe="/")
        tail = f"&{others}" if others else ""
        return (
            f"redis+socket://{parts.netloc}{path}?virtual_host={n}{tail}",
            f"unix://{parts.netloc}{path}?db={n}{tail}",
        )
    raise SettingsError(f"unsupported Redis URL {redact(url)}: use redis://, rediss://, unix:// or redis+socket://")


def redis_db(url: str) -> int:
    """The Redis db number a URL (any form ``redis_urls`` accepts) names; 0 when it names none."""
    parts = urlsplit(redis_urls(url)[1])
    if parts.scheme == "unix":
        return int(dict(parse_qsl(parts.query)).get("db") or 0)
    return int(parts.path.strip("/") or 0)


def result_backend_for(broker_url: str) -> str:
    """Where Celery results go for ``broker_url``: the same Redis server on the next db (n+1, or 14 when the
    broker is on db 15), so results never share a keyspace with queues. Credentials and query options are
    kept. Not Redis (``amqp://``): returned unchanged, and ``RedisSettings`` requires MUSEUM_SYNC_RESULT_BACKEND."""
    try:
        db = redis_db(broker_url)
        return redis_urls(broker_url, db + 1 if db < 15 else db - 1)[0]
    except ValueError:  # not a Redis URL (SettingsError), or one whose db is not a number
        return broker_url


# ------------------------------------------------------------------------------------------------ origins

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str, *, bare: bool = False) -> str:
    """``scheme://host:port`` of an http(s) URL (lower case, default port spelt out): what credentials and
    redirects are bound to. ``bare``: ``url`` must be an origin alone (no path, user, query), as an operator
    writes one. ``ValueError`` otherwise, one line without the URL (it may hold a key)."""
    parts = urlsplit(url.strip())
    if bare and (parts.username or parts.password or parts.path not in ("", "/") or parts.query or parts.fragment):
        raise ValueError("expected an origin: scheme://host[:port], without path, user or query")
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("expected an http:// or https:// URL")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ValueError("the port is not a number") from None
    if not host:
        raise ValueError("the URL names no host")
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port or _DEFAULT_PORTS[scheme]}"


def _origin_set(value: str) -> frozenset[str]:
    """A comma-separated list of origins (``ValueError`` on a bad one)."""
    return frozenset(origin_of(item, bare=True) for item in value.split(",") if item.strip())


# ------------------------------------------------------------------------------------- value types


class _Expect(str):
    """Annotated metadata: what a bad value should have been, for the one-line error."""


def _checked(expected: str, ok: Callable[[str], bool]) -> Any:
    def check(value: str) -> str:
        value = value.strip()
        if not ok(value):
            raise ValueError(expected)
        return value

    return AfterValidator(check)


def _scheme(value: str) -> str:
    return value.partition("://")[0].lower() if "://" in value else ""


def _is_redis_url(value: str) -> bool:
    try:
        redis_urls(value)
    except ValueError:
        return False
    return True


_PG = "a postgresql:// URL (or libpq key=value conninfo)"
_DAGSTER_PG = "a postgresql:// or postgresql+psycopg2:// URL"
_REDIS = "a redis://, rediss://, unix:// or redis+socket:// URL"
_CELERY = "a Celery broker/backend URL (scheme://...)"
_HTTP = "an http:// or https:// URL"
PgUrl = Annotated[
    str,
    _checked(_PG, lambda v: _scheme(v).split("+")[0] in ("postgresql", "postgres") or ("://" not in v and "=" in v)),
    _Expect(_PG),
]
DagsterPgUrl = Annotated[
    str, _checked(_DAGSTER_PG, lambda v: _scheme(v).split("+")[0] in ("postgresql", "postgres")), _Expect(_DAGSTER_PG)
]
RedisUrl = Annotated[str, _checked(_REDIS, _is_redis_url), _Expect(_REDIS)]
CeleryUrl = Annotated[str, _checked(_CELERY, lambda v: "://" in v), _Expect(_CELERY)]
HttpUrl = Annotated[str, _checked(_HTTP, lambda v: _scheme(v) in ("http", "https")), _Expect(_HTTP)]
ResolvedPath = Annotated[Path, AfterValidator(lambda p: p.resolve())]


def _is_origin_list(value: str) -> bool:
    try:
        return _origin_set(value) is not None
    except ValueError:
        return False


_ORIGINS = "comma-separated origins: scheme://host[:port], without path, user or query"
OriginList = Annotated[str, _checked(_ORIGINS, _is_origin_list), _Expect(_ORIGINS)]


def _var(default: Any, meaning: str, *, shown: str | None = None, **constraints: Any) -> Any:
    """A variable: its default (``...`` when derived from others), one-line meaning, and how the docs show the
    default (``shown``) when the value itself would mislead."""
    return Field(default, description=meaning, json_schema_extra={"shown": shown} if shown else None, **constraints)


class SettingsGroup(BaseModel):
    """Variables that belong together. Variable name = ``env_prefix`` + field name in upper case."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    env_prefix: ClassVar[str] = ENV_PREFIX
    title: ClassVar[str] = ""
    for_users: ClassVar[bool] = True  # False: test-only hooks, left out of the user docs
    # Variable families the operator names (name, meaning, secret): documented here, read by Settings.from_env.
    patterns: ClassVar[tuple[tuple[str, str, bool], ...]] = ()

    @classmethod
    def env_name(cls, field: str) -> str:
        if field not in cls.model_fields:
            raise KeyError(f"{cls.__name__} has no setting {field!r}")
        return cls.env_prefix + field.upper()

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, redact(value) if isinstance(value, str) else value


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
        ..., "Celery broker, when not `$MUSEUM_SYNC_REDIS_URL`", shown="`$MUSEUM_SYNC_REDIS_URL`"
    )
    result_backend: CeleryUrl = _var(
        ..., "Celery results (Redis), when not the broker's next db", shown="broker's db n+1; required for amqp"
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
            if named and "result_backend" not in data and "://" in broker and not _is_redis_url(broker):
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


class RunSettings(SettingsGroup):
    title: ClassVar[str] = "Run tuning"

    max_inflight_steps: int = _var(8, "queued+running steps one run submits at a time", ge=1)
    lost_step_check_s: int = _var(10, "seconds before a step whose broker message was lost is resubmitted", ge=1)
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
        return _origin_set(self.allowed_origins)


class ScheduleSettings(SettingsGroup):
    title: ClassVar[str] = "Schedules"

    nightly_cron: str = _var("0 2 * * *", "cron of the nightly sync of the configured sources")
    harvest_cron: str = _var("30 1 * * *", "cron of the nightly incremental harvests")
    timezone: str = _var("UTC", "time zone of both schedules")


class HookSettings(SettingsGroup):
    title: ClassVar[str] = "Test-only hooks"
    for_users: ClassVar[bool] = False

    failpoints: str = _var("", "fault suite only: `stage=sleep:<s>,…` makes stages slow enough to strike")
    shared_data: Path | None = _var(None, "test suite only: the shared real data", shown="`../shared/data`")


# ------------------------------------------------------------------------------------------ credentials


@dataclass(frozen=True)
class Credential:
    """A harvest credential the operator declared (``<prefix><NAME>`` and ``<prefix><NAME>_ORIGIN``): its
    secret and the one origin it may go to. A profile, data a museum writes, only names it."""

    name: str
    value: SecretStr
    origin: str  # origin_of(): scheme://host:port


class Credentials(dict[str, Credential]):
    """The declared credentials by name (values stay ``SecretStr``, masked in any repr)."""

    def require(self, name: str, *, wanted_by: str) -> Credential:
        """The credential ``name``, or a one-line ``SettingsError`` saying which variables to set."""
        found = self.get(name)
        if found is None:
            variable = CREDENTIAL_ENV_PREFIX + name
            raise SettingsError(
                f"{wanted_by} needs credential {name!r}: set {variable} and {variable}_ORIGIN "
                "(the https://host[:port] it is for)"
            )
        return found


def _read_credentials(environ: Mapping[str, str]) -> Credentials:
    """Every ``MUSEUM_SYNC_CREDENTIAL_<NAME>`` with its ``_ORIGIN``; ``SettingsError`` naming what is wrong."""
    values, origins, found, problems = {}, {}, Credentials(), []
    for key, raw in environ.items():
        if key.startswith(CREDENTIAL_ENV_PREFIX) and raw and raw.strip():
            name = key.removeprefix(CREDENTIAL_ENV_PREFIX)
            (origins if name.endswith("_ORIGIN") else values)[name.removesuffix("_ORIGIN")] = raw
    for name, value in sorted(values.items()):
        variable = CREDENTIAL_ENV_PREFIX + name
        problem = credential_name_problem(name)
        if problem:
            problems.append(f"{variable}: {problem}")
        elif name not in origins:
            problems.append(f"{variable} is set without {variable}_ORIGIN (the https://host[:port] it is for)")
        else:
            try:
                found[name] = Credential(name, SecretStr(value), origin_of(origins[name], bare=True))
            except ValueError as exc:
                problems.append(f"{variable}_ORIGIN={redact(origins[name])!r}: {exc}")
    if problems:
        raise SettingsError("; ".join(problems))
    return found


# ------------------------------------------------------------------------------------------ settings

_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("museum_sync_settings_environ", default=None)


class _EnvSource(PydanticBaseSettingsSource):
    """Each group's variables from one mapping (os.environ unless ``Settings.from_env`` was given one)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads whole groups

    def __call__(self) -> dict[str, Any]:
        environ = _ENVIRON.get()
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for group_name, group in _groups(self.settings_cls).items():
            raw = {name: environ.get(group.env_name(name)) for name in group.model_fields}
            values[group_name] = {name: value for name, value in raw.items() if value and value.strip()}
        return values


class Settings(BaseSettings):
    """Runtime settings; the flat attributes (``home``, ``pg_url``, ...) are the ones most code needs."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    paths: PathSettings
    postgres: PostgresSettings
    redis: RedisSettings
    celery: CelerySettings
    run: RunSettings
    search: SearchSettings
    http: HttpClientSettings
    schedules: ScheduleSettings
    testing: HookSettings

    _explicit: frozenset[str] = PrivateAttr(default=frozenset())
    _credentials: Credentials = PrivateAttr(default_factory=Credentials)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _EnvSource(settings_cls)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Read every group from ``environ`` (default os.environ); ``SettingsError`` on a bad value."""
        environ = os.environ if environ is None else environ
        token = _ENVIRON.set(environ)
        try:
            settings = cls()  # the groups come from _EnvSource
        except ValidationError as exc:
            raise SettingsError(_one_line(cls, exc)) from None
        finally:
            _ENVIRON.reset(token)
        settings._explicit = frozenset(name for name, _, _ in _variables(cls) if (environ.get(name) or "").strip())
        settings._credentials = _read_credentials(environ)
        return settings

    @classmethod
    def env_name(cls, path: str) -> str:
        """The variable behind ``"group.field"`` (or a field name found in one group only)."""
        group_name, dot, field = path.partition(".")
        groups = _groups(cls)
        if dot:
            if group_name not in groups:
                raise KeyError(f"no settings group {group_name!r}")
            return groups[group_name].env_name(field)
        found = [group.env_name(path) for group in groups.values() if path in group.model_fields]
        if len(found) != 1:
            raise KeyError(f"{path!r} names {len(found)} settings; use group.field")
        return found[0]

    def is_set(self, path: str) -> bool:
        """Whether the variable behind ``path`` was set (non-empty), as opposed to defaulted."""
        return self.env_name(path) in self._explicit

    @property
    def credentials(self) -> Credentials:
        """Harvest credentials (``MUSEUM_SYNC_CREDENTIAL_<NAME>`` + ``_ORIGIN``), each bound to its origin."""
        return self._credentials

    # The attributes every module has always used.
    @property
    def home(self) -> Path:
        return self.paths.home

    @property
    def artifact_root(self) -> Path:
        return self.paths.artifact_root

    @property
    def inbox(self) -> Path:
        return self.paths.inbox

    @property
    def pg_url(self) -> str:
        return self.postgres.pg_url or DEFAULT_PG_URL

    @property
    def catalog_schema(self) -> str:
        return self.postgres.catalog_schema

    @property
    def broker_url(self) -> str:
        return self.redis.broker_url

    @property
    def result_backend(self) -> str:
        return self.redis.result_backend

    @property
    def keep_exports(self) -> int:
        return self.run.keep_exports


def get_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``MUSEUM_SYNC_*`` variables (no caching: tests and the CLI change them)."""
    return Settings.from_env(environ)


def env_name(path: str) -> str:
    """``Settings.env_name``: the variable behind ``"group.field"``, e.g. ``"postgres.pg_url"``."""
    return Settings.env_name(path)


def _groups(cls: type[BaseSettings]) -> dict[str, type[SettingsGroup]]:
    return {
        name: field.annotation
        for name, field in cls.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, SettingsGroup)
    }


def _variables(cls: type[BaseSettings]) -> Iterator[tuple[str, type[SettingsGroup], str]]:
    for group in _groups(cls).values():
        for field_name in group.model_fields:
            yield group.env_name(field_name), group, field_name


# ------------------------------------------------------------------------------- errors and the docs


def _one_line(cls: type[BaseSettings], exc: ValidationError) -> str:
    groups = _groups(cls)
    problems = []
    for error in exc.errors():
        loc = error["loc"]
        group = groups.get(str(loc[0])) if loc else None
        if group is None or len(loc) < 2 or loc[1] not in group.model_fields:
            problems.append(f"settings: {error['msg']}")
            continue
        field = group.model_fields[str(loc[1])]
        shown = MASK if _is_secret(field) else redact(str(error.get("input")))
        problems.append(f"{group.env_name(str(loc[1]))}={shown!r}: expected {_expected(field)}")
    return "; ".join(problems)


def _parts(annotation: Any) -> tuple[Any, list[Any]]:
    """``(base type, Annotated metadata)`` of a field type, with ``| None`` stripped."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    if typing.get_origin(annotation) is Annotated:
        base, *metadata = typing.get_args(annotation)
        return base, metadata
    return annotation, []


_KINDS = {int: "an integer", float: "a number", bool: "true or false (1/0, yes/no, on/off)", Path: "a path"}
_BOUNDS = ((annotated_types.Ge, "ge", ">="), (annotated_types.Gt, "gt", ">"), (annotated_types.Le, "le", "<="))


def _expected(field: FieldInfo) -> str:
    base, metadata = _parts(field.annotation)
    for item in [*field.metadata, *metadata]:
        if isinstance(item, _Expect):
            return str(item)
    text = _KINDS.get(base, "text")
    for item in field.metadata:
        for kind, attr, sign in _BOUNDS:
            if isinstance(item, kind):
                text += f" {sign} {getattr(item, attr):g}"
    return text


def _is_secret(field: FieldInfo) -> bool:
    return _parts(field.annotation)[0] is SecretStr


@dataclass(frozen=True)
class Variable:
    """One ``MUSEUM_SYNC_*`` variable as the docs show it (``default`` and ``meaning`` are Markdown)."""

    name: str
    group: str
    default: str
    meaning: str
    secret: bool
    for_users: bool


def describe(cls: type[Settings] = Settings) -> list[Variable]:
    """Every variable, in group order: name, default as the docs show it, one-line meaning."""
    out = []
    for group in _groups(cls).values():
        for field_name, field in group.model_fields.items():
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            if extra.get("shown"):
                default = str(extra["shown"])
            elif field.default is None or field.default == "":
                default = "unset"
            else:
                default = f"`{field.default}`"
            meaning = field.description or ""
            out.append(
                Variable(group.env_name(field_name), group.title, default, meaning, _is_secret(field), group.for_users)
            )
        for name, meaning, secret in group.patterns:
            out.append(Variable(name, group.title, "unset", meaning, secret, group.for_users))
    return out


def describe_table(*, for_users: bool = True) -> str:
    """A Markdown table of the variables (users' ones only unless ``for_users=False``), a row per group title."""
    lines = ["| Variable | Meaning | Default |", "| --- | --- | --- |"]
    group = None
    for var in describe():
        if for_users and not var.for_users:
            continue
        if var.group != group:
            group = var.group
            lines.append(f"| **{group}** | | |")
        meaning = var.meaning.replace("|", "\\|")
        lines.append(f"| `{var.name}` | {meaning} | {var.default} |")
    return "\n".join(lines) + "\n"
