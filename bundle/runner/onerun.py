"""One `tinyrepro run` from its options: open the DUT its spec names, run one EnergyRunner
sequence, write log.txt/results.txt and run-info.json (see bundle/commands/run.py for the
file's keys). The `run` command and the pipeline's latency stage both call `execute`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bundle.dut.sim import MODEL_FILES
from bundle.dut.spec import DutSpec, make_dut, read_spec
from bundle.errors import UsageError
from bundle.catalogue import DATASETS as DATASET
from bundle import jsonout

RUN_INFO = "run-info.json"


@dataclass
class RunOptions:
    """What one run is given; the defaults are the `run` command's (bundle/commands/run.py reads
    them from here). `execute` fills in system and benchmark from --build."""
    out: Path
    dut: str | None = None
    build: str | None = None
    code: Path | None = None
    offline: bool = False
    build_dir: Path | None = None
    dut_spec: Path | None = None
    backend: str = "litert"
    benchmark: str = "kws"
    mode: str = "accuracy"
    stimuli: Path | None = None
    mirror: Path | None = None
    cache: Path | None = None
    port: str | None = None
    baud: int = 115200
    system: str = "microtvm_native/NUCLEO_L4R5ZI"
    script: Path | None = None
    n: int | None = None
    w: int | None = None
    limit: int | None = None
    retries: int = 3
    sim_baud: int = 0
    sim_infer_ms: float = 0.0
    fault: str = ""
    seed: int = 0


def iteration_counts(args) -> tuple[int, int]:
    from bundle.submission_builds import iterations, iterations_from_script

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


def execute(args: RunOptions) -> dict:
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
