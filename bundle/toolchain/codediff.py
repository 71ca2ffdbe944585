"""Compare a regenerated Model Library Format tree with OctoML's published one.

Per file: SHA-256 first; when the bytes differ, a normalized text comparison (whitespace,
generated-by/timestamp lines, absolute paths) decides whether the difference is cosmetic.
A build's verdict is byte-identical, equivalent (after normalization) or different (with the
unified diff of the differing files written next to the report).
"""
from __future__ import annotations

import difflib
import re
import tarfile
from pathlib import Path

from bundle.errors import ParseError
from bundle.fsutil import sha256_file as sha256

BYTE_IDENTICAL, EQUIVALENT, DIFFERENT = "byte-identical", "equivalent", "different"
WORKSPACE_HEADER = "codegen/host/include/tvmgen_default.h"
WORKSPACE_RE = re.compile(r"#define\s+TVMGEN_DEFAULT_WORKSPACE_SIZE\s+(\d+)")

# Lines whose content says when/where/by what a file was generated, not what it computes.
_VOLATILE = [re.compile(p, re.I) for p in (
    r"generated\s+(by|at|on)\b", r"\bexport_datetime\b", r"\btvm\s+version\b",
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}",
)]
_ABS_PATH = re.compile(r"(?<![\w.])/(?:[\w.+-]+/)+[\w.+-]*")


def files_of(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


def extract_mlf(archive: Path, dest: Path) -> Path:
    """Unpack an MLF .tar, refusing members that would land outside `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                target = (dest / member.name).resolve()
                if not target.is_relative_to(dest.resolve()) or member.issym() or member.islnk():
                    raise ParseError(f"{archive}: unsafe member {member.name!r}",
                                     hint="the archive was not written by export_model_library_format")
            tar.extractall(dest)
    except tarfile.TarError as err:
        raise ParseError(f"{archive}: not a readable tar ({err})", hint="rerun the compile stage") from None
    return dest


def normalize(text: str) -> list[str]:
    """The lines that carry meaning: volatile lines dropped, paths masked, whitespace folded."""
    out = []
    for line in text.splitlines():
        if any(p.search(line) for p in _VOLATILE):
            continue
        line = " ".join(_ABS_PATH.sub("<PATH>", line).split())
        if line:
            out.append(line)
    return out


def _text(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def workspace_size(tree: Path) -> int | None:
    header = tree / WORKSPACE_HEADER
    if not header.is_file():
        return None
    m = WORKSPACE_RE.search(header.read_text(errors="replace"))
    return int(m.group(1)) if m else None


def compare_trees(name: str, published: Path, regenerated: Path, diff_file: Path,
                  expected_workspace: int | None = None) -> dict:
    """One report row. Files under `published` are the reference; extra regenerated files
    (runtime sources, metadata OctoML did not ship) are listed, not judged."""
    pub, reg = files_of(published), files_of(regenerated)
    if not pub:  # a wrong path or a changed upstream layout must not read as "identical"
        raise ParseError(f"{published}: no published files to compare with",
                         hint="check code_path in bundle/data/compile.yaml against the fetched code tree")
    identical, equivalent, different, missing = [], [], [], []
    diffs: list[str] = []
    for rel, path in pub.items():
        other = reg.get(rel)
        if other is None:
            missing.append(rel)
        elif sha256(path) == sha256(other):
            identical.append(rel)
        else:
            a, b = _text(path), _text(other)
            if a is not None and b is not None and normalize(a) == normalize(b):
                equivalent.append(rel)
                continue
            different.append(rel)
            if a is not None and b is not None:
                diffs += difflib.unified_diff(a.splitlines(True), b.splitlines(True),
                                              f"published/{rel}", f"regenerated/{rel}")
            else:
                diffs.append(f"Binary files published/{rel} and regenerated/{rel} differ\n")
    verdict = DIFFERENT if (different or missing) else EQUIVALENT if equivalent else BYTE_IDENTICAL
    if diffs or missing:
        diff_file.parent.mkdir(parents=True, exist_ok=True)
        diff_file.write_text("".join(diffs) + "".join(f"Only in published: {m}\n" for m in missing))
    return {"build": name, "verdict": verdict, "files": len(pub), "byte_identical": len(identical),
            "equivalent": equivalent, "different": different, "missing": missing,
            "extra": sorted(set(reg) - set(pub)), "diff": str(diff_file) if (diffs or missing) else None,
            "workspace_size": {"expected": expected_workspace, "published": workspace_size(published),
                               "regenerated": workspace_size(regenerated)}}
