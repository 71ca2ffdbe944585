"""The stages of `tinyrepro reproduce`, as functions: data in, data out.

Each returns its output (rows, paths, records) or raises StageUnavailable with the
reason it cannot run on this host; `bundle.pipeline.Pipeline` records either.
Only this module and the CLI know every part of the bundle.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bundle.config import BENCHMARKS, ReproduceConfig
from bundle.errors import ConfigError, ReproError, StageUnavailable
from bundle.pipeline import Pipeline, console
from bundle.published.parse import MODE_METRICS

PUBLISHED = "published/octoml-v1.0/"


@dataclass
class Context:
    cfg: ReproduceConfig
    run_dir: Path
    port: str | None
    engine: str
    base_image: str | None
    limit: int | None
    backends: list[str]
    inputs: dict | None = None
    rows: list[dict] = field(default_factory=list)
    run_dirs: list[dict] = field(default_factory=list)
    images: dict = field(default_factory=dict)
    upstream_block: str | None = None
    reachable: frozenset[str] = frozenset()
    offline: bool = False
    system: str = ""           # the build on the board (its N/W and build-chain stages)
    system_given: bool = False # --system: a board run is diffed against that system only
    engine_obj: object = None
    notes: list[str] = field(default_factory=list)
    dut_choice: object = None  # bundle.dut.select.DutChoice, once the run stage has chosen

    @property
    def dut_kind(self) -> str:
        return "board" if self.port else getattr(self.dut_choice, "kind", "sim")


# -- fetch and published ------------------------------------------------------------
def fetch_inputs(fetcher, cfg: ReproduceConfig) -> dict:
    out = {"published": fetcher.fetch_tree(PUBLISHED),
           "datasets": fetcher.fetch_tree("datasets/"),
           "models": fetcher.fetch_tree("models/"),
           "cache": fetcher.cache_dir}
    s = fetcher.stats
    out["details"] = {"from_cache": s.from_cache, "from_mirror": s.from_mirror, "downloaded": s.downloaded,
                      "mirror": str(fetcher.mirror) if fetcher.mirror else None}
    return out


def recompute_published(ctx: Context) -> list[dict]:
    from bundle.published import parse

    root = ctx.inputs["published"]
    ctx.notes += parse.system_notes(root)
    # One unreadable mode folder becomes rows saying so; the stage fails (exit 5) after the report.
    rows = parse.recompute_tree(root, ctx.inputs["datasets"], on_error="row")
    for row in rows:
        row["dut"] = "published logs"
    return rows


# -- images and the build chain -----------------------------------------------------
def probe_upstreams(ctx: Context) -> None:
    """Which pinned upstreams answer (doctor's checks); GitHub gates the build chain."""
    from bundle.doctor import check_network, reachable_upstreams

    if ctx.offline:
        # Not probed. Image builds still install from the package registries (as `make venv`
        # does); the pinned GitHub sources are what an offline run goes without.
        ctx.reachable = frozenset({"pypi", "debian"})
        ctx.upstream_block = "offline run (--offline): GitHub sources are not fetched"
        return
    checks = check_network()
    ctx.reachable = reachable_upstreams(checks)
    if "github" not in ctx.reachable:
        down = [c.detail for c in checks if not c.data.get("reachable")]
        ctx.upstream_block = "; ".join(down) or "github unreachable"


def _engine(ctx: Context):
    if ctx.engine_obj is None:
        from bundle.engine.base import get_engine

        kwargs = {"base_image": ctx.base_image} if ctx.base_image and ctx.engine != "local" else {}
        ctx.engine_obj = get_engine(ctx.engine, **kwargs)
    return ctx.engine_obj


def build_images(ctx: Context) -> dict:
    """Build what this host can (the runner image); say why the others are not built."""
    from bundle.engine.images import HostCaps, plan_images

    engine = _engine(ctx)
    if not engine.caps.needs_images:
        raise StageUnavailable("engine 'local' runs stages on this host: no images are built"
                               + ("" if ctx.engine == "local" else " (no Docker engine reachable)"))
    plans = {p.target: p for p in plan_images(HostCaps(docker=True, reachable=ctx.reachable))}
    built = {}
    for target, plan in plans.items():
        if not plan.buildable:
            ctx.notes.append(f"image {target}: not built: {plan.reason}")
            continue
        record, _rebuilt = engine.ensure_image(target)
        built[target] = record
    return {"built": built, "plans": plans,
            "details": {t: (vars(r) if r else None) for t, r in built.items()}
            | {f"{t} (skipped)": p.reason for t, p in plans.items() if not p.buildable}}


# stage -> (image it runs in, earlier stages whose output it consumes)
TOOLCHAIN = {
    "code": (None, ()),
    "compile": ("tvm", ()),
    "firmware": ("zephyr", ("code", "compile")),
    "flash": ("zephyr", ("firmware",)),
}
WHAT = {
    "code": "OctoML's generated model code and Zephyr projects (closed/OctoML/code/) are not in the mirror",
    "compile": "the tvm image (TVM built from source at e3a6cb6a) cannot be built",
    "firmware": "the zephyr image (Zephyr v2.7.3 + modules, SDK 0.13.2, pinned CMSIS) cannot be built",
}


def toolchain_stage(ctx: Context, name: str, ran: set[str]) -> dict:
    """code, compile, firmware, flash. The reason given is the root cause: the network first,
    then a missing board, image or earlier stage."""
    image, inputs_from = TOOLCHAIN[name]
    if name in WHAT and ctx.upstream_block:
        raise StageUnavailable(f"{WHAT[name]}: GitHub is not reachable from this host ({ctx.upstream_block})")
    if name == "flash" and not ctx.port:
        raise StageUnavailable("no board attached (pass PORT=/dev/ttyACM0 with a probe on USB); the software DUT needs no flashing")
    if image and image not in ctx.images.get("built", {}):
        plan = ctx.images.get("plans", {}).get(image)
        raise StageUnavailable(f"the {image} image is not available: {plan.reason if plan else 'images stage did not run'}")
    missing = [d for d in inputs_from if d not in ran]
    if missing:
        raise StageUnavailable(f"needs the output of stage(s) {', '.join(missing)}, which did not run")
    if name == "code":
        raise StageUnavailable("OctoML's generated code tree (closed/OctoML/code/) is not pinned file by file "
                               "in artifacts/lock.yaml yet, so there is no verified project to build")
    return _run_toolchain(ctx, name)


def _run_toolchain(ctx: Context, name: str) -> dict:
    """Run one build-chain stage, in its image, for every build of the selected system."""
    from bundle.builds import load_builds
    from bundle.toolchain.compile import compile_stage
    from bundle.toolchain.firmware import firmware_stage
    from bundle.toolchain.flash import flash_stage

    engine, inputs, out = _engine(ctx), str(ctx.inputs["cache"]), str(ctx.run_dir)
    make = {"compile": lambda b: compile_stage(b, inputs, out),
            "firmware": lambda b: firmware_stage(b, inputs, out),
            "flash": lambda b: flash_stage(b, out, os.environ.get("PROBE_DEVICE", "/dev/bus/usb"))}[name]
    builds = [b for b in load_builds() if b.system == ctx.system and not b.energy]
    if name == "flash":  # one board, one firmware at a time: the first offline benchmark's
        builds = [b for b in builds if b.benchmark == ctx.cfg.offline_benchmarks[0]]
    results = [engine.run(make(b)) for b in builds]
    return {"details": {"builds": [b.name for b in builds], "seconds": [round(r.duration_s, 1) for r in results]}}


# -- run ------------------------------------------------------------------------------
def _iterations(ctx: Context, benchmark: str, mode: str) -> tuple[int, int]:
    from bundle.builds import iterations

    return iterations(ctx.system, benchmark, mode)


def run_spec(ctx: Context, port: str, benchmark: str, mode: str, out: Path, label: str, sim: dict | None = None):
    """The run stage as data, from the same description compose/compose.yaml is rendered from."""
    from bundle.builds import load_builds
    from bundle.toolchain.stages import StageContext, run_stage

    n, w = _iterations(ctx, benchmark, mode)
    system = ctx.system
    build = next(b for b in load_builds() if b.system == system and b.benchmark == benchmark and not b.energy)
    sctx = StageContext(inputs=str(ctx.inputs["cache"]), artifacts=str(ctx.run_dir), dut_port=port,
                        probe_device="", build=build)
    return run_stage(sctx, benchmark, mode, n=n, w=w, out=f"/artifacts/{out.relative_to(ctx.run_dir)}",
                     limit=ctx.limit if mode == "accuracy" else None, baud=ctx.cfg.sim.baud,
                     name=f"run:{label}:{benchmark}:{mode}", sim=sim)


def _sim_pacing(ctx: Context, mode: str) -> dict:
    sim = ctx.cfg.sim
    if mode == "performance":
        return {"baud": sim.baud, "infer_ms": sim.performance_infer_ms}
    return {"baud": 0, "infer_ms": sim.accuracy_infer_ms}


def _run_one(ctx: Context, engine, label: str, benchmark: str, mode: str, out: Path, backend: str | None) -> dict:
    from bundle.builds import MODELS
    from bundle.dut.sim import SimProcess

    if backend == HOST_DUT:
        return _run_host(ctx, engine, label, benchmark, mode, out)
    out.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]{label}[/] {benchmark} {mode} -> {out}")
    if backend is None:
        result = engine.run(run_spec(ctx, ctx.port, benchmark, mode, out, label))
    else:
        pacing = _sim_pacing(ctx, mode)
        with SimProcess(backend=backend, benchmark=benchmark, model=ctx.inputs["models"] / MODELS[benchmark],
                        **pacing) as port:
            sim = {"dut_kind": "sim", "backend": backend, "infer_ms": pacing["infer_ms"]}
            result = engine.run(run_spec(ctx, port, benchmark, mode, out, label, sim=sim))
    return {"label": label, "benchmark": benchmark, "mode": mode, "dir": out,
            "dut_kind": "board" if backend is None else "sim", "backend": backend,
            "engine": result.engine, "image": vars(result.image) if result.image else None,
            "seconds": round(result.duration_s, 1)}


