"""Harvest credentials: a family of variables the operator names, each secret bound to one origin."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from museum_sync.core.profiles import CREDENTIAL_ENV_PREFIX, credential_name_problem
from museum_sync.redaction import redact
from museum_sync.settings.urls import SettingsError, origin_of

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


def read_credentials(environ: Mapping[str, str]) -> Credentials:
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
