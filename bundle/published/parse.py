"""Result sets from EnergyRunner session folders, published or reproduced.

The same code reads both sides of a diff:

- `load_mode_dir(path, ...) -> ModeRun`: one `<mode>/` folder (log.txt,
  results.txt, script.async, trace files); missing files are recorded, not fatal.
- `load_tree(root) -> list[ModeRun]`: every mode folder of a `closed/<Submitter>/` tree.
- `published_metrics(run)`: the numbers `results.txt` states.
- `recomputed_metrics(run, labels_dir)`: the same numbers recomputed from the raw
  files with `bundle.scoring`; a metric that cannot be recomputed carries a reason
  and no value.
- `accuracy_outputs(run)`: the per-input output vectors of an accuracy run.
- `recompute_tree(root, labels_dir, policy=None) -> list[dict]`: one record per
  (system, benchmark, metric) with published, recomputed, status and reason; this
  is what `tinyrepro published` prints.
- `load_labels(labels_dir, benchmark)`: file name -> true class from y_labels.csv.

Metric names: top1_pct, auc (accuracy), throughput_ips, latency_ms (performance),
energy_uj (energy, µJ per inference).
"""
from __future__ import annotations

import csv
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from bundle import scoring
from bundle.errors import ParseError
from bundle.published.energy import Trace, read_timestamps, read_trace
from bundle.published.layout import MODES, find_mode_dirs, load_systems
from bundle.published.logs import Output, SessionLog, parse_log
from bundle.published.results import ResultsFile, parse_results
from bundle.published.script import ScriptStep, infer_counts, parse_script

MODE_METRICS = {
    "performance": ("throughput_ips", "latency_ms"),
    "accuracy": ("top1_pct", "auc"),
    "energy": ("energy_uj",),
}
DATASET = {"kws": "kws01", "ic": "ic01", "vww": "vww01", "ad": "ad01"}
BENCH_OF_MODEL = {v: k for k, v in DATASET.items()}
UPSTREAM_MISSING = "upstream drops files of 4 MiB or more, so the published tree has no"
RUN_HINT = "the session folder is incomplete or inconsistent; fetch or rerun it"


@dataclass
class ModeRun:
    """What one session folder holds. Fields are None when the file is absent."""

    path: Path
    system: str | None
    benchmark: str | None
    mode: str | None
    log: SessionLog | None = None
    results: ResultsFile | None = None
    script: list[ScriptStep] | None = None
    trace: Trace | None = None
    timestamps: list[float] | None = None
    missing: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Value:
    """A number, or None with the reason it is not there."""

    value: float | None
    reason: str = ""
    detail: str = ""
    windows_equal: int | None = None     # recomputed window lines equal to results.txt
    windows_total: int | None = None


def _optional(path: Path, reader, missing: list[str]):
    if path.is_file():
        return reader(path)
    missing.append(path.name)
    return None


def _mode_from_log(log: SessionLog | None) -> str | None:
    if log is None:
        return None
    if log.code == "ulp-ml":
        return "energy"
    return {"multi": "accuracy", "bmark": "performance"}.get(log.run_mode or "")


def load_mode_dir(path: Path, system: str | None = None, benchmark: str | None = None,
                  mode: str | None = None) -> ModeRun:
    """Read one session folder. Mode and benchmark come from the log when not given."""
    path = Path(path)
    if not path.is_dir():
        raise ParseError(f"{path}: not a folder", hint="pass a folder holding log.txt and results.txt")
    missing: list[str] = []
    log = _optional(path / "log.txt", parse_log, missing)
    results = _optional(path / "results.txt", parse_results, missing)
    script = _optional(path / "script.async", parse_script, missing)
    mode = mode or _mode_from_log(log) or (path.name if path.name in MODES else None)
    if mode is None:
        raise ParseError(f"{path}: cannot tell the mode (no log.txt with bm cfg, folder not named performance|accuracy|energy)", hint=RUN_HINT)
    trace = timestamps = None
    if mode == "energy":
        trace = _optional(path / "trace1-energy.bin", read_trace, missing)
        timestamps = _optional(path / "trace1-timestamps.json", read_timestamps, missing)
    if benchmark is None and log is not None:
        benchmark = BENCH_OF_MODEL.get(log.model or log.config.get("model", ""))
    return ModeRun(path, system, benchmark, mode, log, results, script, trace, timestamps, missing)


