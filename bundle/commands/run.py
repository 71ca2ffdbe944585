"""`tinyrepro run`: one EnergyRunner sequence against a DUT, written as log.txt/results.txt.

Next to them it writes `run-info.json`, what the run was made against: the DUT part
(`DutSpec.to_run_info`, bundle/dut/spec.py: dut_kind, backend, emulated_infer_ms, and for
host/qemu dut, build, program_digest, code), then "benchmark", "mode", "n", "w", "limit",
"stimuli": count, "system", "input": which stimuli were loaded (pinned, prepared, given, or a
zero-filled placeholder), and "latency_estimate": {estimate_ms, published_ms, ratio, emulation}
after an emulated performance run.
The runner cannot tell a pty from a board, so `tinyrepro reproduce`, which starts a software or
host DUT itself, describes it in a spec file (the same DUT part) given as `--dut-spec FILE`
with `--port`.
"""
from __future__ import annotations

from pathlib import Path

from bundle.cliargs import BAUDS, MAX_ITER, MAX_RETRIES, backend_name, fault_spec, float_in, int_in
from bundle.dut.sim import MODEL_FILES
from bundle.dut.spec import DutSpec, make_dut, read_spec
from bundle.errors import UsageError
from bundle.models.base import BACKENDS
from bundle.catalogue import DATASETS as DATASET
from bundle import jsonout

RUN_INFO = "run-info.json"


def register(sub) -> None:
    p = sub.add_parser("run", help="run accuracy or performance against a DUT (EnergyRunner format)")
    p.add_argument("--dut", choices=["sim", "board", "host", "qemu"],
                   help="sim (default): the model on a software DUT; board: a real board (--port); host / qemu: "
                        "the published firmware code (--build) compiled for this host / an emulated Cortex-M4F")
    p.add_argument("--build", help="host/qemu: the firmware project, <variant>/<board>/<benchmark>, "
                                   "e.g. microtvm_native/NUCLEO_L4R5ZI/kws (sets --system and --benchmark)")
    p.add_argument("--code", type=Path, help="host/qemu: a local code tree in the layout of closed/OctoML/code/ "
                                             "(default: the pinned published tree, fetched with git)")
    p.add_argument("--offline", action="store_true", help="host/qemu: fetch code only from the cache or mirror")
    p.add_argument("--build-dir", type=Path, help="host/qemu: build cache (default <cache>/native)")
    p.add_argument("--dut-spec", type=Path, metavar="FILE",
                   help="written by `tinyrepro reproduce`: the DUT at --port (a software or host DUT it "
                        "started), as the DUT part of run-info.json; instead of --dut")
    p.add_argument("--backend", default="litert", type=backend_name,
                   help=f"model runtime of the sim DUT: {', '.join(BACKENDS)}")
    p.add_argument("--benchmark", default="kws", choices=sorted(DATASET))
    p.add_argument("--mode", default="accuracy", choices=["accuracy", "performance"])
    p.add_argument("--out", type=Path, required=True, help="run folder (an interrupted run resumes)")
    p.add_argument("--stimuli", type=Path,
                   help="folder named after the dataset (kws01, ic01, ...) with y_labels.csv and the .bin "
                        "stimuli (default: a set made by `tinyrepro stimuli` in <cache>/stimuli/<dataset>, "
                        "else the pinned datasets/<dataset>/ through the fetch layer)")
    p.add_argument("--mirror", type=Path, help="offline mirror of the pinned inputs")
    p.add_argument("--cache", type=Path, help="download cache (default artifacts/cache)")
    p.add_argument("--port", help="serial port URL (board; or an already running `tinyrepro sim`)")
    p.add_argument("--baud", type=int_in(*BAUDS), default=115200, help="host serial baud rate")
    p.add_argument("--system", default="microtvm_native/NUCLEO_L4R5ZI",
                   help="published build whose iteration counts to use (bundle/data/builds.yaml)")
    p.add_argument("--script", type=Path, help="take N/W from this published script.async instead")
    p.add_argument("--n", type=int_in(1, MAX_ITER), help="override N of `infer N W`")
    p.add_argument("--w", type=int_in(0, MAX_ITER), help="override W of `infer N W`")
    p.add_argument("--limit", type=int_in(1), help="only the first N stimuli (N >= 1)")
    p.add_argument("--retries", type=int_in(0, MAX_RETRIES), default=3, help="retries per stimulus after a fault")
    p.add_argument("--sim-baud", type=int_in(0, BAUDS[1]), default=0, help="sim: emulated line rate (0 = unthrottled)")
    p.add_argument("--sim-infer-ms", type=float_in(0.0, 3_600_000.0), default=0.0, help="sim: emulated ms per inference")
    p.add_argument("--fault", default="", type=fault_spec, help="sim: fault injection, e.g. drop:0.01,reset:0.001,digit:0.1")
    p.add_argument("--seed", type=int_in(0, 2**63 - 1), default=0, help="sim: fault seed")
    p.set_defaults(func=run)


