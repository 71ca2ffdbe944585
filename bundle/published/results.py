"""`results.txt` parser (spec §3.2, §7.6).

`parse_results(path) -> ResultsFile` reads the scoring summary EnergyRunner (or
the open MLCommons runner) wrote. Both spellings are accepted:
`Top-1: 90.2%` / `Top 1% = 90.2`, `AUC: 0.99` / `AUC = 0.995`, and any run of
spaces in `Median throughput is      6.943`. Duplicated lines are tolerated and
the LAST match wins, as the submission checker does. Per-window blocks are kept
(last block per window number wins) so recomputed window lines can be compared.
"""
from __future__ import annotations

import math
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
_NOT_NUMBER = re.compile(r"[.\deE]|[a-zA-Z]")     # a number that goes on: not what a runner prints


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
    except OSError as exc:
        raise ParseError(f"{path}: cannot read ({exc.strerror or exc})", hint="pass a results.txt file") from None
    res = ResultsFile(path)
    block: dict[str, float] | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        body = _body(raw.rstrip("\r"))
        where = f"{path}:{lineno}"
        if m := PERF_HEAD_RE.search(body):
            block = res.perf_windows[_window(m[1], where)] = {}
        elif m := ENERGY_HEAD_RE.search(body):
            block = res.energy_windows[_window(m[1], where)] = {}
        elif (m := FIELD_RE.match(body)) and block is not None:
            block[m[1]] = _number(m[2], m[1], where, 0.0, None)
        else:
            block = None
            _scalar(res, body, where)
    return res


# name, regex with the number, regex of the label alone, attribute, allowed range
_SCALARS = (
    ("Top-1", TOP1_RE, re.compile(r"Top[- ]1%?\s?[:=]"), "top1_pct", (0.0, 100.0)),
    ("AUC", AUC_RE, re.compile(r"AUC\s?[:=]"), "auc", (0.0, 1.0)),
    ("median throughput", MEDIAN_THR_RE, re.compile(r"Median throughput is"), "median_throughput", (0.0, None)),
    ("median energy", MEDIAN_ENERGY_RE, re.compile(r"Median energy cost is"), "median_energy_uj", (0.0, None)),
)
HINT = "results.txt holds a value no runner prints (nan, inf, out of range): fetch or rerun it"


def _number(text: str, what: str, where: str, lo: float | None, hi: float | None) -> float:
    value = float(text)
    if not math.isfinite(value) or (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ParseError(f"{where}: {what} {text[:24]} is out of range", hint=HINT)
    return value


def _window(text: str, where: str) -> int:
    if len(text) > 6:
        raise ParseError(f"{where}: window number {text[:12]}... is not a window", hint=HINT)
    return int(text)


def _scalar(res: ResultsFile, body: str, where: str) -> None:
    for what, full, label, attr, (lo, hi) in _SCALARS:
        if m := full.search(body):
            if _NOT_NUMBER.match(body, m.end()):     # "Top-1: 90.2.1%", "AUC: 0.99e"
                raise ParseError(f"{where}: {what} is not a number: {body[:80]!r}", hint=HINT)
            setattr(res, attr, _number(m[1], what, where, lo, hi))
            return
        if label.search(body):
            raise ParseError(f"{where}: {what} has no number: {body[:80]!r}", hint=HINT)
    if "must take at least 10 seconds" in body:
        res.invalid_windows += 1