def load_tree(root: Path) -> list[ModeRun]:
    """Every mode folder under root/results/, parsed."""
    return [load_mode_dir(d.path, d.system, d.benchmark, d.mode) for d in find_mode_dirs(root)]


# --- labels ---------------------------------------------------------------------------------

def load_labels(labels_dir: Path, benchmark: str) -> dict[str, int]:
    """basename -> true class, from <labels_dir>/<dataset>/y_labels.csv (spec §3.5)."""
    path = Path(labels_dir) / DATASET[benchmark] / "y_labels.csv"
    if not path.is_file():
        raise ParseError(f"{path}: no y_labels.csv", hint="pass the datasets folder (kws01/ ic01/ vww01/ ad01/)")
    labels = {}
    with path.open(newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh), start=1):
            if not row:
                continue
            try:
                labels[row[0].strip()] = int(row[2])
            except (IndexError, ValueError):
                raise ParseError(f"{path}:{lineno}: expected 'file,classes,label': {row!r}", hint=RUN_HINT) from None
    return labels


# --- published side -------------------------------------------------------------------------

def published_metrics(run: ModeRun) -> dict[str, Value]:
    res = run.results
    names = MODE_METRICS.get(run.mode or "", ())
    if res is None:
        return {m: Value(None, "results.txt missing: nothing published") for m in names}
    values = {
        "top1_pct": res.top1_pct, "auc": res.auc, "throughput_ips": res.median_throughput,
        "energy_uj": res.median_energy_uj,
        "latency_ms": scoring.latency_ms(res.median_throughput) if res.median_throughput else None,
    }
    return {m: Value(values[m], "" if values[m] is not None else f"results.txt states no {m}") for m in names}


# --- recomputation --------------------------------------------------------------------------

def _infer_n(run: ModeRun) -> int:
    """N of `infer N W`: from the log, else script.async, else bm cfg; all infers must agree."""
    counts = run.log.infers if run.log and run.log.infers else infer_counts(run.script or [])
    ns = {n for n, _ in counts}
    if not ns and run.log and "iterInfer" in run.log.config:
        ns = {int(run.log.config["iterInfer"])}
    if len(ns) != 1:
        raise ParseError(f"{run.path}: infer counts {sorted(ns) or 'none'}; expected one N for all windows", hint=RUN_HINT)
    return ns.pop()


def _missing_reason(run: ModeRun, names: list[str]) -> str:
    absent = [n for n in names if n in run.missing]
    why = f"{' and '.join(absent)} missing: cannot recompute"
    if run.mode == "accuracy" and run.benchmark == "ad" and "log.txt" in absent:
        why += f" ({UPSTREAM_MISSING} AD accuracy log)"
    return why


def _window_check(recomputed: list[tuple[int, dict[str, float]]], printed: dict[int, dict[str, float]],
                  rel_tol: float = 0.0) -> dict:
    """Value fields comparing recomputed window lines with the printed ones."""
    if not printed:
        return {"detail": "results.txt has no window lines"}
    equal = sum(1 for w, fields in recomputed if _fields_equal(fields, printed.get(w), rel_tol))
    return {"detail": f"{equal}/{len(recomputed)} window lines match results.txt",
            "windows_equal": equal, "windows_total": len(recomputed)}


def _fields_equal(mine: dict[str, float], theirs: dict[str, float] | None, rel_tol: float) -> bool:
    if theirs is None:
        return False
    for key, value in mine.items():
        if key not in theirs:
            return False
        if f"{value:.3f}" != f"{theirs[key]:.3f}" and abs(value - theirs[key]) > rel_tol * abs(theirs[key]):
            return False
    return True


def _performance(run: ModeRun) -> dict[str, Value]:
    if run.log is None:
        reason = _missing_reason(run, ["log.txt"])
        return {m: Value(None, reason) for m in MODE_METRICS["performance"]}
    windows = scoring.throughput_windows(run.log.laps, _infer_n(run))
    median = scoring.median_throughput(windows)
    mine = [(w.index, {"# Inferences": w.n, "Runtime": w.runtime_s, "Throughput": w.throughput}) for w in windows]
    check = _window_check(mine, run.results.perf_windows if run.results else {})
    invalid = [w.index for w in windows if not w.valid]
    if invalid:
        check["detail"] += f"; windows {invalid} shorter than 10 s or 10 inferences (invalid run)"
    # Latency is derived from the printed median, as generate_final_report.py does (§4.2).
    return {"throughput_ips": Value(median, **check),
            "latency_ms": Value(scoring.latency_ms(round(median, 3)), detail="1000 / median throughput (3 decimals)")}


