"""`tinyrepro estimate --build <variant>/<board>/<benchmark>`: a board-free latency estimate.

The published project is built for the board's core (the qemu DUT's image for a Cortex-M4F
board) and one inference runs under the cycle-approximate model of bundle/estimate/ (core
timings from the TRM, flash wait states and caches from the SoC manual). Printed beside the
published latency with their ratio; an estimate, never a verdict.
"""
from __future__ import annotations

import json
from pathlib import Path

from bundle.commands.fetch import add_fetch_options

RESULTS = "published/octoml-v1.0/results"


def register(sub) -> None:
    p = sub.add_parser("estimate", help="cycle-approximate latency of a published build, beside the published one")
    p.add_argument("--build", required=True, help="<variant>/<board>/<benchmark>, e.g. microtvm_native/NUCLEO_L4R5ZI/kws")
    p.add_argument("--elf", type=Path, help="estimate this image instead of building the project "
                                            "(an EEMBC harness ELF built for the board's core)")
    p.add_argument("--code", type=Path, help="a local code tree in the layout of closed/OctoML/code/ "
                                             "(default: the pinned tree through the fetch layer)")
    p.add_argument("--build-dir", type=Path, help="build cache (default <cache>/native)")
    p.add_argument("--timing", type=Path, help="timing model file (default bundle/data/timing.yaml)")
    p.add_argument("--json", action="store_true", help="print the estimate as JSON")
    add_fetch_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from bundle.commands.fetch import fetcher_from_args
    from bundle.dut.native_project import BuildSpec, cmsis_tree, published_code_tree
    from bundle.errors import FetchError
    from bundle.estimate import estimate_build, load_timing
    from bundle.estimate.result import format_text

    spec = BuildSpec.parse(args.build)
    timing = load_timing(args.timing)
    fetcher = fetcher_from_args(args, progress=False)
    cache = fetcher.cache_dir
    try:
        fetcher.fetch_tree(f"{RESULTS}/{spec.system}/{spec.benchmark}/performance/")
        published = cache / "tree" / RESULTS
    except FetchError:
        published = None     # the estimate stands alone; the table says the published one is missing
    code = None
    if args.elf is None:
        code = args.code or published_code_tree(cache, args.mirror, args.offline)
    est = estimate_build(spec, elf=args.elf, code_root=code, build_dir=args.build_dir or cache / "native",
                         cmsis=lambda: cmsis_tree(cache, args.mirror, args.offline), published_results=published,
                         timing=timing, progress=None if args.json else print)
    print(json.dumps(est.to_dict(), indent=2) if args.json else format_text(est))
    return 0
