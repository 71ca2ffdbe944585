"""Software DUT: the EEMBC harness behind a real pseudo-terminal.

`SimServer` runs in its own process (`tinyrepro sim`): it opens a pty in raw mode,
prints `PTY <slave path>` as its first stdout line and then answers commands on
the master side like a board would, with a model backend as the "firmware".

Honesty knobs, so that the runner's timing logic is exercised for real:
* `baud`: every byte costs 10 bit times on an emulated 8N1 wire, both ways. A
  command is only executed once its `%` has "arrived", and a reply line only
  becomes readable once its last byte has "left".
* `infer_ms`: each inference (warm-up included) takes at least this long.

`SimProcess` starts that process and yields the port path (a context manager); `SimDut` is
the software DUT behind the DUT interface (bundle/dut/base.py).
"""
from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path

from bundle.catalogue import MODELS, benchmark as catalogued
from bundle.dut.base import Capabilities, Dut, fixed_port
from bundle.dut.faults import FaultPlan
from bundle.dut.harness import Harness
from bundle.errors import DutError
from bundle.scheduling import fine_timer_slack, pace

BITS_PER_BYTE = 10  # 8N1: start + 8 data + stop
# Reference model per benchmark (lock path), from the catalogue.
MODEL_FILES = {name: f"models/{model}" for name, model in MODELS.items()}


# Commands whose reply does not depend on the time they run (not infer, timestamp, name...):
# the buffer commands of a bload.
TIMELESS = ("db ",)


# The last stretch of a wait is spun, not slept: a timer wake-up on a KVM guest lands some
# 60 us late even with fine timer slack at SCHED_FIFO (measured on the project's 2-core
# Firecracker guest: reply 63 us late median -> 2 us, bload efficiency +0.6 %). 0.1 ms of
# spinning per emulated event is ~1 % of a CPU at 115200 baud; a whole-wait spin was worse
# (it took the CPU the runner needed).
SPIN_TAIL_S = 0.0001


def _sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > SPIN_TAIL_S:
        time.sleep(delay - SPIN_TAIL_S)
    while time.monotonic() < t:
        pass


@dataclass
class Wire:
    """Emulated UART timing: when a byte finishes on each direction of the wire."""

    baud: int = 0            # 0: unthrottled
    rx_free: float = 0.0
    tx_free: float = 0.0

    def byte_s(self) -> float:
        return BITS_PER_BYTE / self.baud if self.baud else 0.0

    def receive(self, n: int) -> float:
        """n bytes written by the host now; returns when the last one has arrived."""
        self.rx_free = max(time.monotonic(), self.rx_free) + n * self.byte_s()
        return self.rx_free

    def transmit(self, n: int, start: float = 0.0) -> float:
        """n reply bytes that may start on the wire at `start` (or now); when the last one has left."""
        self.tx_free = max(time.monotonic(), start, self.tx_free) + n * self.byte_s()
        return self.tx_free


