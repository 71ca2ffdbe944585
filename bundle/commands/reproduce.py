"""`tinyrepro reproduce`: the main job. Plans the stages for this host and runs them.

fetch ─▶ published-recompute ─▶ images ─▶ code/compile/codediff/firmware/flash ─▶ stimuli ─▶ run ─▶ latency ─▶ diff ─▶ report
"""
from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from bundle.commands.fetch import add_fetch_options, fetcher_from_args
from bundle.builds import check_system
from bundle.config import load_reproduce_config
from bundle.errors import EXIT_INTERRUPTED, EXIT_PARSE
from bundle.pipeline import Pipeline, console, new_run_dir
from bundle.progress import PipelineProgress
from bundle.fetch.fetcher import default_cache_dir
from bundle.stagecache import StageCache
from bundle.stagekeys import CACHED_STAGES
from bundle import stages
from bundle.cliargs import backend_list, int_in


def register(sub) -> None:
    p = sub.add_parser("reproduce", help="fetch, recompute, run what this host can, diff, report")
    add_fetch_options(p)
    p.add_argument("--port", default=os.environ.get("PORT") or None,
                   help="serial port of a flashed board (default: $PORT); without it the software DUT stands in")
    p.add_argument("--system", default=None,
                   help="the published system to reproduce, e.g. microtvm_cmsis_nn/NUCLEO_L4R5ZI: its build "
                        "is compiled and flashed, its N/W used, and a board run is diffed against it "
                        "(default: config sim.performance_system)")
    p.add_argument("--engine", choices=["auto", "docker", "docker-remote", "local"], default="auto",
                   help="where stages run: containers through the Docker engine, or this host (default: auto)")
    p.add_argument("--base-image", default=os.environ.get("BASE_IMAGE") or None,
                   help="base image for the runner image (e.g. one made by scripts/bootstrap-base-image.sh)")
    p.add_argument("--dut", choices=["auto", "sim"], default="auto",
                   help="without --port: auto runs the published firmware code on this host when it can be "
                        "fetched, else the software DUT; sim always the software DUT (default: auto)")
    p.add_argument("--backends", default=None, type=backend_list,
                   help="software-DUT model runtimes, comma-separated (default: config); implies --dut sim")
    p.add_argument("--coordinator", default=os.environ.get("LG_COORDINATOR") or None,
                   help="labgrid coordinator HOST:PORT for --place (default: $LG_COORDINATOR)")
    p.add_argument("--place", action="append", default=None,
                   help="a labgrid place to acquire and run on (repeat, or space-separated; default: $PLACES); "
                        "the benchmarks are spread over the places in parallel")
    p.add_argument("--limit", type=int_in(1), default=None, help="accuracy runs: only the first N stimuli (quick look)")
    p.add_argument("--config", type=Path, default=None, help="reproduce config YAML (default: bundle/data/reproduce.yaml)")
    p.add_argument("--out", type=Path, default=Path("artifacts/runs"), help="folder for run folders")
    p.add_argument("--no-estimate", action="store_true",
                   help="skip the estimate stage (the latency of each published build under the timing model)")
    p.add_argument("--force", nargs="?", const="*", action="append", metavar="STAGE", default=None,
                   help="recompute instead of reusing the stage cache: --force for every stage, --force STAGE "
                        "(repeatable) for one of: " + ", ".join(CACHED_STAGES))
    p.add_argument("--energy-firmware", action="store_true",
                   help="firmware stage: also build the energy-mode firmware (-DENERGY_MODE=1)")
    p.set_defaults(func=run)


