"""The numbers of one session folder: as published (results.txt) and recomputed from its raw files.

- `published_metrics(run)`: the numbers `results.txt` states.
- `recomputed_metrics(run, labels_dir, labels_reason=..., partial_ok=False)`: the same numbers
  recomputed from the raw files with `bundle.scoring`; a metric that cannot be recomputed
  carries a reason and no value. Only complete runs are scored (11 laps/edges; one output per
  y_labels.csv row, 196 windows per AD file); with `partial_ok` an accuracy run that stopped
  early is scored on what it holds and marked `partial` (the differ reports it NOT_COMPARABLE).
- `accuracy_outputs(run)`: the per-input output vectors of an accuracy run.
- `infer_n(run)`: N of the run's `infer N W` commands.

Metric names (the catalogue's modes): top1_pct, auc (accuracy), throughput_ips, latency_ms
(performance), energy_uj (energy, µJ per inference).
"""
from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

from bundle import scoring
from bundle.catalogue import DATASETS, MODE_METRICS, benchmark as catalogued
from bundle.errors import ParseError
from bundle.published.labels import labels_path, load_labels
from bundle.published.logs import Output
from bundle.published.moderun import RUN_HINT, ModeRun, Value
from bundle.published.results import ResultsFile
from bundle.published.script import infer_counts

UPSTREAM_MISSING = ("too large to mirror: pinned by git blob id in the lock (git_blobs:), fetched only "
                    "from the network, so this tree has no")
MAX_INFER_N = 2**31 - 1    # the harness reads N into a C int


# --- published side -------------------------------------------------------------------------

def published_metrics(run: ModeRun) -> dict[str, Value]:
    res = run.results
    names = MODE_METRICS.get(run.mode or "", ())
    if res is None:
        return {m: Value(None, "results.txt missing: nothing published") for m in names}
    # Latency is not in results.txt: the MLPerf table prints 1000 / median throughput at 2 decimals.
    latency = round(scoring.latency_ms(res.median_throughput), 2) if res.median_throughput else None
    values = {
        "top1_pct": res.top1_pct, "auc": res.auc, "throughput_ips": res.median_throughput,
        "energy_uj": res.median_energy_uj, "latency_ms": latency,
    }
    out = {m: Value(values[m], "" if values[m] is not None else f"results.txt states no {m}") for m in names}
    if "latency_ms" in out:
        out["latency_ms"] = replace(out["latency_ms"], detail="derived: 1000 / median throughput (not in results.txt)")
    return out


# --- recomputation --------------------------------------------------------------------------

def infer_n(run: ModeRun) -> int:
    """N of `infer N W`: from the log, else script.async, else bm cfg; all infers must agree."""
    counts = run.log.infers if run.log and run.log.infers else infer_counts(run.script or [])
    ns = {n for n, _ in counts}
    if not ns and run.log and "iterInfer" in run.log.config:
        text = run.log.config["iterInfer"]
        if not text.isascii() or not text.isdigit():
            raise ParseError(f"{run.path}: bm cfg iterInfer {text[:20]!r} is not a count", hint=RUN_HINT)
        ns = {int(text)}
    if len(ns) != 1:
        raise ParseError(f"{run.path}: infer counts {sorted(ns) or 'none'}; expected one N for all windows", hint=RUN_HINT)
    n = ns.pop()
    if not 1 <= n <= MAX_INFER_N:
        raise ParseError(f"{run.path}: infer N = {n}: an infer command runs 1..{MAX_INFER_N} inferences", hint=RUN_HINT)
    return n


def _missing_reason(run: ModeRun, names: list[str]) -> str:
    absent = [run.shown(n) for n in names if n in run.missing]
    why = f"{' and '.join(absent)} missing: cannot recompute"
    if run.mode == "accuracy" and run.benchmark == "ad" and "log.txt" in run.missing:
        why += f" ({UPSTREAM_MISSING} AD accuracy log: too large)"
    return why


def _window_check(recomputed: list[tuple[int, dict[str, float]]], results: ResultsFile | None,
                  printed: dict[int, dict[str, float]], rel_tol: float = 0.0) -> dict:
    """Value fields comparing recomputed window lines with the printed ones.

    The window numbers must be the same set on both sides: a printed block with no
    recomputed window (or the reverse) counts as a line that does not match.
    """
    if results is None:
        return {"detail": "no results.txt to check window lines against"}
    mine = dict(recomputed)
    numbers = sorted(set(mine) | set(printed))
    equal = sum(1 for w in numbers if w in mine and _fields_equal(mine[w], printed.get(w), rel_tol))
    detail = f"{equal}/{len(numbers)} window lines match results.txt"
    if set(mine) != set(printed):
        detail += f" (recomputed windows {sorted(mine)}, printed {sorted(printed)})"
    return {"detail": detail, "windows_equal": equal, "windows_total": len(numbers)}


