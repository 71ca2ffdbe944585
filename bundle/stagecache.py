"""Stage cache: a stage's result, keyed by the digest of everything it reads.

A key is the SHA-256 of a JSON document of the stage's inputs: the lock entries it reads
(their SHA-256s), the source files of the code it runs (its entry points and every bundle
module they import: `code_digest`), its configuration and options, and the DUT build. `<root>/<stage>/<key>/` holds `result.json` and, for stages that write files,
a `files/` copy of them. A hit copies the files into the new run folder (which is ours) and
returns the result; a re-run with nothing changed therefore redoes no run, and changing one
input changes only the keys that include it.

`force`: the stage names to recompute (`--force STAGE`), or ALL (`--force`). A forced stage
still stores its new result. Writes are atomic: a killed run leaves no half entry.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bundle.errors import UsageError

log = logging.getLogger(__name__)

ALL = "*"
VERSION = 1
REPO = Path(__file__).resolve().parents[1]


def digest(doc) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def code_digest(*parts: str) -> str:
    """The source of the code a stage runs: the files under these package-relative paths and
    every bundle module and data file they import (bundle/codedeps.py), so that a stage lists
    its entry points and its key still follows every helper they reach. Read once per
    process: a run's keys all see the code it was started with."""
    return _code_digest(parts, REPO)


@functools.lru_cache(maxsize=None)
def _code_digest(parts: tuple[str, ...], repo: Path) -> str:
    from bundle.codedeps import closure

    h = hashlib.sha256()
    for path in closure(repo, parts):
        h.update(path.relative_to(repo).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def tree_digest(folder: Path) -> str:
    """Names, sizes and contents of every file under a folder (a run folder, a stimulus set)."""
    folder = Path(folder)
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0")
        h.update(file_digest(path).encode())
    return h.hexdigest()


@dataclass
class StageCache:
    root: Path
    force: set[str] = field(default_factory=set)
    hits: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_option(cls, root: Path, force: list[str] | None, known: list[str]) -> "StageCache":
        names = set(force or [])
        unknown = names - set(known) - {ALL}
        if unknown:
            raise UsageError(f"--force: unknown stage(s) {sorted(unknown)}",
                              hint=f"cached stages: {', '.join(known)}; --force alone recomputes all")
        return cls(Path(root), names)

    def forced(self, stage: str) -> bool:
        return ALL in self.force or stage in self.force

    def key(self, stage: str, inputs: dict) -> str:
        return digest({"cache": VERSION, "stage": stage, "inputs": inputs})

    def _entry(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def get(self, stage: str, key: str, files_to: Path | None = None):
        """The stored result (its files copied to files_to), or None on a miss or --force."""
        entry = self._entry(stage, key)
        if self.forced(stage) or not (entry / "result.json").is_file():
            return None
        try:
            result = json.loads((entry / "result.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            return None   # a damaged entry is a miss: the stage recomputes and replaces it
        if files_to is not None and (entry / "files").is_dir():
            try:
                shutil.copytree(entry / "files", files_to, dirs_exist_ok=True)
            except OSError as err:      # unreadable entry, full disk: recompute instead
                log.warning("stage cache: %s/%s not reused: %s", stage, key[:12], err)
                return None
        self.hits[stage] = self.hits.get(stage, 0) + 1
        return result

    def put(self, stage: str, key: str, result, files_from: Path | None = None, only: tuple[str, ...] = ()) -> None:
        """Store a result, with the files under files_from (only those relative paths, if given);
        a cache that cannot be written (read-only, full) only costs the reuse."""
        try:
            self._put(stage, key, result, files_from, only)
        except OSError as err:
            log.warning("stage cache: %s not stored under %s: %s", stage, self.root, err)

    def _put(self, stage: str, key: str, result, files_from: Path | None, only: tuple[str, ...]) -> None:
        entry = self._entry(stage, key)
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=entry.parent))
        try:
            if files_from is not None and not only:
                shutil.copytree(files_from, tmp / "files")
            for rel in only:
                _copy(files_from / rel, tmp / "files" / rel)
            (tmp / "result.json").write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
            if entry.exists():
                shutil.rmtree(entry)
            os.replace(tmp, entry)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst)
    elif src.is_file():
        shutil.copy2(src, dst)
