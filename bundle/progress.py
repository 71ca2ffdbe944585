"""One progress display for `tinyrepro reproduce`: stage, item, count, elapsed.

The pipeline sets the stage, a stage sets its item (a run, a build) and its count; the
runs' own output goes to their log files (`-v` also streams it), so the terminal holds the
stage records, this one live line and the final summary. Off a terminal (CI logs, a pipe)
rich draws no live line, so nothing is printed for it.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# The one stderr console of a reproduce: the pipeline, its progress line and the labgrid places
# print through it, so rich keeps the live line below their output.
console = Console(stderr=True)

COUNT_RE = re.compile(r"(?P<done>\d+)/(?P<total>\d+) stimuli")


class PipelineProgress:
    def __init__(self, console: Console, verbose: bool = False):
        self.console = console
        self.verbose = verbose
        self._progress = Progress(TextColumn("[bold]{task.fields[stage]}[/] {task.description}"),
                                  BarColumn(bar_width=24), MofNCompleteColumn(), TimeElapsedColumn(),
                                  console=console, transient=True)
        self._task = self._progress.add_task("", stage="", total=None)
        self.started = time.monotonic()

    def __enter__(self) -> "PipelineProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def stage(self, name: str) -> None:
        self._progress.update(self._task, stage=name, description="", completed=0, total=None)

    def item(self, text: str, done: int | None = None, total: int | None = None) -> None:
        self._progress.update(self._task, description=text, completed=done or 0, total=total)

    def print(self, *args, **kwargs) -> None:
        self.console.print(*args, **kwargs)

    def output_sink(self, log_path: Path, item: str) -> Callable[[str], None]:
        """Where a stage's own output lines go: its log file, the count into the display,
        and the terminal only with -v."""
        log_path.parent.mkdir(parents=True, exist_ok=True)

        def sink(line: str) -> None:
            with open(log_path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
            m = COUNT_RE.search(line)
            if m:
                self.item(item, int(m["done"]), int(m["total"]))
            if self.verbose:
                self.console.print(f"{item}: {line}", markup=False, highlight=False)

        return sink


class _Quiet(PipelineProgress):
    """No live display (library use, tests): output lines still go to their log files."""

    def __init__(self, console: Console | None = None, verbose: bool = False):  # noqa: D107
        self.console = console or Console(stderr=True)
        self.verbose = verbose
        self.started = time.monotonic()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def stage(self, name: str) -> None:
        pass

    def item(self, text: str, done: int | None = None, total: int | None = None) -> None:
        pass


def quiet(console: Console | None = None) -> PipelineProgress:
    return _Quiet(console)
