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
from bundle.models.base import BACKENDS
from bundle.catalogue import DATASETS as DATASET
from bundle.runner.onerun import RUN_INFO, RunOptions, execute

DEFAULTS = RunOptions(out=Path("."))


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
    p.add_argument("--backend", default=DEFAULTS.backend, type=backend_name,
                   help=f"model runtime of the sim DUT: {', '.join(BACKENDS)}")
    p.add_argument("--benchmark", default=DEFAULTS.benchmark, choices=sorted(DATASET))
    p.add_argument("--mode", default=DEFAULTS.mode, choices=["accuracy", "performance"])
    p.add_argument("--out", type=Path, required=True, help="run folder (an interrupted run resumes)")
    p.add_argument("--stimuli", type=Path,
                   help="folder named after the dataset (kws01, ic01, ...) with y_labels.csv and the .bin "
                        "stimuli (default: a set made by `tinyrepro stimuli` in <cache>/stimuli/<dataset>, "
                        "else the pinned datasets/<dataset>/ through the fetch layer)")
    p.add_argument("--mirror", type=Path, help="offline mirror of the pinned inputs")
    p.add_argument("--cache", type=Path, help="download cache (default artifacts/cache)")
    p.add_argument("--port", help="serial port URL (board; or an already running `tinyrepro sim`)")
    p.add_argument("--baud", type=int_in(*BAUDS), default=DEFAULTS.baud, help="host serial baud rate")
    p.add_argument("--system", default=DEFAULTS.system,
                   help="published build whose iteration counts to use (bundle/data/builds.yaml)")
    p.add_argument("--script", type=Path, help="take N/W from this published script.async instead")
    p.add_argument("--n", type=int_in(1, MAX_ITER), help="override N of `infer N W`")
    p.add_argument("--w", type=int_in(0, MAX_ITER), help="override W of `infer N W`")
    p.add_argument("--limit", type=int_in(1), help="only the first N stimuli (N >= 1)")
    p.add_argument("--retries", type=int_in(0, MAX_RETRIES), default=DEFAULTS.retries, help="retries per stimulus after a fault")
    p.add_argument("--sim-baud", type=int_in(0, BAUDS[1]), default=DEFAULTS.sim_baud, help="sim: emulated line rate (0 = unthrottled)")
    p.add_argument("--sim-infer-ms", type=float_in(0.0, 3_600_000.0), default=DEFAULTS.sim_infer_ms, help="sim: emulated ms per inference")
    p.add_argument("--fault", default=DEFAULTS.fault, type=fault_spec, help="sim: fault injection, e.g. drop:0.01,reset:0.001,digit:0.1")
    p.add_argument("--seed", type=int_in(0, 2**63 - 1), default=DEFAULTS.seed, help="sim: fault seed")
    p.set_defaults(func=run)


def options(args) -> RunOptions:
    return RunOptions(**{k: v for k, v in vars(args).items() if k in RunOptions.__dataclass_fields__})


def run(args) -> int:
    opts = options(args)
    outcome = execute(opts)
    for text in outcome["result"].results:
        print(text)
    if outcome["estimate"]:
        print(outcome["estimate"]["line"])
    result = outcome["result"]
    print(f"input: {outcome['input']}")
    print(f"{result.done} stimuli, {result.faults} faults recovered; "
          f"wrote {opts.out}/log.txt, results.txt, {RUN_INFO}")
    return 0
