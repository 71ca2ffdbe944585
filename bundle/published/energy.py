"""EMON trace files (spec §3.3, §3.4).

`read_trace(path) -> Trace`: `trace1-energy.bin` is 1 tag byte, a float32 LE
sample rate (Hz), then float32 LE samples (µJ per sample period).
`read_timestamps(path) -> list[float]`: `trace1-timestamps.json` is a JSON array
of GPIO edge times in seconds since `emon trace on`.

Both validate what scoring relies on and raise ParseError otherwise: sizes,
a finite positive sample rate, finite samples, non-decreasing edge times. The
edge count is not checked here: a run with other than 11 edges is incomplete,
which the caller reports as NOT_RUN (bundle.scoring.incomplete_run).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bundle.errors import ParseError

HEADER_BYTES = 5
KNOWN_TAG = 0xF1       # constant in all 95 known traces; meaning unknown, so only reported
MAX_RATE_HZ = 1e7      # far above any EMON; rejects garbage read as a float


@dataclass(frozen=True)
class Trace:
    tag: int
    fs: float
    samples: np.ndarray

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.fs


def read_trace(path: Path) -> Trace:
    path = Path(path)
    data = path.read_bytes()
    hint = "trace1-energy.bin is truncated or not an EMON trace; fetch it again"
    if len(data) < HEADER_BYTES + 4:
        raise ParseError(f"{path}: {len(data)} bytes, too short for a trace (header 5 + samples)", hint=hint)
    if (len(data) - HEADER_BYTES) % 4:
        raise ParseError(f"{path}: {len(data)} bytes is not 5 + 4*n: the last sample is cut", hint=hint)
    fs = float(np.frombuffer(data, "<f4", count=1, offset=1)[0])
    if not (math.isfinite(fs) and 0 < fs <= MAX_RATE_HZ):
        raise ParseError(f"{path}: sample rate {fs!r} Hz is not plausible", hint=hint)
    samples = np.frombuffer(data, "<f4", offset=HEADER_BYTES).astype(np.float64)
    if not np.all(np.isfinite(samples)):
        bad = int(np.argmin(np.isfinite(samples)))
        raise ParseError(f"{path}: sample {bad} is not a finite number", hint=hint)
    return Trace(data[0], fs, samples)


def _not_a_time(name: str):
    raise ValueError(f"{name} is not an edge time")


def read_timestamps(path: Path) -> list[float]:
    path = Path(path)
    hint = "trace1-timestamps.json is corrupt; fetch it again"
    try:
        values = json.loads(path.read_text(encoding="utf-8"), parse_constant=_not_a_time)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise ParseError(f"{path}: not valid JSON ({str(exc)[:120]})", hint=hint) from None
    except RecursionError:
        raise ParseError(f"{path}: JSON nested too deeply for a list of edge times", hint=hint) from None
    if not isinstance(values, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values
    ):
        raise ParseError(f"{path}: expected a JSON array of numbers (seconds)", hint=hint)
    for i, (a, b) in enumerate(zip(values, values[1:]), start=1):
        if b < a:
            raise ParseError(f"{path}: edge {i} ({b} s) is earlier than edge {i - 1} ({a} s)", hint=hint)
    return [float(v) for v in values]
