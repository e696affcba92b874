"""The house rules of the layout, read off the source: layers import downward only, and no module
imports itself back through others. Every import counts: at module level, under TYPE_CHECKING, and
inside functions (a lazy import is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

# Top to bottom; a module may import its own unit and any unit on a lower line.
LAYERS: list[set[str]] = [
    {"__main__"},
    {"cli"},  # the `meetbridge` command
    {"serve"},  # `meetbridge serve`: the Litestar app under uvicorn, with or without the sandbox
    {"app"},  # the Litestar app: routes, plugins, exception handlers
    {"api"},  # thin controllers, request and response shapes
    {"runtime"},  # the composition root (Gateway), reload, the profiles `serve --sandbox` adds
    {"engine"},  # outbox, worker, reconcile, sync, linking, forwarding, switching
    {"db"},  # tables, repositories, the enqueue write; stores what providers return
    {"providers"},  # ports, registry, HTTP client, adapters
    {"observability"},  # metric definitions and the log context, recorded through by every layer above
    {"config"},  # profiles, catalogue, secrets, sealing
    {"domain"},  # pure rules
    {"settings"},  # typed settings behind one cached getter
    # Side by side at the bottom, so none imports another: the error tree; the package's face (its
    # version); the stand-ins, an independent check of the gateway, which import nothing of it.
    {"errors", "meetbridge", "sandbox"},
]
# What wires the stand-ins in: `meetbridge sandbox`, `serve --sandbox` and the profiles it adds.
SANDBOX_USERS = {"cli", "serve", "runtime"}
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports_of(path: Path, module: str) -> set[str]:
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("meetbridge"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.startswith("meetbridge"):
                # `from meetbridge.db import sqlite_driver` imports that module, not the package's
                # face; import_graph resolves a name that is no module to the module defining it.
                found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in (SRC / "meetbridge").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for name in imports_of(path, module):
            # `meetbridge.db.tables` is a module, `meetbridge.db.tables.events` a name in one.
            imported = name
            while imported not in modules and "." in imported:
                imported = imported.rpartition(".")[0]
            if imported != module:
                targets.add(imported)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(module) for module in import_graph()}
    assert units - RANK.keys() == set()


def test_layers_import_downward_only() -> None:
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for target in targets
        if unit_of(target) != unit_of(module) and RANK[unit_of(target)] <= RANK[unit_of(module)]
    )
    assert upward == []


def test_only_the_wiring_imports_the_sandbox() -> None:
    users = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for target in targets
        if unit_of(target) == "sandbox" and unit_of(module) not in {*SANDBOX_USERS, "sandbox"}
    )
    assert users == []


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_checks_see_an_upward_import_and_a_cycle() -> None:
    # The checks themselves can fail: a made-up graph with both faults is caught by each.
    graph = {"meetbridge.db.a": {"meetbridge.api.b"}, "meetbridge.api.b": {"meetbridge.db.a"}}
    assert cycles(graph) == [["meetbridge.api.b", "meetbridge.db.a"]]
    assert RANK[unit_of("meetbridge.api.b")] < RANK[unit_of("meetbridge.db.a")]
