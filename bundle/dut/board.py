"""A real board on a serial port: nothing to start, the port is given. It owns its probe
and flasher and knows which build it carries, so a run of several benchmarks flashes each
one's firmware before running it; kept across those runs, it flashes a build only when it
does not carry it already."""
from __future__ import annotations

import contextlib
from typing import Iterator, Protocol

from bundle.dut.base import Capabilities, Dut
from bundle.errors import BoardNotReady, ReproError, UsageError


class Flasher(Protocol):
    """Writes a build's firmware through the board's probe (bundle.toolchain.flash.Flasher)."""

    def flash(self, build: str) -> object: ...


class BoardDut(Dut):
    name = "board"
    capabilities = Capabilities(timing="board", dut_kind="board", timing_comparable=True,
                                needs_port=True, flashes=True)

    def __init__(self, port: str | None = None, probe: str | None = None, flasher: Flasher | None = None,
                 flashed: str | None = None, no_flash: str | None = None, **_ignored):
        if not port:
            raise UsageError("--dut board needs --port", hint="e.g. --port /dev/ttyACM0 or rfc2217://host:4000")
        self.port = port
        self.probe = probe
        self.flasher = flasher
        self.flashed = flashed      # the build it carries; None: not known (flashed by hand)
        self.no_flash = no_flash    # why it has no flasher: said when it carries another build
        self.trusted = False        # `flashed` is taken on trust (flashed by hand), no run confirmed it yet
        self.failed: dict[str, ReproError] = {}   # build -> how flashing it failed

    @classmethod
    def from_spec(cls, spec, flasher: Flasher | None = None, no_flash: str | None = None,
                  **_ignored) -> "BoardDut":
        return cls(port=spec.port, probe=spec.probe, flasher=flasher, flashed=spec.build, no_flash=no_flash)

    def prepare(self, build: str | None) -> None:
        if build is None or build == self.flashed:
            return
        if self.flasher is None:
            if self.flashed is not None:
                hint = (f"it is not flashed here: {self.no_flash}. Flash {build} by hand, then run again"
                        if self.no_flash else "flash it (west flash), or give the board's probe so it is flashed here")
                raise BoardNotReady(f"the board at {self.port} carries {self.flashed}, this run needs {build}",
                                    hint=hint)
            # flashed by hand: the runner's profile check still catches a mismatch (see open)
            self.flashed, self.trusted = build, True
            return
        earlier = self.failed.get(build)
        if earlier is not None:
            # Not tried again for the same build's next run: a probe that hangs would cost the
            # flash timeout each time. The next build gets its own try.
            raise type(earlier)(f"{earlier.message} (as for this build's earlier run: not tried again)",
                                hint=earlier.hint)
        try:
            self.flasher.flash(build)
        except ReproError as err:
            self.failed[build] = err
            raise
        self.flashed, self.trusted = build, False

    @contextlib.contextmanager
    def open(self) -> Iterator[str]:
        try:
            yield self.port
        except BaseException:
            if self.trusted:
                # A build taken on trust whose run failed may not be on the board at all (the
                # profile check reads another model): the next build is taken on trust instead.
                self.flashed = None
            raise
        self.trusted = False    # a run passed: the profile check read this build's model
