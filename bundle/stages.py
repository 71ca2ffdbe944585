"""The stages of `tinyrepro reproduce`, as functions: data in, data out.

Each returns its output (rows, paths, records) or raises StageUnavailable with the
reason it cannot run on this host; `bundle.pipeline.Pipeline` records either.
Only this module and the CLI know every part of the bundle.
"""
from __future__ import annotations

import contextlib
import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from bundle.config import BENCHMARKS, ReproduceConfig
from bundle.errors import ConfigError, ReproError, StageUnavailable
from bundle.fsutil import atomic_output
from bundle.pipeline import Pipeline, console
from bundle.published.parse import MODE_METRICS
from bundle import jsonout

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
    dut_request: str = "auto"  # auto (board, else host, else sim) or sim
    engine_obj: object = None
    energy_firmware: bool = False  # also build energy-mode firmware (-DENERGY_MODE=1)
    estimate: bool = True          # the estimate stage (latency of each build under the timing model)
    codediff_rows: list[dict] = field(default_factory=list)     # one per compared build
    firmware_records: list[dict] = field(default_factory=list)  # one per firmware built
    notes: list[str] = field(default_factory=list)
    stimuli: dict[str, Path] = field(default_factory=dict)        # benchmark -> prepared set folder
    stimuli_reasons: dict[str, str] = field(default_factory=dict)  # benchmark -> why it has none
    dut_choice: object = None  # bundle.dut.select.DutChoice, once the run stage has chosen
    progress: object = None    # bundle.progress.PipelineProgress: the one live display
    stage_cache: object = None # bundle.stagecache.StageCache: reuse what nothing changed
    coordinator: str | None = None  # labgrid coordinator HOST:PORT (bundle/lab/)
    places: list[str] = field(default_factory=list)  # labgrid places to acquire and run on

    @property
    def dut_kind(self) -> str:
        return "board" if self.port or self.places else getattr(self.dut_choice, "kind", "sim")


# -- fetch and published ------------------------------------------------------------
def fetch_inputs(fetcher, cfg: ReproduceConfig) -> dict:
    out = {"published": fetcher.fetch_tree(PUBLISHED),
           "blobs_missing": fetcher.fetch_blobs(PUBLISHED)[1],
           "datasets": fetcher.fetch_tree("datasets/"),
           "models": fetcher.fetch_tree("models/"),
           "cache": fetcher.cache_dir}
    s = fetcher.stats
    out["details"] = {"from_cache": s.from_cache, "from_mirror": s.from_mirror, "downloaded": s.downloaded,
                      "mirror": str(fetcher.mirror) if fetcher.mirror else None}
    return out


def _cached(ctx: Context, stage: str, inputs, compute):
    """compute() unless the stage cache holds its result for these inputs."""
    cache = ctx.stage_cache
    if cache is None:
        return compute()
    key = cache.key(stage, inputs() if callable(inputs) else inputs)
    hit = cache.get(stage, key)
    if hit is not None:
        return hit
    result = compute()
    cache.put(stage, key, result)
    return result


def recompute_published(ctx: Context) -> list[dict]:
    from bundle import stagekeys

    def compute() -> dict:
        notes: list[str] = []
        return {"rows": _recompute_published(ctx, notes), "notes": notes}

    out = _cached(ctx, "published-recompute", lambda: stagekeys.published_recompute(ctx), compute)
    ctx.notes += out["notes"]
    return out["rows"]


def _recompute_published(ctx: Context, notes: list[str]) -> list[dict]:
    from bundle.published import parse

    root = ctx.inputs["published"]
    notes += parse.system_notes(root)
    for _rel, why in (ctx.inputs.get("blobs_missing") or {}).items():
        notes.append(f"not fetched (pinned by git blob id): {why}")   # the message names the file
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
        if target == "tvm" and plan.buildable:
            plan = plans[target] = _tvm_image(ctx, engine, plan)
        if not plan.buildable:
            ctx.notes.append(f"image {target}: not built: {plan.reason}")
            continue
        record = engine._images.get(target) or engine.ensure_image(target)[0]
        built[target] = record
    return {"built": built, "plans": plans,
            "details": {t: (vars(r) if r else None) for t, r in built.items()}
            | {f"{t} (skipped)": p.reason for t, p in plans.items() if not p.buildable}}


def _tvm_image(ctx: Context, engine, plan):
    """The tvm image when its (long, resumable) build has finished; it is never started here:
    `make tvm-image` does that. Otherwise the plan says how far the build is."""
    from dataclasses import replace

    from bundle.errors import ReproError
    from bundle.toolchain.tvm_image import TvmImage, find_built

    cache, mirror, offline = _code_source(ctx)
    try:
        tvm = TvmImage(engine, cache, mirror, offline)
        state = tvm.state()
        if not state.done:
            return replace(plan, buildable=False, reason=state.describe())
        image = find_built(engine.client, tvm.plan, current_script=True) \
            or tvm.final_image(tvm.builder(), sink=lambda line: None)
        engine.use_image("tvm", image)
    except ReproError as err:
        return replace(plan, buildable=False, reason=f"the tvm image cannot be made: {err.message}")
    return plan


