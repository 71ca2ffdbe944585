"""EnergyRunner `log.txt` parser (grammar of spec §3.1).

`parse_log(path) -> SessionLog` reads one session log and extracts what scoring
needs: the DUT's `m-lap-us` values, the `infer N W` commands, the run
configuration (`bm cfg`), the model the DUT reported, and every `m-results`
vector paired with the file of the `bload`/`bloadp` before it.

Every line must match `<stamp> <source>: <message>`; a line that does not raises
ParseError naming the file and line number. The last line has no LF upstream,
so a truncated last line is only an error if it does not match the grammar.
DUT lines come either straight from the `dut` source or relayed by the IO
manager as `io: [dut]: ...` (energy mode).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

from bundle import eembc
from bundle.errors import ParseError

# The line grammar is bundle.eembc's (shared with the runner); these are its names here.
LINE_RE, COMMAND_RE, BLOAD_RE, INFER_RE = eembc.LOG_LINE, eembc.COMMAND, eembc.BLOAD, eembc.INFER
LAP_RE, RESULTS_RE, MODEL_RE = eembc.DUT_LINES["lap"], eembc.DUT_LINES["results"], eembc.DUT_LINES["model"]
RUN_NAME_RE, CFG_RE = eembc.RUN_NAME_LINE, eembc.CFG_LINE
DUT_RELAY = "[dut]: "
VALUE_RE = re.compile(r"^[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$")
MAX_LAP_US = 2**64 - 1


@dataclass(frozen=True)
class Output:
    """One printed result vector and the input it belongs to."""

    file: str                 # basename of the loaded file (upstream logs hold absolute paths)
    offset: int               # byte offset of the window sent (AD sends windows of one file)
    values: tuple[float, ...]


@dataclass
class SessionLog:
    path: Path
    lines: int = 0
    code: str | None = None                     # ulp-mlperf (performance/accuracy) or ulp-ml (energy)
    config: dict[str, str] = field(default_factory=dict)   # bm cfg key -> value
    model: str | None = None                    # from the DUT's m-model-[...]
    laps: list[int] = field(default_factory=list)
    infers: list[tuple[int, int | None]] = field(default_factory=list)   # (N, W) per infer command
    outputs: list[Output] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)   # DUT e-[...] lines, verbatim

    @property
    def run_mode(self) -> str | None:
        return self.config.get("runMode")


def file_basename(path: str) -> str:
    """Basename of a path written on any OS (EnergyRunner logs absolute host paths)."""
    return PureWindowsPath(path).name if "\\" in path else PurePosixPath(path).name


def _parse_values(text: str) -> tuple[float, ...]:
    # The VWW reference firmware prints a trailing comma: drop empty fields (§1.4).
    # Only what printf("%f"/"%e") prints is a value: nan, inf, 1_000 or 0x1p3 are not.
    fields = [v.strip() for v in text.split(",") if v.strip()]
    bad = next((v for v in fields if not VALUE_RE.match(v)), None)
    if bad is not None:
        raise ValueError(f"non-numeric value in m-results: {bad[:20]!r} is not a number a DUT prints")
    values = tuple(float(v) for v in fields)
    if not all(math.isfinite(v) for v in values):
        raise ValueError("m-results value out of range (overflows to infinity)")
    return values


def _dut_message(src: str, msg: str) -> str | None:
    if src == "dut":
        return msg
    if src == "io" and msg.startswith(DUT_RELAY):
        return msg[len(DUT_RELAY):]
    return None


class _Reader:
    """Folds log lines into a SessionLog; keeps the pending bload for pairing."""

    def __init__(self, log: SessionLog):
        self.log = log
        self.pending: tuple[str, int] | None = None

    def feed(self, src: str, msg: str) -> None:
        dut = _dut_message(src, msg)
        if dut is not None:
            self._dut(dut)
        elif src == "parser":
            self._parser(msg)

    def _parser(self, msg: str) -> None:
        if m := COMMAND_RE.match(msg):
            self._command(m["cmd"])
        elif m := CFG_RE.match(msg):
            self.log.config[m["key"]] = m["val"]
        elif m := RUN_NAME_RE.match(msg):
            self.log.code = m["code"]

    def _command(self, cmd: str) -> None:
        if m := BLOAD_RE.match(cmd):
            self.pending = (file_basename(m["file"]), int(m["off"] or 0))
        elif m := INFER_RE.match(cmd):
            self.log.infers.append((int(m["n"]), int(m["w"]) if m["w"] is not None else None))

    def _dut(self, msg: str) -> None:
        if m := LAP_RE.match(msg):
            if len(m["us"]) > 20 or int(m["us"]) > MAX_LAP_US:
                raise ValueError(f"m-lap-us value {m['us'][:24]} is beyond a 64-bit counter")
            self.log.laps.append(int(m["us"]))
        elif m := RESULTS_RE.match(msg):
            file, offset = self.pending if self.pending else ("", 0)
            self.log.outputs.append(Output(file, offset, _parse_values(m["vals"])))
        elif m := MODEL_RE.match(msg):
            self.log.model = m["model"]
        elif msg.startswith("e-["):
            self.log.errors.append(msg)


def parse_log(path: Path) -> SessionLog:
    """Parse one EnergyRunner session log; ParseError on any line outside the grammar."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})",
                         hint="the file is binary or corrupt; fetch it again") from None
    if not text.strip():
        raise ParseError(f"{path}: empty log", hint="the run did not start or the file was cut; rerun it")
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()                        # upstream has no final LF; our runner may write one
    log = SessionLog(path)
    reader = _Reader(log)
    for lineno, line in enumerate(lines, start=1):
        m = LINE_RE.match(line.rstrip("\r"))
        if not m:
            raise ParseError(f"{path}:{lineno}: line does not match '<stamp> <source>: <message>': {line[:80]!r}",
                             hint="the log is corrupt or truncated; fetch or rerun it")
        try:
            reader.feed(m["src"], m["msg"])
        except ValueError as exc:
            raise ParseError(f"{path}:{lineno}: {exc}", hint="the DUT printed a malformed line") from None
        log.lines = lineno
    return log