def _fields_equal(mine: dict[str, float], theirs: dict[str, float] | None, rel_tol: float) -> bool:
    if theirs is None:
        return False
    for key, value in mine.items():
        if key not in theirs:
            return False
        if f"{value:.3f}" != f"{theirs[key]:.3f}" and abs(value - theirs[key]) > rel_tol * abs(theirs[key]):
            return False
    return True


def _not_run(mode: str, reason: str) -> dict[str, Value]:
    return {m: Value(None, reason) for m in MODE_METRICS[mode]}


def _performance(run: ModeRun) -> dict[str, Value]:
    if run.log is None:
        return _not_run("performance", _missing_reason(run, ["log.txt"]))
    incomplete = scoring.incomplete_run(len(run.log.laps), "timestamps")
    if incomplete:
        return _not_run("performance", f"{incomplete} (m-lap-us lines in log.txt)")
    windows = scoring.throughput_windows(run.log.laps, infer_n(run))
    median = scoring.median_throughput(windows)
    mine = [(w.index, {"# Inferences": w.n, "Runtime": w.runtime_s, "Throughput": w.throughput}) for w in windows]
    check = _window_check(mine, run.results, run.results.perf_windows if run.results else {})
    invalid = [w.index for w in windows if not w.valid]
    if invalid:
        check["detail"] += f"; windows {invalid} shorter than 10 s or 10 inferences (invalid run)"
    # Latency is derived from the printed median, as generate_final_report.py does (§4.2).
    return {"throughput_ips": Value(median, **check),
            "latency_ms": Value(scoring.latency_ms(round(median, 3)),
                                detail="derived: 1000 / median throughput (3 decimals), not measured")}


def _energy(run: ModeRun) -> dict[str, Value]:
    need = ["log.txt", "trace1-energy.bin", "trace1-timestamps.json"]
    if any(n in run.missing for n in need):
        why = _missing_reason(run, need)
        if "log.txt" not in run.missing and all(n in run.missing for n in need[1:]):
            why += " (this tree publishes energy without its EMON traces)"
        return _not_run("energy", why)
    incomplete = scoring.incomplete_run(len(run.timestamps), "timestamps")
    if incomplete:
        return _not_run("energy", f"{incomplete} (EMON edges in trace1-timestamps.json)")
    if run.log.infers and len(run.log.infers) != scoring.MEDIAN_RUN_INFERS:
        return _not_run("energy", f"incomplete run: {len(run.log.infers)} of {scoring.MEDIAN_RUN_INFERS} "
                                  "infer commands in log.txt")
    windows = scoring.energy_windows(run.trace.samples, run.trace.fs, run.timestamps, infer_n(run))
    mine = [(w.index, {"Energy/Inf.": w.energy_per_inf_uj}) for w in windows]
    check = _window_check(mine, run.results, run.results.energy_windows if run.results else {}, rel_tol=1e-4)
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


def _duplicates(keys: list) -> str:
    """Reason text when one input has more than one output (never counted twice), else ''."""
    dup = [k for k, n in Counter(keys).items() if n > 1]
    if not dup:
        return ""
    first = dup[0] if isinstance(dup[0], str) else f"{dup[0][0]}@{dup[0][1]}"
    return f"duplicated outputs: {len(dup)} inputs have more than one m-results line, first {first!r}"


@dataclass(frozen=True)
class _Coverage:
    """How much of the label set an accuracy log covers."""

    done: int
    total: int
    unit: str

    @property
    def complete(self) -> bool:
        return self.done == self.total

    def text(self, partial_ok: bool) -> str:
        what = "partial run" if partial_ok else "incomplete log"
        return f"{what}: {self.done} of {self.total} {self.unit}"


def _scored(compute, coverage: _Coverage, partial_ok: bool, detail: str) -> dict[str, Value]:
    """Run the scoring; a partial run is scored on what it holds and marked, or not scored."""
    if coverage.complete:
        top1, auc = compute()
        return {"top1_pct": Value(top1, detail=detail), "auc": Value(auc, detail=detail)}
    if not partial_ok:
        return _not_run("accuracy", coverage.text(False))
    partial = coverage.text(True)
    try:
        top1, auc = compute()
    except ParseError as exc:            # e.g. AUC undefined on a prefix holding one class
        return _not_run("accuracy", f"{partial}: {exc.message}")
    return {"top1_pct": Value(top1, detail=detail, partial=partial),
            "auc": Value(auc, detail=detail, partial=partial)}


