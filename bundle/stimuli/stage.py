"""Prepare one stimulus set: verified archive in, `<out>/<set>/` with a SHA-256 manifest out.

`<out>/<set>/` holds y_labels.csv (the pinned copy), one .bin per row and `SHA256SUMS`
(`sha256sum -c` format, y_labels order), so it is directly a `tinyrepro run --stimuli` folder,
and `SOURCE.json` naming the archive it was made from and the SHA-256 that archive was checked
against (for an archive pinned by its publisher's MD5, the SHA-256 computed on its verified
first fetch, bundle/fetch/learned.py).
The archive is verified against the lock before anything is written; files are written
atomically and recorded in `.SHA256SUMS.partial` as they go, so an interrupted preparation
resumes keeping every file whose digest matches its record. A set already complete and
matching its manifest is reported READY without touching the archive (works offline).
"""
from __future__ import annotations

import hashlib
import importlib
import json
import importlib.util
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from bundle.errors import FetchError, NetworkUnavailable, ParseError, ReproError
from bundle.fetch.fetcher import _progress
from bundle.fsutil import atomic_output, sha256_file as _sha
from bundle.stimuli.sources import SETS, labels_rows

READY, NOT_RUN, FAILED = "READY", "NOT_RUN", "FAILED"
MANIFEST = "SHA256SUMS"
SOURCE = "SOURCE.json"     # the source archive: id, url, size, how pinned, the SHA-256 it was checked against
PARTIAL = ".SHA256SUMS.partial"
OUT_ENV = "TINYREPRO_STIMULI"


def default_out_dir(cache_dir: Path) -> Path:
    """Where prepared sets live: $TINYREPRO_STIMULI, else `<fetch cache>/stimuli`. Inside the
    cache, so a runner container sees them under its read-only /inputs mount."""
    env = os.environ.get(OUT_ENV)
    return Path(env) if env else Path(cache_dir) / "stimuli"


def prepared_dir(cache_dir: Path, name: str) -> Path | None:
    """The default folder of set `name` if a preparation completed there (its SHA256SUMS is
    written last), else None."""
    if name not in SETS:
        return None
    folder = default_out_dir(cache_dir) / name
    return folder if (folder / MANIFEST).is_file() else None


@dataclass
class SetResult:
    set: str
    status: str                 # READY, NOT_RUN or FAILED
    reason: str = ""
    dir: Path | None = None
    manifest: Path | None = None
    manifest_sha256: str = ""
    files: int = 0
    bytes: int = 0
    kept: int = 0               # already there and matching the manifest
    written: int = 0
    seconds: float = 0.0
    archive: str = ""
    archive_sha256: str = ""    # the SHA-256 the archive was checked against (pinned, or learned from its MD5)
    exit_code: int = 0          # a FAILED set's error class decides the command's exit code

    def summary(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self).items()}


def _records(folder: Path) -> dict[str, str]:
    """name -> digest from the manifest and the partial record (later lines win)."""
    out: dict[str, str] = {}
    for fname in (MANIFEST, PARTIAL):
        path = folder / fname
        if path.is_file():
            # a damaged record only costs a file being made again: never trusted, never fatal
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                parts = line.split(maxsplit=1)
                if len(parts) == 2 and len(parts[0]) == 64:
                    out[parts[1].lstrip("*")] = parts[0]
    return out


def _kept(folder: Path, names: list[str], size: int) -> dict[str, str]:
    """Files already prepared: present, of the right size, and matching their recorded digest."""
    records = _records(folder)
    keep = {}
    for name in names:
        path = folder / name
        if name in records and path.is_file() and path.stat().st_size == size and _sha(path) == records[name]:
            keep[name] = records[name]
    return keep


def _source_record(archive, sha256: str) -> dict | None:
    """What the set was made from: the archive, how it was pinned, and the SHA-256 it was
    checked against (for an MD5-pinned archive, the one computed on its verified first fetch)."""
    if archive is None or not sha256:
        return None
    return {"archive": archive.id, "url": archive.url, "size": archive.size, "sha256": sha256,
            "pinned_by": "md5 + size (publisher's digest), checked before any read" if archive.by_publisher_digest
            else "sha256 (lock)", **({"md5": archive.md5} if archive.md5 else {})}


