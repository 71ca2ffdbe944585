"""run: every runnable benchmark and mode on the DUT: a board (--port, or labgrid places), else
the published firmware code compiled for this host (the host DUT; or for QEMU with --dut qemu)
beside the software DUT, else the software DUT alone. One run failing is recorded and the others go on.

Which DUT runs is decided in one place (`choose_dut`, `duts`), each as a `DutSpec`; a run
opens it through the DUT registry (`start_dut`: bundle/dut/spec.py `open_dut`). A board is
one BoardDut for the whole stage (`board_dut`): each run needs its benchmark's build, flashed
first when the board carries another (the flash stage's counts) and refused, as that run's
failure, when it cannot be flashed from here.
"""
from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path

from bundle.dut.spec import DutSpec
from bundle.errors import BoardNotReady, ConfigError, ReproError, StageUnavailable
from bundle.pipeline.base import Stage
from bundle.pipeline.outputs import Runs
from bundle.stagekeys import known_content

HOST_DUT = "host"
HOST_REGENERATED = "host-regenerated"
REGENERATED = "-regenerated"      # label suffix: the compile stage's code in the same projects
# What a firmware-running DUT's program is built and run with (keys its cached runs).
NATIVE_TOOLS = {"host": ("gcc", "g++"), "qemu": ("arm-none-eabi-gcc", "arm-none-eabi-g++", "qemu-system-arm")}


class RunBenchmarks(Stage):
    name = "run"
    image = "runner"
    needs = ("fetch",)
    # What a run executes, by its entry points (their imports follow: bundle/codedeps.py): this
    # module (the DUT chosen and started here, the run spec), the command the runner runs in
    # its container or on this host (`python -m bundle run`), and the C sources the host and
    # qemu DUT programs are built from. Not the runner image's tag: it hashes all of bundle/,
    # the report's modules too, which no run executes (see `key`).
    code = ("bundle/pipeline/run.py", "bundle/__main__.py", "bundle/cli.py", "bundle/commands/run.py",
            "bundle/dut/native")

    def plan_note(self, req, s) -> str:
        where = ("on an emulated Cortex-M4F (qemu DUT" if req.options.dut == "qemu" else "on this host (host DUT")
        note = (f"no board: the published firmware code {where}, accuracy of each system) "
                "if it was fetched, and the software DUT as a cross-check; throughput is NOT_COMPARABLE"
                ) if not req.port else _board_note(req, s)
        if self.image not in s.images.built:
            note = (note + "; " if note else "") + "runner image not built: runs on this host"
        return note

    def run(self, req, s) -> Runs:
        engine = s.engine()
        if engine.caps.needs_images and "runner" not in s.images.built:
            s.notes.append("run: the runner image is not available, so the run stage ran on this host (engine local)")
            from bundle.engine.select import get_engine
            engine = get_engine("local")
        if req.places:
            from bundle.lab.run import run_on_places
            return Runs(run_on_places(s, engine, runnable_benchmarks(req, s)))
        out = Runs()
        for label, spec, system, benchmark, mode in planned_runs(req, s):
            folder = run_dir(req, label, system, benchmark, mode)
            try:
                out.runs.append(_run_one(req, s, engine, label, spec, system, benchmark, mode, folder))
            except ReproError as err:
                status = "not run" if isinstance(err, StageUnavailable) else "FAILED"
                s.notes.append(f"run {label} {system or ''} {benchmark} {mode}: {status}: {err}")
                # A board without its benchmark's firmware: what to do about it is the reason.
                said = f"{err.message}; {err.hint}" if isinstance(err, BoardNotReady) and err.hint else err.message
                # Paths inside this run folder are given relative to it: the reason goes into
                # the diff and figures cache keys, which must not change with the folder's name.
                reason = f"{status}: {said}".replace(f"{req.run_dir}/", "")
                out.runs.append({"label": label, "system": system, "benchmark": benchmark, "mode": mode, "dir": None,
                                 "reason": reason, "backend": backend_of(spec),
                                 "dut_kind": spec.capabilities.dut_kind})
        if not any(d["dir"] for d in out.runs):
            raise StageUnavailable("no DUT could run: " + "; ".join(d.get("reason", "") for d in out.runs))
        reused = sum(1 for d in out.runs if d.get("cached"))
        if reused:
            s.notes.append(f"run: {reused} of {len(out.runs)} runs reused from the stage cache (nothing they read "
                           "changed); `tinyrepro reproduce --force run` runs them again")
        return out

    def key(self, req, s, label: str, backend: str | None, benchmark: str, mode: str, dut: dict) -> dict:
        """One run: the DUT (backend and model, or the host program's digest), its stimuli, the
        iteration counts, limit and pacing, the runner's code and the Python packages it runs
        with. The engine and the runner image are not in it: the image holds the same bundle
        sources `code` reads (it is built from them in this reproduce) plus the pinned packages
        `python_env` reads, and a report-only change, which rebuilds it, re-runs no DUT."""
        from dataclasses import asdict

        from bundle.submission_builds import MODELS, iterations
        from bundle.stagecache import code_digest
        from bundle.stagekeys import lock_entries, python_env, stimuli_identity

        return {"code": code_digest(*self.code), "python": python_env(), "label": label, "backend": backend,
                "benchmark": benchmark, "mode": mode, "system": req.system, "iterations": iterations(req.system, benchmark, mode),
                "limit": req.options.limit if mode == "accuracy" else None, "sim": asdict(req.cfg.sim),
                "model": lock_entries(f"models/{MODELS[benchmark]}"),
                "stimuli": stimuli_identity(benchmark, s.stimuli.get(benchmark)), "dut": dut}

    def container(self, ctx):
        from bundle.toolchain.containers import run_stage

        return run_stage(ctx)


