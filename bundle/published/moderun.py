"""One EnergyRunner session folder as read from disk: `ModeRun`, and `Value`, a number or why not.

- `load_mode_dir(path, ...) -> ModeRun`: one `<mode>/` folder (log.txt, results.txt,
  script.async, trace files, also with a mode prefix such as `performance_log.txt`, or
  recognised by content: bundle.published.detect); missing files are recorded, not fatal.
- `load_tree(root) -> list[ModeRun]`: every mode folder of a `closed/<Submitter>/` tree.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bundle.catalogue import MODES, by_dataset
from bundle.errors import ParseError
from bundle.published.detect import SessionFiles, session_files
from bundle.published.energy import Trace, read_timestamps, read_trace
from bundle.published.layout import find_mode_dirs
from bundle.published.logs import SessionLog, parse_log
from bundle.published.results import ResultsFile, parse_results
from bundle.published.script import ScriptStep, parse_script

RUN_HINT = "the session folder is incomplete or inconsistent; fetch or rerun it"
FILE_NAMES = {"log": "log.txt", "results": "results.txt", "script": "script.async",
              "trace": "trace1-energy.bin", "timestamps": "trace1-timestamps.json"}


@dataclass
class ModeRun:
    """What one session folder holds. Fields are None when the file is absent."""

    path: Path
    system: str | None
    benchmark: str | None
    mode: str | None
    log: SessionLog | None = None
    results: ResultsFile | None = None
    script: list[ScriptStep] | None = None
    trace: Trace | None = None
    timestamps: list[float] | None = None
    missing: list[str] = field(default_factory=list)        # canonical names (log.txt, ...)
    names: dict[str, str] = field(default_factory=dict)     # canonical -> this folder's name

    def shown(self, name: str) -> str:
        return self.names.get(name, name)


@dataclass(frozen=True)
class Value:
    """A number, or None with the reason it is not there."""

    value: float | None
    reason: str = ""
    detail: str = ""
    windows_equal: int | None = None     # recomputed window lines equal to results.txt
    windows_total: int | None = None
    partial: str = ""                    # set: scored on an incomplete run, not comparable


def _optional(files: SessionFiles, role: str, reader, missing: list[str], names: dict[str, str]):
    canonical = FILE_NAMES[role]
    path = files.paths.get(role)
    names[canonical] = path.name if path else files.expected_name(canonical)
    if path is not None and path.is_file():
        return reader(path)
    missing.append(canonical)
    return None


def _mode_from_log(log: SessionLog | None) -> str | None:
    if log is None:
        return None
    if log.code == "ulp-ml":
        return "energy"
    return {"multi": "accuracy", "bmark": "performance"}.get(log.run_mode or "")


def load_mode_dir(path: Path, system: str | None = None, benchmark: str | None = None,
                  mode: str | None = None, files: SessionFiles | None = None) -> ModeRun:
    """Read one session folder. Mode and benchmark come from the log when not given."""
    path = Path(path)
    if not path.is_dir():
        raise ParseError(f"{path}: not a folder", hint="pass a folder holding log.txt and results.txt")
    files = files if files is not None else session_files(path)
    missing: list[str] = []
    names: dict[str, str] = {}
    log = _optional(files, "log", parse_log, missing, names)
    results = _optional(files, "results", parse_results, missing, names)
    script = _optional(files, "script", parse_script, missing, names)
    mode = mode or _mode_from_log(log) or (path.name if path.name in MODES else None)
    if mode is None:
        raise ParseError(f"{path}: cannot tell the mode (no log.txt with bm cfg, folder not named performance|accuracy|energy)", hint=RUN_HINT)
    trace = timestamps = None
    if mode == "energy":
        trace = _optional(files, "trace", read_trace, missing, names)
        timestamps = _optional(files, "timestamps", read_timestamps, missing, names)
    if benchmark is None and log is not None:
        known = by_dataset(log.model or log.config.get("model", ""))
        benchmark = known.name if known else None
    return ModeRun(path, system, benchmark, mode, log, results, script, trace, timestamps, missing, names)


def load_tree(root: Path) -> list[ModeRun]:
    """Every mode folder under root/results/, parsed."""
    return [load_mode_dir(d.path, d.system, d.benchmark, d.mode) for d in find_mode_dirs(root)]
