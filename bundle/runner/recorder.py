"""Writes each completed stimulus (its run.jsonl record, then its log.txt block) on a thread
of its own, so the serial link never waits for the disk.

The journal's fsync takes 1.5 ms per stimulus on the project's 2-core machine (0.55 % of a
115200-baud KWS accuracy run, whose pace is the wire's); done beside the next stimulus's
download it costs the run nothing. The order on disk stays the one resuming relies on
(logwriter): each record is durable before its block is appended, and the block's `log_at`
is the log's size just before it. Every other log write goes through `write`, after the
records queued before it.

A write error surfaces in the caller's thread, at the next call; `close` writes everything
still queued, so an interrupted run (Ctrl-C, a port that went away) keeps every stimulus it
completed. A run killed outright loses at most the records still queued, and the resumed run
repeats those stimuli: nothing is written twice or half.
"""
from __future__ import annotations

import queue
import threading

from bundle.runner.logwriter import Journal, LogWriter

_STOP = object()


class Recorder:
    def __init__(self, journal: Journal, logw: LogWriter):
        self.journal = journal
        self.logw = logw
        self._queue: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._failed = False              # sticky: after a failed write nothing later is written
        self._thread = threading.Thread(target=self._drain, name="run-recorder", daemon=True)
        self._thread.start()

    def record(self, record: dict, block: list[str]) -> None:
        """Queue a completed stimulus: its record (log_at filled in on writing) and block."""
        self._raise_pending()
        self._queue.put((record, block))

    def write(self, lines: list[str], final: bool = False) -> None:
        """Append to the log now, after every record queued before (fsynced, as logw.write);
        not after a failed record write, which would leave a gap in the log's order."""
        self.flush()
        if not self._failed:
            self.logw.write(lines, final=final)

    def flush(self) -> None:
        """Wait until everything queued is on disk; raise the writer's error if it had one."""
        self._queue.join()
        self._raise_pending()

    def close(self) -> None:
        """Write what is queued and stop the thread; raise the writer's error if it had one."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        self._raise_pending()

    def _raise_pending(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                if not self._failed:
                    self._write_one(*item)
            except BaseException as err:      # handed to the caller's thread
                self._failed = True
                self._error = err
            finally:
                self._queue.task_done()

    def _write_one(self, record: dict, block: list[str]) -> None:
        record["log_at"] = self.logw.size()    # where its block starts: a torn log is cut back here
        self.journal.append(record)
        self.logw.write(block, sync=False)     # the journal holds it durably: replayed if lost
