"""Guards on the house's floors: imports point strictly downward, and no module outgrows one job.

The layers are the ones ARCHITECTURE.md draws. A lazy import inside a function counts as much as one at the
top of a module: "arrows never point back" is about what a module depends on, not when it loads it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "museum_sync"

# Lowest first. A module may import its own package and any package on a lower floor, never a higher one.
LAYERS: list[set[str]] = [
    {"__init__", "__version__", "core"},
    {"redaction", "settings", "telemetry"},
    {"clients", "services", "samples"},
    {"publication"},
    {"pipeline"},
    {"harvest"},
    {"defs", "definitions"},
    {"runtime"},
    {"cli"},
]
FLOOR = {name: level for level, names in enumerate(LAYERS) for name in names}

# Modules allowed past ~700 lines, each with the reason its one job needs the room.
LONG_MODULES = {
    "core/dates.py": "one date grammar (atoms, qualifiers, ranges, rendering) that reads best in one place",
}
MAX_LINES = 720


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "schemas" not in p.parts)


def _room(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py") if rel.parts else "__init__"


def _imported_rooms(path: Path) -> set[str]:
    rooms: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "museum_sync":
                rooms.update(alias.name for alias in node.names)
            elif node.module.startswith("museum_sync."):
                rooms.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            rooms.update(a.name.split(".")[1] for a in node.names if a.name.startswith("museum_sync."))
    return rooms


def test_every_room_has_a_floor():
    rooms = {_room(p) for p in _modules()}
    assert rooms <= set(FLOOR), f"new top-level module(s) {sorted(rooms - set(FLOOR))}: give them a floor here"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_downward(path: Path):
    room = _room(path)
    upward = sorted(r for r in _imported_rooms(path) if r != room and FLOOR.get(r, -1) > FLOOR[room])
    assert not upward, f"{path.relative_to(PACKAGE)} ({room}, floor {FLOOR[room]}) imports from above: {upward}"


def test_no_module_outgrows_one_job():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    unexplained = {k: v for k, v in long.items() if k not in LONG_MODULES}
    assert not unexplained, f"modules over {MAX_LINES} lines (split them, or say why in LONG_MODULES): {unexplained}"
    stale = sorted(set(LONG_MODULES) - set(long))
    assert not stale, f"LONG_MODULES lists modules that are no longer long: {stale}"
