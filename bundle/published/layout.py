"""Folders laid out like upstream `closed/<Submitter>/`.

`find_mode_dirs(root) -> list[ModeDir]` lists every session folder of one submitter tree,
found by bundle.published.detect in any known layout (`results/<system>/<benchmark>/<mode>/`
or OctoML's `results/<variant>/<board>/<benchmark>/<mode>/`, see bundle/data/layouts.yaml);
the system id is the system levels joined by "/" (e.g. `microtvm_native/NUCLEO_L4R5ZI`).
The system description files are read by bundle.published.systems.
"""
from __future__ import annotations

from pathlib import Path

from bundle.published.detect import SessionDir as ModeDir
from bundle.published.detect import detect_submitter


def find_mode_dirs(root: Path) -> list[ModeDir]:
    """Every session folder of one submitter tree; ParseError naming what was found when its
    layout is not a known one."""
    sub = detect_submitter(Path(root))
    if sub.error:
        raise sub.error
    return sub.sessions
