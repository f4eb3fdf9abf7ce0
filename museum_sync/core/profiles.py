"""Mapping profiles: how one museum's export maps onto the canonical record, as data, not code.

A profile is a TOML file (shipped ones live in ``museum_sync/core/profiles/``; a museum adds its own by
passing a file path or extra folders to search). It declares:

- the source format and how to read it (encoding, delimiter, item path of a JSON document);
- who publishes it (institution, source system) and the defaults that the source leaves implicit;
- the *expected schema* (fields, types, which are required, LIDO schema version), which the drift check
  compares every chunk against;
- the policy for bad data (reject ratio that blocks a chunk, drift mode in dlt's words:
  ``evolve`` lets additive drift through with a warning, ``freeze`` blocks any drift);
- ``[map]``: for each canonical field, where its value comes from (see ``museum_sync.core.mapping``), with
  the placeholders that mean "empty" (``nulls``) and the side tables it may join to (``[lookups.<name>]``).

Loading type-checks the map against the canonical model (``mapping.compile_mapper``; for LIDO and oai_dc
``profile_language.overlay``): a mistake is a ``ProfileError`` naming the profile file and line, before any
record is read.

The core reads no environment: callers pass the extra folders. ``museum_sync.pipeline.profiles`` passes the
configured ones (``MUSEUM_SYNC_PROFILE_PATH``).

A profile is data a museum writes, so its ``[harvest]`` table may not pick secrets: it names a credential
(``credential = "<NAME>"``) that the operator declares as ``MUSEUM_SYNC_CREDENTIAL_<NAME>`` together with
the one origin it may be sent to (``museum_sync.settings``), and its static ``headers`` may not carry
credentials (``Authorization``, ``Cookie``, ``Proxy-Authorization``) or redirect the ``Host``. The old
``auth_env`` key is accepted for one release only when it names a ``MUSEUM_SYNC_CREDENTIAL_*`` variable.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from museum_sync.core.exceptions import ProfileError

__all__ = [
    "CREDENTIAL_ENV_PREFIX",
    "FORBIDDEN_HEADERS",
    "FieldSpec",
    "FieldType",
    "LookupSpec",
    "Policy",
    "Profile",
    "SourceFormat",
    "check_map",
    "credential_name_problem",
    "harvest_table_problems",
    "list_profiles",
    "load_profile",
    "profile_search_path",
]

SourceFormat = Literal["csv", "jsonl", "json", "lido", "oai_dc"]
FieldType = Literal["string", "integer", "number", "boolean", "date", "url", "object", "array"]

_STRICT = ConfigDict(frozen=True, extra="forbid")

#: Where the operator declares harvest credentials; a profile names only the ``<NAME>`` after it.
CREDENTIAL_ENV_PREFIX = "MUSEUM_SYNC_CREDENTIAL_"
#: Static headers a profile may not set: credentials come only from a declared credential, bound to its origin.
FORBIDDEN_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "host"})
_CREDENTIAL_NAME = re.compile(r"[A-Z][A-Z0-9_]*")


def credential_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a credential (``None`` when it can)."""
    if not _CREDENTIAL_NAME.fullmatch(name):
        return "a credential name is upper-case letters, digits and _, starting with a letter"
    if name.endswith("_ORIGIN"):
        return "a credential name may not end in _ORIGIN (that suffix names its origin)"
    return None