# -- which DUT, and starting it: the one place that knows ---------------------------------
def choose_dut(req, s):
    """A board if given, else the published code on the host if reachable, else the sim; the
    report says which and why."""
    from bundle.dut.select import choose_dut as choose

    def fetch_code() -> Path:
        fetched = s.fetched
        if fetched is None or not fetched.code.is_dir():
            raise StageUnavailable("the fetch stage did not bring the code tree (published/octoml-v1.0/code/)")
        return fetched.code

    if s.dut_choice is None:
        s.dut_choice = choose(req.port, fetch_code, requested=req.options.dut)
        s.notes.append(f"DUT: {s.dut_choice.kind}: {s.dut_choice.reason}")
    return s.dut_choice


@contextlib.contextmanager
def start_dut(req, s, spec: DutSpec, benchmark: str, mode: str, program=None):
    """(port, the spec run-info.json records for it): the DUT opened through the registry
    (a board at its port, a software DUT, or the built program on a pty) for as long as the
    run lasts."""
    from bundle.dut.spec import open_dut

    resources = {}
    if spec.kind == "sim":
        from bundle.submission_builds import MODELS

        pacing = sim_pacing(req, mode)
        spec = replace(spec, infer_ms=pacing["infer_ms"], line_baud=pacing["baud"])
        resources = {"benchmark": benchmark, "model": s.fetched.models / MODELS[benchmark]}
    elif spec.capabilities.needs_build:
        spec = replace(spec, program=f"{program.project}@{program.digest}", code=None)
        resources = {"program": program.program}
    elif spec.kind == "board":
        from bundle.pipeline.flash import board_build

        spec = replace(spec, build=board_build(req, benchmark))
        resources = {"dut": board_dut(req, s, spec)}
    with open_dut(spec, **resources) as port:
        yield port, spec


def board_dut(req, s, spec: DutSpec):
    """The board, made once and kept for the stage's runs so it knows which build it carries:
    the flash stage's, else none known (flashed by hand). With the flash stage's flasher when
    that stage could run here; without one, its reason is the hint of a run it must refuse."""
    if s.board is None:
        from bundle.dut.spec import make_dut
        from bundle.pipeline.flash import board_flasher

        flashed = s.outputs["flash"].carries if "flash" in s.ran else None
        flasher, why = board_flasher(req, s)
        s.board = make_dut(replace(spec, build=flashed), flasher=flasher, no_flash=why)
    return s.board


def _board_note(req, s) -> str:
    from bundle.pipeline.flash import board_flasher

    _, why = board_flasher(req, s)
    if why is None:
        return "the board is flashed with each benchmark's firmware before that benchmark's runs"
    return (f"the board is not flashed here ({why}): a benchmark runs only on the firmware flashed by hand, "
            "another benchmark's runs fail saying so")


def sim_pacing(req, mode: str) -> dict:
    sim = req.cfg.sim
    if mode == "performance":
        return {"baud": sim.performance_baud, "infer_ms": sim.performance_infer_ms}
    return {"baud": 0, "infer_ms": sim.accuracy_infer_ms}


