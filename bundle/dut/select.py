"""Which DUT `tinyrepro reproduce` runs, and why: a board if one is given, else the
published firmware code on this host (`host`) when that code can be fetched and compiled,
else the software DUT (`sim`). Data in, data out: the probes are passed in."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bundle.errors import ReproError


@dataclass(frozen=True)
class DutChoice:
    kind: str                   # board | host | sim
    reason: str
    code_root: Path | None = None


def choose_dut(port: str | None, fetch_code: Callable[[], Path],
               have_compiler: Callable[[], bool] = lambda: bool(shutil.which("gcc") and shutil.which("g++")),
               requested: str = "auto") -> DutChoice:
    """`requested`: auto, or sim (--dut sim, or software-DUT backends named with --backends)."""
    if port:
        return DutChoice("board", f"a board is attached at {port}")
    if requested == "sim":
        return DutChoice("sim", "no board attached, and the software DUT was asked for (--dut sim / --backends)")
    if not have_compiler():
        return DutChoice("sim", "no board attached, and no host C/C++ compiler to build the published "
                                "firmware code (apt-get install build-essential)")
    try:
        code = fetch_code()
    except ReproError as err:
        return DutChoice("sim", f"no board attached, and the published firmware code is not reachable "
                                f"({err.message})")
    return DutChoice("host", "no board attached; the published firmware code (closed/OctoML/code/ at the "
                             "pinned commit) was fetched and runs compiled for this host", code)
