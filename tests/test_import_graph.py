"""The import graph of ``backend`` and ``tui``: no cycles, and a console that never loads torch.

Why count every import (inside functions and under ``TYPE_CHECKING`` too): a deferred import that
closes a loop is still a loop in the design; it only moves the failure from import time to the
first call.  Why import the console for real: a torch import can hide behind any number of hops.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("backend", "tui")
HEAVY = ("torch", "diffusers", "cache_dit")


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name -> file, for every module of the packages (a package is its ``__init__``)."""
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every dotted name an ``import`` / ``from ... import`` statement anywhere in ``tree`` may load."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            yield source
            yield from (f"{source}.{alias.name}" for alias in node.names)


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the project modules it imports (the longest known prefix of each imported name)."""
    known = modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        targets = set()
        for imported in _imported_names(ast.parse(path.read_text()), name, path.name == "__init__.py"):
            while imported and imported not in known:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_cycle_finder_finds_a_planted_cycle(tmp_path: Path) -> None:
    """The checker itself: a two-module loop through a deferred import is reported, a chain is not."""
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "backend" / "a.py").write_text("from backend.b import f\n")
    (tmp_path / "backend" / "b.py").write_text("def f():\n    from backend import a\n")
    (tmp_path / "backend" / "c.py").write_text("from . import a\n")
    (tmp_path / "tui" / "x.py").write_text("from backend.c import a\n")
    assert cycles(import_graph(tmp_path)) == [["backend.a", "backend.b"]]


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles (break each at its cause: move the shared piece down a level):\n" + "\n".join(
        " <-> ".join(c) for c in found
    )


def room_of(module: str) -> str:
    """A backend module's room: its package below ``backend``; the top-level modules, the registry and
    the records are one room, the torch-free contract; the entry point is its own."""
    if module == "backend.__main__":
        return module
    parts = module.split(".")
    if len(parts) > 1 and (ROOT / "backend" / parts[1]).is_dir() and parts[1] not in ("envs", "records"):
        return ".".join(parts[:2])
    return "backend (contract)"


def test_backend_rooms_import_downwards() -> None:
    """server -> artifacts -> pipeline -> caching, kernel_api, models -> contract: no room imports back."""
    rooms: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        if module.split(".")[0] != "backend":
            continue
        rooms.setdefault(room_of(module), set()).update(room_of(t) for t in targets if room_of(t) != room_of(module))
    assert cycles(rooms) == []
    assert rooms["backend (contract)"] == set(), "the contract imports no other room"


@pytest.mark.timeout(120)
def test_console_imports_no_torch() -> None:
    """Importing every ``tui`` module loads none of torch, diffusers, cache-dit (the console starts fast)."""
    names = sorted(m for m in modules() if m.split(".")[0] == "tui")
    code = (
        "import importlib, json, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr[-2000:]
    heavy = json.loads(proc.stdout.strip().splitlines()[-1])
    assert heavy == [], f"the console imported {heavy} at import time"
