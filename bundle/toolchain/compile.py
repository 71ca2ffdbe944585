"""Compile stage (tvm image): one build's .tflite model to a Model Library Format archive.

The command runs bundle/toolchain/tvm_compile.py, which the Dockerfile copies into the tvm
image at SCRIPT_IN_IMAGE; every setting comes from the build's CompileConfig.
"""
from __future__ import annotations

from bundle.engine.base import Mount, StageSpec
from bundle.toolchain.compile_config import CompileConfig

SCRIPT_IN_IMAGE = "/opt/tinyrepro/tvm_compile.py"


CAUSE_TEST_MLF = "cause-test.tar"      # beside model.tar: the same build, compiled with its cause_test options


def mlf_path(cfg: CompileConfig, out: str = "/artifacts", cause_test: bool = False) -> str:
    return f"{out}/builds/{cfg.name}/{CAUSE_TEST_MLF if cause_test else 'model.tar'}"


def cause_test_flags(cfg: CompileConfig) -> list[str]:
    return [arg for name, value in cfg.cause_test for arg in (f"--{name.replace('_', '-')}", value)]


def compile_command(cfg: CompileConfig, inputs: str = "/inputs", out: str = "/artifacts",
                    cause_test: bool = False) -> list[str]:
    opts = dict(cfg.executor_options)
    cmd = ["python3", SCRIPT_IN_IMAGE, "--model", f"{inputs}/tree/models/{cfg.model}",
           "--target", cfg.target, "--out", mlf_path(cfg, out, cause_test),
           "--usmp", str(int(cfg.usmp)), "--opt-level", str(cfg.opt_level),
           "--workspace-byte-alignment", str(opts["workspace-byte-alignment"]),
           "--interface-api", str(opts["interface-api"]), "--unpacked-api", str(int(opts["unpacked-api"])),
           "--disable-vectorize", str(int(cfg.disable_vectorize))]
    if cfg.cmsis_nn:
        cmd.append("--cmsis-nn")
    if cfg.tuning:
        cmd += ["--tuning", f"{inputs}/tree/{cfg.tuning}"]
    return cmd + (cause_test_flags(cfg) if cause_test else [])


# Without AutoTVM records (the cmsis_nn variant) relay.build falls back on TopHub's pre-tuned
# arm_cpu schedules, downloaded from GitHub when reachable (python/tvm/autotvm/tophub.py at
# e3a6cb6a): a compile that depends on the network. The stage has none, so TopHub is off
# explicitly and every compile here uses TVM's fallback schedules, the same on every host.
COMPILE_ENV = {"TOPHUB_LOCATION": "NONE"}


def compile_stage(cfg: CompileConfig, inputs: str, artifacts: str, cause_test: bool = False) -> StageSpec:
    return StageSpec(
        name="compile", image_target="tvm", command=compile_command(cfg, cause_test=cause_test),
        mounts=[Mount(inputs, "/inputs", True), Mount(artifacts, "/artifacts", False)],
        env=dict(COMPILE_ENV), network=False, timeout_s=1800,
    )
