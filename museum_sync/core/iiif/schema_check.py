"""The official IIIF Presentation 3.0 JSON Schema, loaded from the package, as findings.

The schema (``schema/iiif_3_0.json``, origin and licence in ``schema/README.md``) is checked with
``jsonschema.Draft7Validator`` and no format checker, as the official presentation validator does. Its
``oneOf`` branches make raw errors unreadable ("... is not valid under any of the given schemas" about a
whole canvas), so each error is followed down its ``context`` to the most relevant leaf
(``jsonschema.exceptions.best_match``): the finding points at the property that is wrong and says why.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, relevance

from museum_sync.core.iiif.findings import ERROR, Finding, json_pointer

__all__ = ["MAX_SCHEMA_FINDINGS", "SCHEMA_FILE", "schema_findings", "schema_validator"]

SCHEMA_FILE = "iiif_3_0.json"
#: A document that is not IIIF at all fails everywhere: the first findings say enough.
MAX_SCHEMA_FINDINGS = 20
_MESSAGE_CHARS = 240


@functools.cache
def schema_validator() -> Any:
    """The Draft 7 validator of the shipped schema (loaded once per process, offline)."""
    text = (Path(__file__).parent / "schema" / SCHEMA_FILE).read_text(encoding="utf-8")
    schema = json.loads(text)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _wrong_branch(parent: ValidationError, errors: list[ValidationError]) -> bool:
    """A ``oneOf`` branch for another kind of value: it failed on this object's own ``type`` property, or on
    the JSON type itself (an array branch for an object)."""
    here = list(parent.absolute_path)
    return any(
        list(e.absolute_path) == [*here, "type"] or (e.validator == "type" and list(e.absolute_path) == here)
        for e in errors
    )


def _reach(errors: list[ValidationError]) -> tuple[int, Any]:
    """How far a branch matched: its deepest error's depth, then jsonschema's relevance of its best error."""
    return max(len(e.absolute_path) for e in errors), max(relevance(e) for e in errors)


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The errors that say what is wrong: inside a ``oneOf``/``anyOf``, those of the branch meant for this
    object's ``type`` (the others failed on ``type`` itself), followed down to their own leaves."""
    if not error.context:
        return [error]
    branches: dict[object, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0] if sub.relative_schema_path else None, []).append(sub)
    candidates = [errs for errs in branches.values() if not _wrong_branch(error, errs)] or list(branches.values())
    # The branch that matched furthest (its errors deepest in the document) is the one meant; ties go to
    # jsonschema's own relevance order.
    chosen = max(candidates, key=_reach)
    return [leaf for sub in chosen for leaf in _leaves(sub)]


def _message(error: ValidationError) -> str:
    """jsonschema's message, with a long quoted object or list replaced by what it is."""
    message: str = error.message
    instance = error.instance
    shown = repr(instance)
    if isinstance(instance, dict | list) and len(shown) > 60 and message.startswith(shown):
        kind = f"the {instance.get('type', 'object')}" if isinstance(instance, dict) else "the list"
        message = kind + message[len(shown) :]
    return message if len(message) <= _MESSAGE_CHARS else message[: _MESSAGE_CHARS - 1] + "…"


def schema_findings(document: Any) -> list[Finding]:
    """Findings of the official schema for ``document`` (already parsed JSON), at most ``MAX_SCHEMA_FINDINGS``."""
    seen: set[tuple[str, str]] = set()
    findings: list[Finding] = []
    errors = sorted(schema_validator().iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    for leaf in (leaf for error in errors for leaf in _leaves(error)):
        pointer = json_pointer(leaf.absolute_path)
        message = _message(leaf)
        if (pointer, message) in seen:
            continue
        seen.add((pointer, message))
        findings.append(Finding(pointer, "schema", ERROR, message))
        if len(findings) >= MAX_SCHEMA_FINDINGS:
            break
    return findings
