"""EEMBC EnergyRunner 3.0.10 scoring, written from the published method.

Every function takes the values the DUT printed (3-decimal scores, `m-lap-us`
microseconds) or the EMON trace, and returns an unrounded number; callers round
at the printed precision only when they compare or print. Section numbers refer
to docs/eembc-protocol-and-scoring.md.

Public API (imported by the runner, the parser and the differ):

- `Window`, `lap_deltas_us`, `throughput_windows`, `median_throughput`, `latency_ms`
  (performance mode, §4.1, §4.2)
- `top1`, `eembc_auc` (classifier accuracy, §4.4, §4.5)
- `ad_file_scores`, `ad_top1`, `ad_auc` (anomaly detection, §4.6)
- `EnergyWindow`, `energy_windows`, `median_energy` (energy mode, §4.3)
- `incomplete_run(count)`: why a median run with `count` laps/edges is not a full
  EnergyRunner run (§4.1, §7.3: exactly 11), or None when it is

The window functions accept any odd count >= 3 (the method itself); whether a run
is complete enough to stand for a published number is `incomplete_run`'s call.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from bundle.errors import ParseError

LAP_MODULUS = 2**32          # m-lap-us is an unsigned long on Cortex-M: wraps after ~71.6 min
MIN_WINDOW_S = 10.0          # validity rule: a window must last >= 10 s ...
MIN_WINDOW_N = 10            # ... and hold >= 10 inferences
AUC_STEPS = 100              # EEMBC simplified AUC: 101 thresholds k/100
MEDIAN_RUN_INFERS = 5        # a median run scores the first 5 stimuli ...
MEDIAN_RUN_EDGES = 1 + 2 * MEDIAN_RUN_INFERS   # ... so 11 laps / EMON edges (§4.1, §7.3)
AD_WINDOWS_PER_FILE = 196    # AD accuracy: windows of width 2560, stride 512 per file (§2.4)
SCORE_HINT = "the run is incomplete or its log is malformed; rerun it"


@dataclass(frozen=True)
class Window:
    """One reported performance window (EnergyRunner numbers them 2, 4, ..., 10)."""

    index: int
    n: int
    runtime_s: float
    throughput: float
    valid: bool


@dataclass(frozen=True)
class EnergyWindow:
    """One energy-mode window: EMON samples between two GPIO edges."""

    index: int
    n: int
    t0_s: float            # start edge, seconds since `emon trace on`
    runtime_s: float       # ts[w] - ts[w-1]
    samples: int           # i1 - i0
    energy_uj: float
    power_uw: float
    energy_per_inf_uj: float
    throughput: float
    valid: bool


def _is_valid(runtime_s: float, n: int) -> bool:
    return runtime_s >= MIN_WINDOW_S and n >= MIN_WINDOW_N


def _check_edge_count(count: int, what: str) -> None:
    # One initial timestamp, then a start and an end per infer: an odd count >= 3.
    if count < 3 or count % 2 == 0:
        raise ParseError(
            f"{count} {what}: expected 1 + 2 per infer (11 for the 5-input median run)",
            hint="the run was interrupted or the log is truncated; rerun it",
        )


def incomplete_run(count: int, what: str = "timestamps") -> str | None:
    """Reason a median run is incomplete (not exactly 11 laps/edges), else None."""
    if count == MEDIAN_RUN_EDGES:
        return None
    return f"incomplete run: {count} of {MEDIAN_RUN_EDGES} {what}"


def lap_deltas_us(laps: Sequence[int]) -> list[int]:
    """Consecutive differences of `m-lap-us` values, modulo 2**32 (counter wrap)."""
    return [(b - a) % LAP_MODULUS for a, b in zip(laps, laps[1:])]


def throughput_windows(laps: Sequence[int], n: int) -> list[Window]:
    """Windows 2, 4, ... from the laps of one run (11 laps give windows 2..10).

    Window w spans lap[w-1] -> lap[w]: the timed region of one `infer`. The odd
    windows hold the downloads and are not reported (§4.1).
    """
    _check_edge_count(len(laps), "m-lap-us values")
    deltas = lap_deltas_us(laps)
    windows = []
    for w in range(2, len(laps), 2):
        runtime_s = deltas[w - 1] / 1e6
        if runtime_s <= 0:
            raise ParseError(f"window {w} has a zero runtime (lap {laps[w - 1]} -> {laps[w]})",
                             hint="the DUT timestamp did not advance; check th_timestamp")
        windows.append(Window(w, n, runtime_s, n / runtime_s, _is_valid(runtime_s, n)))
    return windows


def median_throughput(windows: Sequence[Window]) -> float:
    """Median of the per-window throughputs (inf./s); all reported windows count."""
    if not windows:
        raise ParseError("no throughput windows to take a median of", hint=SCORE_HINT)
    return float(statistics.median(w.throughput for w in windows))


def latency_ms(median_thr: float) -> float:
    """Published latency: 1000 / median performance-mode throughput (§4.2)."""
    if median_thr <= 0:
        raise ParseError(f"throughput {median_thr} is not positive: no latency", hint=SCORE_HINT)
    return 1000.0 / median_thr


def _as_matrix(scores: Sequence[Sequence[float]], labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    if len(scores) != len(labels):
        raise ParseError(f"{len(scores)} score vectors but {len(labels)} labels", hint=SCORE_HINT)
    if not scores:
        raise ParseError("no score vectors to score", hint=SCORE_HINT)
    widths = {len(s) for s in scores}
    if len(widths) != 1:
        raise ParseError(f"score vectors have different lengths {sorted(widths)}",
                         hint="the DUT printed a malformed m-results line")
    return np.asarray(scores, dtype=float), np.asarray(labels, dtype=int)


def top1(scores: Sequence[Sequence[float]], labels: Sequence[int]) -> float:
    """Top-1 in percent. argmax takes the FIRST index on ties (3-decimal scores tie often, §4.4)."""
    s, y = _as_matrix(scores, labels)
    pred = np.argmax(s, axis=1)          # numpy returns the first maximal index
    return 100.0 * float(np.mean(pred == y))


def _simplified_auc(pos: np.ndarray, neg: np.ndarray, thresholds: Sequence[float]) -> float:
    # EEMBC calculate_auc: TPR/FPR at each threshold, (1,1) forced at k=0, trapezoids.
    tpr = [1.0] + [float(np.mean(pos > t)) for t in thresholds[1:]]
    fpr = [1.0] + [float(np.mean(neg > t)) for t in thresholds[1:]]
    return sum(0.5 * (tpr[k] + tpr[k + 1]) * (fpr[k] - fpr[k + 1]) for k in range(len(thresholds) - 1))


def eembc_auc(scores: Sequence[Sequence[float]], labels: Sequence[int]) -> float:
    """EEMBC simplified AUC (§4.5): 101 thresholds k/100, one-vs-rest per class, mean over classes.

    Not sklearn's rank AUC, which does not reproduce the published values.
    Thresholds are the decimal k/100 (not an accumulated float) so 3-decimal scores
    equal to a threshold compare the same way as in the reference. A class with no
    positives or no negatives has no ROC curve and is left out of the mean; if no
    class has both, there is no AUC and this raises.
    """
    s, y = _as_matrix(scores, labels)
    thresholds = [k / AUC_STEPS for k in range(AUC_STEPS + 1)]
    per_class = []
    for c in range(s.shape[1]):
        pos, neg = s[y == c, c], s[y != c, c]
        if len(pos) and len(neg):
            per_class.append(_simplified_auc(pos, neg, thresholds))
    if not per_class:
        raise ParseError("no class has both positive and negative inputs: AUC undefined", hint=SCORE_HINT)
    return float(np.mean(per_class))


def ad_file_scores(window_mse: Sequence[float], windows_per_file: int = AD_WINDOWS_PER_FILE) -> list[float]:
    """Per-file anomaly score: the mean of the file's per-window MSE values (§4.6)."""
    if windows_per_file < 1 or len(window_mse) % windows_per_file:
        raise ParseError(f"{len(window_mse)} window scores is not a multiple of {windows_per_file} per file",
                         hint="the AD accuracy log is incomplete")
    arr = np.asarray(window_mse, dtype=float).reshape(-1, windows_per_file)
    return [float(v) for v in arr.mean(axis=1)]


