"""The builds of the OctoML submission as data: one description for the runner and the toolchain.

Which firmware OctoML built and ran (system, Zephyr board, iteration counts); how each model
was compiled is bundle/toolchain/compile_config.py, the toolchain pins bundle/toolchain/pins.py.

`bundle/data/builds.yaml` lists each published system with its Zephyr board and the
iteration counts OctoML ran; every (system, benchmark) is a performance/accuracy build, plus an
energy build where the system has an energy table. The toolchain pins (TVM and CMSIS SHAs,
Zephyr, SDK) come from artifacts/lock.yaml, the one place pins live.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bundle.catalogue import BENCHMARKS, MODELS
from bundle.datafile import load_yaml
from bundle.errors import ConfigError
from bundle.fetch.lock import load_lock

ACCURACY_NW = (1, 0)   # EnergyRunner's accuracy mode ignores bm cfg and sends `infer 1 0`
MODES_WITH_COUNTS = ("performance", "energy")


@cache
def pins() -> dict:
    """The toolchain section of the lock file."""
    return load_lock().toolchain


@dataclass(frozen=True)
class Build:
    system: str           # <variant>/<board folder>, e.g. microtvm_native/NUCLEO_L4R5ZI
    benchmark: str        # kws | ic | vww | ad
    zephyr_board: str     # west's -b
    energy: bool = False  # energy-mode firmware talks to the IO manager at 9600 baud

    @property
    def variant(self) -> str:
        return self.system.split("/")[0]

    @property
    def model(self) -> str:
        return MODELS[self.benchmark]

    @property
    def name(self) -> str:
        board = self.system.split("/")[1].lower()
        return f"{self.variant}-{board}-{self.benchmark}" + ("-energy" if self.energy else "")

    @property
    def baud(self) -> int:
        return 9600 if self.energy else 115200

    @property
    def tuning_file(self) -> str | None:
        # Only the native variant was compiled with AutoTVM records; CMSIS-NN offloads the ops.
        if self.variant != "microtvm_native":
            return None
        return f"microtvm_zephyr_nucleo_l4r5zi_{self.benchmark}.tune"


def _systems(path: Path | None) -> tuple[dict, str]:
    raw, where = load_yaml(path, "builds.yaml")
    if raw.get("version") != 1:
        raise ConfigError(f"{where}: expected version: 1, got {raw.get('version')!r}")
    systems = raw.get("systems")
    if not isinstance(systems, dict) or not systems:
        raise ConfigError(f"{where}: `systems` must map system ids to their builds")
    for system, entry in systems.items():
        if "/" not in system or not isinstance(entry, dict) or "zephyr_board" not in entry:
            raise ConfigError(f"{where}: {system!r} needs the form <variant>/<board> and a zephyr_board")
        unknown = set(entry) - {"zephyr_board", *MODES_WITH_COUNTS}
        if unknown:
            raise ConfigError(f"{where}: {system}: unknown keys {sorted(unknown)}")
    return systems, where


def load_builds(path: Path | None = None) -> tuple[Build, ...]:
    systems, _ = _systems(path)
    out = []
    for system, entry in systems.items():
        for energy, mode in ((False, "performance"), (True, "energy")):
            out += [Build(system, b, entry["zephyr_board"], energy) for b in entry.get(mode) or {}]
    return tuple(out)


def check_system(system: str, path: Path | None = None) -> str:
    systems, where = _systems(path)
    if system not in systems:
        raise ConfigError(f"unknown system {system!r} (not in {where})", hint=f"use one of: {', '.join(systems)}")
    return system


def iterations(system: str, benchmark: str, mode: str, path: Path | None = None) -> tuple[int, int]:
    """(N, W) of `infer N W` for one system/benchmark/mode."""
    if mode == "accuracy":
        return ACCURACY_NW
    systems, where = _systems(path)
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
