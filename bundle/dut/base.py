"""The DUT interface: where a runner gets its serial port from.

A DUT kind is a small class chosen by name, with what it can do as data:
  sim    the software DUT (bundle/dut/sim.py) on a pseudo-terminal
  board  a real board on a given port (/dev/ttyACM0, rfc2217://host:port, ...)
  host   the published firmware code compiled for this host, on a pty (bundle/dut/host.py)
  qemu   the same code on an emulated Cortex-M4F, QEMU mps2-an386 (bundle/dut/qemu.py)
`with get_dut(name)(**options).open() as port_url:` yields a pyserial URL.
"""
from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from typing import ClassVar, Iterator

from bundle.errors import ConfigError

_REGISTRY: dict[str, str] = {
    "sim": "bundle.dut.sim_dut:SimDut",
    "board": "bundle.dut.board:BoardDut",
    "host": "bundle.dut.host:HostDut",
    "qemu": "bundle.dut.qemu:QemuDut",
}


class Dut(ABC):
    name: ClassVar[str]
    # timing_comparable: its m-lap-us times mean what a board's mean
    # energy: it can be measured by an EMON
    # timing: what m-lap-us counts - board | host | emulated; the runner checks laps
    #   against the host clock except for emulated time
    capabilities: ClassVar[dict]

    @abstractmethod
    def open(self) -> contextlib.AbstractContextManager[str]:
        """Context manager yielding the port URL."""


def get_dut(name: str) -> type[Dut]:
    import importlib

    target = _REGISTRY.get(name)
    if target is None:
        raise ConfigError(f"unknown DUT kind {name!r}", hint=f"use one of: {', '.join(sorted(_REGISTRY))}")
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


@contextlib.contextmanager
def fixed_port(url: str) -> Iterator[str]:
    yield url
