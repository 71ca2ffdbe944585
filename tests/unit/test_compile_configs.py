"""The 12 published builds' compile configurations (bundle/data/compile.yaml) and the compile
commands made from them: golden values, checked against the facts read from OctoML's code."""
from __future__ import annotations

from pathlib import Path

import pytest

from bundle.errors import ConfigError
from bundle.toolchain.compile import compile_command, compile_stage
from bundle.toolchain.compile_config import compile_configs, config_for, load_compile_configs

REPO = Path(__file__).resolve().parents[2]
BAD = sorted((REPO / "tests" / "corpus" / "compile").glob("*.yaml"))
M4 = "c -keys=arm_cpu,cpu -device=arm_cpu -mcpu=cortex-m4 -model=stm32l4r5zi"
M33 = "c -keys=arm_cpu,cpu -device=arm_cpu -mcpu=cortex-m33 -model=nrf5340dk"

# name: (model, target, usmp, TVMGEN_DEFAULT_WORKSPACE_SIZE, cmsis_nn, tuned)
GOLDEN = {
    "microtvm_native-nucleo_l4r5zi-kws": ("kws_ref_model.tflite", M4, False, 146448, False, True),
    "microtvm_native-nucleo_l4r5zi-ic": ("pretrainedResnet_quant.tflite", M4, True, 247392, False, True),
    "microtvm_native-nucleo_l4r5zi-vww": ("vww_96_int8.tflite", M4, False, 353288, False, True),
    "microtvm_native-nucleo_l4r5zi-ad": ("model_ToyCar_quant_fullint_micro.tflite", M4, True, 2688, False, True),
    "microtvm_cmsis_nn-nucleo_l4r5zi-kws": ("kws_ref_model.tflite", M4, False, 17232, True, False),
    "microtvm_cmsis_nn-nucleo_l4r5zi-ic": ("pretrainedResnet_quant.tflite", M4, True, 66112, True, False),
    "microtvm_cmsis_nn-nucleo_l4r5zi-vww": ("vww_96_int8.tflite", M4, True, 64800, True, False),
    "microtvm_cmsis_nn-nucleo_l4r5zi-ad": ("model_ToyCar_quant_fullint_micro.tflite", M4, True, 1160, True, False),
    "microtvm_cmsis_nn-nrf5340dk-kws": ("kws_ref_model.tflite", M33, False, 17232, True, False),
    "microtvm_cmsis_nn-nrf5340dk-ic": ("pretrainedResnet_quant.tflite", M33, True, 66112, True, False),
    "microtvm_cmsis_nn-nrf5340dk-vww": ("vww_96_int8.tflite", M33, True, 64800, True, False),
    "microtvm_cmsis_nn-nrf5340dk-ad": ("model_ToyCar_quant_fullint_micro.tflite", M33, True, 1160, True, False),
}


def test_twelve_builds_in_published_order():
    assert [c.name for c in compile_configs()] == list(GOLDEN)


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_configuration(name):
    cfg = config_for(name)
    model, target, usmp, workspace, cmsis, tuned = GOLDEN[name]
    assert (cfg.model, cfg.target, cfg.usmp, cfg.workspace_size, cfg.cmsis_nn) == (model, target, usmp, workspace, cmsis)
    assert (cfg.tuning is not None) == tuned
    assert cfg.executor == "aot" and cfg.runtime == "crt" and cfg.opt_level == 3 and cfg.disable_vectorize
    assert dict(cfg.executor_options) == {"unpacked-api": True, "interface-api": "c", "workspace-byte-alignment": 8}
    assert cfg.source  # every workspace size says where it was read


def test_systems_and_boards_match_the_results_tree():
    from bundle.submission_builds import load_builds

    systems = {b.system: b.zephyr_board for b in load_builds()}
    for cfg in compile_configs():
        assert systems[cfg.system] == cfg.zephyr_board
    assert {c.system for c in compile_configs()} == set(systems)


def test_tuning_records_are_locked_files():
    from bundle.fetch.lock import load_lock

    locked = set(load_lock().files)
    tuned = [c.tuning for c in compile_configs() if c.tuning]
    assert len(tuned) == 4 and set(tuned) <= locked


