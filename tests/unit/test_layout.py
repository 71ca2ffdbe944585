"""The package's shape: no import cycle among bundle/ modules, no module over 400 lines.

Imports are read from the source (ast), at any depth: an import inside a function is still
a dependency, it only runs later.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

BUNDLE = Path(__file__).resolve().parents[2] / "bundle"
MAX_LINES = 400
# Layers, lowest first: a module may import its own layer and those below, never one above.
# commands/ and cli are the top (the user's verbs); pipeline/ runs the stages; the rest are the
# parts the stages use.
TOP = ("bundle.cli", "bundle.commands", "bundle.__main__")
PIPELINE = ("bundle.pipeline",)


def _module_name(path: Path) -> str:
    parts = path.relative_to(BUNDLE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(BUNDLE.rglob("*.py")) if "__pycache__" not in p.parts}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The bundle module an import names (a name imported from a package may be a module)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        found |= {m for m in (_resolve(n, modules) for n in names if n.startswith("bundle")) if m}
    found.discard(module)
    # A module's package __init__ runs first; importing it is not an edge back to the module.
    return {m for m in found if not module.startswith(m + ".")}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(m, p, modules) for m, p in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_in_bundle():
    assert cycles(import_graph()) == []


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _layer(module: str) -> int:
    if _within(module, TOP):
        return 2
    return 1 if _within(module, PIPELINE) else 0


def test_no_module_imports_from_a_layer_above_it():
    upward = sorted(f"{m} -> {w}" for m, ws in import_graph().items() for w in ws if _layer(w) > _layer(m))
    assert upward == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("path", sorted(p for p in BUNDLE.rglob("*.py") if "__pycache__" not in p.parts),
                         ids=lambda p: str(p.relative_to(BUNDLE.parent)))
def test_no_module_over_400_lines(path):
    rel = path.relative_to(BUNDLE.parent).as_posix()
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{rel}: {lines} lines"
