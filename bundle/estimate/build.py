"""The image the estimate runs: the published project built for the board's core.

For a Cortex-M4F board that is exactly the `qemu` DUT's image (same target, same build
cache entry); for the nRF5340's Cortex-M33 the same sources, shim and link script are
compiled with the M33's flags (timing.yaml `cores.cortex-m33.gcc_flags`). The image is
only run by the estimate's emulator, never by QEMU's mps2-an386 (a Cortex-M4 machine).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from bundle.dut import native_build
from bundle.dut.native_build import BuildResult, Target


def core_target(board: str, gcc_flags: tuple[str, ...]) -> Target:
    from bundle.dut.qemu import build_defines

    base = native_build.qemu_target(build_defines(board))
    if tuple(gcc_flags) == tuple(base.arch_flags):
        return base
    cpu = next((f.split("=", 1)[1] for f in gcc_flags if f.startswith("-mcpu=")), "core")
    return dataclasses.replace(base, name=f"qemu-{cpu}", arch_flags=tuple(gcc_flags))


def build_for_core(spec, code_root: Path, build_dir: Path, gcc_flags: tuple[str, ...], cmsis=None) -> BuildResult:
    from bundle.dut.native_project import build_program

    return build_program("qemu", spec, code_root, build_dir, cmsis=cmsis,
                         target=core_target(spec.board, gcc_flags))