def duts(req, s) -> list[tuple[str, DutSpec]]:
    """The board; else the published code's DUT (host, or qemu when asked for; when the code
    is there) and the software DUT beside it as a cross-check; else the software DUT."""
    if req.port:    # one board: each benchmark's build is flashed before its runs (start_dut)
        return [("board", DutSpec("board", port=req.port))]
    choice = choose_dut(req, s)
    native = [(choice.kind, choice.spec)] if choice.spec.capabilities.needs_build else []
    if native and s.codediff.regenerated:
        # The compile stage's code too, when it ran: the regenerated model in the same projects.
        native.append((choice.kind + REGENERATED, choice.spec))
    unknown = [b for b in req.options.backends if b not in req.cfg.sim.backends]
    if unknown:
        raise ConfigError(f"unknown software-DUT backend(s) {unknown}",
                          hint=f"configured: {', '.join(req.cfg.sim.backends)} (bundle/data/reproduce.yaml, sim.backends)")
    return native + [(f"sim-{b}", DutSpec("sim", runtime=b)) for b in req.options.backends]


def backend_of(spec: DutSpec) -> str | None:
    """What a run record calls its DUT's backend: the sim's model runtime, the firmware DUT's
    kind, nothing for a board."""
    if spec.kind == "sim":
        return spec.runtime
    return spec.kind if spec.capabilities.needs_build else None


# -- what runs, and where its folder is -------------------------------------------------------
def planned_runs(req, s) -> list[tuple[str, DutSpec, str | None, str, str]]:
    """(label, DUT spec, system, benchmark, mode) of every run. A firmware DUT (host, qemu)
    runs each compared system's own code, in accuracy mode: its times are not the board's,
    latency comes from QEMU (stage latency). The board and the sims run every configured mode."""
    plan = []
    for label, spec in duts(req, s):
        for benchmark in runnable_benchmarks(req, s):
            if spec.capabilities.needs_build:
                plan += [(label, spec, system, benchmark, "accuracy") for system in req.cfg.compare_systems
                         if "accuracy" in req.cfg.modes]
            else:
                plan += [(label, spec, None, benchmark, mode) for mode in req.cfg.modes]
    return plan


def run_plan(req, s) -> list[tuple[str, str | None, str | None, str, str]]:
    """`planned_runs` with each DUT named by its backend (`backend_of`)."""
    return [(label, backend_of(spec), system, benchmark, mode)
            for label, spec, system, benchmark, mode in planned_runs(req, s)]


def run_dir(req, label: str, system: str | None, benchmark: str, mode: str) -> Path:
    base = req.run_dir / "runs" / label
    return (base / system / benchmark / mode) if system else (base / benchmark / mode)


def runnable_benchmarks(req, s) -> list[str]:
    """Pinned-stimuli benchmarks, then those whose derived stimuli were prepared."""
    from bundle.catalogue import BENCHMARKS

    offline, prepared = req.cfg.offline_benchmarks, s.stimuli
    return list(offline) + [b for b in BENCHMARKS if b in prepared and b not in offline]


# -- one run: its spec, its cache entry, its log ---------------------------------------------------
def run_spec(req, s, port: str, benchmark: str, mode: str, out: Path, label: str, dut: DutSpec | None = None,
             system: str | None = None):
    """The run stage as data, from the same description compose/compose.yaml is rendered from."""
    from bundle.submission_builds import iterations, load_builds
    from bundle.toolchain.containers import StageContext, run_stage

    system = system or req.system
    n, w = iterations(system, benchmark, mode)
    build = next(b for b in load_builds() if b.system == system and b.benchmark == benchmark and not b.energy)
    sctx = StageContext(inputs=str(req.sources.cache), artifacts=str(req.run_dir), dut_port=port,
                        probe_device="", build=build)
    prepared = s.stimuli.get(benchmark)
    return run_stage(sctx, benchmark, mode, n=n, w=w, out=f"/artifacts/{out.relative_to(req.run_dir)}",
                     limit=req.options.limit if mode == "accuracy" else None, baud=req.cfg.sim.baud,
                     name=f"run:{label}:{benchmark}:{mode}", dut=dut,
                     stimuli=str(prepared) if prepared else None)


