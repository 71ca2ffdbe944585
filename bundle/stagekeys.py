"""What stage-cache keys are made of, shared by the stages that declare their keys
(bundle/pipeline/*: each stage's `key`) and the report's figures (bundle/report/html.py).

Code is keyed by its source (bundle.stagecache.code_digest: a stage's entry points and what
they import), never by a Docker image tag that hashes all of bundle/: a change only the report
reads would otherwise re-run every DUT. An image's id keys a stage only when the image holds
what the bundle's sources do not (the tvm image: TVM built from source, for compile).

The lock entries stand for the files they pin (the fetch stage has verified every file
against them), so a key needs no re-hashing of the published tree or the stimuli. A run
folder restored from, or stored in, the stage cache is named by its cache key (its content
is a function of it), so a later key that reads the folder need not hash it again.
"""
from __future__ import annotations

import functools
from pathlib import Path

from bundle.stagecache import tree_digest

# run folder -> the cache key that fixes its content, for the folders of this process's runs
_CONTENT: dict[str, str] = {}


@functools.lru_cache(maxsize=1)
def _lock_files(path: str, mtime_ns: int) -> tuple[tuple[str, str], ...]:
    from bundle.fetch.lock import load_lock

    return tuple((e.path, e.sha256) for e in load_lock(Path(path)).under(""))


def lock_entries(prefix: str) -> dict[str, str]:
    """The lock's pins under prefix (the lock is parsed once per process and lock file)."""
    from bundle.fetch.lock import default_lock_path

    path = default_lock_path()
    return {p: sha for p, sha in _lock_files(str(path), path.stat().st_mtime_ns) if p.startswith(prefix)}


def label_entries() -> dict[str, str]:
    """The pinned label files the scoring reads."""
    return {k: v for k, v in lock_entries("datasets/").items() if k.endswith("y_labels.csv")}


def stimuli_identity(benchmark: str, prepared: Path | None) -> dict:
    """A prepared set: the folder as it is (its manifest does not cover y_labels.csv); else the
    pinned files of the benchmark's dataset."""
    from bundle.catalogue import DATASETS

    if prepared:
        return {"prepared": tree_digest(Path(prepared))}
    return lock_entries(f"datasets/{DATASETS[benchmark]}/")


# The pins of the Python environments a run executes in: this process's venv (the software
# DUT's model runtimes, the runner on the local engine, the in-process QEMU runs) and the
# runner image's. A runtime upgrade changes a DUT's numbers without changing a source file.
PYTHON_LOCKS = ("requirements.lock", "requirements-runner.lock")


@functools.lru_cache(maxsize=1)
def python_env() -> dict[str, str | None]:
    """Each Python lock file's SHA-256 (None where the bundle runs without its repository)."""
    from bundle.stagecache import REPO, file_digest

    return {name: file_digest(REPO / name) if (REPO / name).is_file() else None for name in PYTHON_LOCKS}


@functools.lru_cache(maxsize=None)
def tool_version(tool: str) -> str:
    import subprocess

    try:
        done = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as err:
        return f"unavailable: {err}"
    return (done.stdout.splitlines() or [""])[0]


def known_content(folder: Path, key: str) -> None:
    """`folder` holds what the stage-cache entry `key` holds (restored from it, or stored in it)."""
    _CONTENT[str(folder)] = key


VOLATILE = ("seconds", "engine", "image", "cached")   # how a run was had, not what it holds


def run_identity(run: dict) -> dict:
    """A run record by what its folder holds (the folder's path changes with every run)."""
    out = {k: v for k, v in run.items() if k not in VOLATILE}
    folder = run.get("dir")
    if folder and str(folder) in _CONTENT:
        out["dir"] = {"cached": _CONTENT[str(folder)]}
    elif folder and Path(folder).is_dir():
        out["dir"] = tree_digest(Path(folder))
    return out


def figures(rows: list[dict], runs: list[dict], published: dict | None) -> dict:
    """The report rows, the run folders the figures read, and the published tree."""
    from bundle.stagecache import code_digest

    return {"code": code_digest("bundle/report", "bundle/published", "bundle/scoring.py"), "rows": rows,
            "published": published, "runs": [run_identity(r) for r in runs]}
