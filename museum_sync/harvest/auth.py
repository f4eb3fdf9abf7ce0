"""Credentials of a harvest: named by the profile, declared by the operator, bound to one origin.

A profile's ``[harvest]`` table is data a museum writes. It may name a credential (``credential = "AIC"``)
but never an environment variable or a literal secret: the operator declares ``MUSEUM_SYNC_CREDENTIAL_AIC``
and ``MUSEUM_SYNC_CREDENTIAL_AIC_ORIGIN`` (read only by ``museum_sync.settings``). A harvest whose URL is not
on the credential's origin is refused before any request, and the HTTP client attaches the credential only
to hops on that origin (``clients.http.BoundCredential``). ``auth_env`` is accepted for one release when it
names a ``MUSEUM_SYNC_CREDENTIAL_*`` variable; the rules themselves live in ``core.profiles``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from museum_sync.clients.http import REDACTED, BoundCredential
from museum_sync.core.profiles import CREDENTIAL_ENV_PREFIX, harvest_table_problems
from museum_sync.harvest.snapshot import HarvestError
from museum_sync.redaction import redact
from museum_sync.settings import SettingsError, get_settings, origin_of

__all__ = ["bind_credential", "check_table", "config_problems", "credential_name"]


def check_table(data: Any) -> Any:
    """A ``mode="before"`` validator body: refuse what ``core.profiles.harvest_table_problems`` refuses."""
    if isinstance(data, Mapping):
        problems = harvest_table_problems(data)
        if problems:
            raise ValueError("; ".join(problems))
    return data


def config_problems(exc: ValidationError) -> str:
    """A harvest config's validation errors on one line, without input values (a table may hold a secret)."""
    parts = []
    for err in exc.errors():
        ctx = err.get("ctx") or {}
        text = str(ctx["error"]) if err.get("type") == "value_error" and "error" in ctx else err["msg"]
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {text}" if where else text)
    return "; ".join(parts)


def credential_name(credential: str | None, auth_env: str | None) -> str | None:
    """The credential a config names (``credential``, or the deprecated ``auth_env`` spelling of it)."""
    if credential:
        return credential
    if auth_env:
        return auth_env.removeprefix(CREDENTIAL_ENV_PREFIX)
    return None


def bind_credential(
    name: str | None,
    *,
    where: str,
    urls: Sequence[str],
    header: str | None,
    prefix: str = "",
    query_param: str | None = None,
) -> BoundCredential | None:
    """The declared credential ``name`` for requests to ``urls``, which must all be on its origin.

    ``where`` names the harvest in errors. Errors are one line and never show the value.
    """
    if not name:
        return None
    try:
        declared = get_settings().credentials.require(name, wanted_by=where)
    except SettingsError as exc:
        raise HarvestError(str(exc)) from None
    for url in urls:
        try:
            origin = origin_of(url)
        except ValueError as exc:
            raise HarvestError(f"{where}: {redact(url, mask=REDACTED)}: {exc}") from None
        if origin != declared.origin:
            raise HarvestError(
                f"{where}: credential {name} is for {declared.origin}, not {origin} "
                f"({redact(url, mask=REDACTED)}); refusing to send it there"
            )
    return BoundCredential(
        origin=declared.origin,
        value=declared.value.get_secret_value(),
        header=None if query_param else header,
        prefix=prefix,
        query_param=query_param,
        name=name,
    )
