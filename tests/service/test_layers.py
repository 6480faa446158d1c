"""The house's rules, read from the code's own imports (module-level and function-level alike).

Layers, each importing only those below it (README, "Architecture"):
1 ``contract`` → 2 ``store`` → 3 ``gateway`` → 4 ``channels``, ``bot``, ``handoff`` (side by side,
meeting only through ``contract``) → 5 ``service``.
"""

from __future__ import annotations

import ast
import os
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER = {"contract": 1, "store": 2, "gateway": 3, "channels": 4, "bot": 4, "handoff": 4, "service": 5}
MONGODB_PACKAGES = frozenset({"pymongo", "bson", "mongomock", "gridfs"})
MAX_LINES = 450


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package in LAYER:
        for folder, subfolders, files in os.walk(ROOT / package):
            subfolders[:] = [d for d in subfolders if not d.startswith((".", "__"))]  # virtualenvs, caches
            for file in files:
                if file.endswith(".py"):
                    path = Path(folder, file)
                    parts = path.relative_to(ROOT).with_suffix("").parts
                    found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


@cache
def imports_of(name: str) -> frozenset[str]:
    """Every module name imported anywhere in the module (``from a import b`` counts ``a.b`` when it is a module)."""
    tree = ast.parse(modules()[name].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if f"{node.module}.{alias.name}" in modules())
    # Importing a.b.c runs a/b/__init__.py first: a package's own imports count too.
    found.update(".".join(target.split(".")[:depth]) for target in list(found)
                 for depth in range(1, target.count(".") + 1))
    return frozenset(found)


def own_imports(name: str) -> set[str]:
    return {target for target in imports_of(name) if target in modules() and target != name}


def top(name: str) -> str:
    return name.split(".")[0]


def test_every_package_of_the_house_is_assigned_a_layer() -> None:
    assert modules(), "no modules found: is ROOT right?"
    assert {top(name) for name in modules()} == set(LAYER)


def test_each_layer_imports_only_layers_below_it_or_its_own_package() -> None:
    wrong = []
    for name in modules():
        for target in own_imports(name):
            same_package = top(target) == top(name)
            if not same_package and LAYER[top(target)] >= LAYER[top(name)]:
                wrong.append(f"{name} -> {target}")
    assert wrong == []


def test_there_are_no_import_cycles() -> None:
    graph = {name: own_imports(name) for name in modules()}
    # Packages import their submodules' parents implicitly; an edge to a package's own
    # __init__ from one of its submodules is not a cycle anyone has to untangle.
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*stack[stack.index(target):], target]))
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert cycles == []


def test_only_the_store_talks_to_mongodb() -> None:
    wrong = [name for name in modules() if top(name) != "store"
             and {target.split(".")[0] for target in imports_of(name)} & MONGODB_PACKAGES]
    assert wrong == []


def test_the_handoff_domain_knows_no_http() -> None:
    wrong = [name for name in modules() if top(name) == "handoff" and not name.startswith("handoff.web")
             and any(target.split(".")[0] == "aiohttp" for target in imports_of(name))]
    assert wrong == []


def test_channel_adapters_never_touch_the_store() -> None:
    wrong = [f"{name} -> {target}" for name in modules() if top(name) == "channels"
             for target in own_imports(name) if top(target) == "store"]
    assert wrong == []


def test_no_module_is_longer_than_one_sitting() -> None:
    long = {name: lines for name, path in modules().items()
            if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}
