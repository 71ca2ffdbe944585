"""SHA-256 learned for archives pinned by their publisher's digest (lock `archives:` with md5 + size).

Some source datasets are published with an MD5 only (Zenodo record 3678171 gives
`dev_data_ToyCar.zip` an MD5 and no SHA-256). The lock then pins the archive by that
MD5 and its exact size; the first fetch checks both before anything reads the file and
computes its SHA-256 in the same pass. That SHA-256 is recorded here, in
`<cache>/pins/<archive id>.json` together with the url, size and md5 it was checked
against, and from then on every fetch of the archive (cache, mirror or download) is
checked by SHA-256 like any other pinned input. A record that no longer matches the lock
entry (another url, size or md5) is ignored, so a changed pin is learned again.

`archive_sha256(cache_dir, archive)` is the SHA-256 to check an archive against: the
lock's own, else the learned one, else None (not fetched yet).
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

from bundle.fetch.lock import Archive
from bundle.fsutil import atomic_output

RECORD_DIR = "pins"
_SHA = re.compile(r"^[0-9a-f]{64}$")


def record_path(cache_dir: Path, archive: Archive) -> Path:
    return Path(cache_dir) / RECORD_DIR / f"{archive.id}.json"


def learned_sha256(cache_dir: Path, archive: Archive) -> str | None:
    """The SHA-256 recorded for this exact lock entry (url, size, md5), or None."""
    path = record_path(cache_dir, archive)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None           # absent or damaged: the archive is checked by its MD5 again
    if not isinstance(doc, dict):
        return None
    same = (doc.get("url"), doc.get("size"), doc.get("md5")) == (archive.url, archive.size, archive.md5)
    sha = doc.get("sha256")
    return sha if same and isinstance(sha, str) and _SHA.match(sha) else None


def record(cache_dir: Path, archive: Archive, sha256: str) -> Path:
    """Write the learned SHA-256 of an archive whose size and MD5 were just verified."""
    path = record_path(cache_dir, archive)
    doc = {"archive": archive.id, "url": archive.url, "size": archive.size, "md5": archive.md5,
           "sha256": sha256, "verified": "size and md5 equal to the lock's, before any read",
           "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path


def archive_sha256(cache_dir: Path | None, archive: Archive) -> str | None:
    if not archive.by_publisher_digest:
        return archive.sha256 if archive.pinned else None
    return learned_sha256(cache_dir, archive) if cache_dir else None
