"""The send/acknowledge loop's pacing: the next chunk goes out the moment its acknowledgement
is in (no sleep, no poll interval), over a fake transport that records every call, and the
transports themselves over a real pty. Speeds are `make bench` figures, not asserted here."""
from __future__ import annotations

import os
import threading
import time
import tty

import pytest
import serial

from bundle.dut.harness import Harness
from bundle.errors import PortGone
from bundle.runner import protocol, transport
from bundle.runner.protocol import MAX_CHUNK_BYTES, DutClient, Link
from bundle.runner.transport import FdTransport, SerialTransport, TransportGone, transport_for


class FakePort:
    port = "fake"

    def close(self):
        pass


class HarnessTransport:
    """The harness's whole reply is readable as soon as a command is written; every call logged."""

    def __init__(self, split: int = 0):
        self.harness = Harness(infer_fn=lambda b: [0.0] * 12, input_size=490, benchmark="kws")
        self.calls: list[tuple[str, object]] = []
        self.pending = b""
        self.split = split            # > 0: hand out replies this many bytes at a time

    def write(self, data: bytes) -> None:
        assert data.endswith(b"%") and len(data) <= 80
        self.calls.append(("write", data))
        self.pending += "".join(self.harness.command(data[:-1].decode())).encode()

    def read_some(self, deadline: float) -> bytes:
        n = self.split or len(self.pending)
        chunk, self.pending = self.pending[:n], self.pending[n:]
        self.calls.append(("read", chunk))
        return chunk

    def waiting(self) -> int:
        return len(self.pending)

    def discard(self) -> bytes:
        pending, self.pending = self.pending, b""
        return pending


@pytest.fixture
def no_sleep(monkeypatch):
    def refuse(_s):
        raise AssertionError("the send/acknowledge loop slept")
    monkeypatch.setattr(protocol.time, "sleep", refuse)
    monkeypatch.setattr(transport.time, "sleep", refuse)


def test_next_chunk_goes_out_when_its_ack_is_in(no_sleep):
    io = HarnessTransport()
    DutClient(Link(FakePort(), io=io)).load(bytes(range(256)) * 2)    # 512 bytes
    kinds = [kind for kind, _ in io.calls]
    chunks = 512 // MAX_CHUNK_BYTES + 1
    # db load, then every chunk: one write, one read that brings its whole reply, nothing between
    assert kinds == ["write", "read"] * (1 + chunks)
    writes = [data for kind, data in io.calls if kind == "write"]
    assert writes[0] == b"db load 512%"
    assert all(len(w) == len("db %") + 2 * MAX_CHUNK_BYTES for w in writes[1:-1])
    assert io.harness.buffer[:512] == bytes(range(256)) * 2


def test_an_ack_split_over_reads_is_waited_for_not_polled(no_sleep):
    io = HarnessTransport(split=3)
    DutClient(Link(FakePort(), io=io)).load(bytes(76))
    kinds = [kind for kind, _ in io.calls]
    # replies handed out 3 bytes at a time: "m-[Expecting 76 bytes]\r\nm-ready\r\n" is 11 reads,
    # "m-ready\r\n" 3, "m-load-done\r\nm-ready\r\n" 8; no read more than the bytes need
    assert kinds == ["write"] + ["read"] * 11 + ["write"] + ["read"] * 3 + ["write"] + ["read"] * 8
    # and each command goes out right after the read that completed the previous m-ready
    for before, (kind, _) in zip(io.calls, io.calls[1:]):
        if kind == "write":
            assert before[0] == "read" and before[1].endswith(b"\n")


@pytest.fixture
def pty_pair():
    master, slave = os.openpty()
    tty.setraw(master)
    port = serial.serial_for_url(os.ttyname(slave), baudrate=115200, timeout=transport.POLL_S)
    yield master, port
    port.close()
    for fd in (master, slave):
        try:
            os.close(fd)
        except OSError:
            pass


def test_transport_for_picks_the_fd_when_there_is_one(pty_pair):
    _, port = pty_pair
    assert isinstance(transport_for(port), FdTransport)
    loop = serial.serial_for_url("loop://", timeout=transport.POLL_S)
    assert type(transport_for(loop)) is SerialTransport


def test_fd_read_is_woken_by_data_not_by_the_deadline(pty_pair):
    master, port = pty_pair
    io = FdTransport(port)
    threading.Timer(0.05, os.write, (master, b"m-ready\r\n")).start()
    t0 = time.monotonic()
    got = io.read_some(t0 + 30)
    assert got and b"m-ready\r\n".startswith(got)
    assert time.monotonic() - t0 < 15          # nowhere near the deadline: the data woke it


def test_fd_read_returns_nothing_at_the_deadline(pty_pair):
    _, port = pty_pair
    io = FdTransport(port)
    assert io.read_some(time.monotonic() + 0.05) == b""
    assert io.read_some(time.monotonic() - 1) == b""