# -- the host DUT: the published firmware code compiled for this host (bundle/dut/host.py) --
HOST_DUT = "host"


def choose_dut(ctx: Context):
    """A board if given, else the published code on the host if reachable, else the sim; the
    report says which and why."""
    from bundle.dut.native_project import published_code_tree
    from bundle.dut.select import choose_dut as choose

    def fetch_code() -> Path:
        if not ctx.inputs:
            raise StageUnavailable("the fetch stage did not run")
        mirror = (ctx.inputs.get("details") or {}).get("mirror")
        offline = ctx.offline or bool(ctx.upstream_block)   # no GitHub: the cache or mirror only
        return published_code_tree(ctx.inputs["cache"], Path(mirror) if mirror else None, offline)

    if ctx.dut_choice is None:
        ctx.dut_choice = choose(ctx.port, fetch_code)
        ctx.notes.append(f"DUT: {ctx.dut_choice.kind}: {ctx.dut_choice.reason}")
    return ctx.dut_choice


def _run_host(ctx: Context, engine, label: str, benchmark: str, mode: str, out: Path) -> dict:
    from bundle.dut.host import HostDut
    from bundle.dut.native_project import BuildSpec, build_program, cmsis_tree

    out.mkdir(parents=True, exist_ok=True)
    variant, board = ctx.system.split("/")
    cache, mirror = ctx.inputs["cache"], (ctx.inputs.get("details") or {}).get("mirror")
    offline = ctx.offline or bool(ctx.upstream_block)
    built = build_program("host", BuildSpec(variant, board, benchmark), ctx.dut_choice.code_root, cache / "native",
                          cmsis=lambda: cmsis_tree(cache, Path(mirror) if mirror else None, offline))
    console.print(f"[bold]{label}[/] {benchmark} {mode} -> {out} ({built.project}, {built.digest})")
    with HostDut(program=built.program).open() as port:
        result = engine.run(run_spec(ctx, port, benchmark, mode, out, label,
                                     sim={"dut_kind": "host", "backend": f"{built.project}@{built.digest}"}))
    return {"label": label, "benchmark": benchmark, "mode": mode, "dir": out, "dut_kind": "host",
            "backend": HOST_DUT, "engine": result.engine, "image": vars(result.image) if result.image else None,
            "seconds": round(result.duration_s, 1)}