def run(args) -> int:
    cfg = load_reproduce_config(args.config)
    check_system(args.system or cfg.sim.performance_system)
    stage_root = os.environ.get("TINYREPRO_STAGE_CACHE") or Path(args.cache or default_cache_dir()) / "stages"
    cache = StageCache.from_option(Path(stage_root), getattr(args, "force", None), list(CACHED_STAGES))
    places = _places(args)
    run_dir = new_run_dir(args.out)
    console.print(f"run folder: {run_dir}")
    verbose = bool(getattr(args, "verbose", False))
    progress = PipelineProgress(console, verbose=verbose)
    pipe = Pipeline(run_dir, progress)
    ctx = stages.Context(cfg=cfg, run_dir=run_dir, port=args.port, engine=args.engine,
                         base_image=args.base_image, limit=args.limit, offline=args.offline,
                         backends=args.backends if args.backends else list(cfg.sim.backends),
                         system=args.system or cfg.sim.performance_system, system_given=bool(args.system),
                         dut_request="sim" if args.backends else args.dut,
                         energy_firmware=getattr(args, "energy_firmware", False),
                         estimate=not getattr(args, "no_estimate", False), progress=progress,
                         stage_cache=cache, coordinator=args.coordinator, places=places)
    interrupted = False
    try:
        with _log_to_file(run_dir / "reproduce.log", verbose), progress:
            _stages(pipe, ctx, args)
    except KeyboardInterrupt:
        interrupted = True
        pipe.skip("interrupted", "Ctrl-C: the stages above are kept; the report covers what finished")
    except Exception as err:  # a bug in a stage: still write what was done, then report the bug
        pipe.abort(err)
        stages.write_report(ctx, pipe)
        raise
    code = stages.write_report(ctx, pipe)
    # A failed stage outranks the verdicts (rows it would have produced are missing), and an
    # unparseable published file outranks them too.
    if interrupted:
        return EXIT_INTERRUPTED
    parse_failed = EXIT_PARSE if any(r.get("parse_error") for r in ctx.rows) else 0
    return pipe.failure_code() or parse_failed or code


@contextlib.contextmanager
def _log_to_file(path: Path, verbose: bool):
    """Library log lines (image builds, fetches) go to the run's reproduce.log; the terminal
    keeps warnings only, unless -v. Undone at the end (tests call main() many times)."""
    root = logging.getLogger()
    saved = [(h, h.level) for h in root.handlers]
    saved_level = root.level
    if not verbose:
        for handler, _ in saved:
            handler.setLevel(max(handler.level, logging.WARNING))
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else min(saved_level or logging.INFO, logging.INFO))
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(saved_level)
        for h, level in saved:
            h.setLevel(level)


def _places(args) -> list[str]:
    """--place (repeatable, space-separated values too) or $PLACES; they need a coordinator."""
    from bundle.errors import UsageError

    given = args.place if args.place is not None else [os.environ.get("PLACES", "")]
    places = list(dict.fromkeys(name for value in given for name in value.split()))
    if places and not args.coordinator:
        raise UsageError("--place needs a labgrid coordinator", hint="--coordinator HOST:PORT or LG_COORDINATOR=HOST:PORT")
    if places and args.port:
        raise UsageError("--port and --place both name the DUT", hint="give one of them")
    return places


def _stages(pipe: Pipeline, ctx, args) -> None:
    cfg = ctx.cfg
    ctx.inputs = pipe.stage("fetch", lambda: stages.fetch_inputs(fetcher_from_args(args, progress=False), cfg))
    ctx.rows += pipe.stage("published-recompute", lambda: stages.recompute_published(ctx),
                           requires=["fetch"]) or []
    _toolchain_stages(pipe, ctx)
    _stimuli_stages(pipe, ctx, args)
    ctx.run_dirs = pipe.stage("run", lambda: stages.run_benchmarks(ctx), requires=["fetch"]) or []
    ctx.rows += pipe.stage("latency", lambda: stages.qemu_latency(ctx), requires=["fetch"]) or []
    ctx.rows += pipe.stage("diff", lambda: stages.diff_runs(ctx), requires=["run"]) or []
    if ctx.estimate:
        ctx.rows += pipe.stage("estimate", lambda: stages.estimate_rows(ctx), requires=["fetch"]) or []
    else:
        pipe.skip("estimate", "not selected (--no-estimate)")
        ctx.rows += stages.estimate_rows(ctx, skipped="not selected (--no-estimate)")
    ctx.rows += stages.not_run_rows(ctx)


def _toolchain_stages(pipe: Pipeline, ctx) -> None:
    """Images and the build chain: run what this host can, say why the rest did not run."""
    stages.probe_upstreams(ctx)
    ctx.images = pipe.stage("images", lambda: stages.build_images(ctx)) or {}
    for name in stages.TOOLCHAIN:
        ran = {r.stage for r in pipe.records if r.status == "RAN"}
        pipe.stage(name, lambda name=name, ran=ran: stages.toolchain_stage(ctx, name, ran))


def _stimuli_stages(pipe: Pipeline, ctx, args) -> None:
    """One stage per derived stimulus set (ic01, vww01, ad01): prepared ones join the run."""
    if not pipe.ran("fetch"):
        for name in stages.stimuli_sets(ctx):
            pipe.skip(f"stimuli:{name}", "needs stage(s) fetch, which did not run")
        return
    fetcher = fetcher_from_args(args, progress=False)
    for name in stages.stimuli_sets(ctx):
        pipe.stage(f"stimuli:{name}", lambda name=name: stages.stimuli_stage(ctx, fetcher, name))
