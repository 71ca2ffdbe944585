"""A whole labgrid lab on 127.0.0.1, for the tests and `tinyrepro bench`: a coordinator, one
exporter serving software DUTs' ptys through ser2net, and one place per DUT.

    with LoopbackLab(workdir, [dict(backend="litert", benchmark="kws", model=...), ...]) as lab:
        lab.address, lab.places       # HOST:PORT of the coordinator, place names
        lab.kill_exporter()           # the board host goes away (exporter and its ser2net)

Everything it starts is in its own process group and stopped on exit.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bundle.dut.sim import SimProcess
from bundle.errors import DutError
from bundle.lab.coordinator import Coordinator

HOST = "127.0.0.1"
EXPORTER = "loopback"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def missing_tools() -> str:
    """Why a loopback lab cannot start here ("" when it can)."""
    try:
        import labgrid  # noqa: F401
    except ImportError:
        return "labgrid is not installed (pip install 'tinyrepro[lab]')"
    if not shutil.which("ser2net") and not os.path.exists("/usr/sbin/ser2net"):
        return "ser2net is not installed (make deps, or apt-get install ser2net)"
    return ""


def _tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


class LoopbackLab:
    def __init__(self, workdir: Path, sims: list[dict], tags: dict[str, str] | None = None,
                 start_timeout_s: float = 30.0):
        self.sims = sims
        self.tags = tags or {"board": "NUCLEO_L4R5ZI", "variant": "microtvm_native", "benchmark": "kws"}
        self.timeout = start_timeout_s
        self.address = f"{HOST}:{free_port()}"
        # the coordinator keeps its places in its working folder: a fresh one per lab
        self.workdir = Path(workdir) / f"lab-{self.address.rsplit(':', 1)[1]}"
        self.places = [f"loop{i}" for i in range(len(sims))]
        self._stack = contextlib.ExitStack()
        self.coordinator_proc: subprocess.Popen | None = None
        self.exporter_proc: subprocess.Popen | None = None

    def __enter__(self) -> "LoopbackLab":
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        ptys = [self._stack.enter_context(SimProcess(**sim)) for sim in self.sims]
        self.coordinator_proc = self._spawn("coordinator", [_tool("labgrid-coordinator"), "-l", self.address])
        config = self.workdir / "exporter.yaml"
        config.write_text("".join(f"dut{i}:\n  RawSerialPort:\n    port: {pty}\n    speed: 115200\n"
                                  for i, pty in enumerate(ptys)))
        client = self._connect()
        try:
            self.start_exporter()
            for i, name in enumerate(self.places):
                client.create_place(name, f"{EXPORTER}/dut{i}/*", self.tags)
            self._wait_served(client)
        finally:
            client.close()

    def _spawn(self, what: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.workdir / f"{what}.log", "ab")
        with log:
            return subprocess.Popen(argv, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)

    def start_exporter(self) -> None:
        self.exporter_proc = self._spawn("exporter", [_tool("labgrid-exporter"), "-c", self.address, "-n", EXPORTER,
                                                      "--hostname", HOST, str(self.workdir / "exporter.yaml")])

    def _connect(self) -> Coordinator:
        deadline = time.monotonic() + self.timeout
        host, port = self.address.rsplit(":", 1)
        while True:     # a TCP connect first: labgrid logs every refused gRPC connection
            with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1):
                return Coordinator(self.address, timeout_s=10)
            if time.monotonic() > deadline or self.coordinator_proc.poll() is not None:
                raise DutError("the loopback labgrid coordinator did not start",
                               hint=f"see {self.workdir / 'coordinator.log'}")
            time.sleep(0.2)

    def _wait_served(self, client: Coordinator) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            places = client.places()
            if all("NetworkSerialPort" in places[n].resources for n in self.places):
                return
            if time.monotonic() > deadline or self.exporter_proc.poll() is not None:
                raise DutError("the loopback labgrid exporter did not export the DUTs",
                               hint=f"see {self.workdir / 'exporter.log'}")
            time.sleep(0.3)

    def kill_exporter(self) -> None:
        """The board host goes away: SIGKILL to the exporter and the ser2net it started."""
        _kill_group(self.exporter_proc, signal.SIGKILL)

    def __exit__(self, *exc) -> None:
        for proc in (self.exporter_proc, self.coordinator_proc):
            _kill_group(proc, signal.SIGTERM)
        self._stack.close()


def _kill_group(proc: subprocess.Popen | None, sig: int) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
