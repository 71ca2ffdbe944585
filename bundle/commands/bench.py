"""`tinyrepro bench`: runner and software-DUT figures (bload efficiency, run times), TVM build."""
from __future__ import annotations

from pathlib import Path
from bundle import jsonout
from bundle.cliargs import int_in


def register(sub) -> None:
    p = sub.add_parser("bench", help="print runner/sim benchmark figures")
    p.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    p.add_argument("--mirror", type=Path, help="offline mirror of the pinned inputs")
    p.add_argument("--kws-limit", type=int_in(1), default=None,
                   help="stimuli in the 115200-baud KWS accuracy run (default all 1000: ~5 min)")
    p.add_argument("--places-limit", type=int_in(0), default=200,
                   help="stimuli per place in the two-place labgrid run (0: all 1000, ~18 min; default 200: ~4 min)")
    p.set_defaults(func=run)


def run(args) -> int:
    from tabulate import tabulate

    from bundle.bench import run_all
    from bundle.catalogue import benchmark as catalogued
    from bundle.fetch.fetcher import Fetcher

    kws = catalogued("kws")
    fetcher = Fetcher.from_lock(mirror=args.mirror, progress=False)
    figures = run_all(fetcher.fetch(f"models/{kws.model}"),
                      fetcher.fetch_tree(f"datasets/{kws.dataset}/"), args.kws_limit, args.places_limit or None)
    figures.update(_tvm_figures(fetcher.cache_dir))
    if args.json:
        print(jsonout.dumps(figures, indent=2))
    else:
        print(tabulate(figures.items(), headers=["figure", "value"]))
    return 0


def _tvm_figures(cache_dir: Path) -> dict:
    """The TVM build (make tvm-image): its time, or how far it is; needs the Docker engine."""
    from bundle.engine.docker import DockerEngine
    from bundle.toolchain.tvm_image import bench_figures

    engine = DockerEngine()
    ok, detail = engine.available()
    if not ok:
        return {"tvm_build": f"not measured: {detail}"}
    return bench_figures(engine, cache_dir)
