"""doctor says whether the board-free DUTs' tools are installed, and how to get them."""
from __future__ import annotations

from bundle import doctor


def test_native_tools_ok_and_missing():
    present = {"gcc", "g++", "arm-none-eabi-gcc"}
    checks = {c.name: c for c in doctor.check_native_tools(which=lambda t: f"/usr/bin/{t}" if t in present else None)}
    assert checks["host DUT"].status == doctor.OK
    qemu = checks["qemu DUT"]
    assert qemu.status == doctor.WARN and "qemu-system-arm" in qemu.detail and "make deps" in qemu.fix


def test_port_line_arriving_with_an_earlier_line_is_seen():
    """QEMU prints warnings on the same (merged) pipe just before its pty line."""
    from bundle.dut.ptyproc import PtyProcess

    proc = PtyProcess(["sh", "-c", 'printf "warning: x\\nPTY /dev/pts/99\\n"; sleep 30'], r"^PTY (\S+)",
                      "test program", start_timeout_s=20)
    with proc as port:
        assert port == "/dev/pts/99"
    assert proc.proc.poll() is not None


def test_a_program_that_never_names_its_port_is_a_dut_error():
    import pytest

    from bundle.dut.ptyproc import PtyProcess
    from bundle.errors import DutError

    proc = PtyProcess(["sh", "-c", "echo starting; exit 3"], r"^PTY (\S+)", "test program", start_timeout_s=5)
    with pytest.raises(DutError, match="starting"):
        proc.__enter__()
    assert proc.proc.stdout.closed
