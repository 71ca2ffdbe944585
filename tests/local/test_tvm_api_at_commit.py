"""The compile script against the TVM source it will run with: apache/tvm at the pinned commit,
read with git from the mirror's tvm.git (no TVM build needed). Every tvm.* name the script uses
is defined there, and every option string it passes is registered there."""
from __future__ import annotations

import ast
import os
import re
import subprocess
from pathlib import Path

import pytest

from bundle.fetch.lock import load_lock
from bundle.toolchain.compile import COMPILE_ENV

SCRIPT = Path(__file__).resolve().parents[2] / "bundle" / "toolchain" / "tvm_compile.py"
COMMIT = load_lock().toolchain["tvm"]["commit"]


@pytest.fixture(scope="module")
def tvm_git() -> Path:
    mirror = os.environ.get("TINYREPRO_MIRROR")
    git_dir = Path(mirror or "/nonexistent") / "git" / "tvm.git"
    if not git_dir.exists():
        pytest.skip("no mirror with git/tvm.git (make test sets TINYREPRO_MIRROR)")
    return git_dir


def show(git_dir: Path, path: str) -> str:
    done = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{COMMIT}:{path}"],
                          capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else ""


def _source(git_dir: Path, dotted: str) -> str:
    rel = "python/" + dotted.replace(".", "/")
    return show(git_dir, rel + ".py") or show(git_dir, rel + "/__init__.py")


def _resolve(git_dir: Path, dotted: str) -> str | None:
    """The module's own dotted path: itself, or where its package re-exports it from
    (`from .ir import transform` in tvm/__init__.py: tvm.transform is tvm.ir.transform)."""
    if _source(git_dir, dotted):
        return dotted
    if "." not in dotted:
        return None
    package, _, name = dotted.rpartition(".")
    where = _resolve(git_dir, package)
    if where is None:
        return None
    m = re.search(rf"^from \.([\w.]+) import .*\b{name}\b", _source(git_dir, where), re.M)
    return _resolve(git_dir, f"{where}.{m.group(1)}.{name}") if m else None


def _module_source(git_dir: Path, dotted: str) -> str:
    where = _resolve(git_dir, dotted)
    return _source(git_dir, where) if where else ""


def _defined(git_dir: Path, dotted: str) -> bool:
    """`tvm.a.b` is a module, or `b` is defined or imported in module `tvm.a`."""
    if _module_source(git_dir, dotted):
        return True
    parent, _, name = dotted.rpartition(".")
    text = _module_source(git_dir, parent)
    pattern = rf"^\s*(def|class) {name}\b|^{name}\s*=|^from \S+ import .*\b{name}\b|^from \S+ import \($"
    if re.search(pattern, text, re.M) is None:
        # `from .nn import *` in tvm/relay/op/nn/__init__.py: look in the starred module
        where = _resolve(git_dir, parent)
        return any(_defined(git_dir, f"{where}.{sub}.{name}")
                   for sub in re.findall(r"^from \.(\w+) import \*$", text, re.M))
    if re.search(rf"^\s*(def|class) {name}\b|^{name}\s*=|import .*\b{name}\b", text, re.M):
        return True
    return f" {name}," in text or f" {name}\n" in text   # inside a parenthesised import list


def _script_tvm_names() -> set[str]:
    from tests.unit.test_tvm_compile_api import _tree, tvm_names

    return tvm_names(_tree())


def test_every_tvm_name_the_script_uses_exists_at_the_commit(tvm_git):
    names = _script_tvm_names()
    assert len(names) > 10
    missing = sorted(n for n in names if not _defined(tvm_git, n))
    assert not missing, f"not defined in apache/tvm@{COMMIT[:12]}: {missing}"


def test_options_the_script_passes_are_registered_at_the_commit(tvm_git):
    text = SCRIPT.read_text()
    executor = show(tvm_git, "src/relay/backend/executor.cc")
    aot = executor[executor.index('TVM_REGISTER_EXECUTOR("aot")'):].split(";")[0]
    call = next(n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Call)
                and getattr(n.func, "id", "") == "Executor")
    used = {k.value for k in call.args[1].keys}
    assert used and all(f'"{o}"' in aot for o in used), (used, aot)
    assert 'Runtime("crt")' in text and "kTvmRuntimeCrt" in show(tvm_git, "src/relay/backend/runtime.cc")
    registered = subprocess.run(["git", "--git-dir", str(tvm_git), "grep", "-h", "TVM_REGISTER_PASS_CONFIG_OPTION",
                                 COMMIT, "--", "src"], capture_output=True, text=True, check=True).stdout
    usmp = show(tvm_git, "include/tvm/tir/usmp/utils.h")
    for key in re.findall(r'"((?:tir|relay)\.[\w.]+)"', text):
        const = re.search(rf'constexpr const char\* (\w+) = "{re.escape(key)}"', usmp)
        assert f'"{key}"' in registered or (const and const.group(1) in registered), key
    # relay.ext.cmsisnn.options is a node with an mcpu field; the cmsis-nn target kind exists
    assert "TVM_ATTR_FIELD(mcpu)" in show(tvm_git, "src/relay/backend/contrib/cmsisnn/compiler_attrs.h")
    assert 'TVM_REGISTER_TARGET_KIND("cmsis-nn"' in show(tvm_git, "src/relay/backend/contrib/cmsisnn/target.cc")


def test_tophub_is_switched_off_by_the_variable_this_tvm_reads(tvm_git):
    tophub = show(tvm_git, "python/tvm/autotvm/tophub.py")
    var = re.search(r'AUTOTVM_TOPHUB_LOC_VAR = "(\w+)"', tophub).group(1)
    none = re.search(r'AUTOTVM_TOPHUB_NONE_LOC = "(\w+)"', tophub).group(1)
    assert COMPILE_ENV == {var: none}


def test_an_external_codegen_target_may_not_come_first(tvm_git):
    """Why the script passes only the C target to relay.build (CompilationConfig's rule)."""
    config = show(tvm_git, "src/target/compilation_config.cc")
    assert "the first must be for non external codegen" in config
    tree = ast.parse(SCRIPT.read_text())
    build = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "build")
    target = next(k.value for k in build.keywords if k.arg == "target")
    assert isinstance(target, ast.Name) and target.id == "target"
