"""The local engine runs the same StageSpecs as host subprocesses."""
from __future__ import annotations

import sys

import pytest

from bundle.engine.base import Mount, StageSpec, atomic_output
from bundle.engine.select import get_engine
from bundle.engine.local import LocalEngine
from bundle.errors import ConfigError, EngineError, StageTimeout


def test_paths_are_mapped_and_python_is_this_interpreter(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.txt").write_text("hello")
    out = tmp_path / "out"
    out.mkdir()
    spec = StageSpec("copy", "runner", ["python", "-c",
                     "import sys, shutil; shutil.copy(sys.argv[1], sys.argv[2]); print(sys.executable)",
                     "/inputs/x.txt", "/artifacts/sub/../y.txt"],
                     mounts=[Mount(str(tmp_path / "in"), "/inputs"), Mount(str(out), "/artifacts", False)])
    (out / "sub").mkdir()
    lines = []
    result = LocalEngine().run(spec, on_line=lines.append)
    assert result.ok and lines == [sys.executable]
    assert (out / "y.txt").read_text() == "hello"


def test_flag_values_are_mapped(tmp_path):
    spec = StageSpec("s", "runner", ["x", "--out=/artifacts/r"], mounts=[Mount(str(tmp_path), "/artifacts", False)])
    assert LocalEngine().translate(spec)[0] == ["x", f"--out={tmp_path}/r"]


def test_failure_and_timeout(tmp_path):
    with pytest.raises(EngineError, match="exited with code 4"):
        LocalEngine().run(StageSpec("f", "runner", ["sh", "-c", "exit 4"]), on_line=lambda _: None)
    with pytest.raises(StageTimeout):
        LocalEngine().run(StageSpec("t", "runner", ["sleep", "30"], timeout_s=0.5), on_line=lambda _: None)
    with pytest.raises(EngineError, match="cannot start"):
        LocalEngine().run(StageSpec("m", "runner", ["/nonexistent/tool"]), on_line=lambda _: None)


def test_engines_by_name_and_caps():
    assert get_engine("local").caps.enforces_no_network is False
    assert get_engine("docker").caps.enforces_no_network is True
    with pytest.raises(ConfigError):
        get_engine("podman")


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "results.txt"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with atomic_output(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole" and list(tmp_path.iterdir()) == [target]