# stage -> (image it runs in, earlier stages whose output it consumes)
TOOLCHAIN = {
    "code": (None, ("fetch",)),     # pinned file by file with the published tree
    "compile": ("tvm", ()),
    "codediff": (None, ("code", "compile")),
    "firmware": ("zephyr", ("code",)),
    "flash": ("zephyr", ("firmware",)),
}
WHAT = {
    "compile": "the tvm image (TVM built from source at e3a6cb6a) cannot be built",
    "firmware": "the zephyr image (Zephyr v2.7.3 + modules, SDK 0.13.2, pinned CMSIS) cannot be built",
}


def _code_source(ctx: Context) -> tuple[Path, Path | None, bool]:
    """(cache, mirror, offline) for git-pinned trees: without GitHub, the cache or mirror only."""
    inputs = ctx.inputs or {}
    mirror = (inputs.get("details") or {}).get("mirror")
    return (Path(inputs.get("cache") or "."), Path(mirror) if mirror else None,
            ctx.offline or bool(ctx.upstream_block))


def code_available(ctx: Context) -> bool:
    """OctoML's code tree is pinned file by file under the published tree: the fetch stage
    (cache, mirror or GitHub) brought it."""
    published = (ctx.inputs or {}).get("published")
    return bool(published) and (Path(published) / "code").is_dir()


def toolchain_blocker(ctx: Context, name: str, ran: set[str]) -> str:
    """Why a build-chain stage cannot run here ("" when it can). The root cause comes first:
    the network, then a missing board or probe runner, image or earlier stage."""
    from bundle.toolchain.config import compile_configs
    from bundle.toolchain.flash import RUNNERS

    image, inputs_from = TOOLCHAIN[name]
    if name == "firmware" and ctx.upstream_block:   # the zephyr image fetches from GitHub
        return f"{WHAT[name]}: GitHub is not reachable from this host ({ctx.upstream_block})"
    if name == "flash":
        if ctx.places and not ctx.port:
            return ("flashing through labgrid is not implemented: flash each place's board on its host "
                    "(west flash) and tag the place with the variant and benchmark it carries")
        if not ctx.port:
            return "no board attached (pass PORT=/dev/ttyACM0 with a probe on USB); the software DUT needs no flashing"
        board = next((c.zephyr_board for c in compile_configs() if c.system == ctx.system), None)
        runner = RUNNERS.get(board)
        if runner and runner.runner == "nrfjprog":
            return ("the nRF5340-DK flashes with nrfjprog (J-Link), which is proprietary and not in the zephyr "
                    "image; flash it from the host: west flash --runner nrfjprog --recover")
    if image and image not in ctx.images.get("built", {}):
        plan = ctx.images.get("plans", {}).get(image)
        return f"the {image} image is not available: {plan.reason if plan else 'images stage did not run'}"
    missing = [d for d in inputs_from if d not in ran]
    if missing:
        return f"needs the output of stage(s) {', '.join(missing)}, which did not run"
    return ""


def toolchain_stage(ctx: Context, name: str, ran: set[str]) -> dict:
    """code, compile, codediff, firmware, flash: run, or NOT_RUN with the root cause."""
    reason = toolchain_blocker(ctx, name, ran)
    if reason:
        raise StageUnavailable(reason)
    return _TOOLCHAIN_RUN[name](ctx, ran)


def _toolchain_dir(ctx: Context) -> Path:
    out = ctx.run_dir / "toolchain"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _fetch_code(ctx: Context, ran: set[str]) -> dict:
    """The code tree came with the published tree (fetch stage), each file SHA-256 verified
    against the lock, which is its manifest."""
    tree = Path(ctx.inputs["published"]) / "code"
    ctx.inputs["code"] = tree
    files = sum(1 for p in tree.rglob("*") if p.is_file())
    return {"details": {"tree": str(tree), "files": files, "manifest": "artifacts/lock.yaml (files: under "
                                                                       f"{PUBLISHED}code/)"}}


def _compile_all(ctx: Context, ran: set[str]) -> dict:
    from bundle.toolchain.compile import compile_stage
    from bundle.toolchain.config import compile_configs

    from bundle import stagekeys

    engine, inputs, out = _engine(ctx), str(ctx.inputs["cache"]), str(ctx.run_dir)
    configs, builds, cache = compile_configs(), ctx.run_dir / "builds", ctx.stage_cache
    image = (ctx.images.get("details") or {}).get("tvm", {}).get("image_id")
    key = cache.key("compile", stagekeys.compile_models(configs, image)) if cache and image else None
    hit = cache.get("compile", key, files_to=builds) if key else None
    if hit is not None:   # the same image compiling the same models: the MLF archives come back
        return {"details": {**hit, "reused": True}}
    done = {}
    for cfg in configs:   # one progress item per model (the display), its seconds recorded
        result = engine.run(compile_stage(cfg, inputs, out), on_line=_stage_sink(ctx, "compile", cfg.name))
        done[cfg.name] = round(result.duration_s, 1)
    if key:
        cache.put("compile", key, {"seconds": done}, files_from=builds)
    return {"details": {"seconds": done}}