def _duts(ctx: Context) -> list[tuple[str, str | None]]:
    if ctx.port:
        return [("board", None)]
    if choose_dut(ctx).kind == "host":
        return [("host", HOST_DUT)]
    unknown = [b for b in ctx.backends if b not in ctx.cfg.sim.backends]
    if unknown:
        raise ConfigError(f"unknown software-DUT backend(s) {unknown}",
                          hint=f"configured: {', '.join(ctx.cfg.sim.backends)} (bundle/data/reproduce.yaml, sim.backends)")
    return [(f"sim-{b}", b) for b in ctx.backends]


def run_benchmarks(ctx: Context) -> list[dict]:
    """Run every offline benchmark and mode on the board, or on each software-DUT backend.
    One run failing (a backend that cannot start, a DUT fault) is recorded and the others go on."""
    engine = _engine(ctx)
    if engine.caps.needs_images and "runner" not in ctx.images.get("built", {}):
        ctx.notes.append("run: the runner image is not available, so the run stage ran on this host (engine local)")
        from bundle.engine.base import get_engine
        engine = get_engine("local")
    done = []
    for label, backend in _duts(ctx):
        for benchmark in ctx.cfg.offline_benchmarks:
            for mode in ctx.cfg.modes:
                out = ctx.run_dir / "runs" / label / benchmark / mode
                try:
                    done.append(_run_one(ctx, engine, label, benchmark, mode, out, backend))
                except ReproError as err:
                    status = "not run" if isinstance(err, StageUnavailable) else "FAILED"
                    ctx.notes.append(f"run {label} {benchmark} {mode}: {status}: {err}")
                    done.append({"label": label, "benchmark": benchmark, "mode": mode, "dir": None,
                                 "reason": f"{status}: {err.message}", "backend": backend,
                                 "dut_kind": "board" if backend is None else
                                 ("host" if backend == HOST_DUT else "sim")})
    if not any(d["dir"] for d in done):
        raise StageUnavailable("no DUT could run: " + "; ".join(d.get("reason", "") for d in done))
    return done


