"""`tinyrepro images build|list`: build the pinned images this host can build, list them."""
from __future__ import annotations

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
    b.set_defaults(func=build)
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

    engine = DockerEngine(base_image=args.base_image, on_build_line=tagged_printer("build"))
    plans = {p.target: p for p in _plans(engine)}
    targets = args.target or [t for t, p in plans.items() if p.buildable]
    for target in targets:
        plan = plans[target]
        if not plan.buildable and not args.target:
            continue
        if not plan.buildable:
            raise StageUnavailable(f"image {target} cannot be built on this host: {plan.reason}",
                                   hint="tinyrepro doctor shows what is missing")
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