def _codediff_all(ctx: Context, ran: set[str]) -> dict:
    """A row per build, appended to toolchain/codediff.jsonl as each one is compared."""
    import tempfile

    from bundle.toolchain.codediff import compare_trees, extract_mlf
    from bundle.toolchain.config import compile_configs

    from bundle.toolchain.regenerated import regenerated_tree

    out = _toolchain_dir(ctx)
    rows = []
    for cfg in compile_configs():
        with tempfile.TemporaryDirectory() as tmp:
            regenerated = extract_mlf(ctx.run_dir / "builds" / cfg.name / "model.tar", Path(tmp) / "mlf")
            row = compare_trees(cfg.name, ctx.inputs["code"] / cfg.code_path / "model", regenerated,
                                out / "codediff" / f"{cfg.name}.diff", cfg.workspace_size)
        with open(out / "codediff.jsonl", "a") as fh:
            fh.write(jsonout.dumps(row) + "\n")
        rows.append(row)
        ctx.codediff_rows.append(row)
    # The published projects with the regenerated model code swapped in: the host DUT runs them
    # beside the published code ("host-regenerated").
    ctx.inputs["regenerated_code"] = regenerated_tree(
        ctx.inputs["code"], [(c.code_path, ctx.run_dir / "builds" / c.name / "model.tar") for c in compile_configs()],
        ctx.run_dir / "code")
    return {"details": {r["build"]: r["verdict"] for r in rows}}


def _firmware_all(ctx: Context, ran: set[str]) -> dict:
    """Each build twice; the regenerated model is swapped in when the compile stage ran."""
    from bundle.toolchain.config import compile_configs
    from bundle.toolchain.firmware import firmware_record, firmware_stage
    from bundle.toolchain.stages import code_rel

    engine, inputs, out = _engine(ctx), str(ctx.inputs["cache"]), _toolchain_dir(ctx)
    swap = "compile" in ran
    details = {}
    (out / "firmware").mkdir(exist_ok=True)
    for energy in (False, True) if ctx.energy_firmware else (False,):
        for cfg in compile_configs():
            engine.run(firmware_stage(cfg, inputs, str(ctx.run_dir), code_rel(), energy=energy, swap_model=swap),
                       on_line=_stage_sink(ctx, "firmware", cfg.name + ("-energy" if energy else "")))
            work = ctx.run_dir / "firmware" / (cfg.name + ("-energy" if energy else ""))
            record = firmware_record(cfg, work, energy=energy, swapped=swap)
            with atomic_output(out / "firmware" / f"{record['build']}.json") as tmp:
                tmp.write_text(jsonout.dumps(record, indent=2) + "\n")
            ctx.firmware_records.append(record)
            details[record["build"]] = {"elf_sha256": record["elf_sha256"], "reproducible": record["reproducible"]}
    return {"details": details}


def _flash_one(ctx: Context, ran: set[str]) -> dict:
    """One board, one firmware: the selected system's first offline benchmark."""
    from bundle.toolchain.config import compile_configs
    from bundle.toolchain.flash import flash_error, flash_stage

    bench = ctx.cfg.offline_benchmarks[0]
    cfg = next((c for c in compile_configs() if c.system == ctx.system and c.benchmark == bench), None)
    if cfg is None:
        raise ConfigError(f"no compile configuration for {ctx.system} {bench}",
                          hint="see bundle/data/compile.yaml for the published builds")
    result = _engine(ctx).run(flash_stage(cfg, str(ctx.run_dir), os.environ.get("PROBE_DEVICE", "/dev/bus/usb")),
                              on_line=_stage_sink(ctx, "flash", cfg.name), check=False)
    if not result.ok:
        raise flash_error("\n".join(result.output_tail), result.exit_code)
    return {"details": {"build": cfg.name, "seconds": round(result.duration_s, 1)}}


_TOOLCHAIN_RUN = {"code": _fetch_code, "compile": _compile_all, "codediff": _codediff_all,
                  "firmware": _firmware_all, "flash": _flash_one}


# -- stimuli --------------------------------------------------------------------------
def stimuli_sets(ctx: Context) -> list[str]:
    """The derived stimulus sets (ic01, vww01, ad01) of benchmarks not pinned as files."""
    from bundle.stimuli import SETS

    return [name for name, s in SETS.items() if s.benchmark not in ctx.cfg.offline_benchmarks]


def stimuli_stage(ctx: Context, fetcher, name: str) -> dict:
    """Prepare one set (or find it prepared); NOT_RUN with the reason when its source archive
    cannot be had here (offline, download failed, pin UNSET). The run stage then includes its
    benchmark; a set that fails (wrong archive, corrupt member) is FAILED and the others go on."""
    from bundle.stimuli import SETS, prepare

    benchmark = SETS[name].benchmark
    try:
        result = prepare(name, fetcher)
    except ReproError as err:
        ctx.stimuli_reasons[benchmark] = f"stimuli: {name} preparation failed: {err.message}"
        raise
    if result.status != "READY":
        base = ctx.cfg.missing_stimuli_reason.get(benchmark, f"stimuli not available: {name}")
        ctx.stimuli_reasons[benchmark] = f"{base} (tinyrepro stimuli: {result.reason})"
        raise StageUnavailable(f"{name}: {result.reason}")
    ctx.stimuli[benchmark] = result.dir
    ctx.notes.append(f"stimuli {name}: {result.files} files in {result.dir}, manifest {result.manifest} "
                     f"(sha256 {result.manifest_sha256})"
                     + (f", source archive sha256 {result.archive_sha256}" if result.archive_sha256 else ""))
    return {"details": result.summary()}


