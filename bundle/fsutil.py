"""Filesystem helpers shared by every stage."""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in blocks (archives run to gigabytes)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path next to `path`; rename it into place only if the block succeeds.

    Stages write their *results* (results.txt, reports) through this, so a killed stage
    leaves no half-written result. Logs are written incrementally on purpose and are not
    results: a killed run leaves a resumable partial log.txt but no results.txt.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