# -- diff and report -------------------------------------------------------------------
def _compare_with(ctx: Context, run: dict) -> tuple[list[str], str | None]:
    """The published systems a run is diffed against, and why its rows are informational."""
    if run["backend"] is None:
        return [ctx.system] if ctx.system_given else list(ctx.cfg.compare_systems), None
    if run["backend"] == HOST_DUT:   # that system's own code: its outputs are compared for real
        return [ctx.system], None
    backend = ctx.cfg.sim.backends[run["backend"]]
    return list(backend.compare_with), backend.informational


def _informational(row: dict, why: str) -> dict:
    """Keep the numbers, say what the verdict would have been, and never count it."""
    if row.get("verdict") in ("MATCH", "WITHIN_TOLERANCE", "DIFFERENT"):
        row["reason"] = f"informational ({why}); at the published precision: {row['verdict']}" + (
            f", {row['reason']}" if row.get("reason") else "")
        row["verdict"] = "NOT_COMPARABLE"
    return row


def diff_runs(ctx: Context) -> list[dict]:
    from bundle.diff import diff_mode_dirs

    rows = []
    for run in ctx.run_dirs:
        systems, why = _compare_with(ctx, run)
        for system in systems:
            published = ctx.inputs["published"] / "results" / system / run["benchmark"] / run["mode"]
            if run["dir"] is None:
                rows.append(_not_run(system, run["benchmark"], run["mode"], run["label"], run["reason"]))
                continue
            for row in diff_mode_dirs(published, run["dir"], ctx.inputs["datasets"], run["dut_kind"]):
                row.update(system=system, dut=run["label"])
                rows.append(_informational(row, why) if why else row)
    return rows


def _not_run(system: str, benchmark: str, mode: str, dut: str, reason: str) -> dict:
    return {"section": "reproduce", "system": system, "benchmark": benchmark, "mode": mode,
            "metric": ",".join(MODE_METRICS[mode]), "published": None, "reproduced": None,
            "verdict": "NOT_RUN", "reason": reason, "dut": dut}


def not_run_rows(ctx: Context) -> list[dict]:
    """Rows for what this host did not reproduce at all, each with its reason."""
    rows = []
    for system in ctx.cfg.compare_systems:
        for benchmark in BENCHMARKS:
            for mode in ("accuracy", "performance", "energy"):
                reason = None
                if benchmark not in ctx.cfg.offline_benchmarks:
                    reason = ctx.cfg.missing_stimuli_reason.get(benchmark, "stimuli not available")
                elif mode == "energy":
                    reason = ("energy mode needs an EMON (LPM01A) and an IO manager wired to the board; "
                              "the runner drives performance and accuracy over a direct DUT link only")
                elif mode not in ctx.cfg.modes:
                    reason = "mode not selected in the reproduce config"
                if reason:
                    rows.append(_not_run(system, benchmark, mode, ctx.dut_kind, reason))
    return rows


def write_report(ctx: Context, pipe: Pipeline) -> int:
    from dataclasses import asdict

    from bundle.report import exit_code_for, terminal_report, write_report as write_files

    stages = [asdict(r) for r in pipe.records]
    env = {"dut": ctx.dut_kind, "port": ctx.port, "engine": getattr(getattr(ctx.engine_obj, "caps", None), "name", ctx.engine),
           "backends": ctx.backends if ctx.dut_kind == "sim" else None,
           "dut_choice": getattr(ctx.dut_choice, "reason", None),
           "images": ctx.images.get("details") if ctx.images else None,
           "runs": [{k: str(v) if isinstance(v, Path) else v for k, v in r.items()} for r in ctx.run_dirs]}
    notes = list(ctx.notes)
    if ctx.dut_kind == "host":
        notes.insert(0, "no board attached: the published firmware code ran compiled for this host (host DUT); "
                        "its outputs are the code's own, its throughput is this CPU's and NOT_COMPARABLE")
    elif not ctx.port:
        notes.insert(0, "no board attached: a software DUT (sim) stood in; its throughput says nothing "
                        "about the board and is NOT_COMPARABLE")
    paths = write_files(ctx.rows, ctx.run_dir, "OctoML MLPerf Tiny v1.0: reproduction report",
                        notes, stages=stages, environment=env)
    print(terminal_report(ctx.rows, notes))
    for rec in pipe.records:
        print(f"  {rec.status:8} {rec.stage}{': ' + rec.reason if rec.reason else ''}")
    print(f"report: {paths['md']}  ({', '.join(str(p.name) for p in paths.values())})")
    return exit_code_for(ctx.rows)

