"""bundle/toolchain/tvm_compile.py runs only in the tvm image (TVM e3a6cb6a, spring 2022); the
installed apache-tvm 0.27 has no relay/microTVM. So the script is checked by parsing: every
tvm.* name it uses, and every executor/runtime/pass-config option it passes, must be in the
documented lists below, each with where it is documented for TVM of that era."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bundle" / "toolchain" / "tvm_compile.py"

# name -> where it is documented (TVM 0.9/0.10 docs, or apache/tvm source of 2022)
DOCUMENTED = {
    "tvm": "https://tvm.apache.org/docs/v0.10.0/reference/api/python/index.html",
    "tvm.relay": "https://tvm.apache.org/docs/v0.10.0/reference/api/python/relay/index.html",
    "tvm.relay.frontend.from_tflite": "docs v0.10.0 reference/api/python/relay/frontend.html: from_tflite(model, shape_dict, dtype_dict, op_converter)",
    "tvm.relay.build": "docs v0.10.0 reference/api/python/relay/index.html: build(ir_mod, target, target_host, executor, runtime, workspace_memory_pools, params, mod_name)",
    "tvm.relay.backend": "docs v0.10.0 how_to/work_with_microtvm/micro_aot.html: from tvm.relay.backend import Executor, Runtime",
    "tvm.relay.backend.Executor": "docs v0.10.0 micro_aot.html: Executor(\"aot\", {...}); options in src/relay/backend/executor.cc",
    "tvm.relay.backend.Runtime": "docs v0.10.0 micro_aot.html / micro_autotune.html: Runtime(\"crt\", ...)",
    "tvm.relay.op.contrib": "apache/tvm python/tvm/relay/op/contrib/__init__.py",
    "tvm.relay.op.contrib.cmsisnn": "apache/tvm python/tvm/relay/op/contrib/cmsisnn.py (2022)",
    "tvm.relay.op.contrib.cmsisnn.partition_for_cmsisnn": "apache/tvm python/tvm/relay/op/contrib/cmsisnn.py: partition_for_cmsisnn(mod, params=None, **opts)",
    "tvm.target.Target": "docs v0.10.0 reference/api/python/target.html: Target(target, host=None)",
    "tvm.transform.PassContext": "docs v0.10.0 reference/api/python/ir.html: PassContext(opt_level, required_pass, disabled_pass, instruments, config)",
    "tvm.autotvm": "docs v0.10.0 reference/api/python/autotvm.html",
    "tvm.autotvm.apply_history_best": "docs v0.10.0 reference/api/python/autotvm.html: apply_history_best(records)",
    "tvm.micro": "docs v0.10.0 reference/api/python/micro.html",
    "tvm.relay.qnn.op": "apache/tvm python/tvm/relay/qnn/op/__init__.py (2022)",
    "tvm.relay.qnn.op.legalizations": "apache/tvm python/tvm/relay/qnn/op/legalizations.py at e3a6cb6a: qnn_conv2d_legalize (a tvm.target.generic_func), helper_no_fast_int8_hw_legalization",
    "tvm.relay.qnn.op.legalizations.helper_no_fast_int8_hw_legalization": "apache/tvm python/tvm/relay/qnn/op/legalizations.py at e3a6cb6a: helper_no_fast_int8_hw_legalization(attrs, inputs, types, relay_op)",
    "tvm.relay.qnn.op.legalizations.qnn_conv2d_legalize.register": "apache/tvm python/tvm/target/generic_func.py at e3a6cb6a: generic_func's register(key, func=None, override=False)",
    "tvm.relay.qnn.op.legalizations.qnn_dense_legalize": "apache/tvm python/tvm/relay/qnn/op/legalizations.py at e3a6cb6a: qnn_dense_legalize (a tvm.target.generic_func)",
    "tvm.relay.qnn.op.legalizations.qnn_conv2d_legalize": "apache/tvm python/tvm/relay/qnn/op/legalizations.py at e3a6cb6a: qnn_conv2d_legalize (a tvm.target.generic_func)",
    "tvm.relay.nn.dense": "docs v0.10.0 reference/api/python/relay/nn.html: dense(data, weight, units=None, out_dtype='')",
    "tvm.relay.nn.conv2d": "docs v0.10.0 reference/api/python/relay/nn.html: conv2d(data, weight, ...)",
    "tvm.micro.export_model_library_format": "docs v0.10.0 reference/api/python/micro.html: export_model_library_format(mods, file_name)",
}
# TVM_REGISTER_EXECUTOR("aot") options, src/relay/backend/executor.cc (2022)
AOT_OPTIONS = {"link-params", "unpacked-api", "interface-api", "workspace-byte-alignment"}
# PassContext config keys: tir.disable_vectorize (docs micro tutorials), tir.usmp.enable
# (src/tir/usmp/unified_static_memory_planner.cc, TVM_REGISTER_PASS_CONFIG_OPTION, 2022)
PASS_CONFIG = {"tir.disable_vectorize", "tir.usmp.enable"}


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def tvm_names(tree: ast.AST) -> set[str]:
    """Every tvm.* name: imports, and attribute chains resolved through import aliases."""
    alias: dict[str, str] = {}
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "tvm":
                    names.add(a.name)
                    alias[(a.asname or a.name).split(".")[0]] = "tvm" if not a.asname else a.name
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tvm":
            names.add(node.module)
            for a in node.names:
                names.add(f"{node.module}.{a.name}")
                alias[a.asname or a.name] = f"{node.module}.{a.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and not isinstance(getattr(node, "parent", None), ast.Attribute):
            dotted = _dotted(node)
            if dotted and dotted.split(".")[0] in alias:
                head, _, rest = dotted.partition(".")
                names.add(f"{alias[head]}.{rest}" if rest else alias[head])
    return names


def _tree() -> ast.AST:
    tree = ast.parse(SCRIPT.read_text())
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            child.parent = node
    return tree


def test_every_tvm_name_is_documented():
    used = tvm_names(_tree())
    assert "tvm.relay.frontend.from_tflite" in used and "tvm.micro.export_model_library_format" in used
    undocumented = sorted(n for n in used if n not in DOCUMENTED)
    assert not undocumented, f"not in the documented list: {undocumented}"


def test_options_passed_are_documented():
    tree = _tree()
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    executor = next(c for c in calls if isinstance(c.func, ast.Name) and c.func.id == "Executor")
    assert isinstance(executor.args[0], ast.Constant) and executor.args[0].value == "aot"
    assert {k.value for k in executor.args[1].keys} <= AOT_OPTIONS
    runtime = next(c for c in calls if isinstance(c.func, ast.Name) and c.func.id == "Runtime")
    assert runtime.args[0].value == "crt"
    config = next(n for n in ast.walk(tree) if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "config")
    assert {k.value for k in config.value.keys} == PASS_CONFIG


def test_the_checker_catches_an_unknown_name():
    tree = ast.parse("import tvm\nfrom tvm.relay.backend import Executor\ntvm.relay.build_module.create_executor()\n")
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            child.parent = node
    used = tvm_names(tree)
    assert "tvm.relay.build_module.create_executor" in used and "tvm.relay.backend.Executor" in used


def test_script_does_not_import_tvm_at_module_level():
    """The host tests (and the image build's import check) may load it without TVM."""
    top = [n for n in _tree().body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert all("tvm" not in (getattr(n, "module", None) or "") and
               all("tvm" not in a.name for a in n.names) for n in top)


def test_image_scripts_parse_as_python_3_8():
    """Both images are Python 3.8 (the 2022 toolchains): the scripts they run must parse there."""
    for name in ("tvm_compile.py", "zephyr_build.py"):
        ast.parse((SCRIPT.parent / name).read_text(), feature_version=(3, 8))


def test_model_archive_is_written_atomically_into_a_new_folder(tmp_path):
    """The in-image script has no tvm import at module level, so its file handling runs here."""
    from bundle.toolchain.tvm_compile import write_atomically

    out = tmp_path / "builds" / "b" / "model.tar"
    write_atomically(str(out), lambda part: Path(part).write_bytes(b"mlf"))
    assert out.read_bytes() == b"mlf" and not Path(str(out) + ".part").exists()

    def killed(part):
        Path(part).write_bytes(b"trunc")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(str(tmp_path / "x" / "model.tar"), killed)
    assert not any((tmp_path / "x").iterdir())
