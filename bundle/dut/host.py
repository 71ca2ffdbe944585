"""The `host` DUT: a published firmware project compiled for this host (bundle/dut/native_build.py).

Its UART is a pseudo-terminal and its clock the host's monotonic clock: the outputs are the
firmware code's own, the times are this CPU's.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from bundle.dut.base import Capabilities, Dut, fixed_port
from bundle.dut.ptyproc import PtyProcess
from bundle.errors import UsageError


class HostDut(Dut):
    name = "host"
    capabilities = Capabilities(timing="host", dut_kind="host", exact_outputs=True, needs_build=True)

    def __init__(self, program: Path | None = None, port: str | None = None, **_ignored):
        if program is None and not port:
            raise UsageError("the host DUT needs a built program", hint="use tinyrepro run --dut host --build ...")
        self.program = program
        self.port = port

    @classmethod
    def from_spec(cls, spec, program: Path | None = None, **_ignored) -> "HostDut":
        return cls(program=program, port=spec.port)

    def open(self) -> contextlib.AbstractContextManager[str]:
        if self.port:
            return fixed_port(self.port)
        return PtyProcess([str(self.program)], r"^PTY (\S+)", "host DUT program")