def _accuracy(run: ModeRun, labels_dir: Path | None, labels_reason: str, partial_ok: bool) -> dict[str, Value]:
    if run.log is None:
        return _not_run("accuracy", _missing_reason(run, ["log.txt"]))
    if labels_dir is None:
        return _not_run("accuracy", labels_reason)
    if run.benchmark not in DATASETS:
        return _not_run("accuracy", f"benchmark unknown (log names model {run.log.model!r}): no labels to use")
    if not labels_path(labels_dir, run.benchmark).is_file():
        return _not_run("accuracy", f"labels missing: {labels_path(labels_dir, run.benchmark)} not found")
    outputs = accuracy_outputs(run)
    if not outputs:
        return _not_run("accuracy", f"{run.shown('log.txt')} holds no m-results lines")
    labels = load_labels(labels_dir, run.benchmark)
    other = _other_model(run, outputs, labels)
    if other:
        return _not_run("accuracy", other)
    if catalogued(run.benchmark).scoring == "anomaly":
        return _ad_accuracy(outputs, labels, run.path, partial_ok)
    y = _joined_labels(outputs, labels, run.path)
    dup = _duplicates([o.file for o in outputs])
    if dup:
        return _not_run("accuracy", dup)
    scores = [list(o.values) for o in outputs]
    coverage = _Coverage(len(outputs), len(labels), "stimuli")
    return _scored(lambda: (scoring.top1(scores, y), scoring.eembc_auc(scores, y)), coverage, partial_ok,
                   f"{len(outputs)} outputs scored")


def _other_model(run: ModeRun, outputs: list[Output], labels: dict[str, int]) -> str:
    """Why a run of another model version cannot be scored with the pinned labels, or ''.

    A log naming a model other than the benchmark's dataset (e.g. kws02) is scored only
    when every input it loaded is in the pinned y_labels.csv."""
    model = run.log.model or run.log.config.get("model") or ""
    dataset = DATASETS[run.benchmark]
    if not model or model == dataset:
        return ""
    unknown = [o.file for o in outputs if o.file not in labels]
    if not unknown:
        return ""
    return (f"other model version: the log ran {model!r}, not {dataset}, on {len(set(unknown))} inputs not "
            f"in the pinned {dataset}/y_labels.csv (first {unknown[0]!r}): no labels to score them")


def _ad_accuracy(outputs: list[Output], labels: dict[str, int], path: Path, partial_ok: bool) -> dict[str, Value]:
    _joined_labels(outputs, labels, path)
    dup = _duplicates([(o.file, o.offset) for o in outputs])
    if dup:
        return _not_run("accuracy", dup)
    per_file: OrderedDict[str, list[float]] = OrderedDict()
    for o in outputs:
        if len(o.values) != 1:
            raise ParseError(f"{path}: AD output for {o.file!r} has {len(o.values)} values, expected 1 (MSE)", hint=RUN_HINT)
        per_file.setdefault(o.file, []).append(o.values[0])
    per = scoring.AD_WINDOWS_PER_FILE
    over = [f for f, v in per_file.items() if len(v) > per]
    if over:
        return _not_run("accuracy", f"{over[0]!r} has {len(per_file[over[0]])} windows, expected {per}")
    # A file's score is the mean over all its windows: only whole files can be scored.
    whole = [f for f, v in per_file.items() if len(v) == per]
    coverage = _Coverage(len(outputs), len(labels) * per, f"windows ({per} per file)")
    y = [labels[f] for f in whole]
    scores = [sum(per_file[f]) / per for f in whole]
    detail = f"{len(outputs)} outputs scored, {len(whole)} files (mean window MSE per file)"
    return _scored(lambda: (scoring.ad_top1(scores, y), scoring.ad_auc(scores, y)), coverage, partial_ok, detail)


def recomputed_metrics(run: ModeRun, labels_dir: Path | None, labels_reason: str = "labels not given",
                       partial_ok: bool = False) -> dict[str, Value]:
    if run.mode == "performance":
        return _performance(run)
    if run.mode == "energy":
        return _energy(run)
    return _accuracy(run, labels_dir, labels_reason, partial_ok)
