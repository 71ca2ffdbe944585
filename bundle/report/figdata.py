"""Where the report's figures get their data: the report rows, the published tree and the
run folders. Each function returns the plain series bundle.report.figures draws; a folder
that cannot be read is skipped with a note (the rows already carry its error), never drawn
as a wrong figure.
"""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from bundle.errors import ReproError
from bundle.report.figures import (MAX_TRACE_POINTS, AgreementSeries, LatencyPoint, TraceData,
                                   WindowSeries)
from bundle.report.row import Row, as_rows


def verdict_groups(rows: list[Row | dict]) -> dict[str, dict[str, int]]:
    groups: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in sorted(as_rows(rows), key=lambda r: (r.section or "", r.benchmark or "")):
        groups[f"{r.section}: {r.benchmark}"][r.verdict] += 1
    return {k: dict(v) for k, v in groups.items()}


def _run_dir(runs: list[dict], label: str, benchmark: str, mode: str) -> Path | None:
    for run in runs:
        if (run.get("label"), run.get("benchmark"), run.get("mode")) == (label, benchmark, mode) and run.get("dir"):
            return Path(run["dir"])
    return None


def _compared(rows: list[Row], mode: str) -> list[tuple[str, str, str]]:
    """(dut label, system, benchmark) of the reproduce rows of one mode, in report order."""
    seen = []
    for r in rows:
        key = (r.dut, r.system, r.benchmark)
        if r.section == "reproduce" and r.mode == mode and r.verdict != "NOT_RUN" and key not in seen:
            seen.append(key)
    return seen


def _max_abs(a, b) -> float:
    if b is None or len(a) != len(b):
        return math.nan
    return float(max((abs(x - y) for x, y in zip(a, b)), default=0.0))


def agreement(rows: list[Row | dict], runs: list[dict], published_root: Path | None, notes: list[str]) -> list[AgreementSeries]:
    from bundle.published.logs import parse_log

    series = []
    for label, system, benchmark in _compared(as_rows(rows), "accuracy"):
        run = _run_dir(runs, label, benchmark, "accuracy")
        pub = published_root / "results" / system / benchmark / "accuracy" / "log.txt" if published_root else None
        if run is None or pub is None or not pub.is_file() or not (run / "log.txt").is_file():
            continue
        try:
            theirs, mine = parse_log(pub).outputs, parse_log(run / "log.txt").outputs
        except ReproError as err:
            notes.append(f"output agreement {label} {system} {benchmark}: not drawn: {err.message}")
            continue
        by_key = {(o.file, o.offset): o.values for o in mine}
        dist = [_max_abs(o.values, by_key.get((o.file, o.offset))) for o in theirs]
        series.append(AgreementSeries(f"{label} vs {system} {benchmark}", dist,
                                      sum(1 for d in dist if d == 0), len(dist)))
    return series


def _windows(mode_dir: Path, label: str, group: str) -> WindowSeries | None:
    from bundle import scoring
    from bundle.published.parse import infer_n, load_mode_dir

    run = load_mode_dir(mode_dir, mode="performance")
    if run.log is None or scoring.incomplete_run(len(run.log.laps)):
        return None
    ws = scoring.throughput_windows(run.log.laps, infer_n(run))
    return WindowSeries(label, [w.index for w in ws], [w.throughput for w in ws], [w.valid for w in ws], group)


def window_series(rows: list[Row | dict], runs: list[dict], published_root: Path | None,
                  notes: list[str]) -> list[WindowSeries]:
    """Published windows of each compared system, then each reproduced run's, per benchmark."""
    wanted: list[tuple[str, Path]] = []
    systems = sorted({(r.system, r.benchmark) for r in as_rows(rows)
                      if r.section == "reproduce" and r.mode == "performance"
                      and r.published is not None and r.system})
    for system, benchmark in systems:
        if published_root:
            wanted.append((f"published {system}|{benchmark}",
                           published_root / "results" / system / benchmark / "performance"))
    for run in runs:
        if run.get("mode") == "performance" and run.get("dir"):
            wanted.append((f"{run['label']}|{run['benchmark']}", Path(run["dir"])))
    out = []
    for key, folder in wanted:
        label, benchmark = key.rsplit("|", 1)
        if not (folder / "log.txt").is_file():
            continue
        try:
            s = _windows(folder, label, benchmark)
        except ReproError as err:
            notes.append(f"windows {label} {benchmark}: not drawn: {err.message}")
            continue
        if s:
            out.append(s)
    return out


def energy_traces(published_root: Path | None, notes: list[str]) -> list[TraceData]:
    """Every published energy-mode folder with a trace, its inference windows marked."""
    from bundle import scoring
    from bundle.published.layout import find_mode_dirs
    from bundle.published.parse import infer_n, load_mode_dir

    if published_root is None:
        return []
    out = []
    for d in find_mode_dirs(published_root):
        if d.mode != "energy" or not (d.path / "trace1-energy.bin").is_file():
            continue
        label = f"{d.system} {d.benchmark}"
        try:
            run = load_mode_dir(d.path, d.system, d.benchmark, d.mode)
            if run.trace is None or run.timestamps is None or scoring.incomplete_run(len(run.timestamps)):
                continue
            ws = scoring.energy_windows(run.trace.samples, run.trace.fs, run.timestamps, infer_n(run))
        except ReproError as err:
            notes.append(f"energy trace {label}: not drawn: {err.message}")
            continue
        out.append(_decimated(label, run.trace.samples, run.trace.fs, ws))
    return out


def _decimated(label: str, samples: np.ndarray, fs: float, windows) -> TraceData:
    from bundle import scoring

    bucket = max(1, math.ceil(len(samples) / MAX_TRACE_POINTS))
    usable = len(samples) - len(samples) % bucket
    means = samples[:usable].reshape(-1, bucket).mean(axis=1)
    # a sample is µJ per sample period: x fs = µW
    power_mw = (means * fs / 1000.0).round(3).tolist()
    return TraceData(label, fs, power_mw, bucket / fs,
                     [(w.index, w.t0_s, w.t0_s + w.runtime_s) for w in windows],
                     scoring.median_energy(windows) if windows else None)


def latency_points(rows: list[Row | dict]) -> list[LatencyPoint]:
    """Every reproduce row that estimates the board's latency next to the published one: an
    emulated core (qemu) or a board. A software DUT's or the host's latency is this CPU's, not
    an estimate of the board's, so it is not drawn."""
    points = []
    for r in as_rows(rows):
        dut = str(r.dut or "")
        estimate = dut.startswith(("qemu", "board", "emulated")) or "estimate" in r.reason
        if r.section == "reproduce" and r.metric == "latency_ms" and estimate \
                and r.published and r.reproduced is not None:
            points.append(LatencyPoint(f"{r.system} {r.benchmark} ({r.dut})", float(r.published), float(r.reproduced)))
    return points
