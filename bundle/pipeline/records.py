"""The stage records of a run: RAN, NOT_RUN with the reason, or FAILED with the error.

Records are appended to `<run_dir>/stages.jsonl` as they finish (one line on the terminal
each), so a run that is interrupted or fails later keeps what was already done.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from bundle import jsonout
from bundle.errors import EXIT_INTERNAL, ReproError, StageUnavailable
from bundle.progress import console  # the pipeline's console, shared with its progress line

RAN, NOT_RUN, FAILED = "RAN", "NOT_RUN", "FAILED"


@dataclass
class StageRecord:
    stage: str
    status: str
    reason: str = ""
    seconds: float = 0.0
    details: dict = field(default_factory=dict)
    exit_code: int = 0          # the error's exit code when FAILED


def new_run_dir(root: Path) -> Path:
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = root / run_id
    suffix = 1
    while path.exists():
        suffix += 1
        path = root / f"{run_id}-{suffix}"
    path.mkdir(parents=True)
    return path


class Recorder:
    """Runs one stage's work, turning what happened into its record."""

    def __init__(self, run_dir: Path, progress=None):
        from bundle.progress import quiet

        self.run_dir = run_dir
        self.records: list[StageRecord] = []
        self._log = run_dir / "stages.jsonl"
        self.progress = progress or quiet(console)

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        """fn() recorded as stage `name`: its output when it RAN, else None (NOT_RUN, FAILED)."""
        self.progress.stage(name)
        start = time.monotonic()
        try:
            out = fn()
        except StageUnavailable as err:
            self.record(StageRecord(name, NOT_RUN, err.message, time.monotonic() - start))
            return None
        except ReproError as err:
            self.record(StageRecord(name, FAILED, str(err), time.monotonic() - start, exit_code=err.exit_code))
            return None
        details = getattr(out, "details", None)
        details = details() if callable(details) else {}
        self.record(StageRecord(name, RAN, "", time.monotonic() - start, details))
        return out

    def skip(self, name: str, reason: str) -> None:
        self.record(StageRecord(name, NOT_RUN, reason))

    def abort(self, err: BaseException) -> None:
        """Record a bug that stopped the pipeline, so the report still says how far it got."""
        self.record(StageRecord("aborted", FAILED, f"internal error: {type(err).__name__}: {err}",
                                exit_code=EXIT_INTERNAL))

    def failure_code(self) -> int:
        """Exit code of the first stage that failed, 0 when none did."""
        return next((r.exit_code for r in self.records if r.status == FAILED), 0)

    def ran(self, name: str) -> bool:
        return any(r.stage == name and r.status == RAN for r in self.records)

    def reason(self, name: str) -> str:
        """Why a stage has no output: its record's reason, or that it was not reached."""
        rec = next((r for r in self.records if r.stage == name), None)
        if rec is None:
            return f"stage {name} was not reached"
        return rec.reason or rec.status

    def record(self, rec: StageRecord) -> None:
        self.records.append(rec)
        with open(self._log, "a") as fh:
            fh.write(jsonout.dumps(asdict(rec), default=str) + "\n")
        colour = {RAN: "green", NOT_RUN: "yellow", FAILED: "red"}[rec.status]
        # One line per stage; the full reason is in stages.jsonl and the report.
        tail = f": {rec.reason.splitlines()[0]}" if rec.reason else f" ({rec.seconds:.1f} s)"
        console.print(f"[{colour}]{rec.status:7}[/] {rec.stage}{tail}", no_wrap=True, overflow="ellipsis",
                      highlight=False)
