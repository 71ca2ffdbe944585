"""The full pipeline for this host, as data: every stage with the image it needs and whether
it can run here (and if not, why), and every build with its compile configuration.

The reasons are the ones `reproduce` would record (bundle/stages.toolchain_blocker), computed
without running anything: a stage counts as done for the stages after it when it could run.
Interface read by scripts (keep it): {"stages": [{name, image, runnable, reason}],
"builds": [{variant, board, benchmark, model, target, usmp, workspace_size, ...}]}.
"""
from __future__ import annotations

from pathlib import Path

from bundle import stages
from bundle.toolchain.config import compile_configs

# stage -> image, for the stages outside the build chain
OTHER_IMAGES = {"fetch": None, "published-recompute": None, "images": None, "run": "runner",
                "latency": None, "diff": None, "estimate": None, "report": None}

def _order(ctx: stages.Context) -> list[str]:
    """reproduce's stage order (bundle/commands/reproduce.py _stages)."""
    return ["fetch", "published-recompute", "images", *stages.TOOLCHAIN,
            *(f"stimuli:{s}" for s in stages.stimuli_sets(ctx)), "run", "latency", "diff", "estimate", "report"]


def _fetch_reason(ctx: stages.Context) -> str:
    mirror = (ctx.inputs or {}).get("details", {}).get("mirror")
    if mirror or "github" in ctx.reachable:
        return ""
    return ("no mirror (--mirror / $TINYREPRO_MIRROR) and GitHub is not reachable: only files already "
            "in the cache can be used")


def _stimuli_reason(ctx: stages.Context, name: str) -> str:
    """Why a derived stimulus set cannot be prepared here ("" when it is, or can be)."""
    from bundle.fetch.learned import archive_sha256
    from bundle.fetch.lock import load_lock
    from bundle.stimuli import SETS
    from bundle.stimuli.stage import prepared_dir

    inputs = ctx.inputs or {}
    cache, mirror = inputs.get("cache"), (inputs.get("details") or {}).get("mirror")
    if cache and prepared_dir(Path(cache), name):
        return ""
    archive = load_lock().archives.get(SETS[name].archive)
    if archive is None or not archive.pinned:
        return f"pin UNSET: archives.{SETS[name].archive} in artifacts/lock.yaml has no SHA-256"
    in_mirror = bool(mirror) and (Path(mirror) / archive.path).is_file()
    sha = archive_sha256(Path(cache) if cache else None, archive)   # an MD5 pin: known once fetched
    in_cache = bool(cache and sha) and (Path(cache) / "sha256" / sha).is_file()
    if ctx.offline and not (in_mirror or in_cache):
        return f"offline, and {archive.path} is neither in the cache nor in the mirror"
    return ""


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
    for name in _order(ctx):
        if name in stages.TOOLCHAIN:
            image, reason = stages.TOOLCHAIN[name][0], stages.toolchain_blocker(ctx, name, ran)
        elif name.startswith("stimuli:"):
            image, reason = None, _stimuli_reason(ctx, name.split(":", 1)[1])
        elif name == "fetch":
            image, reason = None, _fetch_reason(ctx)
        elif name == "latency":
            image, reason = None, stages.latency_blocker(ctx)
        elif name == "images":
            image, reason = None, "" if docker else "no Docker engine reachable: stages run on this host (engine local)"
        else:
            image, reason = OTHER_IMAGES[name], ""
        note = ("no board: the published firmware code on this host (host DUT, accuracy of each system) "
                "if it was fetched, and the software DUT as a cross-check; throughput is NOT_COMPARABLE"
                ) if name == "run" and not ctx.port else ""
        if name == "latency" and not reason:
            note = "each of the 12 published builds in performance mode on QEMU: an emulated latency estimate"
        if name == "estimate":
            note = ("latency of each published build under the cycle-approximate timing model, beside the "
                    "published one (NOT_COMPARABLE); needs the code tree, as the host and qemu DUTs do")
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
