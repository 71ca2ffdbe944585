"""Small published trees written from templates, for the layout tests (no submitter's files copied).

A session is generated from a few numbers: the per-window runtimes of a median run, the
iteration count, the labels and outputs of an accuracy run, an EMON sample value. Its
results file states the numbers EnergyRunner prints for them (3 decimals; Top-1 and AUC
as the harness prints them), so a correct reader recomputes them exactly.

`session(kind, ...) -> {role: (base name, bytes)}` and `write_session(folder, files, prefix=...)`
build one folder; `write_labels(folder)` writes the datasets folder the accuracy runs use.
"""
from __future__ import annotations

import json
import statistics
import struct
from pathlib import Path

from bundle import scoring

RUNTIMES_S = (12.0, 12.5, 11.5, 12.25, 11.75)   # five median-run windows, all >= 10 s
DATASETS = {"kws": "kws01", "ic": "ic01", "vww": "vww01", "ad": "ad01"}
CLASSES = {"kws01": 3, "ic01": 3, "vww01": 2, "ad01": 2}
# (file, label) per dataset; the last input of each is misclassified, so Top-1 is 75.0
LABELS = {d: [(f"{d}_in{i}.bin", i % CLASSES[d]) for i in range(4)] for d in DATASETS.values()}
EMON_FS = 1000.0
EMON_UJ_PER_SAMPLE = 0.5


class Stamp:
    """EnergyRunner's `<seconds>.<ms>` line stamps, increasing."""

    def __init__(self, start: float = 10.0):
        self.t = start

    def __call__(self, step: float = 0.001) -> str:
        self.t += step
        return f"{self.t:09.3f}"


def _header(st: Stamp, code: str, run_mode: str, n: int, model: str, version: str, run_name: str) -> list[str]:
    lines = [f"{st()} session: m-session-start-id[20220901100624]",
             f"{st()} parser: m-bmark-run-name[{run_name}]-code[{code}]",
             f'{st()} parser: Command "version"', f"{st()} parser: m-version[{version}]",
             f'{st()} parser: Command "bm cfg {code}"']
    for k, v in (("iterWarmup", 1), ("iterInfer", n), ("runMode", run_mode), ("model", model)):
        lines.append(f"{st()} parser: m-bm-cfg-name[{code}]-key[{k}]-val[{v}]")
    return lines


def _dut(st: Stamp, msg: str, relay: bool) -> str:
    return f"{st()} io: [dut]: {msg}" if relay else f"{st()} dut: {msg}"


def _script(cmds: list[str]) -> bytes:
    steps = ",\n".join(f"    {{\n        cmd: '{c}'\n    }}" for c in cmds)
    return f"[\n{steps}\n]".encode()


def _result_lines(st: Stamp, code: str, body: list[str]) -> bytes:
    stamp = st(1.0)
    return "\n".join(f"{stamp} {code}: {b}" for b in body).encode() + b"\n"


def _perf_blocks(n: int, runtimes: tuple[float, ...]) -> tuple[list[str], float]:
    body, thr = [], []
    for w, r in zip(range(2, 11, 2), runtimes):
        thr.append(n / r)
        body += [f"Performance results for window {w}:", f"  # Inferences :{n:>13}",
                 f"  Runtime      :{r:>13.3f} sec.", f"  Throughput   :{n / r:>13.3f} inf./sec.",
                 "Runtime requirements have been met."]
    median = statistics.median(thr)
    return body + ["-" * 57, f"Median throughput is {median:.3f} inf./sec.", "-" * 57], median


def performance(bench: str, n: int = 100, version: str = "3.0.10", run_name: str = "ML Performance 1.0.1",
                model: str | None = None, runtimes: tuple[float, ...] = RUNTIMES_S) -> dict:
    dataset = DATASETS[bench]
    model = model or dataset
    st = Stamp()
    log = _header(st, "ulp-mlperf", "bmark", n, model, version, run_name)
    log += [_dut(st, f"m-model-[{model}]", False), f'{st()} parser: Command "dut timestamp"']
    lap = 1_000_000
    log.append(_dut(st, f"m-lap-us-{lap}", False))
    cmds = ["version", f"bm cfg ulp-mlperf", "dut timestamp"]
    for (name, _), r in zip(LABELS[dataset] + LABELS[dataset][:1], runtimes):
        cmds += [f'bload dut "/data/{dataset}/{name}"', f"dut infer {n} 1"]
        log += [f'{st()} parser: Command "bload dut "/data/{dataset}/{name}""',
                f'{st()} parser: Command "dut infer {n} 1"']
        lap += 400_000
        log.append(_dut(st, f"m-lap-us-{lap}", False))
        lap += round(r * 1e6)
        log.append(_dut(st, f"m-lap-us-{lap}", False))
        log.append(_dut(st, "m-results-[" + ",".join(["0.500"] * CLASSES[dataset]) + "]", False))
    body, _ = _perf_blocks(n, runtimes)
    body.append("Cannot compute accuracy metrics in single-run mode.")
    return {"log": ("log.txt", "\n".join(log).encode()), "script": ("script.async", _script(cmds)),
            "results": ("results.txt", _result_lines(st, "ulp-mlperf", body))}


