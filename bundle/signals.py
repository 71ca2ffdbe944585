"""SIGTERM handled like Ctrl-C, so that `finally` blocks run on `docker stop` or a CI cancel."""
from __future__ import annotations

import contextlib
import signal
import threading


def main_thread() -> bool:
    """Signal handlers can only be set from the main thread."""
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM raises KeyboardInterrupt (containers removed, places released)."""
    if not main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
