"""A real board on a serial port: nothing to start, the port is given."""
from __future__ import annotations

from bundle.dut.base import Dut, fixed_port
from bundle.errors import UsageError


class BoardDut(Dut):
    name = "board"
    capabilities = {"timing": "board", "timing_comparable": True, "energy": False, "needs_port": True}

    def __init__(self, port: str | None = None, **_ignored):
        if not port:
            raise UsageError("--dut board needs --port", hint="e.g. --port /dev/ttyACM0 or rfc2217://host:4000")
        self.port = port

    def open(self):
        return fixed_port(self.port)
