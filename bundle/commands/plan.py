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


def _context(args):
    from bundle import stages
    from bundle.builds import check_system
    from bundle.config import load_reproduce_config
    from bundle.fetch.fetcher import MIRROR_ENV, default_cache_dir

    cfg = load_reproduce_config(None)
    system = check_system(args.system or cfg.sim.performance_system)
    mirror = args.mirror or os.environ.get(MIRROR_ENV) or None
    ctx = stages.Context(cfg=cfg, run_dir=Path("."), port=args.port, engine=args.engine, base_image=None,
                         limit=None, backends=list(cfg.sim.backends), offline=args.offline, system=system,
                         inputs={"cache": Path(args.cache) if args.cache else default_cache_dir(),
                                 "details": {"mirror": mirror}})
    stages.probe_upstreams(ctx)
    return ctx


def _images(ctx) -> bool:
    """Fill ctx.images with the images already built and the build plan; True with Docker."""
    from bundle.engine.base import get_engine
    from bundle.engine.images import TARGETS, HostCaps, plan_images
    from bundle.errors import ReproError

    engine = get_engine(ctx.engine)
    docker = engine.caps.needs_images and engine.available()[0]
    built = {}
    tvm_state = None
    for target in TARGETS if docker else ():
        try:
            if target == "tvm":
                record, tvm_state = _tvm_image(ctx, engine)
            else:
                record = engine.find_image(target)
        except ReproError:
            record = None
        if record:
            built[target] = record
    plans = {p.target: p for p in plan_images(HostCaps(docker=docker, reachable=ctx.reachable))}
    if tvm_state and "tvm" not in built and plans["tvm"].buildable:
        from dataclasses import replace

        plans["tvm"] = replace(plans["tvm"], buildable=False, reason=tvm_state)
    ctx.images = {"built": built, "plans": plans}
    return docker


def _tvm_image(ctx, engine):
    """(record of the tvm image if its build finished and was assembled, the build's state)."""
    from bundle.toolchain.tvm_image import TvmImage, find_built

    tvm = TvmImage(engine, Path(ctx.inputs["cache"]) if ctx.inputs else Path("."))
    image = find_built(engine.client, tvm.plan)
    return (engine.use_image("tvm", image) if image is not None else None), tvm.state().describe()


def run(args) -> int:
    from bundle.plan import plan

    ctx = _context(args)
    result = plan(ctx, _images(ctx))
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
