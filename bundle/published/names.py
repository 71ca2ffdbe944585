"""The names a published tree may use, as data (bundle/data/layouts.yaml): the known layouts,
the benchmark and mode folder names (typos within a few edits), the session files' base names.

`known_layouts(path=None) -> Known`; `key(name)` is the spelling-independent form every
comparison uses; `mode_of_name`, `benchmark_of_name`, `benchmark_of_model` read one name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bundle.catalogue import DATASETS
from bundle.datafile import load_yaml
from bundle.errors import ConfigError


def key(name: str) -> str:
    """Spelling-independent form of a name: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass(frozen=True)
class Layout:
    name: str
    levels: tuple[str, ...]
    what: str


@dataclass(frozen=True)
class Known:
    benchmarks: dict[str, tuple[str, ...]]     # benchmark -> folder name keys
    datasets: dict[str, str]                   # benchmark -> EEMBC dataset (model name in logs)
    modes: dict[str, tuple[str, ...]]
    typo_edits: int
    files: dict[str, tuple[str, ...]]          # role -> base file names
    layouts: tuple[Layout, ...]
    description_folders: tuple[str, ...]
    description_keys: frozenset[str]
    description_min_keys: int
    name_affixes: tuple[str, ...]


def _need(raw: dict, name: str, kind, where: str):
    value = raw.get(name)
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: {name} must be a {kind.__name__}", hint="compare with bundle/data/layouts.yaml")
    return value


@lru_cache(maxsize=4)
def known_layouts(path: Path | None = None) -> Known:
    raw, where = load_yaml(path, "layouts.yaml")
    if raw.get("version") != 1:
        raise ConfigError(f"{where}: expected version: 1", hint="compare with bundle/data/layouts.yaml")
    benches = _need(raw, "benchmarks", dict, where)
    desc = _need(raw, "system_descriptions", dict, where)
    try:
        return Known(
            benchmarks={b: tuple(key(n) for n in v["names"]) for b, v in benches.items()},
            datasets={b: DATASETS[b] for b in benches if b in DATASETS},
            modes={m: tuple(key(n) for n in names) for m, names in _need(raw, "modes", dict, where).items()},
            typo_edits=int(raw.get("mode_typo_edits", 0)),
            files={r: tuple(v) for r, v in _need(raw, "files", dict, where).items()},
            layouts=tuple(Layout(str(x["name"]), tuple(x["levels"]), str(x.get("what", "")))
                          for x in _need(raw, "layouts", list, where)),
            description_folders=tuple(desc["folders"]),
            description_keys=frozenset(key(k) for k in desc["keys"]),
            description_min_keys=int(desc["min_keys"]),
            name_affixes=tuple(key(a) for a in desc["name_affixes"]))
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"{where}: malformed entry ({err!r})", hint="compare with bundle/data/layouts.yaml") from None


# -- names ------------------------------------------------------------------------------------
def _edits(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def mode_of_name(name: str, known: Known) -> tuple[str | None, bool]:
    """(mode, is_typo) for a folder or file-prefix name."""
    k = key(name)
    for mode, names in known.modes.items():
        if k in names:
            return mode, False
    close = {m for m, names in known.modes.items() for n in names
             if len(n) >= 5 and _edits(k, n) <= known.typo_edits}
    return (close.pop(), True) if len(close) == 1 else (None, False)


def benchmark_of_name(name: str, known: Known) -> str | None:
    k = key(name)
    return next((b for b, names in known.benchmarks.items() if k in names), None)


def benchmark_of_model(model: str, known: Known) -> tuple[str | None, bool]:
    """(benchmark, other_version) for the model name a log states (kws01, or e.g. kws02)."""
    k = key(model)
    for bench, dataset in known.datasets.items():
        if k == key(dataset):
            return bench, False
    # another version of a benchmark's model: its name starts with a known benchmark name
    hits = sorted(((len(n), b) for b, names in known.benchmarks.items() for n in names if k.startswith(n)),
                  reverse=True)
    return (hits[0][1], True) if hits else (None, False)
