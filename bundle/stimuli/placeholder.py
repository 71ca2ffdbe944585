"""Inputs of the right size for performance mode when a set's stimuli are not available here.

Performance mode measures latency, and the published models' latency does not depend on the
input values (fixed-shape int8 kernels with no data-dependent early exits), so where the
ic01/vww01/ad01 stimuli cannot be made (offline, archive pin UNSET) a performance run may load
zero-filled files of the set's size under the first names of its pinned y_labels.csv. The run
records it (run-info.json `input`) and the report says so; accuracy never uses them.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from bundle.fsutil import atomic_output
from bundle.stimuli.sources import SETS

PERF_FILES = 5     # performance mode loads the first five stimuli (bundle/runner/stimuli.py)


def describe(dataset: str) -> str:
    size = SETS[dataset].file_size
    return (f"placeholder: {dataset} stimuli not available here; zero-filled {size}-byte inputs under the first "
            f"{PERF_FILES} names of the pinned y_labels.csv (latency does not depend on input values)")


def placeholder_set(dataset: str, labels_csv: Path, out_root: Path) -> Path:
    """`<out_root>/<dataset>/` with y_labels.csv (the pinned file's first rows) and zero-filled
    .bin files of the set's size; rewritten only when missing or different."""
    size = SETS[dataset].file_size
    rows = [r for r in csv.reader(io.StringIO(Path(labels_csv).read_text(encoding="utf-8"))) if r][:PERF_FILES]
    folder = Path(out_root) / dataset
    folder.mkdir(parents=True, exist_ok=True)
    for row in rows:
        path = folder / Path(row[0]).name
        if not (path.is_file() and path.stat().st_size == size and not path.read_bytes().strip(b"\0")):
            with atomic_output(path) as tmp:
                tmp.write_bytes(bytes(size))
    text = "".join(",".join(r) + "\n" for r in rows)
    labels = folder / "y_labels.csv"
    if not labels.is_file() or labels.read_text(encoding="utf-8") != text:
        with atomic_output(labels) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return folder
