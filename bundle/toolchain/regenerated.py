"""A code tree with the regenerated model code in place of the published one.

Each published project (<variant>/<board>/<benchmark>/ of closed/OctoML/code/) is copied with
its `model/` folder replaced by the Model Library Format the compile stage wrote, and nothing
else changed: the same harness, runtime and build files, so a DUT that runs the published code
(the host and QEMU DUTs, the zephyr firmware stage) runs the regenerated model the same way.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from bundle.errors import ConfigError
from bundle.toolchain.codediff import extract_mlf

MODEL = "model"


def place_project(published_project: Path, mlf: Path, dest: Path) -> Path:
    """`dest` = the published project with model/ = the regenerated MLF (atomic: a folder that
    exists is complete)."""
    if not (published_project / MODEL).is_dir():
        raise ConfigError(f"{published_project} has no {MODEL}/ folder to replace",
                          hint="the code tree's layout is not closed/OctoML/code/<variant>/<board>/<benchmark>/")
    part = dest.with_name(dest.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    shutil.copytree(published_project, part, ignore=shutil.ignore_patterns(MODEL))
    extract_mlf(mlf, part / MODEL)
    shutil.rmtree(dest, ignore_errors=True)
    part.rename(dest)
    return dest


def regenerated_tree(code_root: Path, builds: list[tuple[str, Path]], dest_root: Path) -> Path:
    """`builds`: (code_path, model.tar) pairs. Returns the tree's root, laid out like code_root."""
    for code_path, mlf in builds:
        dest = dest_root / code_path
        dest.parent.mkdir(parents=True, exist_ok=True)
        place_project(code_root / code_path, mlf, dest)
    return dest_root
