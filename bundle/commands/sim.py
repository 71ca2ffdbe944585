"""`tinyrepro sim`: run the software DUT on a pseudo-terminal (prints `PTY <path>` first)."""
from __future__ import annotations

from bundle.dut.sim import add_arguments, run_from_args


def register(sub) -> None:
    p = sub.add_parser("sim", help="software DUT: EEMBC harness + model backend on a pty")
    add_arguments(p)
    p.set_defaults(func=run_from_args)
