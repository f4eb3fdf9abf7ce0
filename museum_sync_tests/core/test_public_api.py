"""The public API of museum_sync.core: every module states it in ``__all__``, the package restates it.

Like httpx's ``test_exported_members``: ``museum_sync.core.__all__`` is sorted and complete, every name
in it imports, and every name that code elsewhere imports from a core module is in that module's
``__all__`` (found by reading the repository's source with ``ast``), so ``__all__`` is the real API.
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

import museum_sync.core

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("museum_sync", "museum_sync_tests", "benchmarks")
CORE = "museum_sync.core"


def isort_style(name: str) -> tuple[int, str]:
    """ruff's RUF022 order (the repo's convention): CONSTANTS, then Classes, then everything else."""
    if len(name) > 1 and name.isupper():
        return 0, name
    return (1 if name[:1].isupper() else 2), name


def core_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(museum_sync.core.__path__, CORE + "."))


def flat_core_modules() -> list[str]:
    """The modules directly in ``museum_sync.core`` (not the ``lido`` subpackage)."""
    return sorted(m.name for m in pkgutil.iter_modules(museum_sync.core.__path__) if not m.ispkg)


def public_names(module: ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    assert isinstance(names, list), f"{module.__name__} has no __all__ list"
    return names


def test_core_all_is_sorted_without_duplicates() -> None:
    names = museum_sync.core.__all__
    assert names == sorted(names, key=isort_style)
    assert len(names) == len(set(names))


def test_every_name_in_core_all_imports() -> None:
    for name in museum_sync.core.__all__:
        value = getattr(museum_sync.core, name)
        home = importlib.import_module(f"{CORE}.{museum_sync.core._HOMES[name]}")
        assert value is getattr(home, name), name
    with pytest.raises(AttributeError):
        museum_sync.core.no_such_name  # noqa: B018


def test_core_all_restates_every_core_module_api() -> None:
    restated: dict[str, str] = {}
    for module in flat_core_modules():
        for name in public_names(importlib.import_module(f"{CORE}.{module}")):
            assert name not in restated, f"{name} is public in both {restated[name]} and {module}"
            restated[name] = module
    assert sorted(museum_sync.core.__all__) == sorted(restated)
    assert museum_sync.core._HOMES == restated
    assert not set(restated) & set(flat_core_modules()), "a public name would hide a core module"


def test_core_type_checking_imports_match_all() -> None:
    """The ``if TYPE_CHECKING:`` imports (what type checkers see) name the same homes as ``_HOMES``."""
    assert museum_sync.core.__file__ is not None
    tree = ast.parse(Path(museum_sync.core.__file__).read_text(encoding="utf-8"))
    (block,) = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]
    seen = {
        alias.name: node.module.removeprefix(CORE + ".")
        for node in block.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    assert seen == museum_sync.core._HOMES


@pytest.mark.parametrize("module_name", core_modules())
def test_every_core_module_all_is_sorted_and_exists(module_name: str) -> None:
    module = importlib.import_module(module_name)
    names = public_names(module)
    assert names == sorted(names, key=isort_style)
    assert len(names) == len(set(names))
    missing = [name for name in names if not hasattr(module, name)]
    assert not missing, f"{module_name}.__all__ names what it does not define: {missing}"


def test_lido_package_restates_its_modules() -> None:
    from museum_sync.core import lido

    for name in public_names(lido):
        value = getattr(lido, name)
        homes = [
            m
            for m in core_modules()
            if m.startswith(f"{CORE}.lido.") and name in public_names(importlib.import_module(m))
        ]
        assert len(homes) == 1, f"lido.{name} is public in {homes}"
        assert value is getattr(importlib.import_module(homes[0]), name)


@cache
def _is_module(dotted: str) -> bool:
    try:
        importlib.import_module(dotted)
    except ModuleNotFoundError:
        return False
    return True


def _python_files() -> Iterator[Path]:
    for folder in SOURCE_DIRS:
        yield from sorted((REPO / folder).rglob("*.py"))


def _uses_of_core(path: Path) -> Iterator[tuple[str, str, int]]:
    """``(core module, name, line)`` for every name this file takes from a core module.

    ``from museum_sync.core.X import name`` and, for modules bound by ``from museum_sync.core import X``
    or ``import museum_sync.core.X as Y``, every ``Y.name`` (dunders aside).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith(CORE):
            assert node.module is not None
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                if _is_module(dotted):
                    bound[alias.asname or alias.name] = dotted
                else:
                    yield node.module, alias.name, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(CORE + ".") and alias.asname:
                    bound[alias.asname] = alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound:
            module = bound[node.value.id]
            if not node.attr.startswith("__") and not _is_module(f"{module}.{node.attr}"):
                yield module, node.attr, node.lineno


def test_names_imported_from_core_modules_are_in_their_all() -> None:
    undeclared: list[str] = []
    for path in _python_files():
        relative = path.relative_to(REPO)
        own = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        for module, name, line in _uses_of_core(path):
            if module == own:
                continue
            if name not in public_names(importlib.import_module(module)):
                undeclared.append(f"{relative}:{line}: {module}.{name}")
    assert not undeclared, "not in the module's __all__ (make it public there, or stop using it):\n" + "\n".join(
        undeclared
    )


def test_importing_one_core_module_stays_cheap() -> None:
    """``import museum_sync.core.keys`` runs ``core/__init__``: it must not pull in the rest of the core,
    and ``from museum_sync.core import *`` must not pull in lxml (only ``core.lido`` needs it)."""
    code = (
        "import json, sys\n"
        "import museum_sync.core.keys\n"
        "after_keys = sorted(m for m in sys.modules if m.startswith('museum_sync'))\n"
        "from museum_sync.core import *\n"
        "print(json.dumps([after_keys, 'lxml' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    after_keys, lxml_loaded = json.loads(out)
    assert after_keys == ["museum_sync", CORE, f"{CORE}.exceptions", f"{CORE}.keys"]
    assert not lxml_loaded