def _recorded_source(folder: Path) -> dict | None:
    """The source record of an earlier preparation (a set completed without touching the archive)."""
    try:
        doc = json.loads((folder / SOURCE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("sha256"), str) else None


def _write_source(folder: Path, record: dict | None) -> None:
    if record is not None:
        with atomic_output(folder / SOURCE) as tmp:
            tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def _write_manifest(folder: Path, names: list[str], digests: dict[str, str]) -> Path:
    path = folder / MANIFEST
    with atomic_output(path) as tmp:
        tmp.write_text("".join(f"{digests[n]}  {n}\n" for n in names), encoding="utf-8")
    (folder / PARTIAL).unlink(missing_ok=True)
    return path


def _check_disk(folder: Path, need: int) -> None:
    probe = folder if folder.exists() else next(p for p in folder.parents if p.exists())
    free = shutil.disk_usage(probe).free
    if free < need:
        raise FetchError(f"not enough disk for {folder}: {need / 1e6:.1f} MB needed, {free / 1e6:.1f} MB free",
                         hint="free space, or pass --out DIR on a larger disk")


def prepare(name: str, fetcher, out: Path | None = None) -> SetResult:
    """Prepare set `name`; NOT_RUN (with the reason) when its archive cannot be had here.
    A wrong archive (ChecksumMismatch) or a corrupt member (ParseError) raises."""
    spec = SETS[name]
    start = time.monotonic()
    folder = Path(out or default_out_dir(fetcher.cache_dir)) / name
    try:
        labels_path = fetcher.fetch(f"datasets/{name}/y_labels.csv")
    except NetworkUnavailable as err:
        return SetResult(name, NOT_RUN, reason=_unavailable(fetcher, err), dir=folder)
    rows = labels_rows(labels_path)
    names = [n for n, _ in rows]
    result = SetResult(name, NOT_RUN, dir=folder, files=len(names), bytes=len(names) * spec.file_size)
    keep = _kept(folder, names, spec.file_size) if folder.is_dir() else {}
    if len(keep) < len(names):
        archive = fetcher.lock.archives.get(spec.archive)
        result.reason = _blocker(spec, fetcher, archive)
        if result.reason:
            return result
        result.archive = archive.url
        known = fetcher.archive_sha256(spec.archive)
        cached = bool(known) and (Path(fetcher.cache_dir) / "sha256" / known).is_file()
        _check_disk(folder, (len(names) - len(keep)) * spec.file_size + (0 if cached else archive.size))
        try:
            src = fetcher.fetch_archive(spec.archive)  # verified against the lock before any write
        except NetworkUnavailable as err:
            result.reason = _unavailable(fetcher, err)
            return result
        result.archive_sha256 = src.name          # the cache object is named by its verified SHA-256
        try:
            result.written = _produce(spec, src, folder, rows, keep, fetcher.progress)
        except ParseError as err:  # name the archive by its lock entry, not its cache digest
            raise ParseError(f"{name} from {archive.path} ({src}): {err.message}", hint=err.hint) from None
    result.kept = len(keep)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_output(folder / "y_labels.csv") as tmp:  # run scores against it: never half a copy
        shutil.copyfile(labels_path, tmp)
    source = _source_record(fetcher.lock.archives.get(spec.archive), result.archive_sha256) \
        or _recorded_source(folder)
    result.archive_sha256 = (source or {}).get("sha256", "")
    _write_source(folder, source)      # before the manifest: SHA256SUMS, written last, marks a set complete
    result.manifest = _write_manifest(folder, names, _records(folder) | keep)
    result.manifest_sha256 = _sha(result.manifest)
    result.status, result.seconds = READY, round(time.monotonic() - start, 1)
    return result


def _blocker(spec, fetcher, archive) -> str:
    """Why this set cannot be made on this host before any download, or ''."""
    if archive is None or not archive.pinned:
        return (f"pin UNSET: archives.{spec.archive} in {fetcher.lock.path} has no SHA-256"
                + (f" ({archive.url})" if archive else "") + "; nothing unverified is downloaded")
    missing = [m for m in spec.needs if importlib.util.find_spec(m) is None]
    if missing:
        return (f"missing Python package(s) {', '.join(missing)} for the {spec.name} rule: "
                f"run `make venv` (requirements.lock) or pip install '.[stimuli]'")
    return ""


def _unavailable(fetcher, err: NetworkUnavailable) -> str:
    why = "offline" if fetcher.offline else "download failed"
    return f"{why}: {err.message}" + (f" ({err.hint})" if err.hint else "")


def _produce(spec, archive: Path, folder: Path, rows: list[tuple[str, int]], keep: dict[str, str],
             progress: bool) -> int:
    """Write every file not kept, recording each digest as soon as the file is in place."""
    rule = importlib.import_module(f"bundle.stimuli.{spec.module}")
    wanted = {n: lab for n, lab in rows if n not in keep}
    items = rule.stimuli(archive, wanted)
    first = next(items, None)  # names, labels and archive layout are checked before this yields
    if first is None:
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(folder / PARTIAL, "a", encoding="utf-8") as record, \
            _progress(progress, f"prepare {spec.name}", len(wanted) * spec.file_size) as advance:
        for fname, data in _chain(first, items):
            if len(data) != spec.file_size:
                raise ReproError(f"{spec.name}/{fname}: {len(data)} bytes made, expected {spec.file_size}",
                                 hint="a bug in bundle/stimuli: please report it")
            with atomic_output(folder / fname) as tmp:
                tmp.write_bytes(data)
            record.write(f"{hashlib.sha256(data).hexdigest()}  {fname}\n")
            record.flush()
            written += 1
            advance(len(data))
    return written


def _chain(first, rest):
    yield first
    yield from rest


def prepare_all(names: list[str], fetcher, out: Path | None = None) -> list[SetResult]:
    """Every set in turn; one set failing is recorded as FAILED and the others go on."""
    results = []
    for name in names:
        try:
            results.append(prepare(name, fetcher, out))
        except ReproError as err:
            results.append(SetResult(name, FAILED, reason=str(err), exit_code=err.exit_code))
    return results
