"""The module rules of DESIGN.md section 3: who may import what, and no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "collab"


def imports_of(path: Path) -> set[str]:
    """Top-level module names and ``collab.*`` modules imported by one file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "collab":
                names.update(f"collab.{alias.name}" for alias in node.names)
    return names


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py") if "web_dist" not in p.parts
}


def collab_deps(module: str) -> set[str]:
    deps = set()
    for name in MODULES[module]:
        if name.startswith("collab."):
            # a package import counts as its __init__
            deps.add(name if name in MODULES else name.rsplit(".", 1)[0])
    return deps - {module}


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("collab.protocol", {"collab.protocol"}),
        ("collab.room", {"collab.protocol", "collab.updates", "collab.integrator"}),
        ("collab.integrator", {"collab.structs", "collab.updates"}),
        ("collab.updates", {"collab.protocol", "collab.structs"}),
        ("collab.structs", set()),
        ("collab.names", set()),
        ("collab.settings", set()),
        ("collab.auth", set()),
        ("collab.limits", set()),
    ],
)
def test_core_modules_stay_pure(module: str, allowed: set[str]) -> None:
    assert collab_deps(module) <= allowed
    assert not any(name.startswith(("starlette", "uvicorn", "sqlite")) for name in MODULES[module])


def test_only_the_web_layer_imports_starlette() -> None:
    users = {m for m, names in MODULES.items() if any(n.startswith("starlette") for n in names)}
    assert users <= {"collab.app", "collab.api", "collab.websocket", "collab.cli"}


def test_no_import_cycles() -> None:
    graph = {m: collab_deps(m) & MODULES.keys() for m in MODULES}
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in graph[module]:
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path, module, dep]))
            if dep not in state:
                visit(dep, [*path, module])
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module, [])
