"""The Dockerfile's pins, targets and build arguments, read with bundle.engine.dockerfile."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from bundle.engine import dockerfile
from bundle.engine.images import TARGETS
from bundle.toolchain import pins

REPO = Path(__file__).resolve().parents[2]
CORPUS = sorted((REPO / "tests" / "corpus" / "dockerfile").glob("*.Dockerfile"))
TEXT = (REPO / "Dockerfile").read_text()
DF = dockerfile.parse(TEXT)


def test_project_dockerfile_is_fully_pinned():
    assert dockerfile.lint(TEXT) == []


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_bad_dockerfiles_are_rejected(path):
    problems = dockerfile.lint_file(path)
    assert problems, f"{path.name} should fail the pin check"


def test_one_target_per_image():
    # tvm is assembled from tvm-builder plus the resumable build's output (bundle/toolchain/tvm_build.py, bundle/toolchain/tvm_image.py).
    assert set(TARGETS) - {"tvm"} <= set(DF.targets)
    # tvm-builder before zephyr: the classic builder builds every stage up to --target, and the
    # zephyr stage needs GitHub.
    assert DF.targets.index("tvm-builder") < DF.targets.index("zephyr")
    # The classic builder builds every stage before --target: runner must not wait on toolchains.
    assert DF.targets[0] == "runner"


def test_base_image_and_mirror_arguments():
    assert {"BASE_IMAGE", "TOOLCHAIN_BASE_IMAGE"} <= set(DF.global_args)
    # Empty BASE_IMAGE (compose passes unset args as "") falls back to the pinned default.
    assert dockerfile.expand(DF.stage("runner").base, DF.global_args) == DF.global_args["DEFAULT_BASE_IMAGE"]
    assert dockerfile.expand(DF.stage("runner").base, {**DF.global_args, "BASE_IMAGE": "x/y:z"}) == "x/y:z"
    for target in ("runner", "tvm-builder", "zephyr"):
        assert "PIP_INDEX_URL" in DF.stage(target).args
    assert "APT_MIRROR" in DF.stage("runner").args and "APT_MIRROR" in DF.stage("toolchain-base").args


def test_pins_match_toolchain_constants():
    zephyr = DF.stage("zephyr").args
    assert zephyr["CMSIS_SHA"] == pins.CMSIS_SHA
    assert zephyr["ZEPHYR_VERSION"] == pins.ZEPHYR_VERSION
    assert zephyr["ZEPHYR_SDK_VERSION"] == pins.ZEPHYR_SDK_VERSION
    lock = (REPO / "requirements-tvm.lock").read_text()
    assert "tflite==2.4.0" in lock and "synr==0.6.0" in lock
    assert "requirements-tvm.lock" in " ".join(i.args for i in DF.stage("tvm-builder").instructions)


def test_pins_match_the_published_system_description(published_root):
    path = published_root / "systems" / "system_description_NUCLEO_L4R5ZI_microtvm_cmsis_nn.json"
    # The published file is not strict JSON (a missing comma): read the SHAs by pattern.
    text = path.read_text()
    shas = dict(re.findall(r'"(TVM|CMSIS_NN)"\s*:\s*\{\s*"SHA"\s*:\s*"([0-9a-f]{40})"', text))
    assert shas == {"TVM": pins.TVM_SHA, "CMSIS_NN": pins.CMSIS_SHA}
    assert '"OS version": "2.7.3"' in text and '"Zephyr SDK version": "0.13.2"' in text


def test_zephyr_pins_are_filled_and_the_guard_stays():
    # Filled from public sources (provenance in artifacts/lock.yaml); the guard still stops a
    # build passed an UNSET_ value.
    assert dockerfile.placeholders(DF) == {}
    guard = next(i for i in DF.stage("zephyr").instructions if "UNSET_" in i.args and i.keyword == "RUN")
    assert "exit 1" in guard.args and "error:" in guard.args
    assert TARGETS["zephyr"].pinned_ready


def test_runner_installs_the_lock_then_the_bundle_without_deps():
    runs = [i.args for i in DF.stage("runner").instructions if i.keyword == "RUN"]
    lock = next(n for n, r in enumerate(runs) if "requirements-runner.lock" in r)
    bundle = next(n for n, r in enumerate(runs) if "--no-deps /src" in r)
    assert lock < bundle
    users = [i.args for i in DF.stage("runner").instructions if i.keyword == "USER"]
    assert users and not users[-1].startswith("0")


def test_dockerfile_pin_defaults_agree_with_the_lock():
    """The orchestrator passes the lock's pins as build args; the Dockerfile's own defaults
    (for a plain `docker build`) must say the same, or be the loud UNSET placeholders."""
    from bundle.engine.images import lock_pins

    text = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    for key, value in lock_pins().items():
        defaults = set(re.findall(rf"^ARG {key}=(\S+)", text, re.M))
        assert defaults, f"Dockerfile declares no default for {key}"
        if value.startswith("UNSET"):
            assert all(d.startswith("UNSET") for d in defaults), key
        else:
            assert defaults == {value}, (key, defaults, value)


def test_toolchain_scripts_are_copied_where_the_stages_run_them():
    """The compile and firmware stages run standalone scripts from the bundle; each image must
    COPY the script to the path its StageSpec command names."""
    from bundle.toolchain import compile as compile_mod, firmware as firmware_mod

    from bundle.toolchain import tvm_image

    assert f"COPY tvm_compile.py {compile_mod.SCRIPT_IN_IMAGE}" in tvm_image.FINAL_DOCKERFILE
    assert tvm_image.SCRIPT == REPO / "bundle/toolchain/tvm_compile.py"
    for target, script, dest in (("zephyr", "bundle/toolchain/zephyr_build.py", firmware_mod.SCRIPT_IN_IMAGE),):
        copies = [i.args.split() for i in DF.stage(target).instructions if i.keyword == "COPY"]
        assert [script, dest] in copies, (target, copies)
        assert (REPO / script).is_file()
