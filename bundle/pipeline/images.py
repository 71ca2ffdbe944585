"""images: build what this host can (the runner image); say why the others are not built.
The tvm image is only picked up here when its (long, resumable) build has finished."""
from __future__ import annotations

from dataclasses import replace

from bundle.errors import ReproError
from bundle.pipeline.base import Stage
from bundle.pipeline.outputs import Images


class BuildImages(Stage):
    name = "images"

    def why_not(self, req, s) -> str | None:
        if s.engine().caps.needs_images:
            return None
        return ("engine 'local' runs stages on this host: no images are built"
                + ("" if req.engine == "local" else " (no Docker engine reachable)"))

    def dry_run_reason(self, req, s, docker: bool) -> str | None:
        return None if docker else "no Docker engine reachable: stages run on this host (engine local)"

    def run(self, req, s) -> Images:
        from bundle.engine.images import HostCaps, plan_images

        engine = s.engine()
        plans = {p.target: p for p in plan_images(HostCaps(docker=True, reachable=req.network.reachable))}
        built = {}
        for target, plan in plans.items():
            if target == "tvm" and plan.buildable:
                # only the compile stage runs in it: not picked up (nor assembled) without it
                unused = "not needed: the compile stage was not selected (--no-compile)"
                plan = plans[target] = _tvm_image(req, engine, plan) if req.options.compile else \
                    replace(plan, buildable=False, reason=unused)
            if not plan.buildable:
                s.notes.append(f"image {target}: not built: {plan.reason}")
                continue
            built[target] = engine._images.get(target) or engine.ensure_image(target)[0]
        return Images(built, plans)


def _tvm_image(req, engine, plan):
    """The tvm image when its build has finished; it is never started here (`make tvm-image`
    does that). Otherwise the plan says how far the build is."""
    from bundle.toolchain.tvm_image import TvmImage, find_built

    try:
        tvm = TvmImage(engine, *req.code_source())
        state = tvm.state()
        if not state.done:
            return replace(plan, buildable=False, reason=state.describe())
        image = find_built(engine.client, tvm.plan, current_script=True) \
            or tvm.final_image(tvm.builder(), sink=lambda line: None)
        engine.use_image("tvm", image)
    except ReproError as err:
        return replace(plan, buildable=False, reason=f"the tvm image cannot be made: {err.message}")
    return plan


def image_status(s, image: str | None) -> str | None:
    """For `plan`: built, or why it cannot be built (network, Docker, pins UNSET in the lock)."""
    if image is None:
        return None
    if image in s.images.built:
        return "built"
    from bundle.engine.images import TARGETS

    p = s.images.plans.get(image)
    status = f"not built: {p.reason}" if p and not p.buildable else "not built yet (buildable here)"
    unset = TARGETS[image].unset_pins
    if unset and "pins not set" not in status:
        status += f"; pins UNSET in artifacts/lock.yaml: {', '.join(unset)}"
    return status