# -- run ------------------------------------------------------------------------------
def _iterations(ctx: Context, benchmark: str, mode: str, system: str | None = None) -> tuple[int, int]:
    from bundle.builds import iterations

    return iterations(system or ctx.system, benchmark, mode)


def run_spec(ctx: Context, port: str, benchmark: str, mode: str, out: Path, label: str, sim: dict | None = None,
             system: str | None = None):
    """The run stage as data, from the same description compose/compose.yaml is rendered from."""
    from bundle.builds import load_builds
    from bundle.toolchain.stages import StageContext, run_stage

    system = system or ctx.system
    n, w = _iterations(ctx, benchmark, mode, system)
    build = next(b for b in load_builds() if b.system == system and b.benchmark == benchmark and not b.energy)
    sctx = StageContext(inputs=str(ctx.inputs["cache"]), artifacts=str(ctx.run_dir), dut_port=port,
                        probe_device="", build=build)
    prepared = ctx.stimuli.get(benchmark)
    return run_stage(sctx, benchmark, mode, n=n, w=w, out=f"/artifacts/{out.relative_to(ctx.run_dir)}",
                     limit=ctx.limit if mode == "accuracy" else None, baud=ctx.cfg.sim.baud,
                     name=f"run:{label}:{benchmark}:{mode}", sim=sim,
                     stimuli=str(prepared) if prepared else None)


def _sim_pacing(ctx: Context, mode: str) -> dict:
    sim = ctx.cfg.sim
    if mode == "performance":
        return {"baud": sim.performance_baud, "infer_ms": sim.performance_infer_ms}
    return {"baud": 0, "infer_ms": sim.accuracy_infer_ms}


def _cached_run(ctx: Context, label: str, backend: str | None, benchmark: str, mode: str, out: Path,
                dut: dict, run) -> dict:
    """A software or host DUT's run, reused when nothing it reads changed (a board's never:
    the board is the thing measured)."""
    from bundle import stagekeys

    cache = ctx.stage_cache
    if cache is None or backend is None:
        return run()
    key = cache.key("run", stagekeys.run(ctx, label, backend, benchmark, mode, dut))
    hit = cache.get("run", key, files_to=out)
    if hit is not None:
        _run_sink(ctx, label, benchmark, mode, out)(
            f"reused from the stage cache ({cache.root / 'run' / key}): nothing this run reads changed")
        return {**hit, "dir": out, "cached": True}
    record = run()
    cache.put("run", key, {k: (None if k == "dir" else v) for k, v in record.items()}, files_from=out)
    return record


def _run_one(ctx: Context, engine, label: str, benchmark: str, mode: str, out: Path, backend: str | None,
             system: str | None = None) -> dict:
    if backend == HOST_DUT:
        return _run_host(ctx, engine, label, benchmark, mode, out, system)
    dut = {"kind": "sim", "pacing": _sim_pacing(ctx, mode)} if backend else {"kind": "board"}
    return _cached_run(ctx, label, backend, benchmark, mode, out, dut,
                       lambda: _run_sim_or_board(ctx, engine, label, benchmark, mode, out, backend))


def _run_sim_or_board(ctx: Context, engine, label: str, benchmark: str, mode: str, out: Path,
                      backend: str | None) -> dict:
    from bundle.builds import MODELS
    from bundle.dut.sim import SimProcess

    out.mkdir(parents=True, exist_ok=True)
    sink = _run_sink(ctx, label, benchmark, mode, out)
    if backend is None:
        result = engine.run(run_spec(ctx, ctx.port, benchmark, mode, out, label), on_line=sink)
    else:
        pacing = _sim_pacing(ctx, mode)
        with SimProcess(backend=backend, benchmark=benchmark, model=ctx.inputs["models"] / MODELS[benchmark],
                        **pacing) as port:
            sim = {"dut_kind": "sim", "backend": backend, "infer_ms": pacing["infer_ms"]}
            result = engine.run(run_spec(ctx, port, benchmark, mode, out, label, sim=sim), on_line=sink)
    return {"label": label, "benchmark": benchmark, "mode": mode, "dir": out,
            "dut_kind": "board" if backend is None else "sim", "backend": backend,
            "engine": result.engine, "image": vars(result.image) if result.image else None,
            "seconds": round(result.duration_s, 1)}


def _progress(ctx: Context):
    if ctx.progress is None:
        from bundle.progress import quiet

        ctx.progress = quiet(console)
    return ctx.progress


def _stage_sink(ctx: Context, stage: str, item: str):
    """A build-chain stage's output: <run_dir>/logs/<stage>-<item>.log (streamed with -v)."""
    progress = _progress(ctx)
    progress.item(item)
    return progress.output_sink(ctx.run_dir / "logs" / f"{stage}-{item}.log", f"{stage} {item}")


def _run_sink(ctx: Context, label: str, benchmark: str, mode: str, out: Path):
    """The run's own output lines go to <run_dir>/logs/<label>[-<system>]-<benchmark>-<mode>.log (streamed
    with -v; beside the runner's folder, which is the runner's alone); the display shows the
    run and its stimulus count."""
    try:    # runs/<label>[/<system>]/<benchmark>/<mode>: the host DUT runs one per system
        parts = out.relative_to(ctx.run_dir / "runs").parts
    except ValueError:
        parts = (label, benchmark, mode)
    progress = _progress(ctx)
    progress.item(" ".join(parts))
    return progress.output_sink(ctx.run_dir / "logs" / ("-".join(parts).replace("/", "-") + ".log"), " ".join(parts))


