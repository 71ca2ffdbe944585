"""Fetch pinned inputs: cache, then mirror, then HTTPS, always SHA-256 verified.

Objects live content-addressed in `<cache>/sha256/<digest>`; `fetch(rel)` also
materialises them at `<cache>/tree/<rel>` (hard link, or copy across devices) so a
locked prefix such as `published/octoml-v1.0/` is an ordinary folder for the parser.
Writes go to a temporary name and are renamed into place, so an interrupted fetch
never leaves a file that looks complete; HTTP downloads keep their `.part` and resume
with a Range request. A file whose digest differs is deleted and is an error. An archive
pinned by its publisher's MD5 + size is checked by those on its first fetch and by the
SHA-256 computed then on every later one (bundle/fetch/learned.py).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from bundle.errors import ChecksumMismatch, ConfigError, FetchError, NetworkUnavailable
from bundle.fsutil import sha256_file as _digest, writing
from bundle.fetch import learned
from bundle.fetch.lock import UNSET, Archive, GitBlob, Lock, LockedFile, git_blob_id, load_lock

MIRROR_ENV = "TINYREPRO_MIRROR"
CHUNK = 1 << 16
BAR_ABOVE = 8 << 20  # downloads bigger than this show a byte progress bar


def default_cache_dir() -> Path:
    env = os.environ.get("TINYREPRO_CACHE")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "artifacts" / "cache"




@dataclass
class FetchStats:
    from_cache: int = 0
    from_mirror: int = 0
    downloaded: int = 0
    bytes: int = 0


class Fetcher:
    def __init__(self, lock: Lock, cache_dir: Path, mirror: Path | None = None,
                 offline: bool = False, progress: bool = True, timeout_s: float = 30.0):
        self.lock = lock
        self.cache_dir = Path(cache_dir)
        self.mirror = Path(mirror) if mirror else None
        self.offline = offline
        self.progress = progress
        self.timeout_s = timeout_s
        self.stats = FetchStats()

    @classmethod
    def from_lock(cls, lock_path: Path | None = None, cache_dir: Path | None = None,
                  mirror: Path | str | None = None, **kw) -> "Fetcher":
        """Build a fetcher; `mirror` defaults to $TINYREPRO_MIRROR."""
        mirror = mirror or os.environ.get(MIRROR_ENV) or None
        if mirror and not Path(mirror).is_dir():
            raise FetchError(f"mirror folder not found: {mirror}",
                             hint=f"pass an existing folder to --mirror or unset {MIRROR_ENV}")
        return cls(load_lock(lock_path), cache_dir or default_cache_dir(), mirror, **kw)

    # -- public -------------------------------------------------------------------
    def fetch(self, rel: str) -> Path:
        """One verified file, materialised at `<cache>/tree/<rel>`."""
        entry = self.lock.get(rel)
        obj = self._object(entry)
        return self._materialise(entry, obj)

    def fetch_tree(self, prefix: str) -> Path:
        """Every locked file under `prefix`; returns the folder `<cache>/tree/<prefix>`."""
        entries = self.lock.under(prefix)
        if not entries:
            raise FetchError(f"no locked input under {prefix!r}", hint="see artifacts/lock.yaml for the pinned paths")
        with _progress(self.progress, f"fetch {prefix}", sum(e.size for e in entries)) as advance:
            for entry in entries:
                self._materialise(entry, self._object(entry))
                advance(entry.size)
        return self.cache_dir / "tree" / prefix.rstrip("/")

    def fetch_blob(self, rel: str) -> Path:
        """A file pinned by git blob id (lock `git_blobs:`), verified by hashing as git does,
        materialised at `<cache>/tree/<rel>` next to the files of its tree."""
        try:
            entry = self.lock.git_blobs[rel]
        except KeyError:
            raise ConfigError(f"{rel!r} is not pinned by git blob id in {self.lock.path}",
                              hint="see git_blobs: in artifacts/lock.yaml") from None
        return self._materialise(entry, self._object(entry))

    def fetch_blobs(self, prefix: str) -> tuple[list[Path], dict[str, str]]:
        """Every git-blob-pinned file under `prefix`: (fetched, {path: why not}). A blob that
        cannot be had here (offline, not in the mirror) is reported, never replaced."""
        got, missing = [], {}
        for rel in sorted(r for r in self.lock.git_blobs if r.startswith(prefix)):
            try:
                got.append(self.fetch_blob(rel))
            except ChecksumMismatch:
                raise
            except FetchError as err:
                missing[rel] = err.message
        return got, missing

    def fetch_archive(self, archive_id: str) -> Path:
        """A whole pinned archive (lock `archives:`), verified; returns its cache object.
        Nothing is downloaded for an archive whose SHA-256 is UNSET."""
        try:
            entry = self.lock.archives[archive_id]
        except KeyError:
            raise ConfigError(f"archive {archive_id!r} is not pinned in {self.lock.path}",
                              hint="add it under archives: in artifacts/lock.yaml (url, size, sha256)") from None
        if not entry.pinned:
            raise ConfigError(f"archive {archive_id!r} ({entry.url}) has sha256 UNSET in {self.lock.path}",
                              hint="set its SHA-256 (or the publisher's md5 and exact size) in "
                                   "artifacts/lock.yaml; unverified downloads are never used")
        if not entry.by_publisher_digest:
            return self._object(entry)
        sha = learned.learned_sha256(self.cache_dir, entry)
        if sha:  # checked by MD5 once: SHA-256 from then on
            return self._object(replace(entry, sha256=sha))
        return self._first_fetch(entry)

    def archive_sha256(self, archive_id: str) -> str | None:
        """The SHA-256 an archive is checked against (pinned or learned), or None."""
        entry = self.lock.archives.get(archive_id)
        return learned.archive_sha256(self.cache_dir, entry) if entry else None

    def _first_fetch(self, entry: Archive) -> Path:
        """An archive pinned by MD5 + size: verified on arrival, stored and recorded by SHA-256."""
        stage = self.cache_dir / "md5" / entry.md5
        stage.parent.mkdir(parents=True, exist_ok=True)
        if self.mirror and (self.mirror / entry.path).is_file():
            tmp = self._tmp(stage)
            try:
                shutil.copyfile(self.mirror / entry.path, tmp)
                sha = self._verify(entry, tmp, f"mirror file {self.mirror / entry.path}")
                os.replace(tmp, stage)
            finally:
                tmp.unlink(missing_ok=True)
            self.stats.from_mirror += 1
        elif self.offline:
            raise self._offline_miss(entry)
        else:
            sha = self._download(entry, stage)
            self.stats.downloaded += 1
        self.stats.bytes += entry.size
        obj = self.cache_dir / "sha256" / sha
        obj.parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage, obj)
        learned.record(self.cache_dir, entry, sha)
        return obj

    # -- sources ------------------------------------------------------------------
    def _offline_miss(self, entry) -> NetworkUnavailable:
        where = f" or the mirror {self.mirror}" if self.mirror else ""
        return NetworkUnavailable(
            f"{entry.path}: not in the cache{where}, and offline",
            hint=f"pass --mirror DIR (or set {MIRROR_ENV}) to a folder holding {entry.path}, or drop --offline to download it")

    def _object(self, entry: LockedFile | Archive | GitBlob) -> Path:
        if isinstance(entry, GitBlob):
            obj = self.cache_dir / "gitblob" / entry.git_blob
            cached = obj.is_file() and git_blob_id(obj.read_bytes()) == entry.git_blob
        else:
            obj = self.cache_dir / "sha256" / entry.sha256
            cached = obj.is_file() and obj.stat().st_size == entry.size and _digest(obj) == entry.sha256
        if cached:
            self.stats.from_cache += 1
            return obj
        obj.unlink(missing_ok=True)  # a corrupt cache entry is replaced, never trusted
        obj.parent.mkdir(parents=True, exist_ok=True)
        if self.mirror and (self.mirror / entry.path).is_file():
            self._from_mirror(entry, obj)
            self.stats.from_mirror += 1
        elif self.offline:
            raise self._offline_miss(entry)
        else:
            self._download(entry, obj)
            self.stats.downloaded += 1
        self.stats.bytes += obj.stat().st_size
        return obj

    def _from_mirror(self, entry: LockedFile | Archive | GitBlob, obj: Path) -> None:
        src = self.mirror / entry.path
        size = getattr(entry, "size", None)      # a git blob's size is not pinned: its id is checked
        if size is not None and src.stat().st_size != size:     # refused before a byte is copied or hashed
            raise ChecksumMismatch(
                f"{entry.path}: checksum mismatch in mirror file {src}: {src.stat().st_size} bytes, "
                f"locked {entry.size}; not copied or hashed",
                hint="the mirror holds another version of this file: re-sync the mirror")
        tmp = self._tmp(obj)
        try:
            shutil.copyfile(src, tmp)
            self._verify(entry, tmp, f"mirror file {self.mirror / entry.path}")
            os.replace(tmp, obj)
        finally:
            tmp.unlink(missing_ok=True)

    def _download(self, entry: LockedFile | Archive, obj: Path) -> str:
        import requests  # imported here: offline runs never need it
        import urllib3

        part = obj.with_suffix(".part")
        have = part.stat().st_size if part.exists() else 0
        size = getattr(entry, "size", 0)   # a git blob's size is not pinned: no resume
        headers = {"Range": f"bytes={have}-"} if 0 < have < size else {}
        try:
            with requests.get(entry.url, headers=headers, stream=True, timeout=self.timeout_s) as resp:
                if resp.status_code == 404:
                    raise FetchError(f"{entry.path}: upstream says 404 at {entry.url}",
                                     hint="the pinned upstream moved; use a mirror (--mirror DIR)")
                resp.raise_for_status()
                mode = "ab" if resp.status_code == 206 else "wb"
                start = have if resp.status_code == 206 else 0
                with open(part, mode) as fh, _progress(self.progress and size > BAR_ABOVE,
                                                       f"download {entry.path}", size, start) as advance:
                    # read1 hands over what has arrived, so a dropped connection keeps it for resume
                    while block := resp.raw.read1(CHUNK, decode_content=True):
                        fh.write(block)
                        advance(len(block))
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as err:
            raise NetworkUnavailable(
                f"{entry.path}: download from {entry.url} failed ({type(err).__name__})",
                hint=f"connect to the network and retry (partial data is kept and resumed), "
                     f"or pass --mirror DIR / set {MIRROR_ENV} to a folder holding {entry.path}") from None
        try:
            sha = self._verify(entry, part, f"download of {entry.url}")
        except ChecksumMismatch:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, obj)
        return sha

    # -- helpers ------------------------------------------------------------------
    @staticmethod
    def _verify(entry: LockedFile | Archive | GitBlob, path: Path, what: str) -> str:
        """Size and every pinned digest (SHA-256, the publisher's MD5; a git blob id), in one read;
        returns the SHA-256."""
        if isinstance(entry, GitBlob):
            got = git_blob_id(path.read_bytes())
            if got != entry.git_blob:
                path.unlink(missing_ok=True)
                raise ChecksumMismatch(
                    f"{entry.path}: git blob id mismatch in {what}: got {got[:12]}…, locked {entry.git_blob[:12]}…; "
                    "the file was not kept",
                    hint="the source is corrupt or not the pinned version: re-sync the mirror or retry the download")
            return _digest(path)
        size = path.stat().st_size
        want = {"sha256": entry.sha256} if entry.sha256 != UNSET else {}
        if getattr(entry, "md5", ""):
            want["md5"] = entry.md5
        got = _digests(path, ("sha256", *want))
        kind = next((k for k in want if got[k] != want[k]), None)
        if size != entry.size or kind:
            kind = kind or next(iter(want))
            path.unlink(missing_ok=True)
            raise ChecksumMismatch(
                f"{entry.path}: checksum mismatch in {what}: got {kind} {got[kind][:16]}… ({size} bytes), "
                f"locked {want[kind][:16]}… ({entry.size} bytes); the file was not kept",
                hint="the source is corrupt or not the pinned version: re-sync the mirror or retry the download")
        return got["sha256"]

    @staticmethod
    def _tmp(obj: Path) -> Path:
        fd, name = tempfile.mkstemp(prefix=".fetch-", dir=obj.parent)
        os.close(fd)
        return Path(name)

    def _materialise(self, entry: LockedFile, obj: Path) -> Path:
        dest = self.cache_dir / "tree" / entry.path
        if dest.is_file() and dest.stat().st_ino == obj.stat().st_ino:
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp(dest)
        tmp.unlink()
        try:
            try:
                os.link(obj, tmp)
            except OSError:
                with writing(dest):
                    shutil.copyfile(obj, tmp)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)     # a failed copy (disk full) leaves no temp file behind
        return dest


def _digests(path: Path, names: tuple[str, ...]) -> dict[str, str]:
    hashes = {n: hashlib.new(n) for n in dict.fromkeys(names)}
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            for h in hashes.values():
                h.update(block)
    return {n: h.hexdigest() for n, h in hashes.items()}


class _progress:
    """A rich progress bar over bytes, or nothing when progress is off."""

    def __init__(self, enabled: bool, label: str, total: int, completed: int = 0):
        self.enabled, self.label, self.total, self.completed = enabled, label, total, completed

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                                   TimeRemainingColumn)
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                             TimeRemainingColumn(), transient=True)
        self._bar.start()
        task = self._bar.add_task(self.label, total=self.total, completed=self.completed)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._bar.stop()
