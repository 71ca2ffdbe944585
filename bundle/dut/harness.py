"""The EEMBC test harness ("ULPMark for tinyML Firmware V0.0.1"), DUT side.

Pure logic, no I/O: `Harness.command(text)` takes one command as the harness
received it (without the `%`) and returns the lines it prints. The software DUT
(sim.py) puts this behind a pseudo-terminal. Behaviour follows spec §1.2-§1.5,
including the quirks a runner must survive (80-character truncation, the
`Supplied buffer size` line without `e-` or CR, `infer` defaulting W to 10).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_DOWN, Decimal
from typing import Callable

from bundle.catalogue import DATASETS

CMD_SIZE = 80                      # EE_CMD_SIZE: longer commands lose their middle
MAX_DB_INPUT_SIZE = 96 * 96 * 3    # API default, enough for VWW
PROFILE = "ULPMark for tinyML Firmware V0.0.1"
U32 = 1 << 32

# A line is text plus its terminator: most end "\r\n", one harness error ends "\n".
Line = str


def truncate_command(raw: str) -> str:
    """What the 80-slot buffer holds: characters past the 80th overwrite the last slot."""
    if len(raw) <= CMD_SIZE:
        return raw
    return raw[:CMD_SIZE - 1] + raw[-1]


def format_value(value: float) -> str:
    """3 decimals, exact ties toward zero, as the published OctoML logs print them.

    The exact binary value decides: 0.0625 (= 16/256) prints 0.062 and 0.1875 prints
    0.187, which neither printf's nor Python's half-even rounding does for the latter.
    """
    return str(Decimal(value).quantize(Decimal("0.001"), rounding=ROUND_HALF_DOWN))


def format_results(values: list[float]) -> str:
    return "m-results-[" + ",".join(format_value(v) for v in values) + "]"


@dataclass
class Harness:
    """Command interpreter with the harness's state (db buffer, last result)."""

    infer_fn: Callable[[bytes], list[float]]
    input_size: int
    benchmark: str
    vendor: str = "tinyrepro-sim"
    max_db: int = MAX_DB_INPUT_SIZE
    clock_us: Callable[[], int] = field(default=lambda: time.monotonic_ns() // 1000)
    # Called around the N timed inferences, so the sim can emulate a board's latency.
    pace_infer: Callable[[int, float], None] = field(default=lambda n, t0: None)
    buffer: bytearray = field(init=False)
    expected: int = field(init=False, default=0)
    pos: int = field(init=False, default=0)
    last: list[float] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.buffer = bytearray(self.max_db)

    # -- boot ----------------------------------------------------------------------
    def boot_lines(self) -> list[Line]:
        """ee_benchmark_initialize in performance mode (spec §1.2)."""
        return [_m("m-timestamp-mode-performance"), self._lap(), _m("m-init-done"), _m("m-ready")]

    # -- commands ------------------------------------------------------------------
    def command(self, raw: str) -> list[Line]:
        tokens = truncate_command(raw).split()  # strtok: runs of spaces collapse
        out = self._dispatch(tokens) if tokens else []
        return out + [_m("m-ready")]

    def _dispatch(self, tokens: list[str]) -> list[Line]:
        verb, args = tokens[0], tokens[1:]
        handler = {
            "name": self._name, "timestamp": self._timestamp, "profile": self._profile,
            "help": self._help, "db": self._db, "infer": self._infer, "results": self._results,
        }.get(verb)
        if handler is None:
            return [_m(f"e-[Unknown command: {verb}]")]
        return handler(args)

    def _name(self, args):
        return [_m(f"m-name-dut-[{self.vendor}]")]

    def _timestamp(self, args):
        return [self._lap()]

    def _profile(self, args):
        return [_m(f"m-profile-[{PROFILE}]"), _m(f"m-model-[{DATASETS[self.benchmark]}]")]

    def _help(self, args):
        return [_m(f"{PROFILE}"), _m("help         : Print this information"),
                _m("name         : Print the name of the device"),
                _m("timestamp    : Generate a timestamp"),
                _m("db SUBCMD    : Manipulate a generic byte buffer"),
                _m("  load N     : Allocate N bytes and set load counter"),
                _m("  db HH[HH]* : Load 8-bit hex byte(s) until N bytes"),
                _m("  print [N=16] [offset=0]"),
                _m("infer N [W=0]: Load input, execute N inferences after W warmup loops"),
                _m("results      : Return the result fp32 vector")]

    def _results(self, args):
        return [_m(format_results(self.last))]

    def _db(self, args):
        if not args:
            return [_m("e-[Command 'db' requires a subcommand]")]
        sub = args[0]
        if sub == "load":
            return self._db_load(args[1:])
        if sub == "print":
            return self._db_print()
        return self._db_hex(sub)

    def _db_load(self, args):
        if not args:
            return [_m("e-[Command 'db load' requires the # of bytes]")]
        n = _atoi(args[0])
        if n <= 0:
            return [_m("e-[Command 'db load' must be >0 bytes]")]
        self.expected, self.pos = n, 0  # an oversize N stays set, as in the harness
        if n > self.max_db:
            return [f"Supplied buffer size {n} exceeds maximum of {self.max_db}\n"]
        return [_m(f"m-[Expecting {n} bytes]")]

    def _db_print(self):
        data = self.buffer[:min(self.expected, self.max_db)]
        return [_m("m-buffer-" + "-".join(f"{b:02x}" for b in data[i:i + 8]))
                for i in range(0, len(data), 8)]

    def _db_hex(self, digits: str):
        if len(digits) % 2:
            return [_m("e-[Insufficent number of hex digits]")]
        for i in range(0, len(digits), 2):
            pair = digits[i:i + 2]
            try:
                value = int(pair, 16)
            except ValueError:
                return [_m(f"e-[Invalid hex digit '{pair}']")]
            if self.pos < self.max_db:
                self.buffer[self.pos] = value
            self.pos += 1
            if self.pos == self.expected:
                return [_m("m-load-done")]
        return []

    def _infer(self, args):
        n = _atoi(args[0]) if args else 1
        w = _atoi(args[1]) if len(args) > 1 else 10  # the code's default, not help's
        if n < 1:
            return [_m("e-[Inference iterations must be >0]")]
        if w < 0:
            return [_m("e-[Inference warmup must be >=0]")]
        # th_load_tensor copies whatever the buffer holds, loaded or not
        tensor = bytes(self.buffer[:self.input_size])
        out = [_m(f"m-warmup-start-{w}")]
        t0 = time.monotonic()
        for _ in range(w):
            self.infer_fn(tensor)
        self.pace_infer(w, t0)
        out += [_m("m-warmup-done"), _m(f"m-infer-start-{n}"), self._lap()]
        t0 = time.monotonic()
        for _ in range(n):
            self.last = self.infer_fn(tensor)
        self.pace_infer(n, t0)
        out += [self._lap(), _m("m-infer-done"), _m(format_results(self.last))]
        return out

    def _lap(self) -> Line:
        return _m(f"m-lap-us-{self.clock_us() % U32}")


def _m(text: str) -> Line:
    return text + "\r\n"


def _atoi(text: str) -> int:
    """C atoi: leading sign and digits, anything else stops; no digits -> 0."""
    i, sign = 0, 1
    if text[:1] in "+-" and text[:1]:
        sign, i = (-1 if text[0] == "-" else 1), 1
    j = i
    while j < len(text) and text[j].isdigit():
        j += 1
    return sign * int(text[i:j]) if j > i else 0