def harvest_table_problems(table: Mapping[str, Any]) -> list[str]:
    """What a ``[harvest]`` table may not do with credentials and headers, one ``key: reason`` each.

    Shared by profile loading and the harvest configs, so a table built in code is held to the same rules.
    Messages name keys and variable names, never a secret's value (the core never reads one).
    """
    problems = []
    credential = table.get("credential")
    auth_env = table.get("auth_env")
    if credential is not None:
        problem = credential_name_problem(credential) if isinstance(credential, str) else "must be a name"
        if problem:
            problems.append(f"credential = {credential!r}: {problem}")
    if auth_env is not None:
        name = auth_env.removeprefix(CREDENTIAL_ENV_PREFIX) if isinstance(auth_env, str) else None
        if name is None or name == auth_env or credential_name_problem(name):
            problems.append(
                f"auth_env = {auth_env!r}: a profile may not name an environment variable; name a credential "
                f'instead (credential = "<NAME>", declared by the operator as {CREDENTIAL_ENV_PREFIX}<NAME> '
                "with its _ORIGIN)"
            )
        elif credential is not None and credential != name:
            problems.append(f"auth_env = {auth_env!r} and credential = {credential!r} disagree: keep credential")
    headers = table.get("headers")
    if headers is not None:
        if not isinstance(headers, Mapping):
            problems.append("headers: must be a table of header names and values")
        else:
            for header in headers:
                if str(header).strip().lower() in FORBIDDEN_HEADERS:
                    problems.append(
                        f"headers.{header}: a profile may not set {header}; credentials come from "
                        'credential = "<NAME>" (sent only to its origin)'
                    )
    auth_header = table.get("auth_header")
    if isinstance(auth_header, str) and auth_header.strip().lower() in ("host", "proxy-authorization"):
        problems.append(f"auth_header = {auth_header!r}: a credential may not be sent as {auth_header}")
    return problems


class FieldSpec(BaseModel):
    """One field the source is expected to contain."""

    model_config = _STRICT

    name: str
    type: FieldType = "string"
    required: bool = False
    # Known optional column that some exports of this source carry and others do not (no drift either way).
    may_be_absent: bool = False
    description: str | None = None


class Policy(BaseModel):
    """What a chunk's checks do with bad data."""

    model_config = _STRICT

    # Share of rejected records above which ``record_validity`` blocks the chunk. 0.0 means any reject
    # whose reason is in ``blocking_reasons`` blocks; other rejects are quarantined without blocking.
    max_reject_ratio: float = Field(default=0.05, ge=0.0, le=1.0)
    # Reasons that block a chunk even once: publishing a record with broken rights or no provenance is
    # a legal and curatorial problem, not a data-quality nuisance.
    blocking_reasons: tuple[str, ...] = ("malformed_rights", "missing_provenance")
    drift: Literal["evolve", "freeze"] = "evolve"
    # A record whose IIIF manifest is broken (``core.iiif``: an error finding, a 4xx, a refused address):
    # ``warn`` publishes it without the manifest link, ``block`` withholds it (quarantined, reason
    # ``iiif_manifest_broken``), ``off`` does not fetch the source's manifests at all.
    iiif: Literal["warn", "block", "off"] = "warn"


class LookupSpec(BaseModel):
    """A side table records are joined to (``[lookups.<name>]``), e.g. constituents keyed by their id."""

    model_config = _STRICT

    file: str = Field(description="CSV file: relative to the profile's folder, else the export's folder")
    key: str = Field(description="the column whose value a record's entry is looked up by")
    delimiter: str = ","
    encoding: str = "utf-8"
    # Bounds: the table is held in every worker's memory, read once per process.
    max_rows: int = Field(default=1_000_000, ge=1)
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1)


