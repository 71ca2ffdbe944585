"""A real board on a serial port: nothing to start, the port is given. It owns its probe
and flasher and knows which build it carries, so a run of several benchmarks flashes each
one's firmware before running it."""
from __future__ import annotations

from typing import Protocol

from bundle.dut.base import Capabilities, Dut, fixed_port
from bundle.errors import DutError, UsageError


class Flasher(Protocol):
    """Writes a build's firmware through the board's probe (bundle.toolchain.flash.Flasher)."""

    def flash(self, build: str) -> object: ...


class BoardDut(Dut):
    name = "board"
    capabilities = Capabilities(timing="board", dut_kind="board", timing_comparable=True,
                                needs_port=True, flashes=True)

    def __init__(self, port: str | None = None, probe: str | None = None, flasher: Flasher | None = None,
                 flashed: str | None = None, **_ignored):
        if not port:
            raise UsageError("--dut board needs --port", hint="e.g. --port /dev/ttyACM0 or rfc2217://host:4000")
        self.port = port
        self.probe = probe
        self.flasher = flasher
        self.flashed = flashed      # the build it carries; None: not known (flashed by hand)

    @classmethod
    def from_spec(cls, spec, flasher: Flasher | None = None, **_ignored) -> "BoardDut":
        return cls(port=spec.port, probe=spec.probe, flasher=flasher, flashed=spec.build)

    def prepare(self, build: str | None) -> None:
        if build is None or build == self.flashed:
            return
        if self.flasher is None:
            if self.flashed is not None:
                raise DutError(f"the board at {self.port} carries {self.flashed}, this run needs {build}",
                               hint="flash it (west flash), or give the board's probe so it is flashed here")
            self.flashed = build    # flashed by hand: the runner's profile check still catches a mismatch
            return
        self.flasher.flash(build)
        self.flashed = build

    def open(self):
        return fixed_port(self.port)
