"""The sandbox stands apart: the product never imports it (nor aiohttp, which only it serves
with), and its own modules import one another in one direction, so each can be read alone."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at its top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_bot_and_the_tasks_never_import_the_sandbox_or_aiohttp() -> None:
    found = {
        module_name(path): sorted(n for n in imports(path) if n.split(".")[0] in ("sandbox", "aiohttp"))
        for package in ("bot", "tasks")
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert {name: bad for name, bad in found.items() if bad} == {}


def test_the_sandbox_modules_import_one_another_without_a_cycle() -> None:
    graph = {
        module_name(path): {n for n in imports(path) if n.split(".")[0] == "sandbox"}
        for path in sorted((ROOT / "sandbox").glob("*.py"))
    }
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, " -> ".join((*path, name))
        if name not in done:
            for dep in sorted(graph.get(name, ())):
                visit(dep, (*path, name))
            done.add(name)

    for name in graph:
        visit(name, ())