def _scores(label: int, classes: int, right: bool) -> list[float]:
    top = label if right else (label + 1) % classes
    rest = round(0.2 / (classes - 1), 3)
    return [0.8 if c == top else rest for c in range(classes)]


def accuracy(bench: str, model: str | None = None, files: list[tuple[str, int]] | None = None,
             version: str = "3.0.10") -> dict:
    dataset = DATASETS[bench]
    model = model or dataset
    files = files or LABELS[dataset]
    classes = CLASSES[dataset]
    st = Stamp()
    log = _header(st, "ulp-mlperf", "multi", 1, model, version, "ML Performance 1.0.1")
    log.append(_dut(st, f"m-model-[{model}]", False))
    cmds, vectors = ["version", "bm cfg ulp-mlperf"], []
    for i, (name, label) in enumerate(files):
        vec = _scores(label, classes, right=i < len(files) - 1)
        vectors.append(vec)
        cmds += [f'bload dut "/data/{dataset}/{name}"', "dut infer 1 1"]
        log += [f'{st()} parser: Command "bload dut "/data/{dataset}/{name}""',
                f'{st()} parser: Command "dut infer 1 1"',
                _dut(st, "m-results-[" + ",".join(f"{v:.3f}" for v in vec) + "]", False)]
    labels = [lab for _, lab in files]
    top1 = scoring.top1(vectors, labels)
    auc = scoring.eembc_auc(vectors, labels)
    body = [f"Top-1: {top1:.1f}%", f"AUC: {auc:.2f}"]
    return {"log": ("log.txt", "\n".join(log).encode()), "script": ("script.async", _script(cmds)),
            "results": ("results.txt", _result_lines(st, "ulp-mlperf", body))}


def _trace(edges: list[float]) -> bytes:
    count = round((edges[-1] + 1.0) * EMON_FS)
    return bytes([0xF1]) + struct.pack("<f", EMON_FS) + struct.pack(f"<{count}f", *([EMON_UJ_PER_SAMPLE] * count))


def energy(bench: str, n: int = 50, traces: bool = True, relay: bool = True, version: str = "3.0.10",
           runtimes: tuple[float, ...] = RUNTIMES_S) -> dict:
    dataset = DATASETS[bench]
    st = Stamp()
    log = _header(st, "ulp-ml", "bmark", n, dataset, version, "ML Energy 1.0.1")
    log.append(_dut(st, f"m-model-[{dataset}]", relay))
    edges, t = [1.0], 1.0
    cmds = ["version", "bm cfg ulp-ml"]
    for (name, _), r in zip(LABELS[dataset] + LABELS[dataset][:1], runtimes):
        cmds += [f'bloadp "/data/{dataset}/{name}"', f"io dut infer {n} 1"]
        log += [f'{st()} parser: Command "bloadp "/data/{dataset}/{name}""',
                f'{st()} parser: Command "io dut infer {n} 1"',
                _dut(st, "m-results-[" + ",".join(["0.500"] * CLASSES[dataset]) + "]", relay)]
        t += 2.0
        edges.append(round(t, 3))
        t += r
        edges.append(round(t, 3))
    body, per_inf = [], []
    for w, r in zip(range(2, 11, 2), runtimes):
        e = EMON_UJ_PER_SAMPLE * EMON_FS * r
        per_inf.append(e / n)
        body += [f"Energy data for window {w} at time {edges[w - 1]:.2f} for {r:.2f} sec.:",
                 f"  Energy       :{e:>13.3f} uJ", f"  Power        :{e / r * 1:>13.3f} uW",
                 f"  Energy/Inf.  :{e / n:>13.3f} uJ/inf."]
    body += ["-" * 57, f"Median energy cost is {statistics.median(per_inf):.3f} uJ/inf.", "-" * 57]
    perf, _ = _perf_blocks(n, runtimes)
    files = {"log": ("log.txt", "\n".join(log).encode()), "script": ("script.async", _script(cmds)),
             "results": ("results.txt", _result_lines(st, "ulp-ml", body + perf))}
    if traces:
        files["trace"] = ("trace1-energy.bin", _trace(edges))
        files["timestamps"] = ("trace1-timestamps.json", json.dumps(edges).encode())
    return files


def results_only(files: dict) -> dict:
    """The session as published when its log is missing upstream."""
    return {"results": files["results"]}


def write_session(folder: Path, files: dict, prefix: str = "", rename: dict[str, str] | None = None) -> Path:
    """Write a session; `prefix` puts `<prefix>_` before the file names (not the EMON traces),
    `rename` gives some roles a name of their own (found by content)."""
    folder.mkdir(parents=True, exist_ok=True)
    for role, (name, data) in files.items():
        if rename and role in rename:
            name = rename[role]
        elif prefix and not name.startswith("trace1-"):
            name = f"{prefix}_{name}"
        (folder / name).write_bytes(data)
    return folder


def write_labels(folder: Path) -> Path:
    for dataset, rows in LABELS.items():
        (folder / dataset).mkdir(parents=True, exist_ok=True)
        (folder / dataset / "y_labels.csv").write_text(
            "".join(f"{name},{CLASSES[dataset]},{label}\n" for name, label in rows))
    return folder


def write_description(path: Path, **fields) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fields, indent=1))
    return path