def iteration_counts(args) -> tuple[int, int]:
    from bundle.builds import iterations, iterations_from_script

    if args.script:
        n, w = iterations_from_script(args.script)
    else:
        n, w = iterations(args.system, args.benchmark, args.mode)
    return (args.n if args.n is not None else n), (args.w if args.w is not None else w)


def dut_spec(args) -> DutSpec:
    """The DUT this run opens: the spec file reproduce wrote, else the one --dut and its
    options describe (host/qemu: completed with the built program by native_program)."""
    if args.dut_spec:
        if args.dut:
            raise UsageError("--dut-spec already says what the DUT is; --dut says it again",
                             hint="give one of them (--dut-spec is written by tinyrepro reproduce)")
        if not args.port:
            raise UsageError("--dut-spec describes a DUT reached at --port", hint="add --port")
        return read_spec(args.dut_spec).at(args.port)
    kind = args.dut or "sim"
    if kind == "sim":
        return DutSpec("sim", runtime=args.backend, infer_ms=args.sim_infer_ms, port=args.port,
                       line_baud=args.sim_baud, faults=args.fault, seed=args.seed)
    return DutSpec(kind, build=args.build if kind != "board" else None, port=args.port)


def write_run_info(out: Path, info: dict) -> Path:
    from bundle.fsutil import atomic_output

    from bundle.fsutil import writing

    path = Path(out) / RUN_INFO
    with writing(path), atomic_output(path) as tmp:
        tmp.write_text(jsonout.dumps(info, indent=2) + "\n", encoding="utf-8")
    return path


def native_program(args, fetcher, spec: DutSpec) -> tuple[Path, DutSpec]:
    """host/qemu: fetch and build the firmware project; the program and the spec describing it."""
    from dataclasses import replace

    from bundle.dut.native_project import BuildSpec, build_program, cmsis_tree, published_code_tree

    if not args.build:
        raise UsageError(f"--dut {spec.kind} needs --build <variant>/<board>/<benchmark>",
                         hint="e.g. --build microtvm_native/NUCLEO_L4R5ZI/kws")
    build = BuildSpec.parse(args.build)
    args.system, args.benchmark = build.system, build.benchmark
    cache = fetcher.cache_dir
    code = args.code or published_code_tree(cache, args.mirror, args.offline)
    built = build_program(spec.kind, build, code, args.build_dir or cache / "native",
                          cmsis=lambda: cmsis_tree(cache, args.mirror, args.offline))
    print(f"{spec.kind} DUT: {built.project} {'reused' if built.reused else 'built'} ({built.digest}, {built.program})")
    return built.program, replace(spec, build=args.build, program_digest=built.digest, code=str(code))


def resolve_stimuli(args, fetcher) -> tuple[Path, str]:
    """The stimuli folder and what it is: given, prepared, pinned, or (performance mode only,
    when the set is not available here) a zero-filled placeholder of the right size."""
    from bundle.stimuli.placeholder import describe, placeholder_set
    from bundle.stimuli.stage import prepared_dir

    dataset = DATASET[args.benchmark]
    if args.stimuli:
        return args.stimuli, f"given: {args.stimuli}"
    prepared = prepared_dir(fetcher.cache_dir, dataset)
    if prepared:
        return prepared, f"prepared set (tinyrepro stimuli): {prepared}"
    pinned = any(f.path.endswith(".bin") for f in fetcher.lock.under(f"datasets/{dataset}/"))
    if pinned or args.mode != "performance":
        return fetcher.fetch_tree(f"datasets/{dataset}/"), f"pinned stimuli: datasets/{dataset}/"
    labels = fetcher.fetch(f"datasets/{dataset}/y_labels.csv")
    return placeholder_set(dataset, labels, fetcher.cache_dir / "placeholder"), describe(dataset)


def run(args) -> int:
    outcome = execute(args)
    for text in outcome["result"].results:
        print(text)
    if outcome["estimate"]:
        print(outcome["estimate"]["line"])
    result = outcome["result"]
    print(f"input: {outcome['input']}")
    print(f"{result.done} stimuli, {result.faults} faults recovered; "
          f"wrote {args.out}/log.txt, results.txt, {RUN_INFO}")
    return 0


