"""The software DUT as a `Dut`: starts `tinyrepro sim` and yields its pty."""
from __future__ import annotations

import contextlib
from pathlib import Path

from bundle.dut.base import Dut, fixed_port
from bundle.dut.sim import SimProcess


class SimDut(Dut):
    name = "sim"
    # Its times are the host's (or emulated), not a board's; no EMON can measure it.
    capabilities = {"timing": "host", "timing_comparable": False, "energy": False, "needs_port": False}

    def __init__(self, backend: str = "litert", benchmark: str = "kws", model: Path | None = None,
                 baud: int = 115200, infer_ms: float = 0.0, faults: str = "", seed: int = 0,
                 mirror: Path | None = None, port: str | None = None, **_ignored):
        self.port = port     # an already running sim (`tinyrepro sim`) can be given instead
        self.options = dict(backend=backend, benchmark=benchmark, model=model, baud=baud,
                            infer_ms=infer_ms, faults=faults, seed=seed, mirror=mirror)

    def open(self) -> contextlib.AbstractContextManager[str]:
        return fixed_port(self.port) if self.port else SimProcess(**self.options)
