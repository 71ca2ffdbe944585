"""`tinyrepro reproduce`: the main job. Builds the request, runs the pipeline's stages
(bundle/pipeline/graph.py) and writes the report, also when a stage failed or on Ctrl-C."""
from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from bundle.commands.fetch import add_fetch_options
from bundle.submission_builds import check_system
from bundle.reproduce_config import load_reproduce_config
from bundle.errors import EXIT_INTERRUPTED, EXIT_PARSE
from bundle.pipeline import graph
from bundle.pipeline.records import console, new_run_dir
from bundle.pipeline.report import write_report
from bundle.pipeline.request import Network, Options, Request, Sources
from bundle.pipeline.session import Session
from bundle.progress import PipelineProgress
from bundle.stagecache import StageCache
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
    p.add_argument("--dut", choices=["auto", "sim", "qemu"], default="auto",
                   help="without --port: auto runs the published firmware code on this host when it can be "
                        "fetched, else the software DUT; qemu runs that code on an emulated Cortex-M4F "
                        "instead of this host; sim always the software DUT (default: auto)")
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
    p.add_argument("--no-compile", action="store_true",
                   help="skip the compile stage (the 12 models through TVM in the tvm image, minutes each; "
                        "the code diff needs it) even when the tvm image is built")
    p.add_argument("--force", nargs="?", const="*", action="append", metavar="STAGE", default=None,
                   help="recompute instead of reusing the stage cache: --force for every stage, --force STAGE "
                        "(repeatable) for one of: " + ", ".join(graph.cached_stages()))
    p.add_argument("--energy-firmware", action="store_true",
                   help="firmware stage: also build the energy-mode firmware (-DENERGY_MODE=1)")
    p.set_defaults(func=run)


def run(args) -> int:
    cfg = load_reproduce_config(args.config)
    check_system(args.system or cfg.sim.performance_system)
    sources = Sources.from_options(args.cache, args.mirror, args.offline)
    stage_root = os.environ.get("TINYREPRO_STAGE_CACHE") or sources.cache / "stages"
    cache = StageCache.from_option(Path(stage_root), getattr(args, "force", None), graph.cached_stages())
    places = _places(args)
    run_dir = new_run_dir(args.out)
    console.print(f"run folder: {run_dir}")
    verbose = bool(getattr(args, "verbose", False))
    progress = PipelineProgress(console, verbose=verbose)
    req = Request(cfg=cfg, run_dir=run_dir, system=args.system or cfg.sim.performance_system, sources=sources,
                  system_given=bool(args.system), port=args.port, places=tuple(places),
                  coordinator=args.coordinator, engine=args.engine, base_image=args.base_image,
                  options=Options(limit=args.limit, backends=tuple(args.backends or cfg.sim.backends),
                                  dut="sim" if args.backends else args.dut,
                                  energy_firmware=getattr(args, "energy_firmware", False),
                                  estimate=not getattr(args, "no_estimate", False),
                                  compile=not getattr(args, "no_compile", False)),
                  network=Network.probe(args.offline))
    s = Session(req, cache=cache, progress=progress)
    interrupted = False
    try:
        with _log_to_file(run_dir / "reproduce.log", verbose), progress:
            graph.run(s)
    except KeyboardInterrupt:
        interrupted = True
        s.recorder.skip("interrupted", "Ctrl-C: the stages above are kept; the report covers what finished")
    except Exception as err:  # a bug in a stage: still write what was done, then report the bug
        s.recorder.abort(err)
        write_report(s)
        raise
    code = write_report(s)
    # A failed stage outranks the verdicts (rows it would have produced are missing), and an
    # unparseable published file outranks them too.
    if interrupted:
        return EXIT_INTERRUPTED
    parse_failed = EXIT_PARSE if any(r.get("parse_error") for r in s.rows) else 0
    return s.recorder.failure_code() or parse_failed or code


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

