"""Seeded fault injection for the software DUT.

`--fault garbage:0.01,drop:0.01,stall:0.005,reset:0.005` gives, for each command the
DUT receives, the probability that:
  garbage  a line of random bytes (at least one non-ASCII) is inserted in its reply
  drop     one byte is lost, either of the command on its way in or of its reply
  digit    (infer replies only) one digit of an `m-lap-us` value is lost: the drop
           that still matches the reply grammar, so only the timing checks see it
  stall    the DUT goes silent for `stall_s` seconds before executing it
  reset    the DUT reboots instead of executing it (boot lines, state lost)
The same seed gives the same faults for the same traffic.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from bundle.errors import UsageError

KINDS = ("garbage", "drop", "stall", "reset", "digit")


@dataclass
class FaultPlan:
    rates: dict[str, float] = field(default_factory=dict)
    stall_s: float = 2.0
    seed: int = 0
    log_path: str | None = None     # one line per injected fault, for tests and audits
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @classmethod
    def parse(cls, spec: str | None, seed: int = 0, stall_s: float = 2.0,
              log_path: str | None = None) -> "FaultPlan":
        rates: dict[str, float] = {}
        for item in filter(None, (spec or "").split(",")):
            kind, _, value = item.partition(":")
            if kind not in KINDS:
                raise UsageError(f"unknown fault kind {kind!r} in --fault {spec!r}",
                                 hint=f"use kinds {', '.join(KINDS)}, e.g. garbage:0.01,drop:0.01")
            try:
                rate = float(value)
            except ValueError:
                raise UsageError(f"fault {kind!r} needs a probability, got {value!r}",
                                 hint="write kind:P with 0 <= P <= 1, e.g. drop:0.01") from None
            if not 0.0 <= rate <= 1.0:
                raise UsageError(f"fault probability out of range: {item}", hint="use 0 <= P <= 1")
            rates[kind] = rate
        return cls(rates=rates, stall_s=stall_s, seed=seed, log_path=log_path)

    def fires(self, kind: str) -> bool:
        rate = self.rates.get(kind, 0.0)
        hit = rate > 0 and self._rng.random() < rate
        if hit:
            self.counts[kind] += 1
            if self.log_path:
                with open(self.log_path, "a") as fh:
                    fh.write(kind + "\n")
        return hit

    def garbage_line(self) -> bytes:
        body = bytearray(self._rng.randrange(256) for _ in range(self._rng.randint(4, 24)))
        body = bytearray(b for b in body if b not in (0x0A, 0x0D, 0x25))
        body.insert(self._rng.randrange(len(body) + 1), 0x80 | self._rng.randrange(128))
        return bytes(body) + b"\r\n"

    def coin(self) -> bool:
        return self._rng.random() < 0.5

    def index(self, n: int) -> int:
        return self._rng.randrange(n + 1)

    def drop_digit(self, line: bytes) -> bytes:
        """`m-lap-us-<digits>`: one of the digits removed."""
        first = line.rindex(b"-") + 1
        digits = [i for i in range(first, len(line)) if line[i:i + 1].isdigit()]
        i = digits[self._rng.randrange(len(digits))]
        return line[:i] + line[i + 1:]

    def drop_byte(self, data: bytes) -> bytes:
        i = self._rng.randrange(len(data))
        return data[:i] + data[i + 1:]