def test_fd_write_waits_for_room_and_keeps_order(pty_pair):
    master, port = pty_pair
    io = FdTransport(port)
    data = bytes(range(256)) * 512                # 128 KiB, more than a pty buffers
    got = bytearray()

    def drain():
        while len(got) < len(data):
            got.extend(os.read(master, 65536))

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    io.write(data)
    reader.join(30)
    assert bytes(got) == data


def test_closed_pty_is_port_gone(pty_pair):
    master, port = pty_pair
    link = Link(port)
    os.close(master)
    with pytest.raises(PortGone, match="went away"):
        link.read_line(time.monotonic() + 1)
    with pytest.raises(TransportGone):
        link.io.read_some(time.monotonic() + 1)


class _Backend:
    input_size = 490

    def infer(self, tensor: bytes) -> list[float]:
        return [0.0] * 12


def test_emulated_wire_does_not_carry_a_late_wake_up_forward(monkeypatch):
    from bundle.dut import sim

    server = sim.SimServer(_Backend(), "kws", baud=115200)
    read_end, server.master = os.pipe()
    targets = []

    def woken_late(t: float) -> None:
        targets.append(t)
        time.sleep(0.005)

    monkeypatch.setattr(sim, "_sleep_until", woken_late)
    try:
        server._write([b"m-load-done\r\n", b"m-ready\r\n"], not_before=time.monotonic())
        assert os.read(read_end, 64) == b"m-load-done\r\nm-ready\r\n"
    finally:
        os.close(read_end)
        os.close(server.master)
    # the second line leaves right after the first, as from a UART buffer, 5 ms late wake-up or not
    assert targets[1] - targets[0] == pytest.approx(len(b"m-ready\r\n") * server.wire.byte_s())


def test_paced_restores_the_thread_policy():
    from bundle import scheduling

    before = (os.sched_getscheduler(0), os.sched_getparam(0))
    cpus = os.sched_getaffinity(0)
    with scheduling.paced(True) as how:
        assert how.startswith("SCHED_FIFO 1") or "SCHED_FIFO refused" in how
        if how.startswith("SCHED_FIFO 1 on CPU"):
            # the runner and the DUT process it starts share one CPU
            assert os.sched_getaffinity(0) == {max(cpus)} and f"on CPU {max(cpus)}" in how
            assert how.endswith(f"CPUs {','.join(map(str, sorted(cpus)))} polling when idle")
    assert (os.sched_getscheduler(0), os.sched_getparam(0)) == before
    assert os.sched_getaffinity(0) == cpus
    assert scheduling.pace(False) in ("short slice", "normal")
    scheduling.default_slice()


def test_fd_read_woken_for_nothing_waits_on(pty_pair, monkeypatch):
    master, port = pty_pair
    io = FdTransport(port)
    os.write(master, b"m-ready\r\n")
    real_read, calls = os.read, []

    def taken_by_someone_else_once(fd, n):
        calls.append(fd)
        if len(calls) == 1:
            raise BlockingIOError
        return real_read(fd, n)

    monkeypatch.setattr(transport.os, "read", taken_by_someone_else_once)
    assert io.read_some(time.monotonic() + 5) == b"m-ready\r\n"
    assert len(calls) == 2


def test_emulated_wire_never_ends_a_wait_early():
    from bundle.dut import sim

    for delay in (0.0, sim.SPIN_TAIL_S / 2, sim.SPIN_TAIL_S * 3, 0.002):
        target = time.monotonic() + delay
        sim._sleep_until(target)
        assert time.monotonic() >= target


def _children(pid: int) -> set[int]:
    path = f"/proc/{pid}/task/{pid}/children"
    return {int(x) for x in open(path).read().split()} if os.path.exists(path) else set()


def test_idle_polling_runs_one_sched_idle_loop_per_cpu_and_stops_them():
    from bundle import scheduling

    cpus = os.sched_getaffinity(0)
    before = _children(os.getpid())
    with scheduling.idle_polling(cpus) as polled:
        assert polled == sorted(cpus)
        pollers = _children(os.getpid()) - before
        assert len(pollers) == len(cpus)
        deadline = time.monotonic() + 10      # each sets its own policy and CPU once started
        while time.monotonic() < deadline and not all(
                os.sched_getscheduler(p) == os.SCHED_IDLE for p in pollers):
            time.sleep(0.01)
        assert all(os.sched_getscheduler(p) == os.SCHED_IDLE for p in pollers)
        assert sorted(next(iter(os.sched_getaffinity(p))) for p in pollers) == sorted(cpus)
    assert not (_children(os.getpid()) & pollers)    # killed and reaped


def test_a_poller_ends_with_the_thread_that_started_it():
    """PR_SET_PDEATHSIG: a runner killed outright leaves no busy loop behind."""
    import subprocess
    import sys

    code = ("import os, time; from bundle import scheduling\n"
            "with scheduling.idle_polling({min(os.sched_getaffinity(0))}):\n"
            "    print(open(f'/proc/{os.getpid()}/task/{os.getpid()}/children').read(), flush=True)\n"
            "    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pollers = [int(x) for x in proc.stdout.readline().split()]
        assert len(pollers) == 1
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pollers[0]):
        time.sleep(0.02)
    assert not _alive(pollers[0])


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False
