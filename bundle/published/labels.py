"""The true classes of a dataset: `<labels_dir>/<dataset>/y_labels.csv` (spec §3.5)."""
from __future__ import annotations

import csv
from pathlib import Path

from bundle.catalogue import DATASETS
from bundle.errors import ParseError
from bundle.published.moderun import RUN_HINT


def labels_path(labels_dir: Path, benchmark: str) -> Path:
    return Path(labels_dir) / DATASETS[benchmark] / "y_labels.csv"


def load_labels(labels_dir: Path, benchmark: str) -> dict[str, int]:
    """basename -> true class, from <labels_dir>/<dataset>/y_labels.csv (spec §3.5), in file order."""
    path = labels_path(labels_dir, benchmark)
    if not path.is_file():
        raise ParseError(f"{path}: no y_labels.csv", hint="pass the datasets folder (kws01/ ic01/ vww01/ ad01/)")
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(enumerate(csv.reader(fh), start=1))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ParseError(f"{path}: not a UTF-8 CSV file ({str(exc)[:80]})", hint="fetch the labels again") from None
    labels = {}
    for lineno, row in rows:
        if not row:
            continue
        try:
            name, label = row[0].strip(), int(row[2])
        except (IndexError, ValueError):
            raise ParseError(f"{path}:{lineno}: expected 'file,classes,label': {row[:4]!r}", hint=RUN_HINT) from None
        if name in labels:
            raise ParseError(f"{path}:{lineno}: {name!r} is listed twice", hint="fetch the labels again")
        labels[name] = label
    return labels
