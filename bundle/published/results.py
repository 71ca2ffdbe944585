"""`results.txt` parser (spec §3.2, §7.6).

`parse_results(path) -> ResultsFile` reads the scoring summary EnergyRunner (or
the open MLCommons runner) wrote. Both spellings are accepted:
`Top-1: 90.2%` / `Top 1% = 90.2`, `AUC: 0.99` / `AUC = 0.995`, and any run of
spaces in `Median throughput is      6.943`. Duplicated lines are tolerated and
the LAST match wins, as the submission checker does. Per-window blocks are kept
(last block per window number wins) so recomputed window lines can be compared.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from bundle.errors import ParseError

NUM = r"([-+]?\d+(?:\.\d+)?)"
TOP1_RE = re.compile(rf"Top[- ]1%?\s?[:=]\s*{NUM}")
AUC_RE = re.compile(rf"AUC\s?[:=]\s*{NUM}")
MEDIAN_THR_RE = re.compile(rf"Median throughput is\s+{NUM}")
MEDIAN_ENERGY_RE = re.compile(rf"Median energy cost is\s+{NUM}")
PERF_HEAD_RE = re.compile(r"Performance results for window (\d+):")
ENERGY_HEAD_RE = re.compile(r"Energy data for window (\d+) at time")
FIELD_RE = re.compile(rf"^\s*(# Inferences|Runtime|Throughput|Energy/Inf\.|Energy|Power)\s*:\s*{NUM}")
# Lines start with "<stamp> <code>: " (EnergyRunner) or "MMDD.HHMMSS <code>: " (open runner).
PREFIX_RE = re.compile(r"^\S+ [a-z][a-z0-9-]*: ?")


@dataclass
class ResultsFile:
    path: Path
    top1_pct: float | None = None
    auc: float | None = None
    median_throughput: float | None = None
    median_energy_uj: float | None = None
    # window number -> printed fields, e.g. {"# Inferences": 100, "Runtime": 14.412, ...}
    perf_windows: dict[int, dict[str, float]] = field(default_factory=dict)
    energy_windows: dict[int, dict[str, float]] = field(default_factory=dict)
    invalid_windows: int = 0     # count of "e-[The run must take at least 10 seconds ...]" lines


def _body(line: str) -> str:
    return PREFIX_RE.sub("", line, count=1)


def parse_results(path: Path) -> ResultsFile:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ParseError(f"{path}: not UTF-8 text", hint="the file is binary or corrupt; fetch it again") from None
    res = ResultsFile(path)
    block: dict[str, float] | None = None
    for raw in text.splitlines():
        body = _body(raw.rstrip("\r"))
        if m := PERF_HEAD_RE.search(body):
            block = res.perf_windows[int(m[1])] = {}
        elif m := ENERGY_HEAD_RE.search(body):
            block = res.energy_windows[int(m[1])] = {}
        elif (m := FIELD_RE.match(body)) and block is not None:
            block[m[1]] = float(m[2])
        else:
            block = None
            _scalar(res, body)
    return res


def _scalar(res: ResultsFile, body: str) -> None:
    if m := TOP1_RE.search(body):
        res.top1_pct = float(m[1])
    elif m := AUC_RE.search(body):
        res.auc = float(m[1])
    elif m := MEDIAN_THR_RE.search(body):
        res.median_throughput = float(m[1])
    elif m := MEDIAN_ENERGY_RE.search(body):
        res.median_energy_uj = float(m[1])
    elif "must take at least 10 seconds" in body:
        res.invalid_windows += 1
