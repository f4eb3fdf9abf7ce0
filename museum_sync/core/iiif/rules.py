"""The Presentation 3.0 rules the official JSON Schema cannot express (or words too vaguely to act on).

Each rule is a function ``(document) -> findings``; ``RULES`` lists them in the order they run. The
section of the specification (https://iiif.io/api/presentation/3.0/) each one follows is in its docstring.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from museum_sync.core.iiif.findings import ERROR, WARNING, Finding, json_pointer
from museum_sync.core.vocabularies import TermError, coerce_rights

__all__ = [
    "LANGUAGE_PROPERTIES",
    "RULES",
    "annotation_targets",
    "canvas_dimensions",
    "http_ids",
    "image_services",
    "items_not_empty",
    "language_maps",
    "rights_vocabulary",
    "walk",
]

Path = tuple[str | int, ...]
Rule = Callable[[Any], list[Finding]]

#: Properties whose value is a language map (3.0 section 3.3.1 "label", "summary"; "metadata" and
#: "requiredStatement" hold label/value pairs of language maps).
LANGUAGE_PROPERTIES = frozenset({"label", "summary"})
_RESOURCE_TYPES = frozenset(
    {"Collection", "Manifest", "Canvas", "Range", "AnnotationPage", "Annotation", "AnnotationCollection"}
)
_LANGUAGE_KEY = re.compile(r"^(?:none|[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*)$")
_IMAGE_SERVICE_TYPES = frozenset({"ImageService1", "ImageService2", "ImageService3"})
_IMAGE_LEVELS = frozenset({"level0", "level1", "level2"})
_RIGHTS_PREFIXES = (
    "http://creativecommons.org/licenses/",
    "http://creativecommons.org/publicdomain/",
    "http://rightsstatements.org/vocab/",
)


def walk(node: Any, path: Path = ()) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every JSON object in the document with its path, depth first, document order."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, index))


def _is_http_uri(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in value)


def _type(node: dict[str, Any]) -> str:
    kind = node.get("type", node.get("@type", ""))
    return kind if isinstance(kind, str) else ""


def http_ids(document: Any) -> list[Finding]:
    """3.0 section 3.4.1 ``id``: the id of a Collection, Manifest, Canvas, Range, AnnotationPage, Annotation
    or AnnotationCollection MUST be an HTTP(S) URI (content resources too, when they have one)."""
    findings = []
    for path, node in walk(document):
        if "id" not in node or "type" not in node:
            continue
        kind = _type(node)
        value = node["id"]
        if isinstance(value, str) and value != value.strip() and _is_http_uri(value.strip()):
            where = json_pointer((*path, "id"))
            message = f"{kind or 'resource'} id {value!r} has surrounding whitespace (clients may not match it)"
            findings.append(Finding(where, "http_id", WARNING, message))
            continue
        if _is_http_uri(value):
            continue
        severity = ERROR if kind in _RESOURCE_TYPES or kind in ("Image", "Sound", "Video", "Text") else WARNING
        findings.append(
            Finding(
                json_pointer((*path, "id")),
                "http_id",
                severity,
                f"{kind or 'resource'} id {node['id']!r} is not an HTTP(S) URI",
            )
        )
    return findings


def canvas_dimensions(document: Any) -> list[Finding]:
    """3.0 section 5.4 Canvas: a Canvas MUST have a rectangular aspect ratio (``height`` and ``width``, both
    positive integers) or a ``duration``, or both; the schema only checks that one dimension needs the other."""
    findings = []
    for path, node in walk(document):
        if _type(node) != "Canvas" or _in_reference(path):
            continue
        has_box = isinstance(node.get("height"), int) and isinstance(node.get("width"), int)
        has_duration = isinstance(node.get("duration"), int | float)
        if not has_box and not has_duration and "items" in node:
            present = [k for k in ("height", "width") if k in node]
            detail = f" (only {present[0]})" if present else ""
            message = f"Canvas has neither height and width nor duration{detail}"
            findings.append(Finding(json_pointer(path), "canvas_dimensions", ERROR, message))
        for key in ("height", "width"):
            value = node.get(key)
            if isinstance(value, int) and value <= 0:
                findings.append(
                    Finding(json_pointer((*path, key)), "canvas_dimensions", ERROR, f"Canvas {key} must be positive")
                )
    return findings


def _in_reference(path: Path) -> bool:
    """A Canvas referenced (not embedded): in ``start``, ``structures`` items, a target, ``partOf``..."""
    return any(part in ("start", "structures", "target", "partOf", "source", "first", "last") for part in path)


def _target_id(target: Any) -> str | None:
    if isinstance(target, str):
        return target
    if isinstance(target, dict):
        if _type(target) == "SpecificResource":
            return _target_id(target.get("source"))
        value = target.get("id")
        return value if isinstance(value, str) else None
    return None


def annotation_targets(document: Any) -> list[Finding]:
    """3.0 section 5.4 Canvas ``items``: the Annotations in a Canvas's AnnotationPages paint *that* Canvas, so
    their ``target`` is the Canvas (its id, optionally with a fragment such as ``#xywh=`` or ``#t=``).

    An ``error`` when the target is *another* Canvas of the document (the content lands on the wrong page);
    a ``warning`` otherwise: the official validator's own "valid" fixture ``accompanyingCanvas.json`` targets
    its AnnotationPage's id, and viewers place a page's annotations on the Canvas that holds the page."""
    canvases = {node["id"] for _, node in walk(document) if _type(node) == "Canvas" and isinstance(node.get("id"), str)}
    findings = []
    for path, node in walk(document):
        if _type(node) != "Canvas" or not isinstance(node.get("id"), str):
            continue
        canvas = node["id"]
        for p, page in enumerate(node.get("items") or []):
            if not isinstance(page, dict):
                continue
            for a, annotation in enumerate(page.get("items") or []):
                if not isinstance(annotation, dict):
                    continue
                targets = annotation.get("target")
                for target in targets if isinstance(targets, list) else [targets]:
                    target_id = _target_id(target)
                    bare = target_id.split("#", 1)[0] if target_id else None
                    if bare != canvas:
                        findings.append(
                            Finding(
                                json_pointer((*path, "items", p, "items", a, "target")),
                                "annotation_target",
                                ERROR if bare in canvases else WARNING,
                                f"painting annotation targets {target_id!r}, not its Canvas {canvas!r}",
                            )
                        )
    return findings


def _language_map(value: Any, path: Path) -> Iterator[Finding]:
    rule = "language_map"
    if not isinstance(value, dict):
        kind = type(value).__name__
        yield Finding(json_pointer(path), rule, ERROR, f'must be a language map like {{"en": ["..."]}}, not a {kind}')
        return
    for key, strings in value.items():
        where = json_pointer((*path, key))
        if key == "@none":
            yield Finding(where, rule, ERROR, 'language key "@none" is JSON-LD; IIIF 3.0 uses "none"')
        elif not _LANGUAGE_KEY.match(key):
            yield Finding(where, rule, ERROR, f'language key {key!r} is not a BCP 47 tag or "none"')
        if not isinstance(strings, list) or not all(isinstance(s, str) for s in strings):
            yield Finding(where, rule, ERROR, "the value of a language key must be a list of strings")


def language_maps(document: Any) -> list[Finding]:
    """3.0 section 4.3 language of property values: ``label``, ``summary`` and the ``label``/``value`` of
    ``metadata`` entries and ``requiredStatement`` are JSON objects whose keys are BCP 47 language tags (or
    ``none``) and whose values are arrays of strings."""
    findings: list[Finding] = []
    for path, node in walk(document):
        if path and path[-1] in ("metadata", "requiredStatement"):
            continue  # their entries are handled below, from the owning object
        for key in LANGUAGE_PROPERTIES & node.keys():
            if "Service" in _type(node) or "@id" in node:
                continue  # services follow their own API's shape (Auth 1 and Image 2 labels are strings)
            findings.extend(_language_map(node[key], (*path, key)))
        pairs: list[tuple[Path, Any]] = [
            (("metadata", i), e) for i, e in enumerate(node.get("metadata") or []) if isinstance(e, dict)
        ]
        if isinstance(node.get("requiredStatement"), dict):
            pairs.append((("requiredStatement",), node["requiredStatement"]))
        for where, entry in pairs:
            for part in ("label", "value"):
                if part in entry:
                    findings.extend(_language_map(entry[part], (*path, *where, part)))
    return findings


def rights_vocabulary(document: Any) -> list[Finding]:
    """3.0 section 3.3.3 ``rights``: a Creative Commons licence, a RightsStatements.org statement (their
    ``http://`` URIs as those specifications define them) or a URI added by a registered extension."""
    findings = []
    for path, node in walk(document):
        value = node.get("rights")
        if value is None:
            continue
        where = json_pointer((*path, "rights"))
        if not isinstance(value, str):
            findings.append(Finding(where, "rights", ERROR, "rights must be a single URI string"))
            continue
        if value.startswith(_RIGHTS_PREFIXES):
            continue
        try:
            canonical = coerce_rights(value)
        except TermError:
            findings.append(
                Finding(where, "rights", ERROR, f"{value!r} is not a Creative Commons or RightsStatements.org URI")
            )
            continue
        findings.append(Finding(where, "rights", ERROR, f"{value!r} is not the defined URI; use {canonical!r}"))
    return findings


def items_not_empty(document: Any) -> list[Finding]:
    """3.0 sections 5.3 Manifest and 5.6 Range: ``items`` MUST have at least one item; a Canvas and an
    AnnotationPage SHOULD have at least one (section 5.4, 5.7)."""
    findings = []
    for path, node in walk(document):
        kind = _type(node)
        if kind not in ("Manifest", "Range", "Canvas", "AnnotationPage") or _in_reference(path):
            continue
        if path and "items" not in node:
            continue  # a referenced manifest, range, page or canvas: its items live in its own document
        items = node.get("items")
        if isinstance(items, list) and items:
            continue
        severity = ERROR if kind in ("Manifest", "Range") else WARNING
        findings.append(Finding(json_pointer((*path, "items")), "items_not_empty", severity, f"{kind} has no items"))
    return findings


def image_services(document: Any) -> list[Finding]:
    """3.0 section 3.3.4 ``service`` with the Image API: an image service reference needs an HTTP(S) base URI
    (``id``; ``@id`` for ImageService2/1), without ``/info.json`` (clients add it), and a known compliance
    ``profile``; otherwise a viewer cannot build a single tile URL from it."""
    findings = []
    for path, node in walk(document):
        kind = _type(node)
        if kind not in _IMAGE_SERVICE_TYPES:
            continue
        where = json_pointer(path)
        base = node.get("id", node.get("@id"))
        if not _is_http_uri(base):
            findings.append(Finding(where, "image_service", ERROR, f"{kind} has no HTTP(S) id: {base!r}"))
        elif str(base).rstrip("/").endswith("/info.json"):
            findings.append(
                Finding(where, "image_service", WARNING, f"{kind} id ends in /info.json; the id is the base URI")
            )
        profile = node.get("profile")
        level = profile.rsplit("/", 1)[-1].removesuffix(".json") if isinstance(profile, str) else None
        if level not in _IMAGE_LEVELS:
            findings.append(
                Finding(where, "image_service", ERROR, f"{kind} profile {profile!r} is not level0, level1 or level2")
            )
    return findings


RULES: tuple[Rule, ...] = (
    http_ids,
    items_not_empty,
    canvas_dimensions,
    annotation_targets,
    language_maps,
    rights_vocabulary,
    image_services,
)