# -- the host DUT: the published firmware code compiled for this host (bundle/dut/host.py) --
HOST_DUT = "host"
HOST_REGENERATED = "host-regenerated"


def choose_dut(ctx: Context):
    """A board if given, else the published code on the host if reachable, else the sim; the
    report says which and why."""
    from bundle.dut.select import choose_dut as choose

    def fetch_code() -> Path:
        if not code_available(ctx):
            raise StageUnavailable("the fetch stage did not bring the code tree (published/octoml-v1.0/code/)")
        return Path(ctx.inputs["published"]) / "code"

    if ctx.dut_choice is None:
        ctx.dut_choice = choose(ctx.port, fetch_code, requested=ctx.dut_request)
        ctx.notes.append(f"DUT: {ctx.dut_choice.kind}: {ctx.dut_choice.reason}")
    return ctx.dut_choice


def _run_host(ctx: Context, engine, label: str, benchmark: str, mode: str, out: Path, system: str) -> dict:
    from bundle.dut.host import HostDut
    from bundle.dut.native_project import BuildSpec, build_program, cmsis_tree

    out.mkdir(parents=True, exist_ok=True)
    variant, board = system.split("/")
    cache, mirror, offline = _code_source(ctx)
    code_root = ctx.inputs["regenerated_code"] if label == HOST_REGENERATED else ctx.dut_choice.code_root
    built = build_program("host", BuildSpec(variant, board, benchmark), code_root, cache / "native",
                          cmsis=lambda: cmsis_tree(cache, mirror, offline))

    def run() -> dict:
        sink = _run_sink(ctx, label, benchmark, mode, out)
        sink(f"host DUT program: {built.project}, {built.digest}")
        with HostDut(program=built.program).open() as port:
            result = engine.run(run_spec(ctx, port, benchmark, mode, out, label,
                                         sim={"dut_kind": "host", "backend": f"{built.project}@{built.digest}"},
                                         system=system),
                                on_line=sink)
        return {"label": label, "system": system, "benchmark": benchmark, "mode": mode, "dir": out,
                "dut_kind": "host", "backend": HOST_DUT, "engine": result.engine,
                "image": vars(result.image) if result.image else None, "seconds": round(result.duration_s, 1)}

    return _cached_run(ctx, label, HOST_DUT, benchmark, mode, out,
                       {"kind": "host", "project": built.project, "program": built.digest}, run)


def _duts(ctx: Context) -> list[tuple[str, str | None]]:
    """The board; else the host DUT (when the published code is there) and the software DUT
    beside it as a cross-check; else the software DUT."""
    if ctx.port:
        return [("board", None)]
    host = [("host", HOST_DUT)] if choose_dut(ctx).kind == "host" else []
    if host and (ctx.inputs or {}).get("regenerated_code"):
        # The compile stage's code too, when it ran: the regenerated model in the same projects.
        host.append((HOST_REGENERATED, HOST_DUT))
    unknown = [b for b in ctx.backends if b not in ctx.cfg.sim.backends]
    if unknown:
        raise ConfigError(f"unknown software-DUT backend(s) {unknown}",
                          hint=f"configured: {', '.join(ctx.cfg.sim.backends)} (bundle/data/reproduce.yaml, sim.backends)")
    return host + [(f"sim-{b}", b) for b in ctx.backends]


def _run_plan(ctx: Context) -> list[tuple[str, str | None, str | None, str, str]]:
    """(label, backend, system, benchmark, mode) of every run. The host DUT runs each compared
    system's own code, in accuracy mode: its times are this CPU's, latency comes from QEMU
    (stage latency). The board and the sims run every configured mode."""
    plan = []
    for label, backend in _duts(ctx):
        for benchmark in runnable_benchmarks(ctx):
            if backend == HOST_DUT:
                plan += [(label, backend, system, benchmark, "accuracy") for system in ctx.cfg.compare_systems
                         if "accuracy" in ctx.cfg.modes]
            else:
                plan += [(label, backend, None, benchmark, mode) for mode in ctx.cfg.modes]
    return plan


def _run_dir(ctx: Context, label: str, system: str | None, benchmark: str, mode: str) -> Path:
    base = ctx.run_dir / "runs" / label
    return (base / system / benchmark / mode) if system else (base / benchmark / mode)


def runnable_benchmarks(ctx: Context) -> list[str]:
    """Pinned-stimuli benchmarks, then those whose derived stimuli were prepared."""
    return list(ctx.cfg.offline_benchmarks) + [b for b in BENCHMARKS
                                               if b in ctx.stimuli and b not in ctx.cfg.offline_benchmarks]