def run_sink(req, s, label: str, benchmark: str, mode: str, out: Path):
    """The run's own output lines go to <run_dir>/logs/<label>[-<system>]-<benchmark>-<mode>.log
    (streamed with -v; beside the runner's folder, which is the runner's alone); the display
    shows the run and its stimulus count."""
    try:    # runs/<label>[/<system>]/<benchmark>/<mode>: a firmware DUT runs one per system
        parts = out.relative_to(req.run_dir / "runs").parts
    except ValueError:
        parts = (label, benchmark, mode)
    s.progress.item(" ".join(parts))
    return s.progress.output_sink(req.run_dir / "logs" / ("-".join(parts).replace("/", "-") + ".log"),
                                  " ".join(parts))


def _run_one(req, s, engine, label: str, spec: DutSpec, system: str | None, benchmark: str, mode: str,
             out: Path) -> dict:
    """A software or firmware DUT's run, reused when nothing it reads changed (a board's never:
    the board is the thing measured)."""
    native = spec.capabilities.needs_build
    dut = {"kind": "board"}
    if native:
        out.mkdir(parents=True, exist_ok=True)
        dut = host_build_inputs(req, s, label, system, spec.kind)
    elif spec.kind == "sim":
        dut = {"kind": "sim", "pacing": sim_pacing(req, mode)}

    def run() -> dict:
        out.mkdir(parents=True, exist_ok=True)
        program = _native_program(req, s, spec.kind, label, system, benchmark) if native else None
        sink = run_sink(req, s, label, benchmark, mode, out)
        if program is not None:
            sink(f"{spec.kind} DUT program: {program.project}, {program.digest}")
        with start_dut(req, s, spec, benchmark, mode, program) as (port, opened):
            result = engine.run(run_spec(req, s, port, benchmark, mode, out, label, dut=opened, system=system),
                                on_line=sink)
        return {"label": label, **({"system": system} if native else {}), "benchmark": benchmark,
                "mode": mode, "dir": out, "dut_kind": spec.capabilities.dut_kind, "backend": backend_of(spec),
                "engine": result.engine, "image": vars(result.image) if result.image else None,
                "seconds": round(result.duration_s, 1)}

    cache, stage = s.cache, RunBenchmarks()
    if cache is None or spec.kind == "board":
        return run()
    key = cache.key(stage.name, stage.key(req, s, label, backend_of(spec), benchmark, mode, dut))
    hit = cache.get(stage.name, key, files_to=out)
    if hit is not None:
        known_content(out, key)
        run_sink(req, s, label, benchmark, mode, out)(
            f"reused from the stage cache ({cache.root / stage.name / key}): nothing this run reads changed")
        return {**hit, "dir": out, "cached": True}
    record = run()
    cache.put(stage.name, key, {k: (None if k == "dir" else v) for k, v in record.items()}, files_from=out)
    known_content(out, key)
    return record


def host_build_inputs(req, s, label: str, system: str, kind: str = HOST_DUT) -> dict:
    """What a firmware DUT's program is built from: the pinned code tree (or the compile
    stage's output swapped into it), the pinned CMSIS commit and the kind's compilers (and
    emulator). Keying on these rather than on the built program spares a warm re-run the
    build's up-to-date check and the CMSIS tree's full verification (the builder's code is in
    the stage's `code`)."""
    from bundle.dut.native_project import CODE_PREFIX
    from bundle.fetch.lock import load_lock
    from bundle.stagekeys import lock_entries, tool_version

    regenerated = None
    if label.endswith(REGENERATED):   # the compile stage's key fixes the MLF archives swapped in
        from bundle.stagecache import tree_digest

        regenerated = s.outputs["compile"].key or tree_digest(s.codediff.regenerated)
    return {"kind": kind, "system": system, "code": lock_entries(CODE_PREFIX), "regenerated_from": regenerated,
            "cmsis": load_lock().toolchain.get("cmsis"), "compilers": [tool_version(t) for t in NATIVE_TOOLS[kind]]}


def _native_program(req, s, kind: str, label: str, system: str, benchmark: str):
    """The published (or regenerated) project of `system`, compiled for `kind` (host | qemu)."""
    from bundle.dut.native_project import BuildSpec, build_program

    variant, board = system.split("/")
    code_root = s.codediff.regenerated if label.endswith(REGENERATED) else s.dut_choice.code_root
    return build_program(kind, BuildSpec(variant, board, benchmark), code_root, req.sources.cache / "native",
                         cmsis=s.cmsis)
