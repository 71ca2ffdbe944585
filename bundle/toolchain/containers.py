"""The runner's and the report's containerized stages as StageSpecs, and the context the
build-chain specs are made in.

One source for both the orchestrator and compose/compose.yaml (bundle.pipeline.compose renders
the file from the pipeline's stages, and a test checks the committed file matches).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bundle.engine.base import DUT_DEVICE_IN_STAGE, Mount, StageSpec
from bundle.toolchain.pins import BUILDS, Build
from bundle.toolchain.compile_config import CompileConfig, compile_configs


@dataclass(frozen=True)
class StageContext:
    inputs: str          # fetched inputs (read-only in every stage)
    artifacts: str       # shared outputs
    dut_port: str        # host serial port of the DUT (a pty for the simulated DUT)
    probe_device: str    # host USB device of the flashing probe
    build: Build = BUILDS[0]
    run_id: str = "latest"
    compile: CompileConfig = compile_configs()[0]


@cache
def code_rel() -> str:
    """OctoML's code tree inside the fetch cache: the pinned files materialised under tree/."""
    from bundle.dut.native_project import CODE_PREFIX

    return f"tree/{CODE_PREFIX}".rstrip("/")


PUBLISHED_RESULTS = "/inputs/tree/published/octoml-v1.0/results"


def run_stage(ctx: StageContext, benchmark: str | None = None, mode: str = "accuracy",
              n: int | None = None, w: int | None = None, out: str | None = None,
              limit: int | None = None, baud: int = 115200, name: str = "run",
              stimuli: str | None = None, dut=None) -> StageSpec:
    """The runner against the DUT device. `ctx.inputs` is the fetch cache (read-only): the
    runner resolves stimuli through the fetch layer, verified against the lock in the image.
    `dut` (a bundle.dut.spec.DutSpec) says what is on the other end of the device when it is
    not a board: the runner cannot tell a pty from a board. It crosses into the stage as one
    spec file under ctx.artifacts (`dut-specs/`, written here), read by `run --dut-spec`."""
    benchmark = benchmark or ctx.build.benchmark
    out = out or f"/artifacts/runs/{ctx.run_id}/{benchmark}/{mode}"
    # A network port (a labgrid place's rfc2217:// URL) is reached over the network, not passed in.
    networked = "://" in ctx.dut_port
    command = ["python", "-m", "bundle", "run",
               "--port", ctx.dut_port if networked else DUT_DEVICE_IN_STAGE,
               "--benchmark", benchmark, "--mode", mode, "--out", out, "--cache", "/inputs",
               "--system", ctx.build.system, "--baud", str(baud)]
    written = ()
    if dut is not None and dut.kind != "board":
        rel = _write_dut_spec(ctx.artifacts, name, dut)
        command[4:4] = ["--dut-spec", f"/artifacts/{rel}"]
        written = (rel,)
    else:
        command[4:4] = ["--dut", "board"]
    if n is not None:
        command += ["--n", str(n), "--w", str(w or 0)]
    if limit:
        command += ["--limit", str(limit)]
    mounts = [Mount(ctx.inputs, "/inputs", True, include=_stimuli_in_cache(benchmark)),
              Mount(ctx.artifacts, "/artifacts", False,
                    include=((out[len("/artifacts/"):],) if out.startswith("/artifacts/") else ()) + written)]
    if stimuli:  # a prepared set (tinyrepro stimuli): host folder named after the dataset
        inside = f"/stimuli/{Path(stimuli).name}"
        command += ["--stimuli", inside]
        mounts.append(Mount(str(stimuli), inside, True))
    return StageSpec(
        name=name, image_target="runner", command=command,
        mounts=mounts,
        devices=[] if networked else [f"{ctx.dut_port}:{DUT_DEVICE_IN_STAGE}"], network=networked,
        timeout_s=6 * 3600,
    )


DUT_SPECS = "dut-specs"


def _write_dut_spec(artifacts: str, name: str, dut) -> str:
    """The spec file for the stage `name`, relative to the artifacts folder."""
    import re

    from bundle.dut.spec import write_spec

    rel = f"{DUT_SPECS}/{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.json"
    write_spec(Path(artifacts) / rel, dut)
    return rel


def _stimuli_in_cache(benchmark: str) -> tuple[str, ...]:
    """The cache paths the runner reads for the pinned stimuli (materialised tree and the
    verified objects behind it): all a remote engine needs to copy in (bundle/engine/remote.py)."""
    from bundle.fetch.lock import load_lock
    from bundle.published.parse import DATASET

    dataset = DATASET[benchmark]
    objects = sorted({f"sha256/{e.sha256}" for e in load_lock().under(f"datasets/{dataset}/")})
    return (f"tree/datasets/{dataset}", *objects)


def report_stage(ctx: StageContext, mode: str = "accuracy") -> StageSpec:
    b = ctx.build
    return StageSpec(
        name="report", image_target="runner",
        command=["python", "-m", "bundle", "diff",
                 "--published", f"{PUBLISHED_RESULTS}/{b.system}/{b.benchmark}/{mode}",
                 "--reproduced", f"/artifacts/runs/{ctx.run_id}/{b.benchmark}/{mode}",
                 "--labels", "/inputs/tree/datasets", "--dut-kind", "board", "--format", "table"],
        mounts=[Mount(ctx.inputs, "/inputs", True), Mount(ctx.artifacts, "/artifacts", True)],
        network=False, timeout_s=600,
    )
