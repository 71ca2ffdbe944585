"""Filesystem helpers shared by every stage."""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from bundle.errors import WriteError


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
    # mkstemp makes 0600; a result is as readable as the log beside it (the umask decides)
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def writing(path: str | os.PathLike, resume_hint: str = "") -> Iterator[None]:
    """Turn an OS error while writing `path` (disk full, no permission, read-only) into a
    WriteError naming the file, so the CLI ends with its exit code instead of a traceback."""
    try:
        yield
    except OSError as err:
        what = err.strerror or type(err).__name__
        raise WriteError(f"cannot write {path}: {what}",
                         hint="free disk space or fix the folder's permissions"
                              + (f"; {resume_hint}" if resume_hint else "")) from None