# Table-driven golden command lines: the exact argv the tvm image runs.
COMMANDS = {
    "microtvm_native-nucleo_l4r5zi-kws": [
        "python3", "/opt/tinyrepro/tvm_compile.py", "--model", "/inputs/tree/models/kws_ref_model.tflite",
        "--target", M4, "--out", "/artifacts/builds/microtvm_native-nucleo_l4r5zi-kws/model.tar",
        "--usmp", "0", "--opt-level", "3", "--workspace-byte-alignment", "8", "--interface-api", "c",
        "--unpacked-api", "1", "--disable-vectorize", "1",
        "--tuning", "/inputs/tree/published/octoml-v1.0/tuning/microtvm_zephyr_nucleo_l4r5zi_kws.tune"],
    "microtvm_cmsis_nn-nrf5340dk-vww": [
        "python3", "/opt/tinyrepro/tvm_compile.py", "--model", "/inputs/tree/models/vww_96_int8.tflite",
        "--target", M33, "--out", "/artifacts/builds/microtvm_cmsis_nn-nrf5340dk-vww/model.tar",
        "--usmp", "1", "--opt-level", "3", "--workspace-byte-alignment", "8", "--interface-api", "c",
        "--unpacked-api", "1", "--disable-vectorize", "1", "--cmsis-nn"],
    "microtvm_cmsis_nn-nucleo_l4r5zi-kws": [
        "python3", "/opt/tinyrepro/tvm_compile.py", "--model", "/inputs/tree/models/kws_ref_model.tflite",
        "--target", M4, "--out", "/artifacts/builds/microtvm_cmsis_nn-nucleo_l4r5zi-kws/model.tar",
        "--usmp", "0", "--opt-level", "3", "--workspace-byte-alignment", "8", "--interface-api", "c",
        "--unpacked-api", "1", "--disable-vectorize", "1", "--cmsis-nn"],
}


@pytest.mark.parametrize("name", COMMANDS)
def test_golden_compile_command(name):
    assert compile_command(config_for(name)) == COMMANDS[name]


def test_compile_stage_is_offline_in_the_tvm_image():
    spec = compile_stage(config_for("microtvm_native-nucleo_l4r5zi-ic"), "/cache", "/run")
    assert spec.image_target == "tvm" and not spec.network and not spec.devices
    assert [(m.src, m.dst, m.read_only) for m in spec.mounts] == [("/cache", "/inputs", True), ("/run", "/artifacts", False)]


def test_compile_script_matches_its_command_line():
    """Every option compile_command passes is one tvm_compile.py accepts (parsed, not imported
    through tvm: argparse only)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("tvm_compile", REPO / "bundle" / "toolchain" / "tvm_compile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines functions only; tvm is imported inside compile_model
    for cfg in compile_configs():
        args = module.parse_args(compile_command(cfg)[2:])
        assert args.usmp == int(cfg.usmp) and args.cmsis_nn == cfg.cmsis_nn
        assert args.workspace_byte_alignment == 8 and args.opt_level == 3 and bool(args.tuning) == bool(cfg.tuning)


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_compile_files_are_rejected(path):
    with pytest.raises(ConfigError):
        load_compile_configs(path)


def test_a_cause_test_compiles_the_build_again_with_its_options():
    """Native ic and vww are compiled a second time with the int16 conv2d and dense legalizations
    (the cause compile.yaml names for their code difference), into cause-test.tar beside model.tar."""
    import importlib.util

    tested = {c.name: c for c in compile_configs() if c.cause_test}
    assert sorted(tested) == ["microtvm_native-nucleo_l4r5zi-ic", "microtvm_native-nucleo_l4r5zi-vww"]
    cfg = tested["microtvm_native-nucleo_l4r5zi-ic"]
    assert dict(cfg.cause_test) == {"qnn_conv2d_legalize": "int16", "qnn_dense_legalize": "int16"}
    assert "int16" in cfg.cause
    pinned, test = compile_command(cfg), compile_command(cfg, cause_test=True)
    assert "--qnn-conv2d-legalize" not in pinned
    assert test[-4:] == ["--qnn-conv2d-legalize", "int16", "--qnn-dense-legalize", "int16"]
    assert test[test.index("--out") + 1].endswith(f"/builds/{cfg.name}/cause-test.tar")
    spec = importlib.util.spec_from_file_location("tvm_compile", REPO / "bundle" / "toolchain" / "tvm_compile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = module.parse_args(test[2:])
    assert args.qnn_conv2d_legalize == args.qnn_dense_legalize == "int16"
    args = module.parse_args(pinned[2:])
    assert args.qnn_conv2d_legalize == args.qnn_dense_legalize == "pinned"
