"""Host side of the EEMBC DUT protocol (spec §1, §7) over any pyserial URL.

`Link` owns the port: it sends `cmd%`, splits replies into lines, and ends a reply
at a line EQUAL to `m-ready`. Everything that can go wrong on the wire becomes an
exception that carries the lines received so far, so the session can log them:
  ReplyTimeout   no `m-ready` in time (stall, dropped terminator)
  ReplyFault     `e-[...]`, the oversize-buffer message, a non-ASCII line, a
                 line that does not fit the command's expected reply, or an infer
                 whose two `m-lap-us` values disagree with the host's clock
  DutRebooted    `m-init-done` in the middle of a reply: the DUT restarted
  PortGone       the port vanished (board unplugged, sim process ended)
`DutClient` adds the commands with their reply checks (db load, infer, ...).
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

import serial

from bundle import eembc
from bundle.errors import DutProtocolError, DutTimeout, PortGone
from bundle.scheduling import ThreadHint
from bundle.runner.transport import POLL_S, TransportGone, transport_for

MAX_CHUNK_BYTES = 38        # "db " + 76 hex digits = 79 characters < EE_CMD_SIZE (80)
READY = eembc.READY
LAP_MODULUS = 2**32         # m-lap-us is a u32 on Cortex-M (spec §1.6)
LAP_TOLERANCE_S = 0.05      # a lap interval may differ from the host's view by this much ...
LAP_TOLERANCE_REL = 0.20    # ... or by this fraction of the host's interval, if larger

# The harness's line grammar (bundle.eembc, shared with the published-log parser). Printed
# scores: digits, a point, exactly 3 decimals; anything else is a damaged line.
RE, VALUE_RE, OVERSIZE_RE = eembc.DUT_LINES, eembc.DUT_VALUE, eembc.OVERSIZE


@dataclass(frozen=True)
class RxLine:
    text: str
    t: float            # time.monotonic() when its LF arrived
    garbled: bool = False


class _WithLines:
    def __init__(self, message: str, lines: list[RxLine] | None = None, hint: str | None = None):
        super().__init__(message, hint)
        self.lines = list(lines or [])


class ReplyTimeout(_WithLines, DutTimeout):
    pass


class ReplyFault(_WithLines, DutProtocolError):
    pass


class DutRebooted(ReplyFault):
    pass


class Link:
    """Line-oriented access to one serial port (bytes move through a `transport`)."""

    def __init__(self, port, io=None):
        self.port = port
        self.io = io or transport_for(port)
        self._buf = b""
        # the opening thread does the link's I/O: let its wake-ups preempt a CPU hog sooner
        self._hint = ThreadHint()

    @classmethod
    def open(cls, url: str, baud: int = 115200) -> "Link":
        try:
            port = serial.serial_for_url(url, baudrate=baud, bytesize=8, parity="N", stopbits=1,
                                         timeout=POLL_S, xonxoff=False, rtscts=False)
        except (serial.SerialException, OSError, ValueError) as err:
            raise PortGone(f"cannot open serial port {url}: {err}",
                           hint="check the device is plugged in and the path/URL is right "
                                "(tinyrepro doctor lists serial devices)") from None
        return cls(port)

    def close(self) -> None:
        self._hint.undo()
        try:
            self.port.close()
        except (serial.SerialException, OSError):
            pass

    # -- raw I/O ----------------------------------------------------------------------
    def send(self, cmd: str) -> None:
        try:
            self.io.write((cmd + "%").encode("ascii"))
        except TransportGone as err:
            raise self._gone(err) from None

    def read_line(self, deadline: float) -> RxLine | None:
        """The next complete line, or None at the deadline; returns the moment its LF is in."""
        while b"\n" not in self._buf:
            try:
                chunk = self.io.read_some(deadline)
            except TransportGone as err:
                raise self._gone(err) from None
            if not chunk:
                return None
            self._buf += chunk
        raw, _, self._buf = self._buf.partition(b"\n")
        raw = raw.replace(b"\r", b"").replace(b"\x00", b"")
        try:
            return RxLine(raw.decode("ascii"), time.monotonic())
        except UnicodeDecodeError:
            return RxLine(raw.decode("latin-1").encode("unicode_escape").decode("ascii"),
                          time.monotonic(), garbled=True)

    def drain(self) -> list[RxLine]:
        """Lines already waiting (unsolicited output, e.g. a reboot between commands)."""
        lines = []
        while True:
            try:
                waiting = self.io.waiting()
            except TransportGone as err:
                raise self._gone(err) from None
            if b"\n" not in self._buf and not waiting:
                return lines
            line = self.read_line(time.monotonic() + POLL_S)
            if line is None:
                return lines
            lines.append(line)

    def discard_input(self) -> bytes:
        try:
            pending = self._buf + self.io.discard()
        except TransportGone as err:
            raise self._gone(err) from None
        self._buf = b""
        return pending

    def _gone(self, err: Exception) -> PortGone:
        return PortGone(f"serial port {self.port.port} went away: {err}",
                        hint="the board was unplugged or the DUT process ended; reconnect and "
                             "rerun the same command with the same --out to resume")

    # -- one command ------------------------------------------------------------------
    def transact(self, cmd: str, timeout_s: float) -> list[RxLine]:
        """Send one command; its reply lines up to and without the final m-ready."""
        self.send(cmd)
        deadline = time.monotonic() + timeout_s
        lines: list[RxLine] = []
        while True:
            line = self.read_line(deadline)
            if line is None:
                raise ReplyTimeout(f"no m-ready within {timeout_s:g} s after {cmd!r}", lines)
            if line.text == READY:
                break
            lines.append(line)
        _check_reply(cmd, lines)
        return lines


def _check_reply(cmd: str, lines: list[RxLine]) -> None:
    """Faults any command can show; command-specific checks are in DutClient."""
    for line in lines:
        if RE["init"].match(line.text):
            raise DutRebooted(f"the DUT rebooted during {cmd!r}", lines)
        if line.garbled:
            raise ReplyFault(f"garbled (non-ASCII) line in the reply to {cmd!r}: {line.text[:60]}", lines)
        if RE["error"].match(line.text) or OVERSIZE_RE.match(line.text):
            raise ReplyFault(f"the DUT refused {cmd!r}: {line.text}", lines)


def parse_values(text: str, expected: int | None) -> list[float]:
    """Values of an `m-results-[...]` body; empty fields dropped (VWW trailing comma)."""
    fields_ = [f for f in text.split(",") if f != ""]
    if not all(VALUE_RE.match(f) for f in fields_):
        raise ValueError(f"values are not all 3-decimal numbers: [{text}]")
    if expected is not None and len(fields_) != expected:
        raise ValueError(f"{len(fields_)} values, expected {expected}: [{text}]")
    values = [float(f) for f in fields_]
    if not all(math.isfinite(v) for v in values):     # 400 digits parse, as infinity
        raise ValueError(f"a value overflows: [{text[:60]}]")
    return values


@dataclass
class InferReply:
    laps: list[int]
    values: list[float]
    lines: list[RxLine] = field(default_factory=list)


class DutClient:
    """The harness commands, each with the reply it must produce."""

    def __init__(self, link: Link, command_timeout_s: float = 5.0, chunk_bytes: int = MAX_CHUNK_BYTES):
        if not 1 <= chunk_bytes <= MAX_CHUNK_BYTES:
            raise ValueError(f"chunk_bytes must be 1..{MAX_CHUNK_BYTES}")
        self.link = link
        self.timeout_s = command_timeout_s
        self.chunk_bytes = chunk_bytes

    def _expect(self, cmd: str, lines: list[RxLine], kinds: list[str]) -> list[re.Match]:
        """The reply must be exactly these line kinds, in order (foreign text lines allowed)."""
        matches = []
        ours = [ln for ln in lines if _is_protocol_line(ln.text)]
        for line, kind in zip(ours, kinds):
            m = RE[kind].match(line.text)
            if not m:
                raise ReplyFault(f"unexpected reply {line.text!r} to {cmd!r} (wanted {kind})", lines)
            matches.append(m)
        if len(ours) != len(kinds):
            raise ReplyFault(f"reply to {cmd!r} has {len(ours)} protocol lines, expected "
                             f"{len(kinds)} ({', '.join(kinds) or 'none'})", lines)
        return matches

    def name(self, timeout_s: float | None = None) -> tuple[str, list[RxLine]]:
        lines = self.link.transact("name", timeout_s or self.timeout_s)
        (m,) = self._expect("name", lines, ["name"])
        return m["vendor"], lines

    def profile(self) -> tuple[str, list[RxLine]]:
        lines = self.link.transact("profile", self.timeout_s)
        _, model = self._expect("profile", lines, ["profile", "model"])
        return model["model"], lines

    def timestamp(self) -> tuple[int, list[RxLine]]:
        lines = self.link.transact("timestamp", self.timeout_s)
        (m,) = self._expect("timestamp", lines, ["lap"])
        return int(m["us"]), lines

    def load(self, data: bytes) -> None:
        """`db load N` then hex chunks; the last chunk must answer m-load-done."""
        cmd = f"db load {len(data)}"
        (m,) = self._expect(cmd, self.link.transact(cmd, self.timeout_s), ["expecting"])
        if int(m["n"]) != len(data):
            raise ReplyFault(f"DUT expects {m['n']} bytes, sent {len(data)}")
        # Every chunk's command is built before the first goes out: between an acknowledgement
        # and the next chunk there is nothing left to do but write it.
        step = self.chunk_bytes
        cmds = ["db " + data[start:start + step].hex() for start in range(0, len(data), step)]
        for i, cmd in enumerate(cmds, 1):
            self._expect("db <hex>", self.link.transact(cmd, self.timeout_s),
                         ["load_done"] if i == len(cmds) else [])

    def infer(self, n: int, w: int, n_values: int | None, timeout_s: float,
              check_laps: bool = True) -> InferReply:
        """check_laps=False for a DUT whose clock is emulated (its laps are not host time)."""
        cmd = f"infer {n} {w}"
        sent = time.monotonic()
        lines = self.link.transact(cmd, timeout_s)
        ms = self._expect(cmd, lines, ["warmup_start", "warmup_done", "infer_start", "lap",
                                       "lap", "infer_done", "results"])
        if int(ms[0]["w"]) != w or int(ms[2]["n"]) != n:
            raise ReplyFault(f"DUT ran infer {ms[2]['n']} {ms[0]['w']}, asked {n} {w}", lines)
        try:
            values = parse_values(ms[6]["vals"], n_values)
        except ValueError as err:
            raise ReplyFault(f"bad m-results line: {err}", lines) from None
        laps = [int(ms[3]["us"]), int(ms[4]["us"])]
        if check_laps:
            check_lap_interval(laps, [ln.t for ln in lines if RE["lap"].match(ln.text)], sent, lines)
        return InferReply(laps, values, lines)

    def resync(self, timeout_s: float = 3.0, attempts: int = 3) -> list[RxLine]:
        """Bring the DUT back to a known state: wait for quiet, then `name%` until it answers.

        Waiting for quiet before and after matters: late replies (a stalled command, a
        boot banner still on the wire, an earlier `name%`) must not be taken as the
        answer to the next command.
        """
        seen: list[RxLine] = []
        for _ in range(attempts):
            seen += self.settle()
            self.link.discard_input()
            try:
                _, lines = self.name(timeout_s)
                return seen + lines + self.settle()
            except (ReplyTimeout, ReplyFault) as err:
                seen += err.lines
        raise ReplyTimeout(f"the DUT did not answer name% after {attempts} attempts", seen,
                           hint="check the DUT is powered, flashed with the EEMBC harness, "
                                "and the baud rate matches")

    def settle(self, quiet_s: float = 0.1, max_s: float = 5.0) -> list[RxLine]:
        """Read until the DUT has been silent for quiet_s (at most max_s)."""
        lines: list[RxLine] = []
        end = time.monotonic() + max_s
        while time.monotonic() < end:
            line = self.link.read_line(min(end, time.monotonic() + quiet_s))
            if line is None:
                break
            lines.append(line)
        return lines


def check_lap_interval(laps: list[int], arrived: list[float], sent: float, lines: list[RxLine]) -> None:
    """The DUT's timed interval must fit what the host saw of the same infer.

    A byte lost from an `m-lap-us` value still matches the regex, so only the
    clock can tell: the interval (mod 2^32, so a lap that went backwards reads as
    ~71 min) can be no longer than from sending `infer` to the second lap's
    arrival, and no shorter than between the two laps' arrivals, each give or
    take max(50 ms, 20 %). Both bounds only loosen when the host is slow to read.
    """
    dut_s = ((laps[1] - laps[0]) % LAP_MODULUS) / 1e6
    longest, shortest = arrived[1] - sent, arrived[1] - arrived[0]
    slack = max(LAP_TOLERANCE_S, LAP_TOLERANCE_REL * longest)
    if not shortest - slack <= dut_s <= longest + slack:
        raise ReplyFault(f"implausible m-lap-us pair {laps[0]} -> {laps[1]}: the DUT timed {dut_s:.3f} s, "
                         f"the host saw {shortest:.3f}..{longest:.3f} s (a damaged value?)", lines)


def _is_protocol_line(text: str) -> bool:
    # The harness speaks in m-/e- lines (and one bare error); firmware debug text is ignored.
    return text.startswith(("m-", "e-")) or bool(OVERSIZE_RE.match(text))
