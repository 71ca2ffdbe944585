"""A run folder is owned by one run: an owner record written first, a lock held while it runs.

`claim(out, owner)` (a context manager) decides, before anything in the folder is
modified, whether this run may use `out`:
- a missing or empty folder is ours: the lock file and `owner.json` (what is being run:
  DUT, backend, benchmark, mode, N, W, stimuli manifest digest) are written first;
- a folder whose `owner.json` equals ours is resumed;
- a folder with other content, with no owner record, or with another owner record is
  refused (UsageError, exit 2) and left untouched;
- a folder another live run holds (`.lock`, flock) is refused at once.
The lock is an advisory `flock` on `<out>/.lock`; the kernel drops it when the holder
dies, so a killed run never leaves the folder locked.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Iterator

from bundle.errors import ParseError, UsageError
from bundle.fsutil import atomic_output, writing

OWNER = "owner.json"
LOCK = ".lock"
OWNER_VERSION = 1
# What a run writes into its folder; anything else there is someone else's.
OURS = {OWNER, LOCK, "log.txt", "run.jsonl", "results.txt", "run-info.json"}
MAX_OWNER_BYTES = 64 << 10
HINT_NEW = "give --out a new (or empty) folder"


def _is_ours(name: str) -> bool:
    # atomic_output's temp files (.results.txt.XXXX.part) from a run killed mid-write
    return name in OURS or (name.startswith(".") and name.endswith(".part")
                            and name[1:].split(".part")[0].rsplit(".", 1)[0] in OURS)


def read_owner(path: Path) -> dict:
    """The owner record; ParseError (exit 5) naming the file when it is not one."""
    hint = "the run folder's owner.json is damaged; " + HINT_NEW
    try:
        if path.stat().st_size > MAX_OWNER_BYTES:
            raise ParseError(f"{path}: {path.stat().st_size} bytes, too large for an owner record", hint=hint)
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ParseError(f"{path}: not an owner record ({type(exc).__name__}: {str(exc)[:80]})", hint=hint) from None
    except OSError as exc:
        raise ParseError(f"{path}: cannot read ({exc.strerror or exc})", hint=hint) from None
    if not isinstance(data, dict) or data.get("version") != OWNER_VERSION or not isinstance(data.get("run"), dict):
        raise ParseError(f"{path}: expected {{\"version\": {OWNER_VERSION}, \"run\": {{...}}}}", hint=hint)
    return data["run"]


def _differences(theirs: dict, ours: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(theirs) | set(ours), key=str):
        a, b = theirs.get(k), ours.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} there, {b!r} now")
    return out


def check_folder(out: Path, owner: dict) -> bool:
    """Whether `out` may be used by the run `owner` (True: resume, False: fresh); refuses
    otherwise. Reads only: nothing is created or changed."""
    out = Path(out)
    if not out.exists():
        return False
    if not out.is_dir():
        raise UsageError(f"--out {out} is not a folder", hint=HINT_NEW)
    try:
        names = sorted(p.name for p in out.iterdir())
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot list it ({exc.strerror or exc})", hint=HINT_NEW) from None
    if not names or names == [LOCK]:
        return False
    foreign = [n for n in names if not _is_ours(n)]
    if foreign:
        raise UsageError(f"--out {out} holds files this run did not write ({', '.join(foreign[:3])}"
                         f"{', ...' if len(foreign) > 3 else ''}); nothing was changed", hint=HINT_NEW)
    if OWNER not in names:
        # only a lock and a half-written record: a run starting now (refused at its lock), or
        # the leftovers of one killed while starting (ours to reuse, under the lock)
        if all(n == LOCK or n.startswith(f".{OWNER}.") for n in names):
            return False
        raise UsageError(f"--out {out} holds run files but no {OWNER}: not a folder this tool owns; "
                         "nothing was changed", hint=HINT_NEW)
    theirs = read_owner(out / OWNER)
    if theirs != owner:
        raise UsageError(f"--out {out} belongs to another run ({'; '.join(_differences(theirs, owner))}); "
                         "nothing was changed",
                         hint="resume it with the same options, or " + HINT_NEW)
    return True


@contextlib.contextmanager
def claim(out: Path, owner: dict) -> Iterator[bool]:
    """Hold `out` for this run; yields True when resuming an earlier run of the same owner."""
    out = Path(out)
    check_folder(out, owner)
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"--out {out} is in use by another run (it holds {out / LOCK}); nothing was changed",
                             hint="wait for that run to end, or " + HINT_NEW) from None
        # checked again under the lock: another run may have claimed it since
        resumed = check_folder(out, owner)
        if not resumed:
            with writing(out / OWNER), atomic_output(out / OWNER) as tmp:
                tmp.write_text(json.dumps({"version": OWNER_VERSION, "run": owner}, indent=2,
                                          allow_nan=False) + "\n", encoding="utf-8")
        yield resumed
    finally:
        os.close(fd)      # releases the flock


def run_owner(benchmark: str, mode: str, n: int, w: int, stimuli_digest: str, dut: dict | None = None) -> dict:
    """What a run folder's owner record says is being run (bundle.runner.rundir)."""
    return {"dut": dict(sorted((dut or {}).items())), "benchmark": benchmark, "mode": mode, "n": n, "w": w,
            "stimuli_manifest_sha256": stimuli_digest}

