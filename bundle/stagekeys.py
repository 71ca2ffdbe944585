"""What each cached stage of `tinyrepro reproduce` reads, as the document its cache key is
the digest of (bundle.stagecache). Kept apart from the stages so that a stage's inputs
are listed in one place: when a stage starts reading something new, it is added here.

The lock entries stand for the files they pin (the fetch stage has verified every file
against them), so a key needs no re-hashing of the published tree or the stimuli.
"""
from __future__ import annotations

import functools
from dataclasses import asdict
from pathlib import Path

from bundle.stagecache import code_digest, tree_digest

# The code each stage runs (package-relative); a change anywhere in it recomputes the stage.
CODE = {
    "published-recompute": ("bundle/published", "bundle/scoring.py", "bundle/diff.py", "bundle/data/policy.yaml",
                            "bundle/errors.py"),
    "run": ("bundle/runner", "bundle/dut", "bundle/models", "bundle/published", "bundle/scoring.py",
            "bundle/builds.py", "bundle/data", "bundle/toolchain/stages.py", "bundle/engine", "bundle/errors.py",
            "bundle/fetch"),
    "diff": ("bundle/diff.py", "bundle/published", "bundle/scoring.py", "bundle/data/policy.yaml",
             "bundle/errors.py"),
    "figures": ("bundle/report", "bundle/published", "bundle/scoring.py"),
    "compile": ("bundle/toolchain", "bundle/data/compile.yaml", "bundle/engine"),
    "latency": ("bundle/dut", "bundle/runner", "bundle/commands/run.py", "bundle/published", "bundle/scoring.py",
                "bundle/builds.py", "bundle/data", "bundle/fetch", "bundle/stimuli", "bundle/errors.py"),
    "estimate": ("bundle/estimate", "bundle/dut", "bundle/data", "bundle/published", "bundle/fetch",
                 "bundle/toolchain/config.py"),
}
CACHED_STAGES = ("published-recompute", "compile", "run", "latency", "diff", "estimate", "figures")


@functools.lru_cache(maxsize=1)
def _lock_files(path: str, mtime_ns: int) -> tuple[tuple[str, str], ...]:
    from bundle.fetch.lock import load_lock

    return tuple((e.path, e.sha256) for e in load_lock(Path(path)).under(""))


def lock_entries(prefix: str) -> dict[str, str]:
    """The lock's pins under prefix (the lock is parsed once per process and lock file)."""
    from bundle.fetch.lock import default_lock_path

    path = default_lock_path()
    return {p: sha for p, sha in _lock_files(str(path), path.stat().st_mtime_ns) if p.startswith(prefix)}


def published_recompute(ctx) -> dict:
    return {"code": code_digest(*CODE["published-recompute"]),
            "published": lock_entries("published/"),
            "labels": {k: v for k, v in lock_entries("datasets/").items() if k.endswith("y_labels.csv")},
            # the blob-pinned AD logs: fetched or not changes the AD accuracy rows
            "blobs_missing": sorted(ctx.inputs.get("blobs_missing") or {})}


def _stimuli(ctx, benchmark: str) -> dict:
    from bundle.published.parse import DATASET

    prepared = ctx.stimuli.get(benchmark)
    if prepared:   # a prepared set: the folder as it is (its manifest does not cover y_labels.csv)
        return {"prepared": tree_digest(Path(prepared))}
    return lock_entries(f"datasets/{DATASET[benchmark]}/")


def run(ctx, label: str, backend: str | None, benchmark: str, mode: str, dut: dict) -> dict:
    """One run: the DUT (backend and model, or the host program's digest), its stimuli, the
    iteration counts, limit and pacing, and the runner's code."""
    from bundle.builds import MODELS, iterations

    return {"code": code_digest(*CODE["run"]), "label": label, "backend": backend, "benchmark": benchmark,
            "mode": mode, "system": ctx.system, "iterations": iterations(ctx.system, benchmark, mode),
            "limit": ctx.limit if mode == "accuracy" else None, "sim": asdict(ctx.cfg.sim),
            "model": lock_entries(f"models/{MODELS[benchmark]}"), "stimuli": _stimuli(ctx, benchmark),
            "dut": dut}


def compile_models(configs: list, image_id: str) -> dict:
    """The 12 compiles: the tvm image (its id covers TVM and its build), the configurations,
    the models they compile and the in-image script."""
    return {"code": code_digest(*CODE["compile"]), "image": image_id,
            "configs": [asdict(c) if hasattr(c, "__dataclass_fields__") else repr(c) for c in configs],
            "models": lock_entries("models/")}


def latency(ctx, builds: list[str]) -> dict:
    """The QEMU performance runs: the builds, their pinned code and results, the inputs each
    benchmark loads, and the cross compiler and QEMU that build and run them."""
    from bundle.fetch.lock import load_lock

    toolchain = load_lock().toolchain
    benchmarks = sorted({b.rsplit("/", 1)[-1] for b in builds})
    return {"code": code_digest(*CODE["latency"]), "builds": builds,
            "pins": {k: toolchain.get(k) for k in sorted(toolchain)}, "published": lock_entries("published/"),
            "stimuli": {b: _stimuli(ctx, b) for b in benchmarks},
            "tools": {t: _tool_version(t) for t in ("arm-none-eabi-gcc", "qemu-system-arm")}}


@functools.lru_cache(maxsize=None)
def _tool_version(tool: str) -> str:
    import subprocess

    try:
        done = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as err:
        return f"unavailable: {err}"
    return (done.stdout.splitlines() or [""])[0]


def diff(ctx) -> dict:
    """The run folders as they are (whatever produced them) and the published tree."""
    runs = [_run_identity(r) for r in ctx.run_dirs]
    compare = {"compare_systems": ctx.cfg.compare_systems, "backends": asdict(ctx.cfg.sim)["backends"],
               "system": ctx.system, "system_given": ctx.system_given}
    return {"code": code_digest(*CODE["diff"]), "published": lock_entries("published/"),
            "labels": {k: v for k, v in lock_entries("datasets/").items() if k.endswith("y_labels.csv")},
            "runs": runs, "compare": compare}


def figures(rows: list[dict], runs: list[dict], published: dict | None) -> dict:
    """The report rows, the run folders the figures read, and the published tree."""
    return {"code": code_digest(*CODE["figures"]), "rows": rows, "published": published,
            "runs": [_run_identity(r) for r in runs]}


VOLATILE = ("seconds", "engine", "image", "cached")   # how a run was had, not what it holds


def _run_identity(run: dict) -> dict:
    """A run record by what its folder holds (the folder's path changes with every run)."""
    out = {k: v for k, v in run.items() if k not in VOLATILE}
    if run.get("dir") and Path(run["dir"]).is_dir():
        out["dir"] = tree_digest(Path(run["dir"]))
    return out


def estimate(ctx, specs: list[dict]) -> dict:
    """The builds estimated, the timing model's code and data, the pinned code trees (OctoML's
    code, CMSIS) and the published results the ratios are taken against."""
    from bundle.fetch.lock import load_lock

    toolchain = load_lock().toolchain
    return {"code": code_digest(*CODE["estimate"]), "specs": specs,
            "pins": {k: toolchain.get(k) for k in sorted(toolchain)},
            "published": lock_entries("published/")}
