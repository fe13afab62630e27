"""The module rules (README "Development"): who may import what, and no cycles."""

from __future__ import annotations

import ast
import re
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


LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # (layer, modules or packages in it), from the bottom up.
    (
        "base",
        (
            *("errors", "names", "settings", "setting_names", "settings_checks", "settings_table"),
            *("limits", "auth", "logs", "metrics", "process", "allocator"),
        ),
    ),
    (
        "codec",
        (
            *("protocol", "awareness_codec", "lib0", "structs", "slices", "chunks", "units"),
            *("hocuspocus", "hocuspocus_messages"),
        ),
    ),
    (
        "CRDT",
        (
            *("updates", "parents", "shared_types", "placement", "integration"),
            *("merges", "waiting", "integrator", "export"),
        ),
    ),
    ("document", ("presence", "hibernated", "sync_replies", "room")),
    ("storage", ("stores", "store")),
    ("coordination", ("bus", "hub", "history")),
    ("sessions", ("sessions",)),
    ("transports", ("transports", "wsserver")),
    (
        "surface",
        (
            "api",
            "api_common",
            "api_documents",
            "api_exports",
            "api_listing",
            "api_versions",
            "openapi",
            "openapi_versions",
            "openapi_ops",
            "openapi_parts",
            "app",
            "app_routes",
            "app_stores",
            "hostcheck",
            "quarantine_api",
            "websocket",
            "hocuspocus_endpoint",
            "cli",
            "cli_parser",
            "cli_serve",
            "cli_token",
            "workers",
            "startup",
            "client",
            "backup",
            "doctor",
            "webhooks",
            "__main__",
            "",
        ),
    ),
]


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of ``collab.<module>`` (a package's modules share its layer)."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    for index, (_, members) in enumerate(LAYERS):
        if top in members:
            return index
    raise AssertionError(f"{module} is in no layer of tests/test_architecture.py")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_layers_import_only_downward(module: str) -> None:
    """codec -> CRDT -> document -> storage -> coordination -> sessions -> transports ->
    surface: a module imports from its own layer or those below, never upward."""
    mine = layer_of(module)
    upward = {dep for dep in collab_deps(module) if layer_of(dep) > mine}
    assert not upward, f"{module} ({LAYERS[mine][0]}) imports upward: {sorted(upward)}"


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("collab.protocol", {"collab.errors"}),
        ("collab.hocuspocus", {"collab.errors", "collab.protocol", "collab.hocuspocus_messages"}),
        ("collab.hocuspocus_messages", {"collab.protocol"}),
        (
            "collab.room",
            {
                "collab.errors",
                "collab.protocol",
                "collab.updates",
                "collab.integrator",
                "collab.presence",
                "collab.hibernated",
                "collab.sync_replies",
            },
        ),
        (
            "collab.sync_replies",
            {
                "collab.protocol",
                "collab.chunks",
                "collab.updates",
                "collab.integrator",
                "collab.hibernated",
            },
        ),
        ("collab.presence", {"collab.errors", "collab.protocol", "collab.awareness_codec"}),
        ("collab.awareness_codec", {"collab.protocol"}),
        (
            "collab.hibernated",
            {"collab.protocol", "collab.structs", "collab.integrator"},
        ),
        (
            "collab.integrator",
            {
                "collab.errors",
                "collab.structs",
                "collab.updates",
                "collab.integration",
                "collab.placement",
                "collab.slices",
                "collab.waiting",
            },
        ),
        (
            "collab.integration",
            {
                "collab.structs",
                "collab.slices",
                "collab.parents",
                "collab.shared_types",
                "collab.placement",
            },
        ),
        (
            "collab.placement",
            {"collab.structs", "collab.parents", "collab.shared_types"},
        ),
        ("collab.shared_types", {"collab.structs", "collab.parents"}),
        ("collab.parents", {"collab.structs", "collab.lib0"}),
        (
            "collab.waiting",
            {"collab.errors", "collab.structs", "collab.units", "collab.updates", "collab.merges"},
        ),
        ("collab.merges", {"collab.structs", "collab.updates"}),
        ("collab.units", {"collab.structs", "collab.lib0"}),
        ("collab.updates", {"collab.errors", "collab.protocol", "collab.structs"}),
        ("collab.chunks", {"collab.structs", "collab.lib0"}),
        ("collab.structs", {"collab.lib0"}),
        ("collab.slices", {"collab.structs"}),
        ("collab.lib0", set()),
        ("collab.names", {"collab.errors"}),
        ("collab.settings", {"collab.setting_names", "collab.settings_checks"}),
        ("collab.settings_checks", {"collab.setting_names"}),
        ("collab.setting_names", set()),
        ("collab.auth", {"collab.errors"}),
        ("collab.limits", set()),
        ("collab.errors", set()),
    ],
)
def test_core_modules_stay_pure(module: str, allowed: set[str]) -> None:
    assert collab_deps(module) <= allowed
    assert not any(name.startswith(("starlette", "uvicorn", "sqlite")) for name in MODULES[module])


def test_only_the_web_layer_imports_starlette() -> None:
    users = {m for m, names in MODULES.items() if any(n.startswith("starlette") for n in names)}
    assert all(layer_of(m) >= layer_of("collab.sessions") for m in users), users


def test_no_sql_outside_the_stores() -> None:
    """Only ``collab/stores/`` talks to a database (no SQL outside the stores)."""
    sql = ("sqlite3", "sqlite_utils", "psycopg")
    users = {m for m, names in MODULES.items() if any(n.startswith(sql) for n in names)}
    assert {m for m in users if layer_of(m) != layer_of("collab.stores")} == set()
    statement = re.compile(
        r"SELECT [^\n]* FROM |DELETE FROM |INSERT INTO |UPDATE \w+ SET |PRAGMA \w+|CREATE TABLE "
    )
    for path in PACKAGE.rglob("*.py"):
        if "stores" in path.parts or "web_dist" in path.parts:
            continue
        found = statement.findall(path.read_text())
        assert not found, f"{path.relative_to(PACKAGE)} holds SQL: {found}"


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
