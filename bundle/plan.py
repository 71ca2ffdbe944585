"""The full pipeline for this host, as data: every stage with the image it needs and whether
it can run here (and if not, why), and every build with its compile configuration.

The reasons are the ones `reproduce` would record (bundle/stages.toolchain_blocker), computed
without running anything: a stage counts as done for the stages after it when it could run.
Interface read by scripts (keep it): {"stages": [{name, image, runnable, reason}],
"builds": [{variant, board, benchmark, model, target, usmp, workspace_size, ...}]}.
"""
from __future__ import annotations

from bundle import stages
from bundle.toolchain.config import compile_configs

# stage -> image, for the stages outside the build chain
OTHER_IMAGES = {"fetch": None, "published-recompute": None, "images": None, "run": "runner",
                "diff": None, "report": None}
ORDER = ["fetch", "published-recompute", "images", *stages.TOOLCHAIN, "run", "diff", "report"]


def _fetch_reason(ctx: stages.Context) -> str:
    mirror = (ctx.inputs or {}).get("details", {}).get("mirror")
    if mirror or "github" in ctx.reachable:
        return ""
    return ("no mirror (--mirror / $TINYREPRO_MIRROR) and GitHub is not reachable: only files already "
            "in the cache can be used")


def _images_reason(ctx: stages.Context, docker: bool) -> str:
    return "" if docker else "no Docker engine reachable: stages run on this host (engine local)"


def _image_status(ctx: stages.Context, image: str | None) -> str | None:
    """Built, or why it cannot be built (network, Docker, pins UNSET in the lock)."""
    if image is None:
        return None
    if image in ctx.images.get("built", {}):
        return "built"
    from bundle.engine.images import TARGETS

    p = ctx.images.get("plans", {}).get(image)
    status = f"not built: {p.reason}" if p and not p.buildable else "not built yet (buildable here)"
    unset = TARGETS[image].unset_pins
    if unset and "pins not set" not in status:
        status += f"; pins UNSET in artifacts/lock.yaml: {', '.join(unset)}"
    return status


def plan(ctx: stages.Context, docker: bool) -> dict:
    rows, ran = [], set()
    for name in ORDER:
        if name in stages.TOOLCHAIN:
            image, reason = stages.TOOLCHAIN[name][0], stages.toolchain_blocker(ctx, name, ran)
        else:
            image = OTHER_IMAGES[name]
            reason = {"fetch": lambda: _fetch_reason(ctx), "images": lambda: _images_reason(ctx, docker)}.get(
                name, lambda: "")()
        if name == "run" and not ctx.port:
            reason = reason or ""
            note = "no board: a software DUT stands in (NOT_COMPARABLE throughput)"
        else:
            note = ""
        if name == "run" and image not in ctx.images.get("built", {}):
            note = (note + "; " if note else "") + "runner image not built: runs on this host"
        rows.append({"name": name, "image": image, "runnable": not reason, "reason": reason, "note": note,
                     "image_status": _image_status(ctx, image)})
        if not reason:
            ran.add(name)
    builds = [{**c.as_dict(), "images": {"compile": "tvm", "firmware": "zephyr", "flash": "zephyr"}}
              for c in compile_configs()]
    return {"system": ctx.system, "offline": ctx.offline, "upstream_block": ctx.upstream_block,
            "reachable": sorted(ctx.reachable), "stages": rows, "builds": builds}
