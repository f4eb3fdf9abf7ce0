"""Settings as people read them: the one-line error for a bad value, and the variables table of the docs."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import annotated_types
from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from museum_sync.redaction import MASK, redact
from museum_sync.settings.values import _Expect, groups_of

if TYPE_CHECKING:
    from museum_sync.settings import Settings

# ------------------------------------------------------------------------------- errors and the docs


def one_line(cls: type[BaseSettings], exc: ValidationError) -> str:
    groups = groups_of(cls)
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


def describe(cls: type[Settings] | None = None) -> list[Variable]:
    """Every variable, in group order: name, default as the docs show it, one-line meaning."""
    if cls is None:
        from museum_sync.settings import Settings as cls  # the package imports this module: resolve at call
    out = []
    for group in groups_of(cls).values():
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