class Profile(BaseModel):
    """A validated mapping profile."""

    model_config = _STRICT

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_]*$")
    description: str = ""
    format: SourceFormat
    encoding: str = "utf-8"
    delimiter: str = ","
    # json: ijson prefix of the items, e.g. "data.item" or "item"; "" = each document is one record
    item_path: str | None = None
    # json with item_path "": the FILE may be a folder or a .zip; these members are the documents, by name
    documents: str = "*.json"
    institution: str | None = None
    source_system: str | None = None
    language: str | None = None
    default_rights: str | None = None
    require_acquisition: bool = False
    lido_schema_version: str | None = None
    accepted_lido_versions: tuple[str, ...] = ()
    chunk_size: int = Field(default=1000, ge=500, le=1000)
    policy: Policy = Policy()
    fields: tuple[FieldSpec, ...] = ()
    # Placeholders that mean "no value" in every mapped column ("n.d.", "0.0", "-"); blanks always do.
    nulls: tuple[str, ...] = ()
    lookups: dict[str, LookupSpec] = Field(default_factory=dict)
    map: dict[str, Any] = Field(default_factory=dict)
    # How to fetch the source (paged JSON API, OAI-PMH): read and validated by ``museum_sync.harvest``;
    # the core only carries the table. Profiles for files leave it out.
    harvest: dict[str, Any] | None = None
    origin: str = ""  # where the profile was loaded from (for error messages)

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError("delimiter must be one character")
        return value

    @field_validator("harvest")
    @classmethod
    def _safe_harvest(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        problems = harvest_table_problems(value) if value else []
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        if self.format == "json" and self.item_path is None:
            raise ValueError(
                "format 'json' needs item_path ('data.item', 'item' for a top-level array, '' for one record "
                "per document)"
            )
        if self.format in ("csv", "jsonl", "json") and "record_id" not in self.map:
            raise ValueError("[map] needs record_id: the source field holding the CMS record id")
        names = [f.name for f in self.fields]
        if len(names) != len(set(names)):
            raise ValueError("duplicate field names in [[fields]]")
        return self

    @property
    def required_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)

    def field_type(self, name: str) -> FieldType | None:
        for f in self.fields:
            if f.name == name:
                return f.type
        return None


def profile_search_path(extra: Sequence[str | Path] = ()) -> list[Path]:
    """Folders searched for ``<name>.toml``: the ``extra`` folders first, in order, then the shipped ones."""
    return [*(Path(p) for p in extra), Path(str(resources.files("museum_sync.core") / "profiles"))]


def _candidates(search_path: Sequence[str | Path]) -> Iterator[Path]:
    for folder in profile_search_path(search_path):
        if folder.is_dir():
            yield from sorted(folder.glob("*.toml"))


def list_profiles(search_path: Sequence[str | Path] = ()) -> list[str]:
    """Names of every profile in ``search_path`` and the shipped folder (first one wins on a name clash)."""
    return sorted({p.stem for p in _candidates(search_path)})


def load_profile(name_or_path: str | Path, search_path: Sequence[str | Path] = ()) -> Profile:
    """Load a profile by file path, or by name from ``search_path`` then the shipped folder."""
    text = str(name_or_path)
    path = Path(text)
    if text.endswith(".toml") or path.is_file():
        return _load_cached(path.resolve())
    for candidate in _candidates(search_path):
        if candidate.stem == text:
            return _load_cached(candidate)
    known = ", ".join(list_profiles(search_path)) or "none"
    raise ProfileError(f"unknown profile {text!r}; known profiles: {known}")


def _load_cached(path: Path) -> Profile:
    """Cached per (path, mtime, size): long-lived workers pick up a fixed profile before a replay."""
    if not path.is_file():
        raise ProfileError(f"profile file not found: {path}")
    stat = path.stat()
    return _load_file(path, stat.st_mtime_ns, stat.st_size)


@cache
def _load_file(path: Path, _mtime_ns: int, _size: int) -> Profile:
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from exc
    data.setdefault("name", path.stem)
    data["origin"] = str(path)
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(profile)'}: {err['msg']}" for err in exc.errors()
        )
        # Not chained: pydantic's error repeats the input, and a [harvest] table may hold a pasted secret.
        raise ProfileError(f"{path}: invalid profile: {problems}") from None
    check_map(profile, text=text)
    return profile


def check_map(profile: Profile, *, text: str | None = None) -> None:
    """Type-check ``profile.map`` against the canonical model; a ``ProfileError`` names file and line.

    ``text`` is the profile's TOML (to find the line of the bad entry: ``tomllib`` keeps no positions).
    """
    from museum_sync.core.mapping import MapError, compile_mapper  # mapping imports this module
    from museum_sync.core.profile_language.lines import line_of
    from museum_sync.core.profile_language.overlay import compile_overlay

    try:
        if profile.format in ("lido", "oai_dc"):
            compile_overlay(profile)
        else:
            compile_mapper(profile)
    except MapError as exc:
        line = line_of(text, exc.keys) if text else None
        place = f"{profile.origin}:{line}" if line else profile.origin or profile.name
        raise ProfileError(f"{place}: {exc}") from None