@dataclass
class SimServer:
    backend: object                 # a bundle.models.base.ModelBackend
    benchmark: str
    baud: int = 115200
    infer_ms: float = 0.0
    faults: FaultPlan = field(default_factory=FaultPlan)
    clock_start_us: int = 0         # uptime at boot; set near 2**32 to exercise the wrap
    realtime: bool = False          # SCHED_FIFO for the emulated wire (bundle/scheduling.py)

    def __post_init__(self) -> None:
        self.wire = Wire(self.baud)
        self.master = -1
        self._pending = b""
        self._boot()

    # -- boot / reset ------------------------------------------------------------------
    def _boot(self) -> None:
        self._boot_ns = time.monotonic_ns()
        self.harness = Harness(
            infer_fn=self.backend.infer, input_size=self.backend.input_size,
            benchmark=self.benchmark, clock_us=self._uptime_us, pace_infer=self._pace_infer,
            max_db=catalogued(self.benchmark).db_buffer_bytes)

    def _uptime_us(self) -> int:
        return self.clock_start_us + (time.monotonic_ns() - self._boot_ns) // 1000

    def _pace_infer(self, n: int, t0: float) -> None:
        _sleep_until(t0 + n * self.infer_ms / 1000.0)

    # -- pty ---------------------------------------------------------------------------
    def open_pty(self) -> str:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)       # no echo, no line editing: a UART is a byte pipe
        tty.setraw(self.master)
        return os.ttyname(self._slave)

    def serve(self) -> None:
        # No long busy-wait for the emulated wire (only SPIN_TAIL_S): fine timer slack, and a
        # short slice (or SCHED_FIFO) so its wake-ups keep time on a busy host. A sim spinning
        # whole waits steals the CPU the runner needs (measured: bload efficiency 0.80-0.88
        # without the spin, 0.77-0.82 with it, load average 8 on 2 cores).
        fine_timer_slack()
        if self.wire.baud or self.infer_ms:     # unthrottled: nothing to keep time for
            pace(self.realtime)
        self._emit(self.harness.boot_lines())
        while True:
            data = self._read()
            arrived = self.wire.receive(len(data))
            self._pending += data
            self._run_commands(arrived, len(data))

    def _read(self) -> bytes:
        return os.read(self.master, 4096)   # blocking: one syscall per command

    def _run_commands(self, arrived: float, n_new: int) -> None:
        while b"%" in self._pending:
            raw, _, rest = self._pending.partition(b"%")
            # the % arrives after the bytes before it; the tail of the read is still on the wire
            done_at = arrived - len(rest) * self.wire.byte_s()
            self._pending = rest
            drop = self.faults.fires("drop")
            if drop and self.faults.coin():          # lost on the way in
                kept = self.faults.drop_byte(raw + b"%")
                if not kept.endswith(b"%"):          # the terminator was lost: merges with the next
                    self._pending = kept + self._pending
                    continue
                raw, drop = kept[:-1], False
            text = raw.decode("latin-1")
            if text.startswith(TIMELESS):
                # Its reply does not depend on when it runs: execute now and hold the reply until
                # the command has arrived and the reply has crossed the wire. One wake-up per
                # command instead of two keeps the emulated wire's pace on a busy host.
                self._execute(text, drop_out=drop, not_before=done_at)
            else:
                _sleep_until(done_at)
                self._execute(text, drop_out=drop)

    def _execute(self, text: str, drop_out: bool = False, not_before: float = 0.0) -> None:
        if self.faults.fires("stall"):
            time.sleep(self.faults.stall_s)
        if self.faults.fires("reset"):
            self._pending = b""       # a reboot loses whatever the UART had received
            self._boot()
            self._emit(self.harness.boot_lines())
            return
        lines = [ln.encode("latin-1") for ln in self.harness.command(text)]
        if self.faults.fires("garbage"):
            lines.insert(self.faults.index(len(lines)), self.faults.garbage_line())
        laps = [i for i, ln in enumerate(lines) if ln.startswith(b"m-lap-us-")]
        if len(laps) == 2 and self.faults.fires("digit"):     # an infer reply
            i = laps[self.faults.coin()]
            lines[i] = self.faults.drop_digit(lines[i])
        if drop_out:                  # lost on the way out
            i = self.faults.index(len(lines) - 1)
            lines[i] = self.faults.drop_byte(lines[i])
        self._write(lines, not_before)

    def _emit(self, lines: list[str]) -> None:
        self._write([line.encode("latin-1") for line in lines])

    def _write(self, lines: list[bytes], not_before: float = 0.0) -> None:
        """Each line readable once its last byte has left the emulated wire.

        The firmware prints a whole reply into its UART at once, so each line leaves right
        after the one before: the times are set before the first sleep, and this process
        waking late for one line does not push the later ones back.
        """
        ends = [self.wire.transmit(len(data), not_before) for data in lines]
        for data, end in zip(lines, ends):
            _sleep_until(end)
            os.write(self.master, data)


def load_backend(backend: str, benchmark: str, model: Path, cache_dir: Path | None):
    from bundle.models.base import get_backend

    return get_backend(backend)(model, benchmark, cache_dir=cache_dir)


def serve_forever(server: SimServer, out=sys.stdout) -> None:
    """Open the pty, announce it, answer until terminated."""
    path = server.open_pty()
    print(f"PTY {path}", file=out, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve()


class SimProcess:
    """`with SimProcess(...) as port:` runs `tinyrepro sim` and yields its pty path."""

    START_TIMEOUT_S = 300.0  # compiling a model with TVM can take a while

    def __init__(self, backend: str = "litert", benchmark: str = "kws", model: Path | None = None,
                 baud: int = 115200, infer_ms: float = 0.0, faults: str = "", seed: int = 0,
                 stall_s: float = 2.0, mirror: Path | None = None, clock_start_us: int = 0,
                 fault_log: Path | None = None, realtime: bool = False):
        self.argv = [sys.executable, "-m", "bundle.dut.sim", "--backend", backend,
                     "--benchmark", benchmark, "--baud", str(baud), "--infer-ms", str(infer_ms),
                     "--seed", str(seed), "--stall-s", str(stall_s),
                     "--clock-start-us", str(clock_start_us)]
        if model:
            self.argv += ["--model", str(model)]
        if faults:
            self.argv += ["--fault", faults]
        if mirror:
            self.argv += ["--mirror", str(mirror)]
        if fault_log:
            self.argv += ["--fault-log", str(fault_log)]
        if realtime:
            self.argv.append("--realtime")
        self.proc: subprocess.Popen | None = None
        self.port: str | None = None

    def __enter__(self) -> str:
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self._stderr,
                                     stdin=subprocess.DEVNULL, cwd=_repo_root())
        self.port = self._read_port()
        return self.port

    def _read_port(self) -> str:
        ready, _, _ = select.select([self.proc.stdout], [], [], self.START_TIMEOUT_S)
        line = self.proc.stdout.readline().decode(errors="replace").strip() if ready else ""
        if not line.startswith("PTY "):
            self.kill()
            self._stderr.seek(0)
            tail = self._stderr.read().decode(errors="replace").strip().splitlines()[-5:]
            raise DutError(f"the software DUT did not start: {' | '.join(tail) or 'no output'}",
                           hint="run `tinyrepro sim ...` by hand to see the full error")
        return line[4:]

    def kill(self) -> None:
        """Stop the DUT process now (to the runner this looks like an unplugged board)."""
        from bundle.dut.ptyproc import stop_process

        stop_process(self.proc)

    def __exit__(self, *exc) -> None:
        self.kill()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()


