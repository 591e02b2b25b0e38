"""The use cases import one way: no module of resolvers/ reaches itself through the others
(type-only imports count: a cycle there is the same design knot)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PACKAGE = "resolvers"


def imports_of(path: Path) -> set[str]:
    """The resolvers modules ``path`` imports, wherever the import statement sits."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith(f"{PACKAGE}.")}


def graph() -> dict[str, set[str]]:
    modules = {f"{PACKAGE}.{path.stem}": path for path in (ROOT / PACKAGE).glob("*.py")}
    return {name: imports_of(path) & modules.keys() for name, path in modules.items()}


def a_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules around it, or None."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done:
            return None
        for imported in sorted(edges[name]):
            cycle = visit(imported, [*path, name])
            if cycle is not None:
                return cycle
        done.add(name)
        return None

    for start in sorted(edges):
        cycle = visit(start, [])
        if cycle is not None:
            return cycle
    return None


def test_the_resolvers_modules_import_each_other_without_a_cycle() -> None:
    cycle = a_cycle(graph())
    assert cycle is None, " → ".join(cycle or [])


def test_the_cycle_finder_finds_one() -> None:
    assert a_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
