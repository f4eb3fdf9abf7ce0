"""Every ``MUSEUM_SYNC_*`` variable in one typed place: its type, default and meaning, read on each call.

``get_settings()`` reads the environment (or a given mapping) into a frozen ``Settings`` made of groups
(``paths``, ``postgres``, ``redis``, ``celery``, ``run``, ``search``, ``http``, ``schedules``, ``telemetry``,
``testing``).
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
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Self

from pydantic import PrivateAttr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from museum_sync.settings.credentials import Credential, Credentials, read_credentials
from museum_sync.settings.docs import Variable, describe, describe_table, one_line
from museum_sync.settings.groups import (
    CelerySettings,
    HookSettings,
    HttpClientSettings,
    IiifSettings,
    PathSettings,
    PostgresSettings,
    RedisSettings,
    RunSettings,
    ScheduleSettings,
    SearchSettings,
    TelemetrySettings,
)
from museum_sync.settings.urls import (
    DEFAULT_PG_URL,
    DEFAULT_REDIS_URL,
    SentinelUrl,
    SettingsError,
    is_sentinel_url,
    origin_of,
    parse_sentinel_url,
    redis_db,
    redis_urls,
    result_backend_for,
)
from museum_sync.settings.values import SettingsGroup, groups_of, variables_of

__all__ = [
    "DEFAULT_PG_URL",
    "DEFAULT_REDIS_URL",
    "CelerySettings",
    "Credential",
    "Credentials",
    "HookSettings",
    "HttpClientSettings",
    "IiifSettings",
    "PathSettings",
    "PostgresSettings",
    "RedisSettings",
    "RunSettings",
    "ScheduleSettings",
    "SearchSettings",
    "SentinelUrl",
    "Settings",
    "SettingsError",
    "SettingsGroup",
    "TelemetrySettings",
    "VARIABLE_PREFIX",
    "Variable",
    "describe",
    "describe_table",
    "env_name",
    "get_settings",
    "is_sentinel_url",
    "origin_of",
    "parse_sentinel_url",
    "redis_db",
    "redis_urls",
    "result_backend_for",
]


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
        for group_name, group in groups_of(self.settings_cls).items():
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
    iiif: IiifSettings
    schedules: ScheduleSettings
    telemetry: TelemetrySettings
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
            raise SettingsError(one_line(cls, exc)) from None
        finally:
            _ENVIRON.reset(token)
        settings._explicit = frozenset(name for name, _, _ in variables_of(cls) if (environ.get(name) or "").strip())
        settings._credentials = read_credentials(environ)
        return settings

    @classmethod
    def env_name(cls, path: str) -> str:
        """The variable behind ``"group.field"`` (or a field name found in one group only)."""
        group_name, dot, field = path.partition(".")
        groups = groups_of(cls)
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


# Every variable settings read starts with this (the groups' and the credentials'; ``test_settings`` holds it).
VARIABLE_PREFIX = "MUSEUM_SYNC_"
# The last settings read from os.environ, with what they were read from: (working directory, variables).
_last: tuple[tuple[str, tuple[tuple[str, str], ...]], Settings] | None = None


def get_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``MUSEUM_SYNC_*`` variables.

    From os.environ, the last answer is reused while those variables and the working directory (the default
    ``home``) are what they were: a step asks ~8 times, 0.5 ms each read anew (issue #18), and tests and the CLI
    change variables between calls, which reads them again. Settings are frozen, so sharing one is safe.
    """
    global _last
    if environ is not None:
        return Settings.from_env(environ)
    try:
        cwd = os.getcwd()
    except FileNotFoundError:  # the working directory was removed: read anew (and fail as before if home is unset)
        return Settings.from_env()
    key = (cwd, tuple(sorted(item for item in os.environ.items() if item[0].startswith(VARIABLE_PREFIX))))
    last = _last
    if last is not None and last[0] == key:
        return last[1]
    settings = Settings.from_env()
    _last = (key, settings)
    return settings


def env_name(path: str) -> str:
    """``Settings.env_name``: the variable behind ``"group.field"``, e.g. ``"postgres.pg_url"``."""
    return Settings.env_name(path)