class SimDut(Dut):
    """`tinyrepro sim` started for the run, or one already running at `port`."""

    name = "sim"
    # Its times are the host's (or emulated), not a board's; no EMON can measure it.
    capabilities = Capabilities(timing="host", dut_kind="sim")

    def __init__(self, backend: str = "litert", benchmark: str = "kws", model: Path | None = None,
                 baud: int = 115200, infer_ms: float = 0.0, faults: str = "", seed: int = 0,
                 mirror: Path | None = None, port: str | None = None, **_ignored):
        self.port = port     # an already running sim (`tinyrepro sim`) can be given instead
        self.options = dict(backend=backend, benchmark=benchmark, model=model, baud=baud,
                            infer_ms=infer_ms, faults=faults, seed=seed, mirror=mirror)

    @classmethod
    def from_spec(cls, spec, benchmark: str = "kws", model: Path | None = None,
                  mirror: Path | None = None, **_ignored) -> "SimDut":
        return cls(backend=spec.runtime or "litert", benchmark=benchmark, model=model, baud=spec.line_baud,
                   infer_ms=spec.infer_ms or 0.0, faults=spec.faults, seed=spec.seed, mirror=mirror,
                   port=spec.port)

    def open(self) -> contextlib.AbstractContextManager[str]:
        return fixed_port(self.port) if self.port else SimProcess(**self.options)


def _repo_root() -> str:
    return str(Path(__file__).resolve().parents[2])


# -- command line (shared by `tinyrepro sim` and `python -m bundle.dut.sim`) ----------------
def add_arguments(p) -> None:
    from bundle.cliargs import BAUDS, backend_name, fault_spec, float_in, int_in
    from bundle.models.base import BACKENDS

    p.add_argument("--backend", default="litert", type=backend_name, help=f"model runtime: {', '.join(BACKENDS)}")
    p.add_argument("--benchmark", default="kws", choices=sorted(MODEL_FILES))
    p.add_argument("--model", type=Path, help="model file (default: the pinned reference model)")
    p.add_argument("--mirror", type=Path, help="offline mirror for fetching the model")
    p.add_argument("--baud", type=int_in(0, BAUDS[1]), default=115200, help="emulated line rate; 0 = unthrottled")
    p.add_argument("--infer-ms", type=float_in(0.0, 3_600_000.0), default=0.0,
                   help="emulated time per inference (the published KWS native build: 146)")
    p.add_argument("--fault", default="", type=fault_spec,
                   help="fault injection, e.g. garbage:0.01,drop:0.01,stall:0.01,reset:0.01,digit:0.1")
    p.add_argument("--stall-s", type=float_in(0.0, 3600.0), default=2.0, help="length of an injected stall")
    p.add_argument("--fault-log", help="append one line per injected fault to this file")
    p.add_argument("--seed", type=int_in(0, 2**63 - 1), default=0, help="seed for fault injection")
    p.add_argument("--clock-start-us", type=int_in(0, 2**32 - 1), default=0,
                   help="uptime at boot in us (near 4294967296 to exercise the 32-bit wrap)")
    p.add_argument("--realtime", action="store_true",
                   help="run the emulated wire at SCHED_FIFO 1 if permitted (tinyrepro bench does)")


def run_from_args(args) -> int:
    from bundle.fetch.fetcher import Fetcher, default_cache_dir

    model = args.model or Fetcher.from_lock(mirror=args.mirror, progress=False).fetch(
        MODEL_FILES[args.benchmark])
    backend = load_backend(args.backend, args.benchmark, model, default_cache_dir() / "models")
    server = SimServer(backend, args.benchmark, baud=args.baud, infer_ms=args.infer_ms,
                       faults=FaultPlan.parse(args.fault, seed=args.seed, stall_s=args.stall_s,
                                              log_path=args.fault_log),
                       clock_start_us=args.clock_start_us, realtime=args.realtime)
    serve_forever(server)
    return 0


if __name__ == "__main__":
    import argparse

    _parser = argparse.ArgumentParser(prog="python -m bundle.dut.sim")
    add_arguments(_parser)
    sys.exit(run_from_args(_parser.parse_args()))
