"""The `qemu` DUT: a published firmware project cross-compiled for a Cortex-M4F, on QEMU's
mps2-an386 machine, its UART0 on a pseudo-terminal.

Time is emulated. QEMU runs with `-icount shift=ICOUNT_SHIFT`: every instruction advances
virtual time by 2**shift ns, whatever the host's speed. The firmware reads the CMSDK TIMER0,
which QEMU clocks from the machine's 25 MHz system clock in virtual time, and scales it so
that one instruction is one core cycle at the board's clock (TIMING below, derived in
`timer_scaling`, checked by tests/local/test_native_duts.py). m-lap-us is therefore an
estimate, "instructions at 1 IPC", never a measurement of the board.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from bundle.dut.base import Capabilities, Dut, fixed_port
from bundle.dut.ptyproc import PtyProcess
from bundle.errors import ConfigError, UsageError

MACHINE = "mps2-an386"
ICOUNT_SHIFT = 0                 # 1 instruction = 2**0 ns of virtual time
TIMER_HZ = 25_000_000            # QEMU mps2: SYSCLK, the CMSDK APB timers' clock
# Core clocks of the published boards (the submission's system descriptions).
CORE_HZ = {"NUCLEO_L4R5ZI": 120_000_000, "NRF5340DK": 128_000_000, "NRF5340-DK": 128_000_000}


def timer_scaling(core_hz: int, timer_hz: int = TIMER_HZ, shift: int = ICOUNT_SHIFT) -> dict[str, int]:
    """Instructions per timer tick and per microsecond; both must be whole numbers."""
    ns_per_tick, rem = divmod(10**9, timer_hz)
    insn_per_tick, rem2 = divmod(ns_per_tick, 2**shift)
    insn_per_us, rem3 = divmod(core_hz, 10**6)
    if rem or rem2 or rem3 or insn_per_tick == 0:
        raise ConfigError(f"timer {timer_hz} Hz, icount shift {shift}, core {core_hz} Hz do not scale "
                          "by whole numbers", hint="pick a shift of 0..5 and a core clock in whole MHz")
    return {"insn_per_tick": insn_per_tick, "insn_per_us": insn_per_us}


# The core each published board has, and what QEMU's mps2-an386 runs instead.
CORE_NAME = {"NUCLEO_L4R5ZI": "Cortex-M4F (STM32L4R5)", "NRF5340DK": "Cortex-M33 (nRF5340 application core)",
             "NRF5340-DK": "Cortex-M33 (nRF5340 application core)"}


def emulation_note(board: str) -> str:
    """What the estimate is for this board: its clock, and its core emulated as QEMU's M4F."""
    core = CORE_NAME.get(board, board)
    mhz = CORE_HZ[board] // 1_000_000
    emulated = "" if core.startswith("Cortex-M4F") else f"; the {core} is emulated as a Cortex-M4F"
    return f"QEMU {MACHINE}, 1 instruction = 1 cycle at the board's {mhz} MHz{emulated}"


def build_defines(board: str) -> dict[str, str]:
    core = CORE_HZ.get(board)
    if core is None:
        raise ConfigError(f"no core clock known for board {board!r}", hint=f"known: {', '.join(CORE_HZ)}")
    timer_scaling(core)
    return {"TINYREPRO_TIMER_HZ": f"{TIMER_HZ}u", "TINYREPRO_CPU_HZ": f"{core}u",
            "TINYREPRO_NS_PER_INSN": f"{2**ICOUNT_SHIFT}u"}


def qemu_argv(program: Path) -> list[str]:
    # semihosting: a faulting image prints why on QEMU's stdout and exits (startup_qemu.c)
    return ["qemu-system-arm", "-M", MACHINE, "-nographic", "-monitor", "none", "-serial", "pty",
            "-icount", f"shift={ICOUNT_SHIFT}", "-semihosting-config", "enable=on,target=native",
            "-kernel", str(program)]


class QemuDut(Dut):
    name = "qemu"
    capabilities = Capabilities(timing="emulated", dut_kind="emulated", exact_outputs=True, needs_build=True)

    def __init__(self, program: Path | None = None, port: str | None = None, **_ignored):
        if program is None and not port:
            raise UsageError("the qemu DUT needs a built image", hint="use tinyrepro run --dut qemu --build ...")
        self.program = program
        self.port = port

    @classmethod
    def from_spec(cls, spec, program: Path | None = None, **_ignored) -> "QemuDut":
        return cls(program=program, port=spec.port)

    def open(self) -> contextlib.AbstractContextManager[str]:
        if self.port:
            return fixed_port(self.port)
        return PtyProcess(qemu_argv(self.program), r"char device redirected to (/dev/pts/\d+)", "QEMU DUT")


CALIBRATION = Path(__file__).resolve().parent / "native" / "calib"


def read_calibration(program: Path, timeout_s: float = 60.0) -> list[dict[str, int]]:
    """Run the calibration image (bundle/dut/native/calib) and parse its lines:
    [{"n", "insn", "cycles", "us"}, ...] - what the firmware's clock saw for known work."""
    import re
    import time

    import serial

    from bundle.errors import DutError

    rows = []
    with PtyProcess(qemu_argv(program), r"char device redirected to (/dev/pts/\d+)", "QEMU DUT") as port:
        link = serial.serial_for_url(port, timeout=0.2)
        buf, deadline = b"", time.monotonic() + timeout_s
        try:
            while b"calib-done" not in buf and time.monotonic() < deadline:
                if not buf:
                    link.write(b"g")   # the image starts on the first byte it reads
                buf += link.read(256)
        finally:
            link.close()
    for m in re.finditer(rb"calib n=(\d+) insn=(\d+) cycles=(\d+) us=(\d+)", buf):
        rows.append(dict(zip(("n", "insn", "cycles", "us"), map(int, m.groups()))))
    if b"calib-done" not in buf:
        raise DutError(f"the calibration image did not finish in {timeout_s:g} s: {buf[-200:]!r}")
    return rows
