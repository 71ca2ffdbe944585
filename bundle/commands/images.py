"""`tinyrepro images build|list`: build the pinned images this host can build, list them."""
from __future__ import annotations

import os
from pathlib import Path

from bundle.errors import EXIT_OK, StageUnavailable


def register(sub) -> None:
    p = sub.add_parser("images", help="build or list the pipeline's container images")
    isub = p.add_subparsers(dest="images_command", metavar="ACTION", required=True)
    b = isub.add_parser("build", help="build images (cached by content hash of their inputs)")
    b.add_argument("--target", action="append", choices=["runner", "tvm", "zephyr"],
                   help="image target (repeatable); default: every target this host can build")
    b.add_argument("--base-image", default=None,
                   help="replace the runner's base image (e.g. tinyrepro/debian-base:bookworm from `make base-image`)")
    b.add_argument("--force", action="store_true", help="rebuild even if the inputs hash is unchanged")
    b.add_argument("--toolchain-base-image", default=None,
                   help="replace the tvm/zephyr base (e.g. tinyrepro/debian-base:bullseye from `make toolchain-base-image`)")
    b.add_argument("--detach", action="store_true",
                   help="tvm: start or resume the TVM build in the background and return (see `images status`)")
    b.add_argument("--mirror", default=None, help="offline mirror with git/<repo>.git clones (TVM's sources)")
    b.add_argument("--cache", default=None, help="fetch cache (default: artifacts/cache)")
    b.add_argument("--offline", action="store_true", help="take TVM's sources from the cache or mirror only")
    b.set_defaults(func=build)
    st = isub.add_parser("status", help="how far the resumable TVM build is (steps, rate, time left)")
    st.add_argument("--json", action="store_true", help="machine-readable")
    st.set_defaults(func=status)
    ls = isub.add_parser("list", help="list built images and which targets this host can build")
    ls.set_defaults(func=list_images)


def _plans(engine):
    from bundle import doctor
    from bundle.engine.images import HostCaps, plan_images

    reachable = doctor.reachable_upstreams(doctor.check_network())
    return plan_images(HostCaps(docker=engine.available()[0], reachable=reachable))


def build(args) -> int:
    from bundle.engine.base import tagged_printer
    from bundle.engine.docker import DockerEngine

    extra = {"TOOLCHAIN_BASE_IMAGE": args.toolchain_base_image} if args.toolchain_base_image else {}
    engine = DockerEngine(base_image=args.base_image, build_extra=extra, on_build_line=tagged_printer("build"))
    plans = {p.target: p for p in _plans(engine)}
    targets = args.target or [t for t, p in plans.items() if p.buildable]
    for target in targets:
        plan = plans[target]
        if not plan.buildable and not args.target:
            continue
        if not plan.buildable:
            raise StageUnavailable(f"image {target} cannot be built on this host: {plan.reason}",
                                   hint="tinyrepro doctor shows what is missing")
        if target == "tvm":
            # Named explicitly, the (long) TVM build is followed; as one of all targets it is
            # started or resumed in the background, so `make images` does not wait hours.
            _build_tvm(engine, args, detach=args.detach or not args.target)
            continue
        record, built = engine.ensure_image(target, force=args.force)
        print(f"{target}: {record.tag} {record.image_id[:19]} ({'built' if built else 'up to date'})")
    for plan in plans.values():
        if not plan.buildable and plan.target not in targets:
            print(f"{plan.target}: skipped: {plan.reason}")
    return EXIT_OK


def list_images(args) -> int:
    from tabulate import tabulate

    from bundle.engine.docker import DockerEngine

    engine = DockerEngine()
    ok, detail = engine.available()
    rows = [[p.target, "yes" if p.buildable else "no", p.reason, ", ".join(p.stages)] for p in _plans(engine)]
    print(tabulate(rows, headers=["target", "buildable", "reason", "stages"]))
    if ok:
        print()
        print(tabulate([[r["target"], ", ".join(r["tags"]), r["id"][:19], r["inputs"], r["created"][:19]]
                        for r in engine.list_images()],
                       headers=["target", "tags", "id", "inputs", "created"]))
    else:
        print(f"\n{detail}")
    return EXIT_OK


def _tvm(engine, args):
    from bundle.fetch.fetcher import MIRROR_ENV, default_cache_dir
    from bundle.toolchain.tvm_image import TvmImage

    mirror = getattr(args, "mirror", None) or os.environ.get(MIRROR_ENV) or None
    cache = Path(args.cache) if getattr(args, "cache", None) else default_cache_dir()
    return TvmImage(engine, cache, Path(mirror) if mirror else None, getattr(args, "offline", False))


def _build_tvm(engine, args, detach: bool) -> None:
    """Start, resume or join the TVM build; without `detach`, follow it and make the image."""
    from bundle.engine.base import tagged_printer

    tvm = _tvm(engine, args)
    state = tvm.build(wait=not detach, sink=tagged_printer("tvm"))
    if detach and not state.done:
        print(f"tvm: {state.describe()}")
        return
    image = tvm.find()
    print(f"tvm: {image.tags[0]} {image.id[:19]} ({state.describe()})")


def status(args) -> int:
    import json

    from bundle.engine.docker import DockerEngine

    tvm = _tvm(DockerEngine(), args)
    state = tvm.state()
    if args.json:
        p = state.progress
        print(json.dumps({"volume": state.plan.volume, "running": state.running, "done": state.done,
                          "steps_done": p.done, "steps_total": p.total, "sessions": p.sessions,
                          "rate_per_min": p.rate_per_min, "recent_rate_per_min": p.recent_rate_per_min, "building_s": p.running_s,
                          "remaining_s": p.remaining_s, "projected_total_s": p.projected_total_s}, indent=2))
    else:
        print(state.describe())
    return EXIT_OK
