"""`tinyrepro run`: one EnergyRunner sequence against a DUT, written as log.txt/results.txt."""
from __future__ import annotations

from pathlib import Path

from bundle.dut.base import get_dut
from bundle.dut.sim import MODEL_FILES
from bundle.runner.session import MODELS


def register(sub) -> None:
    p = sub.add_parser("run", help="run accuracy or performance against a DUT (EnergyRunner format)")
    p.add_argument("--dut", default="sim", choices=["sim", "board"])
    p.add_argument("--backend", default="litert", help="model runtime of the sim DUT: litert or tvm")
    p.add_argument("--benchmark", default="kws", choices=sorted(MODELS))
    p.add_argument("--mode", default="accuracy", choices=["accuracy", "performance"])
    p.add_argument("--out", type=Path, required=True, help="run folder (an interrupted run resumes)")
    p.add_argument("--mirror", type=Path, help="offline mirror of the pinned inputs")
    p.add_argument("--cache", type=Path, help="download cache (default artifacts/cache)")
    p.add_argument("--port", help="serial port URL (board; or an already running `tinyrepro sim`)")
    p.add_argument("--baud", type=int, default=115200, help="host serial baud rate")
    p.add_argument("--system", default="microtvm_native/NUCLEO_L4R5ZI",
                   help="published build whose iteration counts to use (bundle/data/builds.yaml)")
    p.add_argument("--script", type=Path, help="take N/W from this published script.async instead")
    p.add_argument("--n", type=int, help="override N of `infer N W`")
    p.add_argument("--w", type=int, help="override W of `infer N W`")
    p.add_argument("--limit", type=int, help="only the first N stimuli")
    p.add_argument("--retries", type=int, default=3, help="retries per stimulus after a fault")
    p.add_argument("--sim-baud", type=int, default=0, help="sim: emulated line rate (0 = unthrottled)")
    p.add_argument("--sim-infer-ms", type=float, default=0.0, help="sim: emulated ms per inference")
    p.add_argument("--fault", default="", help="sim: fault injection, e.g. drop:0.01,reset:0.001")
    p.add_argument("--seed", type=int, default=0, help="sim: fault seed")
    p.set_defaults(func=run)


def iteration_counts(args) -> tuple[int, int]:
    from bundle.builds import iterations, iterations_from_script

    if args.script:
        n, w = iterations_from_script(args.script)
    else:
        n, w = iterations(args.system, args.benchmark, args.mode)
    return (args.n if args.n is not None else n), (args.w if args.w is not None else w)


def run(args) -> int:
    from bundle.fetch.fetcher import Fetcher
    from bundle.runner.session import run_benchmark

    fetcher = Fetcher.from_lock(cache_dir=args.cache, mirror=args.mirror, progress=False)
    stimuli = fetcher.fetch_tree(f"datasets/{MODELS[args.benchmark]}/")
    n, w = iteration_counts(args)
    options = {"port": args.port}
    if args.dut == "sim":
        options.update(backend=args.backend, benchmark=args.benchmark,
                       model=fetcher.fetch(MODEL_FILES[args.benchmark]), baud=args.sim_baud,
                       infer_ms=args.sim_infer_ms, faults=args.fault, seed=args.seed)
    with get_dut(args.dut)(**options).open() as port:
        result = run_benchmark(port, args.benchmark, args.mode, stimuli, args.out, n=n, w=w,
                               baud=args.baud, retries=args.retries, limit=args.limit,
                               expected_latency_s=max(args.sim_infer_ms / 1000, 1.0),
                               progress=_progress(args.mode))
    for text in result.results:
        print(text)
    print(f"{result.done} stimuli, {result.faults} faults recovered; wrote {args.out}/log.txt, results.txt")
    return 0


def _progress(mode: str):
    """Plain lines (they cross container log streams intact): one per infer window in
    performance mode, about every 5% of the stimuli in accuracy mode."""
    def report(done: int, total: int, faults: int) -> None:
        print(f"{mode}: {done}/{total} stimuli ({faults} faults recovered)", flush=True)
    return report
