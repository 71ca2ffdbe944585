"""The published-results reader's public API, one import for both sides of a diff.

The same code reads a published session folder and a reproduced run folder:
- bundle.published.moderun: `load_mode_dir`, `load_tree`, `ModeRun`, `Value`;
- bundle.published.metrics: `published_metrics`, `recomputed_metrics`, `accuracy_outputs`, `infer_n`;
- bundle.published.labels: `load_labels`, `labels_path`;
- bundle.catalogue: `MODE_METRICS` (mode -> its metric names), `DATASET` (benchmark -> dataset).
Defined here: `system_notes(root)`, how a tree was read. Comparing numbers is the diff side's
(bundle/diff.py; every published number against its recomputation: bundle/diff_published.py).
"""
from __future__ import annotations

from pathlib import Path

from bundle.catalogue import DATASETS as DATASET, MODE_METRICS  # noqa: F401 - the reader's API
from bundle.errors import ParseError
from bundle.published.describe import describe, find_descriptions
from bundle.published.detect import detect_tree, known_layouts
from bundle.published.labels import labels_path, load_labels  # noqa: F401
from bundle.published.metrics import (accuracy_outputs, infer_n, published_metrics,  # noqa: F401
                                      recomputed_metrics)
from bundle.published.moderun import ModeRun, Value, load_mode_dir, load_tree  # noqa: F401


def system_notes(root: Path) -> list[str]:
    """Human notes about the tree: how it was read (layout, names read as typos, files found by
    content), system descriptions repaired, unreadable or not matched (never fatal: no number
    depends on a system description). A tree that cannot be read gives no notes here:
    recompute_tree reports it."""
    try:
        tree = detect_tree(root)
    except ParseError:
        return []
    notes = []
    for sub in tree.submitters:
        if sub.error:
            continue
        where = f"{sub.name}: " if tree.round else ""
        notes.append(f"{where}layout {sub.layout.name}: {sub.layout.what}")
        notes += [where + n for n in sub.notes]
        notes += _undescribed(sub, where)
    return notes


def _undescribed(sub, where: str) -> list[str]:
    known = known_layouts()
    descriptions, _ = find_descriptions(sub.root, known)
    systems = sorted({d.system for d in sub.sessions})
    return [f"{where}no system description found for {s} (rows carry no board or SoC)" for s in systems
            if describe(s, descriptions, sub.root, known, len(systems)) is None]