def execute(args) -> dict:
    """One run from parsed options: {"result", "input", "estimate", "info", "program"}; raises
    ReproError (the CLI's `run` prints; `tinyrepro reproduce` calls this for its latency runs)."""
    from bundle.fetch.fetcher import Fetcher
    from bundle.runner.rundir import check_folder, claim, run_owner
    from bundle.runner.session import run_benchmark
    from bundle.runner.stimuli import plan_stimuli, stimuli_manifest

    fetcher = Fetcher.from_lock(cache_dir=args.cache, mirror=args.mirror, progress=False)
    spec, program = dut_spec(args), None
    if spec.capabilities.needs_build and not args.dut_spec:
        program, spec = native_program(args, fetcher, spec)
    label = spec.to_run_info()
    stimuli, input_used = resolve_stimuli(args, fetcher)
    n, w = iteration_counts(args)
    planned = plan_stimuli(stimuli, args.benchmark, args.mode)
    count = len(planned[:args.limit] if args.limit else planned)
    owner = run_owner(args.benchmark, args.mode, n, w, stimuli_manifest(stimuli, planned),
                      {**label, "dut": spec.kind, "system": args.system})
    check_folder(args.out, owner)      # refused before anything is started or written
    dut = make_dut(spec, program=program, benchmark=args.benchmark, mirror=args.mirror,
                   model=fetcher.fetch(MODEL_FILES[args.benchmark]) if spec.kind == "sim" and not spec.port else None)
    timing = spec.capabilities.timing
    with claim(args.out, owner):
        # written first, so an interrupted run folder still says what it was run against
        info = {**label, "benchmark": args.benchmark, "mode": args.mode, "n": n, "w": w,
                "limit": args.limit, "stimuli": count, "system": args.system, "input": input_used}
        write_run_info(args.out, info)
        with dut.open() as port:
            result = run_benchmark(port, args.benchmark, args.mode, stimuli, args.out, n=n, w=w,
                                   baud=args.baud, retries=args.retries, limit=args.limit,
                                   expected_latency_s=max((spec.infer_ms or 0.0) / 1000, 1.0),
                                   check_laps=timing != "emulated", progress=_progress(args.mode), claimed=True)
        estimate = None
        if timing == "emulated" and args.mode == "performance":
            from bundle.dut.qemu import emulation_note

            estimate = emulated_estimate(result.results, fetcher, args.system, args.benchmark)
            estimate["emulation"] = emulation_note(_board(spec.build or args.build))
            info["latency_estimate"] = {k: v for k, v in estimate.items() if k != "line"}
            write_run_info(args.out, info)
    return {"result": result, "input": input_used, "estimate": estimate, "info": info, "program": program}


def _board(build: str) -> str:
    from bundle.dut.native_project import BuildSpec

    return BuildSpec.parse(build).board


def emulated_estimate(texts: list[str], fetcher, system: str, benchmark: str) -> dict:
    """The emulated latency beside the published one, with their ratio: an estimate, not a
    verdict. {"estimate_ms", "published_ms", "ratio", "line"} (None where not computed)."""
    from bundle.errors import FetchError
    from bundle.published.results import MEDIAN_THR_RE

    def latency(text: str) -> float | None:   # the same reading of results.txt as the parser's
        m = MEDIAN_THR_RE.search(text)
        return 1000.0 / float(m[1]) if m and float(m[1]) > 0 else None

    mine = next((v for v in map(latency, texts) if v), None)
    try:
        published = fetcher.fetch(f"published/octoml-v1.0/results/{system}/{benchmark}/performance/results.txt")
        theirs = latency(published.read_text(encoding="utf-8", errors="replace"))
    except (FetchError, OSError):
        theirs = None
    out = {"estimate_ms": round(mine, 3) if mine else None, "published_ms": round(theirs, 3) if theirs else None,
           "ratio": round(mine / theirs, 3) if mine and theirs else None}
    if mine is None:
        return {**out, "line": "emulated latency estimate: not computed (no median throughput)"}
    line = f"emulated latency estimate {mine:.2f} ms (1 instruction per cycle, QEMU -icount)"
    if theirs:
        line += f"; published {theirs:.2f} ms; ratio {mine / theirs:.3f} (an estimate, not a verdict)"
    return {**out, "line": line}


def _progress(mode: str):
    """Plain lines (they cross container log streams intact): one per infer window in
    performance mode, about every 5% of the stimuli in accuracy mode."""
    def report(done: int, total: int, faults: int) -> None:
        print(f"{mode}: {done}/{total} stimuli ({faults} faults recovered)", flush=True)
    return report
