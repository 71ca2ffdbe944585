"""Which DUT `tinyrepro reproduce` runs, and why: a board if one is given, else the
published firmware code on this host (`host`, or `qemu` when asked for) when that code can be
fetched and compiled, else the software DUT (`sim`). Data in, data out: the probes are passed
in. The choice carries the `DutSpec` the run stage opens (bundle/dut/spec.py)."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bundle.dut.spec import DutSpec
from bundle.errors import ReproError

# What each firmware-running kind needs on this host besides the code.
TOOLS = {"host": ("gcc", "g++"), "qemu": ("arm-none-eabi-gcc", "qemu-system-arm")}
INSTALL = {"host": "apt-get install build-essential",
           "qemu": "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"}
REQUESTS = ("auto", "sim", "host", "qemu")


@dataclass(frozen=True)
class DutChoice:
    spec: DutSpec
    reason: str
    code_root: Path | None = None

    @property
    def kind(self) -> str:       # board | host | qemu | sim
        return self.spec.kind


def _have_tools(kind: str) -> bool:
    return all(shutil.which(t) for t in TOOLS[kind])


def choose_dut(port: str | None, fetch_code: Callable[[], Path],
               have_compiler: Callable[[], bool] | None = None,
               requested: str = "auto", probe: str | None = None) -> DutChoice:
    """`requested`: auto (host when it can), sim (--dut sim, or software-DUT backends named
    with --backends), host or qemu (the published code on this CPU or an emulated core)."""
    if port:
        return DutChoice(DutSpec("board", port=port, probe=probe), f"a board is attached at {port}")
    if requested == "sim":
        return DutChoice(DutSpec("sim"), "no board attached, and the software DUT was asked for (--dut sim / --backends)")
    kind = "qemu" if requested == "qemu" else "host"
    asked = f", and the {kind} DUT was asked for" if requested == kind else ""
    if not (have_compiler or (lambda: _have_tools(kind)))():
        what = "C/C++ compiler" if kind == "host" else "Arm cross-compiler and QEMU"
        return DutChoice(DutSpec("sim"), f"no board attached{asked}, and no host {what} to build the published "
                                         f"firmware code ({INSTALL[kind]})")
    try:
        code = fetch_code()
    except ReproError as err:
        return DutChoice(DutSpec("sim"), f"no board attached{asked}, and the published firmware code is not "
                                         f"reachable ({err.message})")
    where = "compiled for this host" if kind == "host" else "cross-compiled for an emulated Cortex-M4F (QEMU)"
    return DutChoice(DutSpec(kind, code=str(code)),
                     f"no board attached{asked}; the published firmware code (closed/OctoML/code/ at the "
                     f"pinned commit) was fetched and runs {where}", code)
