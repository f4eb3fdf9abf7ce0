"""What a setting's value may be (typed URL and path kinds, each with the one-line expectation a bad value
is told), and ``SettingsGroup``, the base of every group of variables."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings

from museum_sync.redaction import redact
from museum_sync.settings.urls import ENV_PREFIX, is_sentinel_url, origin_set, parse_sentinel_url, redis_urls

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


def _is_celery_url(value: str) -> bool:
    """scheme://...; a Sentinel list must also name its master (``parse_sentinel_url``)."""
    if not is_sentinel_url(value):
        return "://" in value
    try:
        parse_sentinel_url(value)
    except ValueError:
        return False
    return True


def _is_redis_url(value: str) -> bool:
    try:
        redis_urls(value)
    except ValueError:
        return False
    return True


_PG = "a postgresql:// URL (or libpq key=value conninfo)"
_DAGSTER_PG = "a postgresql:// or postgresql+psycopg2:// URL"
_REDIS = "a redis://, rediss://, unix:// or redis+socket:// URL"
_CELERY = "a Celery broker/backend URL (scheme://...; Sentinel: sentinel://host:port;sentinel://host:port/db?master_name=NAME)"
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
CeleryUrl = Annotated[str, _checked(_CELERY, _is_celery_url), _Expect(_CELERY)]
HttpUrl = Annotated[str, _checked(_HTTP, lambda v: _scheme(v) in ("http", "https")), _Expect(_HTTP)]
ResolvedPath = Annotated[Path, AfterValidator(lambda p: p.resolve())]


def _is_origin_list(value: str) -> bool:
    try:
        return origin_set(value) is not None
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


def groups_of(cls: type[BaseSettings]) -> dict[str, type[SettingsGroup]]:
    return {
        name: field.annotation
        for name, field in cls.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, SettingsGroup)
    }


def variables_of(cls: type[BaseSettings]) -> Iterator[tuple[str, type[SettingsGroup], str]]:
    for group in groups_of(cls).values():
        for field_name in group.model_fields:
            yield group.env_name(field_name), group, field_name
