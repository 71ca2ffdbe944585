"""bundle/codedeps.py on a small synthetic package: which files a listed entry point brings
into a stage's key, and which it leaves out."""
from __future__ import annotations

from pathlib import Path

from bundle.codedeps import closure


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


def test_a_file_that_does_not_parse_is_still_keyed_by_its_bytes(tmp_path):
    root = _package(tmp_path, {"bundle/broken.py": "def (:\n"})
    assert _names(root, "bundle/broken.py") == {"bundle/__init__.py", "bundle/broken.py"}