def _energy(run: ModeRun) -> dict[str, Value]:
    need = ["log.txt", "trace1-energy.bin", "trace1-timestamps.json"]
    if any(n in run.missing for n in need):
        return {"energy_uj": Value(None, _missing_reason(run, need))}
    windows = scoring.energy_windows(run.trace.samples, run.trace.fs, run.timestamps, _infer_n(run))
    mine = [(w.index, {"Energy/Inf.": w.energy_per_inf_uj}) for w in windows]
    check = _window_check(mine, run.results.energy_windows if run.results else {}, rel_tol=1e-4)
    check["detail"] += " (1e-4 relative)"
    return {"energy_uj": Value(scoring.median_energy(windows), **check)}


def accuracy_outputs(run: ModeRun) -> list[Output]:
    if run.log is None:
        raise ParseError(f"{run.path}: no log.txt, so no output vectors", hint=RUN_HINT)
    return run.log.outputs


def _joined_labels(outputs: list[Output], labels: dict[str, int], path: Path) -> list[int]:
    unknown = [o.file or "<no bload before it>" for o in outputs if o.file not in labels]
    if unknown:
        raise ParseError(f"{path}: {len(unknown)} outputs name files not in y_labels.csv, first {unknown[0]!r}",
                         hint="the labels folder does not match this run's dataset")
    return [labels[o.file] for o in outputs]


def _accuracy(run: ModeRun, labels_dir: Path | None) -> dict[str, Value]:
    names = MODE_METRICS["accuracy"]
    if run.log is None:
        reason = _missing_reason(run, ["log.txt"])
        return {m: Value(None, reason) for m in names}
    if labels_dir is None:
        return {m: Value(None, "labels not given") for m in names}
    outputs = accuracy_outputs(run)
    if not outputs:
        return {m: Value(None, "log.txt holds no m-results lines") for m in names}
    labels = load_labels(labels_dir, run.benchmark)
    detail = f"{len(outputs)} outputs scored"
    if run.benchmark == "ad":
        return _ad_accuracy(outputs, labels, run.path, detail)
    y = _joined_labels(outputs, labels, run.path)
    scores = [list(o.values) for o in outputs]
    return {"top1_pct": Value(scoring.top1(scores, y), detail=detail),
            "auc": Value(scoring.eembc_auc(scores, y), detail=detail)}


def _ad_accuracy(outputs: list[Output], labels: dict[str, int], path: Path, detail: str) -> dict[str, Value]:
    per_file: OrderedDict[str, list[float]] = OrderedDict()
    for o in outputs:
        if len(o.values) != 1:
            raise ParseError(f"{path}: AD output for {o.file!r} has {len(o.values)} values, expected 1 (MSE)", hint=RUN_HINT)
        per_file.setdefault(o.file, []).append(o.values[0])
    files = list(per_file)
    y = _joined_labels([Output(f, 0, ()) for f in files], labels, path)
    scores = [sum(v) / len(v) for v in per_file.values()]
    detail += f", {len(files)} files (mean window MSE per file)"
    return {"top1_pct": Value(scoring.ad_top1(scores, y), detail=detail),
            "auc": Value(scoring.ad_auc(scores, y), detail=detail)}


def recomputed_metrics(run: ModeRun, labels_dir: Path | None) -> dict[str, Value]:
    if run.mode == "performance":
        return _performance(run)
    if run.mode == "energy":
        return _energy(run)
    return _accuracy(run, labels_dir)


# --- the `published` result set ------------------------------------------------------------

def recompute_tree(root: Path, labels_dir: Path | None, policy=None) -> list[dict]:
    """Recompute every published number under root and compare (section "published-recompute")."""
    from bundle import diff  # diff imports this module; import here to keep the cycle one-way at load time

    policy = policy or diff.load_policy()
    records = []
    for run in load_tree(root):
        records.extend(diff.compare_run(run, published_metrics(run), recomputed_metrics(run, labels_dir),
                                        policy.rules_for("recompute")))
    for r in records:
        r["section"] = "published-recompute"
    return records


def system_notes(root: Path) -> list[str]:
    """Human notes about the systems/ folder (e.g. which JSON files had to be repaired)."""
    notes = []
    for info in load_systems(root):
        if info.repairs:
            notes.append(f"{info.path.name}: repaired to read it ({'; '.join(info.repairs)})")
    return notes
