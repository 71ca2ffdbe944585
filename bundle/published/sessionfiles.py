"""The files of one EnergyRunner session folder, by role (log, results, script, trace,
timestamps): by name, with or without a mode prefix, else by content; and what they say
about the folder's mode and model.

`session_files(folder) -> SessionFiles`; `mode_and_model(files) -> (mode, model)`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from bundle import eembc
from bundle.published.names import Known, known_layouts, mode_of_name

ROLES = ("log", "results", "script", "trace", "timestamps")
SNIFF_BYTES = 64 << 10
_LOG_LINE = re.compile(rb"^\d+\.\d{3} (session|parser|sequencer|dut|io|emon): ", re.M)
_RESULTS_LINE = re.compile(rb"^\S+ ulp-ml(perf)?: ?(Top[- ]1|AUC|Median |Performance results|Energy data)", re.M)
_RUN_CODE = re.compile(eembc.RUN_NAME)
_CFG = re.compile(eembc.CFG)
_DUT_MODEL = re.compile(eembc.DUT_PATTERNS["model"])


def _role_by_name(name: str, known: Known) -> tuple[str | None, str]:
    """(role, mode prefix) of a file name: `log.txt`, `performance_log.txt`, `energy-script.async`."""
    low = name.lower()
    for role, bases in known.files.items():
        for base in bases:
            if low == base:
                return role, ""
            if low.endswith(base) and low[-len(base) - 1] in "_-":
                prefix = name[:-len(base) - 1]
                if mode_of_name(prefix, known)[0]:
                    return role, prefix
    return None, ""


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(SNIFF_BYTES)
    except OSError:
        return b""


def _role_by_content(path: Path) -> str | None:
    head = _head(path)
    if not head:
        return None
    if head[:1] == b"\xf1" and path.stat().st_size >= 9 and (path.stat().st_size - 5) % 4 == 0:
        return "trace"                      # EMON trace: tag byte 0xF1, float32 rate, float32 samples
    if b"\0" in head:
        return None
    if _RESULTS_LINE.search(head):
        return "results"
    if _LOG_LINE.search(head) and (b"m-session-start-id" in head or b"m-bmark-run-name" in head):
        return "log"
    text = head.lstrip()
    if text.startswith(b"[") and re.search(rb"\bcmd\s*:", text):
        return "script"
    if text.startswith(b"[") and path.suffix.lower() == ".json":
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError, OSError):
            return None
        if isinstance(values, list) and all(isinstance(v, (int, float)) for v in values):
            return "timestamps"
    return None


@dataclass
class SessionFiles:
    paths: dict[str, Path] = field(default_factory=dict)
    prefix: str = ""                      # the mode prefix the folder's file names use, if any
    notes: list[str] = field(default_factory=list)

    def expected_name(self, base: str) -> str:
        """The name a missing file would have in this folder (e.g. accuracy_log.txt; EMON
        traces keep EnergyRunner's own names)."""
        return f"{self.prefix}_{base}" if self.prefix and not base.startswith("trace1-") else base


def session_files(folder: Path, known: Known | None = None) -> SessionFiles:
    known = known or known_layouts()
    out = SessionFiles()
    try:
        entries = sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError:
        return out
    unnamed = []
    for path in entries:
        role, prefix = _role_by_name(path.name, known)
        if role and role not in out.paths:
            out.paths[role] = path
            out.prefix = out.prefix or prefix
        elif role:
            out.notes.append(f"{folder}: {path.name} ignored, {out.paths[role].name} is the {role} file")
        else:
            unnamed.append(path)
    for path in unnamed:
        role = _role_by_content(path)
        if role and role not in out.paths:
            out.paths[role] = path
            out.notes.append(f"{folder}: {path.name} read as the {role} file (by its content)")
    return out


# -- what a session folder's files say --------------------------------------------------------
def mode_and_model(files: SessionFiles) -> tuple[str | None, str | None]:
    mode = model = None
    log = files.paths.get("log")
    if log:
        head = _head(log).decode("utf-8", "replace")
        cfg = {m["key"]: m["val"] for m in _CFG.finditer(head) if m["key"] in ("runMode", "model")}
        code = _RUN_CODE.search(head)
        if code and code["code"] == "ulp-ml":
            mode = "energy"
        else:
            mode = {"multi": "accuracy", "bmark": "performance"}.get(cfg.get("runMode", ""))
        dut = _DUT_MODEL.search(head)
        model = (dut["model"] if dut else None) or cfg.get("model")
    res = files.paths.get("results")
    if mode is None and res:
        text = _head(res).decode("utf-8", "replace")
        if "Median energy cost" in text or "Energy data for window" in text:
            mode = "energy"
        elif re.search(r"Top[- ]1|AUC", text):
            mode = "accuracy"
        elif "Median throughput" in text:
            mode = "performance"
    return mode, model
