"""EnergyRunner-format output: `log.txt`, `results.txt` (spec §3.1, §3.2) and the sidecar.

`log.txt` lines are `<stamp> <source>: <message>`, joined by LF with no LF after the
last line, stamps `%09.3f` seconds since the runner started. The writer only
appends: an interrupted run is continued in the same file, its clock picking up
after the last stamp. Lines the runner adds beyond EnergyRunner's (faults,
retries, resynchronisation) use the source `runner`, which the grammar allows
and parsers that look for `dut`/`parser` lines skip.

The sidecar `run.jsonl` holds one JSON record per completed stimulus, appended
and flushed as it arrives; it is what a resumed run reads to skip finished work.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

STAMP_RE = re.compile(r"^(\d{5,}\.\d{3}) ")
RULE = "-" * 57


class LogWriter:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.resumed = self.path.is_file() and self.path.stat().st_size > 0
        self._offset = _last_stamp(self.path) + 0.001 if self.resumed else 0.0
        self._t0 = time.monotonic()

    def stamp(self, t: float | None = None) -> str:
        now = time.monotonic() if t is None else t
        return f"{now - self._t0 + self._offset:09.3f}"

    def line(self, source: str, message: str, t: float | None = None) -> str:
        return f"{self.stamp(t)} {source}: {message}"

    def write(self, lines: list[str]) -> None:
        """Append lines in one write, so a block is either in the file or not."""
        if not lines:
            return
        lead = "\n" if self.path.is_file() and self.path.stat().st_size > 0 else ""
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(lead + "\n".join(lines))
            fh.flush()
            os.fsync(fh.fileno())

    def emit(self, source: str, message: str) -> None:
        self.write([self.line(source, message)])


def _last_stamp(path: Path) -> float:
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 4096))
        tail = fh.read().decode("utf-8", errors="replace").splitlines()
    for text in reversed(tail):
        if m := STAMP_RE.match(text):
            return float(m[1])
    return 0.0


class Journal:
    """Append-only JSON lines; a torn last line (crash mid-write) is ignored."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def records(self) -> list[dict]:
        if not self.path.is_file():
            return []
        out = []
        for text in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(text))
            except json.JSONDecodeError:
                continue
        return out

    def append(self, record: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            if fh.tell() and not _ends_with_newline(self.path):
                fh.write("\n")       # never glue a record onto a torn one
            fh.write(json.dumps(record, separators=(",", ":")) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


# -- results.txt ---------------------------------------------------------------------
def performance_lines(windows, median: float) -> list[str]:
    """The `ulp-mlperf` performance blocks and trailer, byte-for-byte as EnergyRunner."""
    out = []
    for w in windows:
        out += [f"Performance results for window {w.index}:",
                f"  # Inferences : {w.n:>12d}",
                f"  Runtime      : {w.runtime_s:>12.3f} sec.",
                f"  Throughput   : {w.throughput:>12.3f} inf./sec.",
                "Runtime requirements have been met." if w.valid else
                "e-[The run must take at least 10 seconds and 10 iterations to be valid]"]
    return out + [RULE, f"Median throughput is {median:.3f} inf./sec.", RULE,
                  "Cannot compute accuracy metrics in single-run mode."]


def accuracy_lines(top1_percent: float, auc: float) -> list[str]:
    return [f"Top-1: {top1_percent:.1f}%", f"AUC: {auc:.2f}"]


def write_results(path: Path, log: LogWriter, code: str, texts: list[str]) -> None:
    """results.txt: every line `<stamp> <code>: <text>` + LF, on the session clock."""
    from bundle.fsutil import atomic_output  # a killed run leaves no half-written results.txt

    stamp = log.stamp()
    with atomic_output(path) as tmp:
        tmp.write_text("".join(f"{stamp} {code}: {t}\n" for t in texts), encoding="utf-8")
