"""The DUT interface: where a runner gets its serial port from.

A DUT kind is a small class chosen by name, with what it can do as data (`Capabilities`):
  sim    the software DUT (bundle/dut/sim.py) on a pseudo-terminal
  board  a real board on a given port (/dev/ttyACM0, rfc2217://host:port, ...), with its probe
  host   the published firmware code compiled for this host, on a pty (bundle/dut/host.py)
  qemu   the same code on an emulated Cortex-M4F, QEMU mps2-an386 (bundle/dut/qemu.py)
A run describes its DUT as a `bundle.dut.spec.DutSpec`; `open_dut(spec)` there opens it through
this registry: `with open_dut(spec) as port_url:` yields a pyserial URL.
"""
from __future__ import annotations

import contextlib
import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, ClassVar, Iterator

from bundle.errors import ConfigError

_REGISTRY: dict[str, str] = {
    "sim": "bundle.dut.sim:SimDut",
    "board": "bundle.dut.board:BoardDut",
    "host": "bundle.dut.host:HostDut",
    "qemu": "bundle.dut.qemu:QemuDut",
}
KINDS = tuple(_REGISTRY)


@dataclass(frozen=True)
class Capabilities:
    """What a DUT kind can do, the same fields for every kind."""

    # what its m-lap-us counts: board | host | emulated; the runner checks laps against
    # the host clock except for emulated time
    timing: str
    # what run-info.json and the diff's tolerance rules call it: board | sim | host | emulated
    dut_kind: str
    timing_comparable: bool = False   # its m-lap-us times mean what a board's mean
    energy: bool = False              # it can be measured by an EMON
    needs_port: bool = False          # it is reached at a port it is given, never started
    exact_outputs: bool = False       # it runs the published firmware code (outputs compared for real)
    needs_build: bool = False         # it runs a <variant>/<board>/<benchmark> firmware project
    flashes: bool = False             # its firmware is written through a probe before a run


class Dut(ABC):
    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def prepare(self, build: str | None) -> None:
        """Make the DUT run `build` (<variant>/<board>/<benchmark>) before it is opened; a
        board flashes it (bundle/dut/board.py), the others are started with it."""

    @abstractmethod
    def open(self) -> contextlib.AbstractContextManager[str]:
        """Context manager yielding the port URL."""


def get_dut(name: str) -> type[Dut]:
    target = _REGISTRY.get(name)
    if target is None:
        raise ConfigError(f"unknown DUT kind {name!r}", hint=f"use one of: {', '.join(sorted(_REGISTRY))}")
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def run_builds(dut: Dut, builds: list[str], run_one: Callable[[str, str], object]) -> list:
    """Run `run_one(build, port)` for each build in turn, the DUT prepared for that build
    first: a board is flashed with each benchmark's firmware before that benchmark runs."""
    done = []
    for build in builds:
        dut.prepare(build)
        with dut.open() as port:
            done.append(run_one(build, port))
    return done


@contextlib.contextmanager
def fixed_port(url: str) -> Iterator[str]:
    yield url