def _ad_thresholds(file_scores: np.ndarray, count: int) -> list[float]:
    lo, hi = float(file_scores.min()), float(file_scores.max())
    return [lo + (k / AUC_STEPS) * (hi - lo) for k in range(count)]


def _ad_arrays(file_scores: Sequence[float], labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    if len(file_scores) != len(labels) or not file_scores:
        raise ParseError(f"{len(file_scores)} file scores but {len(labels)} labels", hint=SCORE_HINT)
    return np.asarray(file_scores, dtype=float), np.asarray(labels, dtype=int)


def ad_top1(file_scores: Sequence[float], labels: Sequence[int]) -> float:
    """AD "Top-1": best plain accuracy over 100 thresholds between min and max score, percent."""
    s, y = _ad_arrays(file_scores, labels)
    best = max(float(np.mean((s > t).astype(int) == y)) for t in _ad_thresholds(s, AUC_STEPS))
    return 100.0 * best


def ad_auc(file_scores: Sequence[float], labels: Sequence[int]) -> float:
    """AD AUC: the simplified AUC over 101 thresholds between min and max; positives = anomalies (1)."""
    s, y = _ad_arrays(file_scores, labels)
    pos, neg = s[y == 1], s[y == 0]
    if not len(pos) or not len(neg):
        raise ParseError("AD AUC needs both normal and anomalous files", hint=SCORE_HINT)
    return _simplified_auc(pos, neg, _ad_thresholds(s, AUC_STEPS + 1))


def energy_windows(samples: np.ndarray, fs: float, ts: Sequence[float], n: int) -> list[EnergyWindow]:
    """Energy windows 2, 4, ... from EMON samples (µJ per sample) and GPIO edge times (§4.3).

    Sample indices are round(ts*fs): the JSON rounds edge times to 1 ms, so this lands
    within ±1 sample of EnergyRunner's choice (about 1e-5 relative on the median).
    """
    _check_edge_count(len(ts), "energy timestamps")
    total = len(samples)
    windows = []
    for w in range(2, len(ts), 2):
        t0, t1 = float(ts[w - 1]), float(ts[w])
        i0, i1 = round(t0 * fs), round(t1 * fs)
        if not 0 <= i0 < i1 <= total:
            raise ParseError(
                f"window {w} edges {t0}..{t1} s fall outside the trace (0..{total / fs:.3f} s)",
                hint="trace1-timestamps.json does not belong to this trace1-energy.bin",
            )
        energy = float(np.sum(samples[i0:i1], dtype=np.float64))
        runtime = t1 - t0
        windows.append(EnergyWindow(
            index=w, n=n, t0_s=t0, runtime_s=runtime, samples=i1 - i0, energy_uj=energy,
            power_uw=energy / ((i1 - i0) / fs), energy_per_inf_uj=energy / n,
            throughput=n / runtime, valid=_is_valid(runtime, n),
        ))
    return windows


def median_energy(windows: Sequence[EnergyWindow]) -> float:
    """Median energy per inference (µJ/inf) over the reported windows."""
    if not windows:
        raise ParseError("no energy windows to take a median of", hint=SCORE_HINT)
    value = float(statistics.median(w.energy_per_inf_uj for w in windows))
    if not math.isfinite(value):
        raise ParseError("energy median is not finite: the trace holds NaN/inf samples", hint=SCORE_HINT)
    return value