def run_benchmarks(ctx: Context) -> list[dict]:
    """Run every offline benchmark and mode on the board, or on each software-DUT backend.
    One run failing (a backend that cannot start, a DUT fault) is recorded and the others go on."""
    engine = _engine(ctx)
    if engine.caps.needs_images and "runner" not in ctx.images.get("built", {}):
        ctx.notes.append("run: the runner image is not available, so the run stage ran on this host (engine local)")
        from bundle.engine.base import get_engine
        engine = get_engine("local")
    if ctx.places:
        from bundle.lab.run import run_on_places
        return run_on_places(ctx, engine, runnable_benchmarks(ctx))
    done = []
    for label, backend, system, benchmark, mode in _run_plan(ctx):
        out = _run_dir(ctx, label, system, benchmark, mode)
        try:
            done.append(_run_one(ctx, engine, label, benchmark, mode, out, backend, system))
        except ReproError as err:
            status = "not run" if isinstance(err, StageUnavailable) else "FAILED"
            ctx.notes.append(f"run {label} {system or ''} {benchmark} {mode}: {status}: {err}")
            done.append({"label": label, "system": system, "benchmark": benchmark, "mode": mode, "dir": None,
                         "reason": f"{status}: {err.message}", "backend": backend,
                         "dut_kind": "board" if backend is None else
                         ("host" if backend == HOST_DUT else "sim")})
    if not any(d["dir"] for d in done):
        raise StageUnavailable("no DUT could run: " + "; ".join(d.get("reason", "") for d in done))
    reused = sum(1 for d in done if d.get("cached"))
    if reused:
        ctx.notes.append(f"run: {reused} of {len(done)} runs reused from the stage cache (nothing they read "
                         "changed); `tinyrepro reproduce --force run` runs them again")
    return done


# -- latency: every published build on the qemu DUT -----------------------------------
def latency_builds() -> list[str]:
    """The 12 published builds, <variant>/<board>/<benchmark> as the code tree names them."""
    from bundle.toolchain.config import compile_configs

    return [f"{c.variant}/{c.board}/{c.benchmark}" for c in compile_configs()]


def latency_blocker(ctx: Context) -> str:
    """Why the latency stage cannot run here ("" when it can)."""
    import shutil

    if ctx.port:
        return "a board is attached: the run stage measures its latency"
    if ctx.dut_request == "sim":
        return "the software DUT only was asked for (--dut sim / --backends)"
    missing = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm") if shutil.which(t) is None]
    return f"{', '.join(missing)} not installed (the qemu DUT needs them: make deps)" if missing else ""


def qemu_latency(ctx: Context) -> list[dict]:
    """Performance mode of each published build on QEMU: one emulated latency estimate per build,
    a row beside the published latency (NOT_COMPARABLE: instructions at 1 IPC are not the board).
    A build that fails is a row saying why; the others go on."""
    reason = latency_blocker(ctx)
    if reason:
        raise StageUnavailable(reason, hint="make deps installs the cross compiler and QEMU")
    if not code_available(ctx):
        raise StageUnavailable("the published code tree was not fetched (fetch stage)")
    from bundle import stagekeys

    builds, root, cache = latency_builds(), ctx.run_dir / "runs" / "qemu", ctx.stage_cache
    key = cache.key("latency", stagekeys.latency(ctx, builds)) if cache else None
    hit = cache.get("latency", key, files_to=root) if cache else None
    if hit is not None:   # the QEMU runs' folders come back with the rows
        ctx.notes += hit["notes"]
        ctx.run_dirs += [{**d, "dir": root / d["dir"]} for d in hit["run_dirs"]]
        return hit["rows"]
    notes_at, dirs_at = len(ctx.notes), len(ctx.run_dirs)
    rows = [_latency_row(ctx, build) for build in builds]
    if not any(r["reproduced"] is not None for r in rows):
        ctx.rows += rows
        raise StageUnavailable("no build ran on QEMU: " + "; ".join(r["reason"] for r in rows[:3]))
    if cache and all(r["verdict"] != "NOT_RUN" for r in rows):   # a failed build may be the machine's fault: retried
        dirs = [{**d, "dir": str(Path(d["dir"]).relative_to(root))} for d in ctx.run_dirs[dirs_at:]]
        cache.put("latency", key, {"rows": rows, "notes": ctx.notes[notes_at:], "run_dirs": dirs}, files_from=root)
    return rows


class _LineWriter(io.TextIOBase):
    """A text stream that hands each complete line to a sink (a stage's log)."""

    def __init__(self, sink):
        self._sink, self._part = sink, ""

    def write(self, text: str) -> int:
        lines = (self._part + text).split("\n")
        self._part = lines.pop()
        for line in lines:
            self._sink(line)
        return len(text)

    def flush(self) -> None:
        if self._part:
            self._sink(self._part)
            self._part = ""


