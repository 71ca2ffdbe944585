"""run: every runnable benchmark and mode on the DUT: a board (--port, or labgrid places), else
the published firmware code compiled for this host (the host DUT) beside the software DUT, else
the software DUT alone. One run failing is recorded and the others go on.

Which DUT runs, and how it is started, is decided in one place: `choose_dut` and `start_dut`.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from bundle.errors import ConfigError, ReproError, StageUnavailable
from bundle.pipeline.base import Stage
from bundle.pipeline.outputs import Runs
from bundle.stagekeys import known_content

HOST_DUT = "host"
HOST_REGENERATED = "host-regenerated"


class RunBenchmarks(Stage):
    name = "run"
    image = "runner"
    needs = ("fetch",)
    code = ("bundle/runner", "bundle/dut", "bundle/models", "bundle/published", "bundle/scoring.py",
            "bundle/submission_builds.py", "bundle/catalogue.py", "bundle/eembc.py", "bundle/datafile.py", "bundle/data",
            "bundle/toolchain/stages.py", "bundle/engine", "bundle/errors.py", "bundle/fetch")

    def plan_note(self, req, s) -> str:
        note = ("no board: the published firmware code on this host (host DUT, accuracy of each system) "
                "if it was fetched, and the software DUT as a cross-check; throughput is NOT_COMPARABLE"
                ) if not req.port else ""
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
        for label, backend, system, benchmark, mode in run_plan(req, s):
            folder = run_dir(req, label, system, benchmark, mode)
            try:
                out.runs.append(_run_one(req, s, engine, label, benchmark, mode, folder, backend, system))
            except ReproError as err:
                status = "not run" if isinstance(err, StageUnavailable) else "FAILED"
                s.notes.append(f"run {label} {system or ''} {benchmark} {mode}: {status}: {err}")
                out.runs.append({"label": label, "system": system, "benchmark": benchmark, "mode": mode, "dir": None,
                                 "reason": f"{status}: {err.message}", "backend": backend,
                                 "dut_kind": "board" if backend is None else ("host" if backend == HOST_DUT else "sim")})
        if not any(d["dir"] for d in out.runs):
            raise StageUnavailable("no DUT could run: " + "; ".join(d.get("reason", "") for d in out.runs))
        reused = sum(1 for d in out.runs if d.get("cached"))
        if reused:
            s.notes.append(f"run: {reused} of {len(out.runs)} runs reused from the stage cache (nothing they read "
                           "changed); `tinyrepro reproduce --force run` runs them again")
        return out

    def key(self, req, s, label: str, backend: str | None, benchmark: str, mode: str, dut: dict) -> dict:
        """One run: the DUT (backend and model, or the host program's digest), its stimuli, the
        iteration counts, limit and pacing, and the runner's code."""
        from dataclasses import asdict

        from bundle.submission_builds import MODELS, iterations
        from bundle.stagecache import code_digest
        from bundle.stagekeys import lock_entries, stimuli_identity

        return {"code": code_digest(*self.code), "label": label, "backend": backend, "benchmark": benchmark,
                "mode": mode, "system": req.system, "iterations": iterations(req.system, benchmark, mode),
                "limit": req.options.limit if mode == "accuracy" else None, "sim": asdict(req.cfg.sim),
                "model": lock_entries(f"models/{MODELS[benchmark]}"),
                "stimuli": stimuli_identity(benchmark, s.stimuli.get(benchmark)), "dut": dut}

    def container(self, ctx):
        from bundle.toolchain.stages import run_stage

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
def start_dut(req, s, backend: str | None, benchmark: str, mode: str, program=None):
    """(port, the label run-info.json records for it): the board's port, a software DUT or
    the host program on a pty, for as long as the run lasts."""
    if backend is None:
        yield req.port, None
    elif backend == HOST_DUT:
        from bundle.dut.host import HostDut

        with HostDut(program=program.program).open() as port:
            yield port, {"dut_kind": "host", "backend": f"{program.project}@{program.digest}"}
    else:
        from bundle.submission_builds import MODELS
        from bundle.dut.sim import SimProcess

        pacing = sim_pacing(req, mode)
        with SimProcess(backend=backend, benchmark=benchmark, model=s.fetched.models / MODELS[benchmark],
                        **pacing) as port:
            yield port, {"dut_kind": "sim", "backend": backend, "infer_ms": pacing["infer_ms"]}


def sim_pacing(req, mode: str) -> dict:
    sim = req.cfg.sim
    if mode == "performance":
        return {"baud": sim.performance_baud, "infer_ms": sim.performance_infer_ms}
    return {"baud": 0, "infer_ms": sim.accuracy_infer_ms}


def duts(req, s) -> list[tuple[str, str | None]]:
    """The board; else the host DUT (when the published code is there) and the software DUT
    beside it as a cross-check; else the software DUT."""
    if req.port:
        return [("board", None)]
    host = [("host", HOST_DUT)] if choose_dut(req, s).kind == "host" else []
    if host and s.codediff.regenerated:
        # The compile stage's code too, when it ran: the regenerated model in the same projects.
        host.append((HOST_REGENERATED, HOST_DUT))
    unknown = [b for b in req.options.backends if b not in req.cfg.sim.backends]
    if unknown:
        raise ConfigError(f"unknown software-DUT backend(s) {unknown}",
                          hint=f"configured: {', '.join(req.cfg.sim.backends)} (bundle/data/reproduce.yaml, sim.backends)")
    return host + [(f"sim-{b}", b) for b in req.options.backends]


# -- what runs, and where its folder is -------------------------------------------------------
def run_plan(req, s) -> list[tuple[str, str | None, str | None, str, str]]:
    """(label, backend, system, benchmark, mode) of every run. The host DUT runs each compared
    system's own code, in accuracy mode: its times are this CPU's, latency comes from QEMU
    (stage latency). The board and the sims run every configured mode."""
    plan = []
    for label, backend in duts(req, s):
        for benchmark in runnable_benchmarks(req, s):
            if backend == HOST_DUT:
                plan += [(label, backend, system, benchmark, "accuracy") for system in req.cfg.compare_systems
                         if "accuracy" in req.cfg.modes]
            else:
                plan += [(label, backend, None, benchmark, mode) for mode in req.cfg.modes]
    return plan


def run_dir(req, label: str, system: str | None, benchmark: str, mode: str) -> Path:
    base = req.run_dir / "runs" / label
    return (base / system / benchmark / mode) if system else (base / benchmark / mode)


def runnable_benchmarks(req, s) -> list[str]:
    """Pinned-stimuli benchmarks, then those whose derived stimuli were prepared."""
    from bundle.catalogue import BENCHMARKS

    offline, prepared = req.cfg.offline_benchmarks, s.stimuli
    return list(offline) + [b for b in BENCHMARKS if b in prepared and b not in offline]


# -- one run: its spec, its cache entry, its log ---------------------------------------------------
def run_spec(req, s, port: str, benchmark: str, mode: str, out: Path, label: str, sim: dict | None = None,
             system: str | None = None):
    """The run stage as data, from the same description compose/compose.yaml is rendered from."""
    from bundle.submission_builds import iterations, load_builds
    from bundle.toolchain.stages import StageContext, run_stage

    system = system or req.system
    n, w = iterations(system, benchmark, mode)
    build = next(b for b in load_builds() if b.system == system and b.benchmark == benchmark and not b.energy)
    sctx = StageContext(inputs=str(req.sources.cache), artifacts=str(req.run_dir), dut_port=port,
                        probe_device="", build=build)
    prepared = s.stimuli.get(benchmark)
    return run_stage(sctx, benchmark, mode, n=n, w=w, out=f"/artifacts/{out.relative_to(req.run_dir)}",
                     limit=req.options.limit if mode == "accuracy" else None, baud=req.cfg.sim.baud,
                     name=f"run:{label}:{benchmark}:{mode}", sim=sim,
                     stimuli=str(prepared) if prepared else None)


def run_sink(req, s, label: str, benchmark: str, mode: str, out: Path):
    """The run's own output lines go to <run_dir>/logs/<label>[-<system>]-<benchmark>-<mode>.log
    (streamed with -v; beside the runner's folder, which is the runner's alone); the display
    shows the run and its stimulus count."""
    try:    # runs/<label>[/<system>]/<benchmark>/<mode>: the host DUT runs one per system
        parts = out.relative_to(req.run_dir / "runs").parts
    except ValueError:
        parts = (label, benchmark, mode)
    s.progress.item(" ".join(parts))
    return s.progress.output_sink(req.run_dir / "logs" / ("-".join(parts).replace("/", "-") + ".log"),
                                  " ".join(parts))


def _run_one(req, s, engine, label: str, benchmark: str, mode: str, out: Path,
             backend: str | None, system: str | None) -> dict:
    """A software or host DUT's run, reused when nothing it reads changed (a board's never:
    the board is the thing measured)."""
    dut = {"kind": "board"}
    if backend == HOST_DUT:
        out.mkdir(parents=True, exist_ok=True)
        dut = host_build_inputs(req, s, label, system)
    elif backend:
        dut = {"kind": "sim", "pacing": sim_pacing(req, mode)}

    def run() -> dict:
        out.mkdir(parents=True, exist_ok=True)
        program = _host_program(req, s, label, system, benchmark) if backend == HOST_DUT else None
        sink = run_sink(req, s, label, benchmark, mode, out)
        if program is not None:
            sink(f"host DUT program: {program.project}, {program.digest}")
        with start_dut(req, s, backend, benchmark, mode, program) as (port, sim):
            result = engine.run(run_spec(req, s, port, benchmark, mode, out, label, sim=sim, system=system),
                                on_line=sink)
        kind = "board" if backend is None else ("host" if backend == HOST_DUT else "sim")
        return {"label": label, **({"system": system} if backend == HOST_DUT else {}), "benchmark": benchmark,
                "mode": mode, "dir": out, "dut_kind": kind, "backend": backend, "engine": result.engine,
                "image": vars(result.image) if result.image else None, "seconds": round(result.duration_s, 1)}

    cache, stage = s.cache, RunBenchmarks()
    if cache is None or backend is None:
        return run()
    key = cache.key(stage.name, stage.key(req, s, label, backend, benchmark, mode, dut))
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


def host_build_inputs(req, s, label: str, system: str) -> dict:
    """What the host DUT's program is built from: the pinned code tree (or the compile stage's
    output swapped into it), the pinned CMSIS commit and the host compilers. Keying on these
    rather than on the built program spares a warm re-run the build's up-to-date check and
    the CMSIS tree's full verification (the builder's code is in the stage's `code`)."""
    from bundle.dut.native_project import CODE_PREFIX
    from bundle.fetch.lock import load_lock
    from bundle.stagekeys import lock_entries, tool_version

    regenerated = None
    if label == HOST_REGENERATED:   # the compile stage's key fixes the MLF archives swapped in
        from bundle.stagecache import tree_digest

        regenerated = s.outputs["compile"].key or tree_digest(s.codediff.regenerated)
    return {"kind": "host", "system": system, "code": lock_entries(CODE_PREFIX), "regenerated_from": regenerated,
            "cmsis": load_lock().toolchain.get("cmsis"), "compilers": [tool_version(t) for t in ("gcc", "g++")]}


def _host_program(req, s, label: str, system: str, benchmark: str):
    """The published (or regenerated) project of `system`, compiled for this host."""
    from bundle.dut.native_project import BuildSpec, build_program

    variant, board = system.split("/")
    code_root = s.codediff.regenerated if label == HOST_REGENERATED else s.dut_choice.code_root
    return build_program("host", BuildSpec(variant, board, benchmark), code_root, req.sources.cache / "native",
                         cmsis=s.cmsis)
