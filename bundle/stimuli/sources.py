"""Which pinned archive each stimulus set is made from, and how big its files are.

A set is named like its EnergyRunner dataset folder (ic01, vww01, ad01); its rule lives
in the module named here (bundle/stimuli/<module>.py).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from bundle.catalogue import benchmark as catalogued
from bundle.errors import ParseError


@dataclass(frozen=True)
class StimulusSet:
    name: str           # dataset folder, e.g. ic01
    benchmark: str      # ic, vww, ad
    archive: str        # id under archives: in the lock
    module: str         # bundle.stimuli.<module> holds the preparation rule
    file_size: int      # bytes of every prepared file
    needs: tuple[str, ...] = ()  # Python packages (import names) its rule uses


def _set(benchmark: str, archive: str, module: str, needs: tuple[str, ...] = ()) -> StimulusSet:
    entry = catalogued(benchmark)
    return StimulusSet(entry.dataset, benchmark, archive, module, entry.stimulus_file_bytes, needs)


SETS: dict[str, StimulusSet] = {s.name: s for s in (
    _set("ic", "cifar-10-python", "cifar"),
    _set("vww", "vw_coco2014_96", "vww", ("PIL",)),
    _set("ad", "dev_data_ToyCar", "toyadmos", ("soundfile", "librosa")),
)}


def labels_rows(path: Path) -> list[tuple[str, int]]:
    """(file name, label) per y_labels.csv row, in file order (the order the runner sends)."""
    rows = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ParseError(f"{path}: not UTF-8 text (byte {err.start})",
                         hint="restore the pinned y_labels.csv: tinyrepro fetch datasets/") from None
    for i, row in enumerate(csv.reader(io.StringIO(text)), 1):
        row = [c.strip() for c in row]
        if not row or not row[0]:
            continue
        if len(row) < 3 or not row[2].lstrip("-").isdigit() or "/" in row[0] or not row[0].endswith(".bin"):
            raise ParseError(f"{path}:{i}: expected `file.bin,classes,label,...`, got {row!r}",
                             hint="restore the pinned y_labels.csv: tinyrepro fetch datasets/")
        rows.append((row[0], int(row[2])))
    if len({n for n, _ in rows}) != len(rows):
        raise ParseError(f"{path}: a file name is listed twice", hint="restore the pinned y_labels.csv")
    return rows
