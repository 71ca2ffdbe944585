"""The five pipeline stages (compile, firmware, flash, run, report) as StageSpecs.

One source for both the orchestrator and compose/compose.yaml (bundle.engine.compose renders
the file from `pipeline_stages`, and a test checks the committed file matches).
"""
from __future__ import annotations

from dataclasses import dataclass

from bundle.engine.base import DUT_DEVICE_IN_STAGE, Mount, StageSpec
from bundle.toolchain.builds import BUILDS, Build
from bundle.toolchain.compile import compile_stage
from bundle.toolchain.firmware import firmware_stage
from bundle.toolchain.flash import flash_stage


@dataclass(frozen=True)
class StageContext:
    inputs: str          # fetched inputs (read-only in every stage)
    artifacts: str       # shared outputs
    dut_port: str        # host serial port of the DUT (a pty for the simulated DUT)
    probe_device: str    # host USB device of the flashing probe
    build: Build = BUILDS[0]
    run_id: str = "latest"


def run_stage(ctx: StageContext) -> StageSpec:
    out = f"/artifacts/runs/{ctx.run_id}"
    return StageSpec(
        name="run", image_target="runner",
        command=["python", "-m", "bundle", "run", "--port", DUT_DEVICE_IN_STAGE,
                 "--benchmark", ctx.build.benchmark, "--inputs", "/inputs", "--out", out],
        mounts=[Mount(ctx.inputs, "/inputs", True), Mount(ctx.artifacts, "/artifacts", False)],
        devices=[f"{ctx.dut_port}:{DUT_DEVICE_IN_STAGE}"], network=False, timeout_s=4 * 3600,
    )


def report_stage(ctx: StageContext) -> StageSpec:
    return StageSpec(
        name="report", image_target="runner",
        command=["python", "-m", "bundle", "diff", "--published", "/inputs/published/octoml-v1.0",
                 "--reproduced", f"/artifacts/runs/{ctx.run_id}", "--out", f"/artifacts/reports/{ctx.run_id}"],
        mounts=[Mount(ctx.inputs, "/inputs", True), Mount(ctx.artifacts, "/artifacts", False)],
        network=False, timeout_s=600,
    )


def pipeline_stages(ctx: StageContext) -> list[StageSpec]:
    return [
        compile_stage(ctx.build, ctx.inputs, ctx.artifacts),
        firmware_stage(ctx.build, ctx.inputs, ctx.artifacts),
        flash_stage(ctx.build, ctx.artifacts, ctx.probe_device),
        run_stage(ctx),
        report_stage(ctx),
    ]
