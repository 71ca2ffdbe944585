"""Compile stage (tvm image): a .tflite model to a Model Library Format archive with tvmc."""
from __future__ import annotations

from bundle.engine.base import Mount, StageSpec
from bundle.builds import Build

TARGET_C = "c -keys=arm_cpu,cpu -mcpu=cortex-m4+nodsp -model=stm32l4r5zi"


def compile_command(build: Build, inputs: str = "/inputs", out: str = "/artifacts") -> list[str]:
    targets = f"cmsis-nn, {TARGET_C}" if build.variant == "microtvm_cmsis_nn" else TARGET_C
    cmd = ["python3", "-m", "tvm.driver.tvmc", "compile", f"{inputs}/tree/models/{build.model}",
           "--target", targets, "--runtime", "crt", "--executor", "aot",
           "--executor-aot-interface-api", "c", "--executor-aot-unpacked-api", "1",
           "--pass-config", "tir.disable_vectorize=1", "--output-format", "mlf",
           "--output", f"{out}/builds/{build.name}/model.tar"]
    if build.tuning_file:
        cmd += ["--tuning-records", f"{inputs}/tree/published/octoml-v1.0/tuning/{build.tuning_file}"]
    return cmd


def compile_stage(build: Build, inputs: str, artifacts: str) -> StageSpec:
    return StageSpec(
        name="compile", image_target="tvm", command=compile_command(build),
        mounts=[Mount(inputs, "/inputs", True), Mount(artifacts, "/artifacts", False)],
        network=False, timeout_s=1800,
    )