def _latency_row(ctx: Context, build: str) -> dict:
    from bundle.cli import build_parser
    from bundle.commands.run import execute
    from bundle.dut.native_project import BuildSpec

    spec = BuildSpec.parse(build)
    cache, mirror, offline = _code_source(ctx)
    out = ctx.run_dir / "runs" / "qemu" / spec.system / spec.benchmark / "performance"
    argv = ["run", "--dut", "qemu", "--build", build, "--mode", "performance", "--out", str(out),
            "--code", str(Path(ctx.inputs["published"]) / "code"), "--cache", str(cache)]
    argv += ["--mirror", str(mirror)] if mirror else []
    argv += ["--offline"] if offline else []
    if ctx.stimuli.get(spec.benchmark):
        argv += ["--stimuli", str(ctx.stimuli[spec.benchmark])]
    row = {"section": "reproduce", "dut": "qemu", "system": spec.system, "benchmark": spec.benchmark,
           "mode": "performance", "metric": "latency_ms", "published": None, "reproduced": None}
    lines = _LineWriter(_stage_sink(ctx, "latency", build.replace("/", "-")))
    try:
        with contextlib.redirect_stdout(lines):   # the run command's own lines: to its log
            outcome = execute(build_parser().parse_args(argv))
    except ReproError as err:
        ctx.notes.append(f"latency qemu {build}: {err}")
        return {**row, "verdict": "NOT_RUN", "reason": f"qemu run failed: {err.message}"}
    finally:
        lines.flush()
    est = outcome["estimate"] or {}
    ctx.run_dirs.append({"label": "qemu", "system": spec.system, "benchmark": spec.benchmark,
                         "mode": "performance", "dir": out, "dut_kind": "emulated", "backend": "qemu",
                         "latency_only": True})
    if est.get("estimate_ms") is None:
        return {**row, "verdict": "NOT_RUN", "reason": est.get("line", "no median throughput")}
    ratio = f"ratio {est['ratio']:.3f}" if est.get("ratio") else "no published latency"
    return {**row, "published": est["published_ms"], "reproduced": est["estimate_ms"], "ratio": est.get("ratio"),
            "verdict": "NOT_COMPARABLE",
            "reason": f"emulated estimate, not a measurement ({ratio}; {est['emulation']}); input: {outcome['input']}"}


# -- diff and report -------------------------------------------------------------------
def _compare_with(ctx: Context, run: dict) -> tuple[list[str], str | None]:
    """The published systems a run is diffed against, and why its rows are informational."""
    if run.get("place"):     # a labgrid place runs the system its tags name
        return [run["system"]], None
    if run["backend"] is None:
        return [ctx.system] if ctx.system_given else list(ctx.cfg.compare_systems), None
    if run["backend"] == HOST_DUT:   # that system's own code: its outputs are compared for real
        return [run.get("system") or ctx.system], None
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
    from bundle import stagekeys

    return _cached(ctx, "diff", lambda: stagekeys.diff(ctx), lambda: _diff_runs(ctx))


def _diff_runs(ctx: Context) -> list[dict]:
    from bundle.diff import diff_mode_dirs

    rows = []
    for run in ctx.run_dirs:
        if run.get("latency_only"):   # its row is the latency stage's
            continue
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
                published = (ctx.inputs or {}).get("published")
                if published and not (Path(published) / "results" / system / benchmark / mode).is_dir():
                    reason = f"nothing to reproduce: no {mode} run of this system was published"
                elif benchmark not in ctx.cfg.offline_benchmarks and benchmark not in ctx.stimuli:
                    reason = ctx.stimuli_reasons.get(benchmark) or \
                        ctx.cfg.missing_stimuli_reason.get(benchmark, "stimuli not available")
                elif mode == "energy":
                    reason = ("energy mode needs an EMON (LPM01A) and an IO manager wired to the board; "
                              "the runner drives performance and accuracy over a direct DUT link only")
                elif mode not in ctx.cfg.modes:
                    reason = "mode not selected in the reproduce config"
                if reason:
                    rows.append(_not_run(system, benchmark, mode, ctx.dut_kind, reason))
    return rows


def _stage_reason(pipe: Pipeline, name: str) -> str:
    rec = next((r for r in pipe.records if r.stage == name), None)
    if rec is None:
        return f"stage {name} was not reached"
    return rec.reason or rec.status


def code_diff_section(ctx: Context, pipe: Pipeline) -> list[dict]:
    """A row per published build: byte-identical, equivalent or different, else NOT_RUN and why."""
    from bundle.toolchain.config import compile_configs

    done = {r["build"]: r for r in ctx.codediff_rows}
    rows = []
    for cfg in compile_configs():
        r = done.get(cfg.name)
        rows.append({"build": cfg.name, "verdict": r["verdict"], "files": r["files"],
                     "byte_identical": r["byte_identical"], "cause": "; ".join(r.get("causes") or []),
                     "detail": r["diff"] or ""} if r else
                    {"build": cfg.name, "verdict": "NOT_RUN", "files": None, "byte_identical": None,
                     "cause": "", "detail": _stage_reason(pipe, "codediff")})
    return rows


def firmware_section(ctx: Context, pipe: Pipeline) -> list[dict]:
    """A row per firmware image: its hash, whether two builds agreed, flash/RAM against the SoC."""
    from bundle.toolchain.config import compile_configs

    done = {r["build"]: r for r in ctx.firmware_records}
    names = [cfg.name + suffix for suffix in ("", "-energy") if suffix == "" or ctx.energy_firmware
             for cfg in compile_configs()]
    rows = []
    for name in names:
        r = done.get(name)
        rows.append({"build": name, "status": "BUILT", "elf_sha256": r["elf_sha256"],
                     "reproducible": r["reproducible"], "flash_pct": r["memory"].get("flash_pct"),
                     "ram_pct": r["memory"].get("ram_pct"), "model": r["model"]} if r else
                    {"build": name, "status": "NOT_RUN", "reason": _stage_reason(pipe, "firmware")})
    return rows


