"""EnergyRunner-format output: `log.txt`, `results.txt` (spec §3.1, §3.2) and the sidecar.

`log.txt` lines are `<stamp> <source>: <message>`, stamps `%09.3f` seconds since the
runner started. The writer only appends: an interrupted run is continued in the same
file, its clock picking up after the last stamp. Lines the runner adds beyond
EnergyRunner's (faults, retries, resynchronisation) use the source `runner`, which the
grammar allows and parsers that look for `dut`/`parser` lines skip.

Each block of lines is one append ending in LF, so a log that does not end in LF was
torn by a crash or a full disk mid-write. Only the final block (the trailer) is
written without its LF, as EnergyRunner leaves a finished log; `finished()` tells that
exact trailer from a torn write.

The sidecar `run.jsonl` holds one JSON record per completed stimulus, appended and
flushed as it arrives; it is what a resumed run trusts. Each record carries `log_at`,
the log's size when its block was about to be written, so a torn log is cut back to
the start of the last record's block and that block replayed from the record.
"""
from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path

from bundle.errors import ParseError
from bundle.fsutil import writing

STAMP_RE = re.compile(r"^(\d{5,}\.\d{3}) ")
TRAILER_RE = re.compile(r"^\d{5,}\.\d{3} session: Saved this run to session ID (\d+)$")
RULE = "-" * 57
RESUME_HINT = "then rerun with the same --out: the run resumes from run.jsonl"


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

    def size(self) -> int:
        return self.path.stat().st_size if self.path.is_file() else 0

    def write(self, lines: list[str], final: bool = False, sync: bool = True) -> None:
        """Append lines in one write ending in LF (the final block without it).

        sync=False for a block the journal already holds on disk: a block lost with the page
        cache is replayed from run.jsonl, so the log's own fsync would buy nothing for it
        (and costs 0.7 ms per stimulus, 0.3 % of a 115200-baud KWS run)."""
        if not lines:
            return
        lead = "\n" if self.size() and not _ends_with_newline(self.path) else ""
        with writing(self.path, RESUME_HINT), open(self.path, "a", encoding="utf-8") as fh:
            fh.write(lead + "\n".join(lines) + ("" if final else "\n"))
            fh.flush()
            if sync:
                os.fsync(fh.fileno())

    def emit(self, source: str, message: str) -> None:
        self.write([self.line(source, message)])

    def finished(self, session_id: str) -> bool:
        """The log ends with this session's complete trailer (no torn write after it)."""
        if not self.size() or _ends_with_newline(self.path):
            return False
        m = TRAILER_RE.match(_tail_lines(self.path)[-1])
        return bool(m) and m[1] == session_id


def _tail_lines(path: Path) -> list[str]:
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 4096))
        return fh.read().decode("utf-8", errors="replace").splitlines() or [""]


def _last_stamp(path: Path) -> float:
    for text in reversed(_tail_lines(path)):
        if m := STAMP_RE.match(text):
            return float(m[1])
    return 0.0


def repair_log(path: Path, records: list[dict], session_id: str | None) -> int:
    """Cut a torn log back to what the journal can rebuild; returns the bytes cut.

    Torn: not ending in LF and not the finished trailer. With journal records the cut
    goes to the start of the last record's block (replayed from the record afterwards);
    without any, to the empty file (the header is written again: no result is lost).
    """
    path = Path(path)
    size = path.stat().st_size if path.is_file() else 0
    if not size or _ends_with_newline(path) or (session_id and LogWriter(path).finished(session_id)):
        return 0
    cut = 0
    if records:
        cut = records[-1].get("log_at", -1)
        if not 0 <= cut <= size:      # the log lost more than the last block: keep its whole lines
            with open(path, "rb") as fh:
                cut = fh.read().rfind(b"\n") + 1
    with writing(path, RESUME_HINT), open(path, "r+b") as fh:
        fh.truncate(cut)
        fh.flush()
        os.fsync(fh.fileno())
    return size - cut


class Journal:
    """Append-only JSON lines, the record of every completed stimulus.

    Only a last line without its LF can be torn (a crash or a full disk mid-write):
    `repair()` cuts it before anything is appended. Any other line that is not a
    record is damage, and a ParseError naming the line.
    """

    FIELDS = {"key": str, "block": list, "values": list}

    def __init__(self, path: Path):
        self.path = Path(path)

    def repair(self) -> int:
        """Cut a torn last line; returns the bytes cut."""
        if not self.path.is_file() or not self.path.stat().st_size or _ends_with_newline(self.path):
            return 0
        data = self.path.read_bytes()
        keep = data.rfind(b"\n") + 1
        with writing(self.path, RESUME_HINT), open(self.path, "r+b") as fh:
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
        return len(data) - keep

    def records(self) -> list[dict]:
        if not self.path.is_file():
            return []
        try:
            text = self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(f"{self.path}: not UTF-8 (byte {exc.start})", hint=_JOURNAL_HINT) from None
        lines = text.split("\n")
        torn = lines.pop()          # "" when the file ends in LF; else a torn last line
        del torn                    # never trusted: repair() cuts it before the next append
        return [self._record(lineno, line) for lineno, line in enumerate(lines, start=1)]

    def _record(self, lineno: int, line: str) -> dict:
        where = f"{self.path}:{lineno}"
        try:
            rec = json.loads(line, parse_constant=_no_constant)
        except (json.JSONDecodeError, RecursionError, ValueError) as exc:
            raise ParseError(f"{where}: not a JSON record ({str(exc)[:80]})", hint=_JOURNAL_HINT) from None
        if not isinstance(rec, dict):
            raise ParseError(f"{where}: expected a JSON object", hint=_JOURNAL_HINT)
        for name, kind in self.FIELDS.items():
            if not isinstance(rec.get(name), kind):
                raise ParseError(f"{where}: field {name!r} must be {kind.__name__}", hint=_JOURNAL_HINT)
        if not all(isinstance(x, str) for x in rec["block"]) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in rec["values"]):
            raise ParseError(f"{where}: block must be lines and values finite numbers", hint=_JOURNAL_HINT)
        at = rec.get("log_at", 0)
        if not isinstance(at, int) or isinstance(at, bool) or at < 0:
            raise ParseError(f"{where}: log_at must be a byte offset", hint=_JOURNAL_HINT)
        return rec

    def append(self, record: dict) -> None:
        self.repair()                # never glue a record onto a torn one
        line = json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
        with writing(self.path, RESUME_HINT), open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())


_JOURNAL_HINT = "run.jsonl is damaged beyond a torn last line; delete the --out folder and rerun"


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number a DUT prints")


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
    with writing(path, RESUME_HINT), atomic_output(path) as tmp:
        tmp.write_text("".join(f"{stamp} {code}: {t}\n" for t in texts), encoding="utf-8")
