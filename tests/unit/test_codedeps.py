"""bundle/codedeps.py on a small synthetic package: which files a listed entry point brings
into a stage's key, and which it leaves out."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bundle.codedeps import _module_name, _references, closure

REPO = Path(__file__).resolve().parents[2]


def _package(root: Path, files: dict[str, str]) -> Path:
    for rel, text in {"bundle/__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _names(root: Path, *parts: str) -> set[str]:
    return {p.relative_to(root).as_posix() for p in closure(root, parts)}


def test_imports_at_any_depth_registries_and_data_names_are_followed(tmp_path):
    root = _package(tmp_path, {
        "bundle/stage.py": "from bundle.dut import base\n"
                           "def run():\n    from .helpers import pace\n    return pace\n",
        "bundle/helpers.py": "import bundle.deep.inner\n",
        "bundle/deep/__init__.py": "",
        "bundle/deep/inner.py": "FILE = 'table.yaml'\n",
        "bundle/dut/__init__.py": "",
        "bundle/dut/base.py": "REGISTRY = {'sim': 'bundle.dut.sim:SimDut'}\n",
        "bundle/dut/sim.py": "from bundle.dut.base import REGISTRY\n",
        "bundle/data/table.yaml": "a: 1\n",
        "bundle/data/other.yaml": "b: 2\n",
        "bundle/report.py": "import bundle.helpers\n",
    })
    assert _names(root, "bundle/stage.py") == {
        "bundle/__init__.py", "bundle/stage.py", "bundle/dut/__init__.py", "bundle/dut/base.py",
        "bundle/dut/sim.py", "bundle/helpers.py", "bundle/deep/__init__.py", "bundle/deep/inner.py",
        "bundle/data/table.yaml"}      # not report.py (it imports the stage's helper, not the reverse)


def test_a_listed_folder_brings_all_its_files_and_a_computed_name_is_not_followed(tmp_path):
    root = _package(tmp_path, {
        "bundle/cli.py": "import importlib\ndef load(name):\n    return importlib.import_module(f'bundle.commands.{name}')\n",
        "bundle/commands/__init__.py": "",
        "bundle/commands/report.py": "",
        "bundle/native/src/shim.c": "int main(void) { return 0; }\n",
    })
    assert _names(root, "bundle/cli.py") == {"bundle/__init__.py", "bundle/cli.py"}
    assert _names(root, "bundle/native") == {"bundle/native/src/shim.c"}


def test_every_import_form_is_read(tmp_path):
    root = _package(tmp_path, {
        "bundle/stage.py": "import os, bundle.a as first  # a comment\n"
                           "from bundle.b import (\n    x,  # why\n    y as z,\n)\n"
                           "from bundle.c import p, \\\n    q\n"
                           "def f():\n    from . import d; return d\n",
        **{f"bundle/{m}.py": "" for m in ("a", "b", "d")},
        "bundle/c/__init__.py": "", "bundle/c/q.py": "", "bundle/c/r.py": "",
    })
    assert _names(root, "bundle/stage.py") == {
        "bundle/__init__.py", "bundle/stage.py", "bundle/a.py", "bundle/b.py", "bundle/c/__init__.py",
        "bundle/c/q.py", "bundle/d.py"}


def test_a_file_that_does_not_parse_is_still_keyed_by_its_bytes(tmp_path):
    root = _package(tmp_path, {"bundle/broken.py": "def (:\n"})
    assert _names(root, "bundle/broken.py") == {"bundle/__init__.py", "bundle/broken.py"}


def _ast_imports(path: Path, module: str) -> set[str]:
    """What the AST sees a module import (and name in a registry string), as an independent
    reference for the text reading the keys use."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found |= {base} | {f"{base}.{a.name}" for a in node.names if a.name != "*"}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and re.fullmatch(r"bundle(\.\w+)+(:\w+)?", node.value):
            found.add(node.value.split(":")[0])
    return {n for n in found if n == "bundle" or n.startswith("bundle.")}


@pytest.mark.parametrize("path", sorted((REPO / "bundle").rglob("*.py")), ids=lambda p: p.relative_to(REPO).as_posix())
def test_the_text_reading_misses_no_import_the_ast_sees(path):
    stat, module = path.stat(), _module_name(REPO, path)
    modules, _ = _references(path, module, stat.st_mtime_ns, stat.st_size)
    assert not _ast_imports(path, module) - modules
