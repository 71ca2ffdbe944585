"""doctor says whether the board-free DUTs' tools are installed, and how to get them."""
from __future__ import annotations

from bundle import doctor


def test_native_tools_ok_and_missing():
    present = {"gcc", "g++", "arm-none-eabi-gcc"}
    checks = {c.name: c for c in doctor.check_native_tools(which=lambda t: f"/usr/bin/{t}" if t in present else None)}
    assert checks["host DUT"].status == doctor.OK
    qemu = checks["qemu DUT"]
    assert qemu.status == doctor.WARN and "qemu-system-arm" in qemu.detail and "make deps" in qemu.fix
