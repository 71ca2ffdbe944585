"""Scheduling hints for the threads that keep a serial link's pace: the runner's I/O thread
and the software DUT's emulated wire.

Each `db` chunk costs three wake-ups: the DUT reading the command, its emulated wire time
running out, the runner reading the acknowledgement. On a busy host each one waits for a
CPU, and those waits, not the code, are what a download loses under load (measured on the
project's 2-core machine at load average 7-8: bload efficiency 0.65-0.70 at normal priority,
0.74-0.77 with the short slice, 0.92-0.96 with SCHED_FIFO). Best effort, per thread:

* `short_slice`: EEVDF's per-task slice (Linux 6.12+; `sched_attr.sched_runtime` for a
  SCHED_OTHER task, torvalds/linux kernel/sched/syscalls.c, `__setscheduler_params`). A
  shorter slice gives an earlier virtual deadline, so a wake-up preempts a CPU hog sooner;
  the thread's share of the CPU does not change. Unprivileged; the default for every link.
* `realtime`: SCHED_FIFO at the lowest priority (1) with SCHED_RESET_ON_FORK, so nothing
  it starts inherits it. It runs before every normal thread; it needs CAP_SYS_NICE or an
  RLIMIT_RTPRIO. Only on request (`tinyrepro bench`, `tinyrepro sim --realtime`): the
  threads block between bytes, and the kernel's RT throttling (sched_rt_runtime_us, 95 %
  by default) bounds what a runaway one could take.
* `fine_timer_slack`: timers wake within microseconds instead of Linux's default 50 us.
* one CPU (with `realtime`): the runner thread, and the software DUT it starts (a child
  inherits the affinity of the thread that forks it), share one CPU. Every hand-over of a
  stop-and-wait link is then a wake-up on the same CPU: on a KVM guest, waking a thread on
  the other vCPU costs an inter-processor interrupt and a VM exit (measured on the
  project's 2-core Firecracker guest: host-to-DUT hop 73 -> 37 us median, bload efficiency
  0.94 -> 0.96). Two SCHED_FIFO threads that block between bytes fit on one CPU.
* idle polling (with `realtime`): one SCHED_IDLE busy loop per CPU for the duration, so no
  CPU halts while the link waits. Every byte through a pty passes the kernel's
  flush_to_ldisc work item, which runs on any CPU; on a KVM guest a halted vCPU wakes
  through a VM exit, and a quiet host halts its CPUs between every hop (measured on the
  project's 2-core Firecracker guest, 100 KWS stimuli: `db` download of 490 bytes 114.6 ->
  108.9 ms, the protocol floor 104.9 ms). It is what `idle=poll` or holding
  /dev/cpu_dma_latency at 0 does, neither of which works here: the first is a boot option,
  the second needs a cpuidle driver and this guest has none
  (/sys/devices/system/cpu/cpuidle/current_driver: none). A SCHED_IDLE thread runs only
  when nothing else wants the CPU, and a waking thread preempts it at once.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import struct
import subprocess
import sys
import threading

SHORT_SLICE_NS = 100_000          # the kernel's lower bound for a custom slice (0.1 ms)
PR_SET_TIMERSLACK = 29            # linux/prctl.h
SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}    # syscall numbers (no glibc wrapper before 2.41)
SCHED_ATTR = "IIQiIQQQII"         # struct sched_attr, SCHED_ATTR_SIZE_VER1 = 56 bytes


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def fine_timer_slack() -> None:
    """Let sleeps end within microseconds, so an emulated wire needs no busy-wait."""
    try:
        _libc().prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _set_slice(slice_ns: int, tid: int = 0) -> bool:
    """SCHED_OTHER with this slice (0: the kernel's default) at the thread's own nice value."""
    number = SCHED_SETATTR.get(platform.machine())
    if number is None or not hasattr(os, "sched_setscheduler"):
        return False
    try:
        nice = os.getpriority(os.PRIO_PROCESS, tid)
        attr = ctypes.create_string_buffer(struct.pack(SCHED_ATTR, struct.calcsize(SCHED_ATTR),
                                                       os.SCHED_OTHER, 0, nice, 0, slice_ns, 0, 0, 0, 0))
        return _libc().syscall(number, tid, attr, 0) == 0
    except (OSError, AttributeError):
        return False


def short_slice(tid: int = 0) -> bool:
    """Ask for a short EEVDF slice if the thread is SCHED_OTHER; False where not supported."""
    try:
        if os.sched_getscheduler(tid) != os.SCHED_OTHER:
            return False            # already real-time (or batch/idle, chosen on purpose): leave it
    except (OSError, AttributeError):
        return False
    return _set_slice(SHORT_SLICE_NS, tid)


def default_slice(tid: int = 0) -> None:
    with contextlib.suppress(OSError, AttributeError):
        if os.sched_getscheduler(tid) == os.SCHED_OTHER:
            _set_slice(0, tid)


def realtime() -> str | None:
    """SCHED_FIFO 1 for the calling thread; None if done, else why not."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(1))
    except (OSError, AttributeError) as err:
        return str(err)
    return None


def pace(want_realtime: bool) -> str:
    """The best of the hints this thread may have; says which it got."""
    if want_realtime:
        why_not = realtime()
        if why_not is None:
            return "SCHED_FIFO 1"
        return f"short slice (SCHED_FIFO refused: {why_not})" if short_slice() else \
            f"normal (SCHED_FIFO refused: {why_not}; no per-task slice on this kernel)"
    return "short slice" if short_slice() else "normal"


def one_cpu() -> int | None:
    """Keep the calling thread (and what it starts from now on) on one CPU of those it may
    use, the highest; None where affinity cannot be set."""
    try:
        cpu = max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
    except (OSError, AttributeError, ValueError):
        return None
    return cpu


# A poller dies with the thread that started it (PR_SET_PDEATHSIG = 1, SIGKILL), so a runner
# killed outright leaves no busy loop behind; it checks its parent after asking, as the
# parent may already be gone.
_POLLER = """
import ctypes, os, sys
ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)
if os.getppid() != int(sys.argv[2]):
    sys.exit(0)
os.sched_setaffinity(0, {int(sys.argv[1])})
os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
while True:
    pass
"""


@contextlib.contextmanager
def idle_polling(cpus) -> "contextlib.AbstractContextManager[list[int]]":
    """A SCHED_IDLE busy loop on each of these CPUs while the block runs (see the module
    docstring); yields the CPUs it polls, none where it cannot start them."""
    procs = []
    try:
        for cpu in sorted(cpus or ()):
            with contextlib.suppress(OSError):
                procs.append(subprocess.Popen([sys.executable, "-S", "-c", _POLLER, str(cpu), str(os.getpid())],
                                              stdin=subprocess.DEVNULL, close_fds=True))
        yield sorted(cpus or ())[:len(procs)]
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


@contextlib.contextmanager
def paced(want_realtime: bool):
    """`with paced(True) as how:` the calling thread at `pace`'s priority, restored afterwards.
    With SCHED_FIFO granted it also runs on one CPU (`one_cpu`), as does every process it
    starts inside the block, and every CPU is kept polling (`idle_polling`)."""
    before = (os.sched_getscheduler(0), os.sched_getparam(0))
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    try:
        with contextlib.ExitStack() as stack:
            how = pace(want_realtime)
            if how == "SCHED_FIFO 1" and (cpu := one_cpu()) is not None:
                how += f" on CPU {cpu}"
                if polled := stack.enter_context(idle_polling(cpus)):
                    how += f", CPUs {','.join(map(str, polled))} polling when idle"
            yield how
    finally:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, *before)    # also drops a custom slice (sched_runtime 0)
        if cpus is not None:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, cpus)


class ThreadHint:
    """The short slice for the thread that opened a link, undone on close (from any thread)."""

    def __init__(self):
        self.tid = threading.get_native_id()
        self.applied = short_slice()

    def undo(self) -> None:
        if self.applied:
            self.applied = False
            default_slice(self.tid)
