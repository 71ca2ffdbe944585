"""Per-build iteration counts: bundle/data/builds.yaml, or a published script.async."""
from __future__ import annotations

from pathlib import Path

from bundle.config import BENCHMARKS, load_yaml
from bundle.errors import ConfigError

ACCURACY_NW = (1, 0)   # EnergyRunner's accuracy mode ignores bm cfg and sends `infer 1 0`


def iterations(system: str, benchmark: str, mode: str, path: Path | None = None) -> tuple[int, int]:
    """(N, W) of `infer N W` for one system/benchmark/mode."""
    if mode == "accuracy":
        return ACCURACY_NW
    raw, where = load_yaml(path, "builds.yaml")
    if raw.get("version") != 1:
        raise ConfigError(f"{where}: expected version: 1, got {raw.get('version')!r}")
    systems = raw.get("systems") or {}
    if system not in systems:
        raise ConfigError(f"{where}: no iteration counts for system {system!r}",
                          hint=f"use one of: {', '.join(systems)}, or pass --n/--w")
    table = systems[system].get(mode) or {}
    if benchmark not in BENCHMARKS or benchmark not in table:
        raise ConfigError(f"{where}: {system} has no {mode} counts for {benchmark!r}",
                          hint="pass --n/--w explicitly")
    n, w = table[benchmark]
    if not (isinstance(n, int) and isinstance(w, int) and n >= 1 and w >= 0):
        raise ConfigError(f"{where}: {system}/{mode}/{benchmark}: bad counts {table[benchmark]!r}",
                          hint="write [N, W] with N >= 1 and W >= 0")
    return n, w


def iterations_from_script(path: Path) -> tuple[int, int]:
    """(N, W) of the infer steps of a published script.async (all steps must agree)."""
    from bundle.published.script import infer_counts, parse_script

    counts = {(n, 10 if w is None else w) for n, w in infer_counts(parse_script(path))}
    if len(counts) != 1:
        raise ConfigError(f"{path}: expected one infer N W, found {sorted(counts) or 'none'}",
                          hint="pass --n/--w explicitly")
    return counts.pop()
