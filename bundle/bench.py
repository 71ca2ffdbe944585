"""Benchmark figures for the runner and the software DUT (`tinyrepro bench`, `make bench`).

* bload_efficiency: payload rate of 50 `db` downloads over a real pty at an emulated
  115200 baud, divided by the protocol limit, which counts every character the
  download puts on the wire (`db load N%` and its reply, each chunk and its reply).
* kws_accuracy_run_s: the KWS accuracy sequence at 115200 baud with the published
  146 ms inference emulated, next to the protocol limit for that run (wire time of
  everything it sent and received plus 146 ms per inference) and EnergyRunner's
  published 280.6 s for 1000 stimuli.
* unthrottled_inferences_per_s: accuracy stimuli (bload + infer 1 0) per second
  with no emulated line rate or latency.
* estimate_insn_per_s: instructions per second the latency estimate's timing model runs
  (unicorn with a Python hook per basic block, bundle/estimate/) on a hand-written loop of
  short blocks with loads from flash, its worst case; the published KWS builds are about 10
  million instructions, IC and VWW 25 to 34 million.
* places_speedup: two labgrid places on loopback (bundle/lab/loopback.py: coordinator,
  exporter, ser2net, two software DUTs at 115200 baud with 146 ms emulated), the KWS accuracy
  run over rfc2217:// on one place after the other, then on both at once; the ratio of the
  two wall times (ideal 0.5).

bload and the KWS run are measured twice: as the host is, then with a CPU-bound process
at normal priority beside them (`with_cpu_hog_*`); kws_accuracy_over_limit is the run time
over the protocol limit (1.03: 3 % above it). In both cases the runner's thread and the
software DUT run at SCHED_FIFO 1, on one CPU, with every CPU kept out of halt by a SCHED_IDLE
loop, where permitted (`pacing` says what they got; bundle/scheduling.py): the figures are about the runner's send/acknowledge loop, and the
emulated wire stands for a board, which a loaded host does not slow down. The loader is not
niced. `*_normal_priority` repeats the bload figure without that (SCHED_OTHER, nice 0, with
the short slice every link asks for), for comparison. The 1-minute load average at the start
of each case says how busy the host was (the first case's SCHED_IDLE loops still count in the
second case's figure, as runnable tasks do): on a shared machine these are figures, not pass/fail
thresholds.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bundle.dut.sim import BITS_PER_BYTE, SimProcess
from bundle.scheduling import paced
from bundle.runner.protocol import MAX_CHUNK_BYTES, DutClient, Link

BAUD = 115200
KWS_INFER_MS = 146.0
PUBLISHED_KWS_ACCURACY_S = 280.6    # native KWS accuracy log: 64167.965 -> 64448.567


def load_wire_chars(n_bytes: int, chunk: int = MAX_CHUNK_BYTES) -> int:
    """Characters a `db` download puts on the wire, both directions."""
    chars = len(f"db load {n_bytes}%") + len(f"m-[Expecting {n_bytes} bytes]\r\n") + len("m-ready\r\n")
    for start in range(0, n_bytes, chunk):
        k = min(chunk, n_bytes - start)
        chars += len("db %") + 2 * k + len("m-ready\r\n")
    return chars + len("m-load-done\r\n")


def bload_efficiency(model: Path, loads: int = 50, n_bytes: int = 490, realtime: bool = True) -> dict:
    with SimProcess("litert", "kws", model=model, baud=BAUD, realtime=realtime) as port:
        link = Link.open(port, BAUD)
        try:
            client = DutClient(link)
            client.resync()
            data = bytes(range(256)) * (n_bytes // 256 + 1)
            t0 = time.monotonic()
            for _ in range(loads):
                client.load(data[:n_bytes])
            took = (time.monotonic() - t0) / loads
        finally:
            link.close()
    limit_s = load_wire_chars(n_bytes) * BITS_PER_BYTE / BAUD
    return {"bload_efficiency": round(limit_s / took, 4), "bload_s": round(took, 4),
            "bload_limit_s": round(limit_s, 4), "bload_bytes": n_bytes, "baud": BAUD}


def kws_accuracy_run(model: Path, stimuli: Path, limit: int | None) -> dict:
    from bundle.published.logs import parse_log
    from bundle.runner.session import run_benchmark

    with tempfile.TemporaryDirectory() as tmp, \
            SimProcess("litert", "kws", model=model, baud=BAUD, infer_ms=KWS_INFER_MS, realtime=True) as port:
        t0 = time.monotonic()
        result = run_benchmark(port, "kws", "accuracy", stimuli, Path(tmp), limit=limit)
        took = time.monotonic() - t0
        log = Path(tmp) / "log.txt"
        reply_chars = sum(len(line.split(": ", 1)[1]) + 2 for line in log.read_text().split("\n")
                          if " dut: " in line)
        n = len(parse_log(log).outputs)
    sizes = [p.stat().st_size for p in sorted(stimuli.glob("*.bin"))[:n]]
    chars = reply_chars + sum(load_wire_chars(s) for s in sizes) + n * len("infer 1 0%") \
        + len("name%profile%timestamp%")
    limit_s = chars * BITS_PER_BYTE / BAUD + n * KWS_INFER_MS / 1000
    out = {"kws_accuracy_stimuli": n, "kws_accuracy_run_s": round(took, 2),
           "kws_accuracy_limit_s": round(limit_s, 2), "kws_accuracy_results": "; ".join(result.results)}
    if n == 1000:
        out["energyrunner_published_s"] = PUBLISHED_KWS_ACCURACY_S
    return out


def unthrottled_rate(model: Path, stimuli: Path, limit: int = 300) -> dict:
    from bundle.runner.session import run_benchmark

    with tempfile.TemporaryDirectory() as tmp, SimProcess("litert", "kws", model=model, baud=0) as port:
        t0 = time.monotonic()
        result = run_benchmark(port, "kws", "accuracy", stimuli, Path(tmp), limit=limit)
        took = time.monotonic() - t0
    return {"unthrottled_inferences_per_s": round(result.done / took, 1), "unthrottled_stimuli": result.done}


def estimate_speed(iterations: int = 200_000) -> dict:
    """Timing-model throughput on a loop of 8 instructions per block, 2 of them flash reads."""
    from bundle.errors import ReproError
    from bundle.estimate import board_model, estimate_elf
    from bundle.estimate.asm import assemble

    body = (f"ldr r1, =table\n ldr r2, ={iterations}\n1:\n ldr r0, [r1]\n ldr r3, [r1, #4]\n"
            " adds r0, r0, r3\n mla r4, r0, r3, r4\n eor r5, r4, r0\n subs r2, r2, #1\n bne 1b\n")
    data = "    .section .rodata\n    .balign 32\ntable:\n    .word 1, 2\n"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run = estimate_elf(assemble(Path(tmp), body, data), board_model("NUCLEO_L4R5ZI"))
    except ReproError as err:
        return {"estimate_insn_per_s": f"not measured: {err.message}"}
    return {"estimate_insn_per_s": round(run.instructions / run.seconds),
            "estimate_blocks_per_s": round(run.blocks / run.seconds)}


def places_speedup(model: Path, stimuli: Path, limit: int | None) -> dict:
    import threading

    from bundle.lab.coordinator import Coordinator, acquired
    from bundle.lab.loopback import LoopbackLab, missing_tools
    from bundle.runner.session import run_benchmark

    if missing_tools():
        return {"places_speedup": f"not measured: {missing_tools()}"}
    sim = dict(backend="litert", benchmark="kws", model=model, baud=BAUD, infer_ms=KWS_INFER_MS)
    with tempfile.TemporaryDirectory() as tmp, LoopbackLab(Path(tmp), [sim, sim]) as lab:
        client = Coordinator(lab.address)
        try:
            with acquired(client, lab.places):
                urls = [client.serial_url(name) for name in lab.places]

                def one(i: int, tag: str) -> None:
                    run_benchmark(urls[i], "kws", "accuracy", stimuli, Path(tmp) / tag / str(i), limit=limit)

                t0 = time.monotonic()
                one(0, "seq")
                one(1, "seq")
                sequential = time.monotonic() - t0
                threads = [threading.Thread(target=one, args=(i, "par")) for i in (0, 1)]
                t0 = time.monotonic()
                [t.start() for t in threads]
                [t.join() for t in threads]
                parallel = time.monotonic() - t0
        finally:
            client.close()
    return {"places_stimuli_per_place": limit or 1000, "places_sequential_s": round(sequential, 1),
            "places_parallel_s": round(parallel, 1), "places_speedup": round(parallel / sequential, 3)}


@contextlib.contextmanager
def cpu_hog(on: bool):
    """A CPU-bound process beside the measurement (the loaded case), stopped afterwards."""
    if not on:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def _case(model: Path, stimuli: Path, kws_limit: int | None, prefix: str) -> dict:
    out = {"load_average_1min": round(os.getloadavg()[0], 2)}
    with paced(True) as how:
        out["pacing"] = f"runner thread {how}, software DUT --realtime"
        out.update(bload_efficiency(model))
        kws = kws_accuracy_run(model, stimuli, kws_limit)
    kws["kws_accuracy_over_limit"] = round(kws["kws_accuracy_run_s"] / kws["kws_accuracy_limit_s"], 4)
    out.update(kws)
    out["bload_efficiency_normal_priority"] = bload_efficiency(model, realtime=False)["bload_efficiency"]
    return {f"{prefix}{k}": v for k, v in out.items()}


def run_all(model: Path, stimuli: Path, kws_limit: int | None = None, places_limit: int | None = 200) -> dict:
    """Both cases the issue asks for: a quiet host, then one CPU-bound process beside the run
    (on this 2-core machine, one core busy). The load average says how quiet "quiet" was."""
    figures = {"load_average_1min_at_start": round(os.getloadavg()[0], 2)}
    figures.update(estimate_speed())
    figures.update(unthrottled_rate(model, stimuli))
    figures.update(_case(model, stimuli, kws_limit, ""))
    with cpu_hog(True):
        figures.update(_case(model, stimuli, kws_limit, "with_cpu_hog_"))
    figures.update(places_speedup(model, stimuli, places_limit))
    figures["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    return figures
