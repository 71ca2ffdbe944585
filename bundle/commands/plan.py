"""`tinyrepro plan [--json]`: the whole pipeline for this host, stage by stage and build by
build, with what can run here and why the rest cannot. Runs nothing, builds nothing."""
from __future__ import annotations

import os
from pathlib import Path

from bundle.commands.fetch import add_fetch_options
from bundle import jsonout


def register(sub) -> None:
    p = sub.add_parser("plan", help="show every stage and build, the image each needs, and what can run here")
    add_fetch_options(p)
    p.add_argument("--json", action="store_true", help="machine-readable output (stages, builds)")
    p.add_argument("--port", default=os.environ.get("PORT") or None, help="serial port of a board (default: $PORT)")
    p.add_argument("--system", default=None, help="the system a board run would reproduce (default: config)")
    p.add_argument("--engine", choices=["auto", "docker", "docker-remote", "local"], default="auto")
    p.set_defaults(func=run)


def _session(args):
    from bundle.submission_builds import check_system
    from bundle.reproduce_config import load_reproduce_config
    from bundle.pipeline.request import Network, Options, Request, Sources
    from bundle.pipeline.session import Session

    cfg = load_reproduce_config(None)
    system = check_system(args.system or cfg.sim.performance_system)
    req = Request(cfg=cfg, run_dir=Path("."), system=system, port=args.port, engine=args.engine,
                  sources=Sources.from_options(args.cache, args.mirror, args.offline),
                  options=Options(backends=tuple(cfg.sim.backends)), network=Network.probe(args.offline))
    return Session(req)


def _images(s) -> bool:
    """The images already built and the build plan, as the images stage's output; True with Docker."""
    from dataclasses import replace

    from bundle.engine.select import get_engine
    from bundle.engine.images import TARGETS, HostCaps, plan_images
    from bundle.errors import ReproError
    from bundle.pipeline.outputs import Images

    engine = get_engine(s.request.engine)
    docker = engine.caps.needs_images and engine.available()[0]
    built = {}
    tvm_state = None
    for target in TARGETS if docker else ():
        try:
            if target == "tvm":
                record, tvm_state = _tvm_image(s, engine)
            else:
                record = engine.find_image(target)
        except ReproError:
            record = None
        if record:
            built[target] = record
    plans = {p.target: p for p in plan_images(HostCaps(docker=docker, reachable=s.request.network.reachable))}
    if tvm_state and "tvm" not in built and plans["tvm"].buildable:
        plans["tvm"] = replace(plans["tvm"], buildable=False, reason=tvm_state)
    s.outputs["images"] = Images(built, plans)
    return docker


def _tvm_image(s, engine):
    """(record of the tvm image if its build finished and was assembled, the build's state)."""
    from bundle.toolchain.tvm_image import TvmImage, find_built

    tvm = TvmImage(engine, s.request.sources.cache)
    image = find_built(engine.client, tvm.plan)
    return (engine.use_image("tvm", image) if image is not None else None), tvm.state().describe()


def plan(s, docker: bool) -> dict:
    """Interface read by scripts (keep it): {"stages": [{name, image, runnable, reason}],
    "builds": [{variant, board, benchmark, model, target, usmp, workspace_size, ...}]}."""
    from bundle.pipeline.graph import dry_run
    from bundle.toolchain.compile_config import compile_configs

    rows = dry_run(s, docker)
    builds = [{**c.as_dict(), "images": {"compile": "tvm", "firmware": "zephyr", "flash": "zephyr"}}
              for c in compile_configs()]
    req = s.request
    return {"system": req.system, "offline": req.sources.offline, "upstream_block": req.network.block,
            "reachable": sorted(req.network.reachable), "stages": rows, "builds": builds}


def run(args) -> int:
    s = _session(args)
    result = plan(s, _images(s))
    if args.json:
        print(jsonout.dumps(result, indent=2, default=str))
    else:
        _print(result)
    return 0


def _print(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    stages = Table(title=f"stages (system {result['system']})")
    for col in ("stage", "image", "runs here", "why not / note"):
        stages.add_column(col, overflow="fold")
    for s in result["stages"]:
        stages.add_row(s["name"], s["image"] or "-", "yes" if s["runnable"] else "[yellow]no[/]",
                       s["reason"] or s["note"])
    console.print(stages)
    builds = Table(title="builds (bundle/data/compile.yaml)")
    for col in ("build", "model", "target", "usmp", "workspace", "tuning"):
        builds.add_column(col, overflow="fold")
    for b in result["builds"]:
        builds.add_row(b["name"], b["model"], b["target"], "on" if b["usmp"] else "off",
                       str(b["workspace_size"]), b["tuning"] or "-")
    console.print(builds)
