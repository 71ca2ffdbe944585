"""The regenerated model code swapped into a copy of the published project, nothing else changed."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from bundle.errors import ConfigError
from bundle.toolchain.regenerated import place_project, regenerated_tree


def _mlf(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _project(root: Path) -> Path:
    for rel, text in {"CMakeLists.txt": "project(kws)\n", "src/main.cpp": "int main(){}\n",
                      "model/codegen/host/src/default_lib1.c": "// published\n",
                      "model/codegen/host/src/default_lib2.c": "// published only\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_model_folder_is_replaced_and_the_rest_copied(tmp_path):
    code = tmp_path / "code"
    _project(code / "microtvm_native/NUCLEO_L4R5ZI/kws")
    mlf = _mlf(tmp_path / "model.tar", {"codegen/host/src/default_lib1.c": "// regenerated\n",
                                        "metadata.json": "{}"})
    root = regenerated_tree(code, [("microtvm_native/NUCLEO_L4R5ZI/kws", mlf)], tmp_path / "run" / "code")
    project = root / "microtvm_native/NUCLEO_L4R5ZI/kws"
    assert (project / "model/codegen/host/src/default_lib1.c").read_text() == "// regenerated\n"
    assert not (project / "model/codegen/host/src/default_lib2.c").exists()   # no published leftovers
    assert (project / "src/main.cpp").read_text() == "int main(){}\n" and (project / "model/metadata.json").is_file()
    assert (code / "microtvm_native/NUCLEO_L4R5ZI/kws/model/codegen/host/src/default_lib1.c").read_text() == "// published\n"
    assert not list((tmp_path / "run").rglob("*.part"))
    # again: replaced, not merged
    place_project(code / "microtvm_native/NUCLEO_L4R5ZI/kws", _mlf(tmp_path / "m2.tar", {"x.c": ""}), project)
    assert sorted(p.name for p in (project / "model").iterdir()) == ["x.c"]


def test_a_project_without_model_folder_is_a_config_error(tmp_path):
    (tmp_path / "p").mkdir()
    with pytest.raises(ConfigError, match="no model/"):
        place_project(tmp_path / "p", _mlf(tmp_path / "m.tar", {"a.c": ""}), tmp_path / "out")