def write_report(ctx: Context, pipe: Pipeline) -> int:
    from dataclasses import asdict

    from bundle.report import exit_code_for, write_report as write_files

    stages = [asdict(r) for r in pipe.records]
    env = {"dut": ctx.dut_kind, "port": ctx.port, "coordinator": ctx.coordinator, "places": ctx.places, "engine": getattr(getattr(ctx.engine_obj, "caps", None), "name", ctx.engine),
           "backends": ctx.backends if ctx.dut_kind == "sim" else None,
           "dut_choice": getattr(ctx.dut_choice, "reason", None),
           "images": ctx.images.get("details") if ctx.images else None,
           "runs": [{k: str(v) if isinstance(v, Path) else v for k, v in r.items()} for r in ctx.run_dirs],
           "stage_cache": {"root": str(ctx.stage_cache.root), "reused": dict(ctx.stage_cache.hits),
                           "forced": sorted(ctx.stage_cache.force)} if ctx.stage_cache else None}
    notes = list(ctx.notes)
    if ctx.dut_kind == "host":
        notes.insert(0, "no board attached: the published firmware code ran compiled for this host (host DUT); "
                        "its outputs are the code's own, its throughput is this CPU's and NOT_COMPARABLE")
    elif not ctx.port and not ctx.places:
        notes.insert(0, "no board attached: a software DUT (sim) stood in; its throughput says nothing "
                        "about the board and is NOT_COMPARABLE")
    paths = write_files(ctx.rows, ctx.run_dir, "OctoML MLPerf Tiny v1.0: reproduction report",
                        notes, stages=stages, code_diff=code_diff_section(ctx, pipe),
                        firmware=firmware_section(ctx, pipe), environment=env)
    html = _write_html(ctx)
    from bundle.report.console import final_summary

    elapsed = time.monotonic() - ctx.progress.started if ctx.progress is not None else None
    print(final_summary(ctx.rows, stages, html or paths["md"], elapsed))
    return exit_code_for(ctx.rows)


def _write_html(ctx: Context) -> Path | None:
    """report.html beside the others; a figure that cannot be drawn is a note, and a failure
    here never loses report.md/csv/json (already written)."""
    from bundle.report.html import write_html

    published = (ctx.inputs or {}).get("published")
    try:
        return write_html(ctx.run_dir, Path(published) if published else None, cache=ctx.stage_cache)
    except ReproError as err:
        console.print(f"[yellow]report.html not written[/]: {err}")
        return None


# -- board-free latency estimate -------------------------------------------------------------
ESTIMATE_DUT = "estimate"


def estimate_rows(ctx: Context, skipped: str | None = None) -> list[dict]:
    """A latency row per published build from the cycle-approximate model (tinyrepro estimate),
    beside the published latency: NOT_COMPARABLE always (a model's number, not a measurement),
    NOT_RUN with the reason when the image cannot be built here or the stage was `skipped`."""
    from bundle.dut.native_project import BuildSpec, published_code_tree
    from bundle.toolchain.config import compile_configs

    specs = [BuildSpec(c.variant, c.board.replace("-", ""), c.benchmark) for c in compile_configs()]
    if skipped:
        return [_estimate_row(s, None, skipped) for s in specs]
    cache, mirror, offline = _code_source(ctx)
    try:
        code = published_code_tree(cache, mirror, offline)
    except ReproError as err:
        return [_estimate_row(s, None, f"the published code tree is not available here: {err.message}") for s in specs]
    from bundle import stagekeys

    out = _cached(ctx, "estimate", lambda: stagekeys.estimate(ctx, [vars(s) for s in specs]),
                  lambda: _estimate_all(ctx, specs, code))
    ctx.notes += out["notes"]
    return out["rows"]


def _estimate_all(ctx: Context, specs, code: Path) -> dict:
    from bundle.dut.native_project import cmsis_tree
    from bundle.estimate import estimate_build

    cache, mirror, offline = _code_source(ctx)
    rows, notes = [], []
    for spec in specs:
        # each build's figures go to logs/estimate-builds.log (the terminal shows the progress line)
        say = _stage_sink(ctx, "estimate", "builds")
        try:
            est = estimate_build(spec, code_root=code, build_dir=cache / "native",
                                 cmsis=lambda: cmsis_tree(cache, mirror, offline),
                                 published_results=ctx.inputs["published"] / "results")
        except ReproError as err:
            notes.append(f"estimate {spec.variant}/{spec.board}/{spec.benchmark}: not run: {err.message}")
            rows.append(_estimate_row(spec, None, err.message))
            continue
        say(f"estimate {est.build}: {est.ms:.2f} ms ({est.run.cycles:,} cycles"
            + (f"; published {est.published_ms:.2f} ms, ratio {est.ratio:.3f})" if est.ratio else ")"))
        rows.append(_estimate_row(spec, est, None))
    return {"rows": rows, "notes": notes}


def _estimate_row(spec, est, reason: str | None) -> dict:
    row = {"section": "reproduce", "system": spec.system, "benchmark": spec.benchmark, "mode": "performance",
           "metric": "latency_ms", "dut": ESTIMATE_DUT, "published": None, "reproduced": None}
    if est is None:
        return {**row, "verdict": "NOT_RUN", "reason": f"latency estimate: {reason}"}
    why = (f"cycle-approximate model ({est.core} + {est.soc}, bundle/data/timing.yaml): {est.run.cycles:,} cycles "
           f"at {est.clock_hz / 1e6:g} MHz" + (f", ratio {est.ratio:.3f}" if est.ratio else "")
           + "; a model's estimate, never a verdict")
    return {**row, "published": round(est.published_ms, 2) if est.published_ms else None,
            "reproduced": round(est.ms, 2), "verdict": "NOT_COMPARABLE", "reason": why}
