"""The stimuli of a run, in the order EnergyRunner sends them (spec §2.3 performance, §2.4 accuracy).

`plan_stimuli` reads the set's y_labels.csv (every file it names checked to stay inside the
stimuli folder); `stimuli_manifest` checks every stimulus against the set's SHA256SUMS before
the first byte is sent; `read_stimulus` gives the bytes one bload sends.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from bundle.errors import ChecksumMismatch, ConfigError, ParseError, UsageError
from bundle.catalogue import DATASETS as DATASET
from bundle.catalogue import benchmark as catalogued

PERF_STIMULI = 5          # median runs use the first 5 rows of y_labels.csv
# Datasets whose stimuli the lock pins; the others are derived from public data sets
# (the catalogue's `stimuli`) and only their y_labels.csv is pinned.
PINNED_STIMULI = tuple(DATASET[b] for b in DATASET if catalogued(b).stimuli_pinned)
SOURCE_DATA = {DATASET[b]: catalogued(b).stimuli for b in DATASET if not catalogued(b).stimuli_pinned}


@dataclass(frozen=True)
class Stimulus:
    index: int
    path: Path
    label: int
    offset: int = 0
    length: int | None = None        # None: the whole file

    @property
    def key(self) -> str:
        return f"{self.path.name}@{self.offset}"



# -- stimuli ---------------------------------------------------------------------------
def plan_stimuli(stimuli_dir: Path, benchmark: str, mode: str, limit: int | None = None) -> list[Stimulus]:
    """Stimuli in y_labels.csv order: all for accuracy, the first 5 for performance.

    AD sends 2560-byte windows: in accuracy every window at the file's stride (196
    per file), in performance only the first window. Every file y_labels.csv names
    must be a plain name inside the stimuli folder.
    """
    if limit is not None and limit < 1:
        raise UsageError(f"limit must be at least 1, got {limit}", hint="omit --limit to run every stimulus")
    folder = Path(stimuli_dir)
    rows = _label_rows(folder, benchmark)
    if mode == "performance":
        rows = rows[:PERF_STIMULI]
    out: list[Stimulus] = []
    root = _resolved(folder)
    for lineno, name, label, window in rows:
        path = _inside(folder, root, name, lineno)
        if not path.is_file():
            raise ConfigError(f"stimulus {path} listed in y_labels.csv is missing", hint=_dataset_hint(benchmark))
        if benchmark != "ad":
            out.append(Stimulus(len(out), path, label))
            continue
        width, stride = window
        last = path.stat().st_size - width if mode == "accuracy" else 0
        for off in range(0, last + 1, stride):
            out.append(Stimulus(len(out), path, label, off, width))
    return out[:limit] if limit else out


LABELS_HINT = "y_labels.csv rows are `file,classes,label` (AD: `,width,stride`); fetch or prepare the set again"
MAX_LABEL_ROWS = 1_000_000


def _label_rows(folder: Path, benchmark: str) -> list[tuple[int, str, int, tuple[int, int] | None]]:
    """(line, file name, label, (width, stride) for AD) per row; ParseError naming the line."""
    labels = folder / "y_labels.csv"
    if not labels.is_file():
        raise ConfigError(f"no y_labels.csv in {folder}", hint=_dataset_hint(benchmark))
    try:
        with open(labels, newline="", encoding="utf-8") as fh:
            raw = [(n, r) for n, r in enumerate(csv.reader(fh), start=1) if r]
    except UnicodeDecodeError as exc:
        raise ParseError(f"{labels}: not UTF-8 text (byte {exc.start})", hint=LABELS_HINT) from None
    except csv.Error as exc:
        raise ParseError(f"{labels}: not CSV ({exc})", hint=LABELS_HINT) from None
    if len(raw) > MAX_LABEL_ROWS:
        raise ParseError(f"{labels}: {len(raw)} rows, more than any data set", hint=LABELS_HINT)
    out = []
    for lineno, row in raw:
        try:
            label = int(row[2])
            window = (int(row[3]), int(row[4])) if benchmark == "ad" else None
        except (IndexError, ValueError):
            raise ParseError(f"{labels}:{lineno}: expected 'file,classes,label"
                             f"{',width,stride' if benchmark == 'ad' else ''}', got {row[:5]!r}",
                             hint=LABELS_HINT) from None
        if window and not (0 < window[0] <= 1 << 24 and 0 < window[1] <= 1 << 24):
            raise ParseError(f"{labels}:{lineno}: window width/stride {window} out of range", hint=LABELS_HINT)
        out.append((lineno, row[0].strip(), label, window))
    return out


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:     # symlink loops
        raise ConfigError(f"cannot resolve {path} ({exc})", hint="pass an existing stimuli folder") from None


def _inside(folder: Path, root: Path, name: str, lineno: int) -> Path:
    """The stimulus file `name` names, refused unless it resolves inside `folder` (root: resolved)."""
    where = f"{folder / 'y_labels.csv'}:{lineno}"
    if not name or "\x00" in name or len(name.encode()) > 4096 or any(
            len(p.encode()) > 255 for p in Path(name).parts):
        raise ParseError(f"{where}: empty or invalid file name {name[:60]!r}", hint=LABELS_HINT)
    path = folder / name
    parts = Path(name).parts
    if Path(name).is_absolute() or ".." in parts or not parts:
        raise ParseError(f"{where}: {name!r} is outside the stimuli folder {folder}; nothing was read",
                         hint="a labels file may only name files in its own folder")
    # a symlink may still point out: resolve it (plain files need no resolving)
    try:
        linked = any((folder / Path(*parts[:i])).is_symlink() for i in range(1, len(parts) + 1))
        inside = path.resolve().is_relative_to(root) if linked else True
    except (OSError, RuntimeError) as exc:
        raise ParseError(f"{where}: cannot resolve {name[:60]!r} ({exc})", hint=LABELS_HINT) from None
    if not inside:
        raise ParseError(f"{where}: {name!r} links outside the stimuli folder {folder}; nothing was read",
                         hint="a labels file may only name files in its own folder")
    return path


def stimuli_manifest(stimuli_dir: Path, stimuli: list[Stimulus]) -> str:
    """SHA-256 of the set's manifest (`<sha256>  <name>` per file, labels order), after
    checking every file against the folder's SHA256SUMS when it has one. Called before
    the first byte is sent: a tampered or swapped stimulus is refused (exit 4)."""
    import hashlib

    from bundle.fsutil import sha256_file

    names = list(dict.fromkeys(s.path.relative_to(stimuli_dir).as_posix() for s in stimuli))
    digests = {n: sha256_file(Path(stimuli_dir) / n) for n in names}
    listed = _read_sums(Path(stimuli_dir) / MANIFEST)
    if listed is not None:
        for n in names:
            if listed.get(n) != digests[n]:
                why = "is not listed in" if n not in listed else "does not match"
                raise ChecksumMismatch(f"{Path(stimuli_dir) / n} {why} {Path(stimuli_dir) / MANIFEST} "
                                       f"(sha256 {digests[n][:16]}…); nothing was sent",
                                       hint="prepare the set again (tinyrepro stimuli), or restore the file")
    text = "".join(f"{digests[n]}  {n}\n" for n in names)
    return hashlib.sha256(text.encode()).hexdigest()


MANIFEST = "SHA256SUMS"
SUMS_RE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")     # sha256sum's text and binary forms


def _read_sums(path: Path) -> dict[str, str] | None:
    """`sha256sum` format; None when the folder has no manifest. ParseError naming the line."""
    if not path.is_file():
        return None
    hint = "SHA256SUMS is damaged: prepare the set again (tinyrepro stimuli)"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"{path}: not UTF-8 text (byte {exc.start})", hint=hint) from None
    out = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = SUMS_RE.match(line)
        if not m:
            raise ParseError(f"{path}:{lineno}: expected '<64 hex>  <file>', got {line[:80]!r}", hint=hint)
        out[m[2]] = m[1]
    return out


def _dataset_hint(benchmark: str) -> str:
    dataset = DATASET[benchmark]
    if dataset in PINNED_STIMULI:
        return f"fetch the pinned stimuli again: tinyrepro fetch datasets/{dataset}/"
    return (f"only the {', '.join(PINNED_STIMULI)} stimuli are pinned; {dataset} stimuli (derived from "
            f"{SOURCE_DATA.get(dataset, 'its source data set')}) are made on a networked machine with "
            f"`tinyrepro stimuli --set {dataset}`, then given as `tinyrepro run --stimuli "
            f"artifacts/cache/stimuli/{dataset}` (a folder named {dataset} with y_labels.csv and the .bin files)")



def read_stimulus(stim: Stimulus) -> tuple[bytes, int]:
    raw = stim.path.read_bytes()
    if stim.length is None:
        return raw, len(raw)
    data = raw[stim.offset:stim.offset + stim.length]
    if len(data) != stim.length:
        raise ConfigError(f"{stim.path}: window {stim.offset}+{stim.length} past the end ({len(raw)} bytes)")
    return data, len(raw)
