"""The reproduction pipeline: plan stages for this host, run them, record what did not run.

Each stage takes data in and gives data out. A stage that cannot run here raises
StageUnavailable and is recorded NOT_RUN with its reason; a stage that fails is recorded
FAILED and the pipeline goes on with what does not depend on it. Stage records are
appended to `<run_dir>/stages.jsonl` as they finish, and the report is written even when
a later stage fails or the user presses Ctrl-C, so nothing already done is lost.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from rich.console import Console

from bundle.errors import EXIT_INTERNAL, ReproError, StageUnavailable
from bundle import jsonout

console = Console(stderr=True)

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


class Pipeline:
    """Runs stages in order and keeps their records."""

    def __init__(self, run_dir: Path, progress=None):
        from bundle.progress import quiet

        self.run_dir = run_dir
        self.records: list[StageRecord] = []
        self._log = run_dir / "stages.jsonl"
        self.progress = progress or quiet(console)

    def stage(self, name: str, fn: Callable[[], Any], *, requires: list[str] | None = None) -> Any:
        """Run `fn` as stage `name`; None when it did not run. `requires` names earlier stages."""
        missing = [r for r in requires or [] if not self.ran(r)]
        if missing:
            self._record(StageRecord(name, NOT_RUN, f"needs stage(s) {', '.join(missing)}, which did not run"))
            return None
        self.progress.stage(name)
        start = time.monotonic()
        try:
            out = fn()
        except StageUnavailable as err:
            self._record(StageRecord(name, NOT_RUN, err.message, time.monotonic() - start))
            return None
        except ReproError as err:
            self._record(StageRecord(name, FAILED, str(err), time.monotonic() - start, exit_code=err.exit_code))
            return None
        details = out.get("details", {}) if isinstance(out, dict) else {}
        self._record(StageRecord(name, RAN, "", time.monotonic() - start, details))
        return out

    def skip(self, name: str, reason: str) -> None:
        self._record(StageRecord(name, NOT_RUN, reason))

    def abort(self, err: BaseException) -> None:
        """Record a bug that stopped the pipeline, so the report still says how far it got."""
        self._record(StageRecord("aborted", FAILED, f"internal error: {type(err).__name__}: {err}",
                                 exit_code=EXIT_INTERNAL))

    def failure_code(self) -> int:
        """Exit code of the first stage that failed, 0 when none did."""
        return next((r.exit_code for r in self.records if r.status == FAILED), 0)

    def ran(self, name: str) -> bool:
        return any(r.stage == name and r.status == RAN for r in self.records)

    def _record(self, rec: StageRecord) -> None:
        self.records.append(rec)
        with open(self._log, "a") as fh:
            fh.write(jsonout.dumps(asdict(rec), default=str) + "\n")
        colour = {RAN: "green", NOT_RUN: "yellow", FAILED: "red"}[rec.status]
        # One line per stage; the full reason is in stages.jsonl and the report.
        tail = f": {rec.reason.splitlines()[0]}" if rec.reason else f" ({rec.seconds:.1f} s)"
        console.print(f"[{colour}]{rec.status:7}[/] {rec.stage}{tail}", no_wrap=True, overflow="ellipsis",
                      highlight=False)
