"""A DUT process that announces its pseudo-terminal on stdout (the host program, QEMU)."""
from __future__ import annotations

import collections
import re
import select
import signal
import subprocess
import threading
import time
from pathlib import Path

from bundle.errors import DutError, ReproError


def stop_process(proc: subprocess.Popen | None, grace_s: float = 5.0) -> None:
    """Terminate a DUT process, then kill it if it does not leave within `grace_s`."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class PtyProcess:
    """`with PtyProcess(argv, port_re) as port:` starts argv and yields the pty it names.

    stderr is merged into stdout; after the port line a thread keeps reading (so the
    process never blocks on a full pipe) and keeps the last lines for error messages.
    """

    def __init__(self, argv: list[str], port_re: str, what: str, start_timeout_s: float = 30.0,
                 cwd: Path | None = None):
        self.argv = argv
        self.port_re = re.compile(port_re)
        self.what = what
        self.start_timeout_s = start_timeout_s
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None
        self._drainer: threading.Thread | None = None
        self.tail: collections.deque[str] = collections.deque(maxlen=50)

    def __enter__(self) -> str:
        try:
            # Unbuffered: select() sees only the pipe, so a port line read ahead into a Python
            # buffer together with an earlier line would never wake it.
            self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.cwd, bufsize=0)
        except OSError as err:
            raise DutError(f"cannot start the {self.what}: {err}", hint="make deps installs what it needs") from None
        port = self._read_port()
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        return port

    def _read_port(self) -> str:
        deadline = time.monotonic() + self.start_timeout_s
        out = self.proc.stdout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([out], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            line = out.readline().decode(errors="replace")
            if not line:            # the process ended
                break
            self.tail.append(line.rstrip())
            if m := self.port_re.search(line):
                return m[1]
        self.kill()
        out.close()
        ended = f" ({self._how_it_ended()})" if self.proc.returncode not in (None, -signal.SIGTERM, -signal.SIGKILL) else ""
        raise DutError(f"the {self.what} did not announce its serial port{ended}: "
                       f"{' | '.join(list(self.tail)[-5:]) or 'no output'}",
                       hint=f"run it by hand to see why: {' '.join(self.argv)}")

    def _how_it_ended(self) -> str:
        rc = self.proc.returncode
        if rc is not None and rc < 0:
            try:
                return f"killed by signal {signal.Signals(-rc).name}"
            except ValueError:
                return f"killed by signal {-rc}"
        return f"exited with status {rc}"

    def ended(self) -> str | None:
        """How the process ended and its last output lines, or None while it runs."""
        if not self.proc or self.proc.poll() is None:
            return None
        if self._drainer:            # everything it printed before it ended
            self._drainer.join(2)
        lines = [line for line in self.tail if line.strip()][-8:]
        return (f"the {self.what} {self._how_it_ended()} during the run; its last output: "
                f"{' | '.join(lines) if lines else '(none)'}")

    def _drain(self) -> None:
        for raw in iter(self.proc.stdout.readline, b""):
            self.tail.append(raw.decode(errors="replace").rstrip())

    def kill(self) -> None:
        stop_process(self.proc)

    def __exit__(self, exc_type, exc, tb) -> None:
        # A run that failed because the DUT program died (a crash, an exit) says so, with the
        # signal or status and what the program printed, instead of the link error it caused.
        died = self.ended() if isinstance(exc, (ReproError, OSError)) else None
        self.kill()
        if self._drainer:          # the pipe is at EOF once the process is gone
            self._drainer.join(2)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        if died:
            raise DutError(died, hint=f"run it by hand to see it fail: {' '.join(self.argv)}") from exc
