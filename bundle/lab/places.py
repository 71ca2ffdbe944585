"""Places as data: what a labgrid place can run, and who runs what.

A place says what is on it with labgrid tags (`labgrid-client -p NAME set-tags ...`):
  board=NUCLEO_L4R5ZI        required: the board folder of the published results tree
  variant=microtvm_native    optional: the firmware variant flashed on it
  benchmark=kws              optional: the benchmark whose firmware is flashed on it
A published firmware runs one benchmark, so a place without `benchmark` is offered every
benchmark of its system and a wrong firmware is caught by the runner's profile check.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from bundle.errors import ConfigError

TAGS = ("board", "variant", "benchmark")


@dataclass(frozen=True)
class Place:
    name: str
    tags: dict[str, str] = field(default_factory=dict)
    resources: tuple[str, ...] = ()      # labgrid resource classes matched to it

    @property
    def board(self) -> str:
        return self.tags.get("board", "")


@dataclass(frozen=True)
class Work:
    system: str          # <variant>/<board>, a key of bundle/data/builds.yaml
    benchmark: str
    mode: str


def place_system(place: Place, systems: list[str], preferred: str) -> str:
    """The published system a place stands for: its variant tag, else `preferred` when the
    board matches, else the first system of that board."""
    if not place.board:
        raise ConfigError(f"place {place.name} has no board tag",
                          hint=f"labgrid-client -p {place.name} set-tags board=NUCLEO_L4R5ZI")
    if "variant" in place.tags:
        system = f"{place.tags['variant']}/{place.board}"
        if system not in systems:
            raise ConfigError(f"place {place.name}: no published system {system}",
                              hint=f"published systems: {', '.join(systems)}")
        return system
    mine = [s for s in systems if s.split("/")[1] == place.board]
    if not mine:
        boards = sorted({s.split("/")[1] for s in systems})
        raise ConfigError(f"place {place.name}: board {place.board!r} ran no published system",
                          hint=f"tag it with one of: {', '.join(boards)}")
    return preferred if preferred in mine else mine[0]


def can_run(place: Place, system: str, work: Work) -> bool:
    bench = place.tags.get("benchmark")
    return work.system == system and (bench is None or bench == work.benchmark)


def plan_work(places: list[Place], systems: dict[str, str], benchmarks: list[str],
              modes: list[str], only_system: str | None = None) -> tuple[list[Work], list[str]]:
    """(work items some place can run, notes on places left idle). `systems`: place -> system."""
    work, notes = [], []
    for system in dict.fromkeys(systems.values()):
        if only_system and system != only_system:
            continue
        for benchmark in benchmarks:
            for mode in modes:
                item = Work(system, benchmark, mode)
                if any(can_run(p, systems[p.name], item) for p in places):
                    work.append(item)
    for p in places:
        if not any(can_run(p, systems[p.name], w) for w in work):
            notes.append(f"place {p.name} ({systems[p.name]}, tags {p.tags}) has nothing to run "
                         f"among {', '.join(benchmarks) or 'no benchmarks'}")
    return work, notes


class WorkQueue:
    """Hands each item to the first free place that can run it (thread-safe)."""

    def __init__(self, items: list[Work]):
        self._items = deque(items)
        self._lock = threading.Lock()

    def take(self, place: Place, system: str) -> Work | None:
        with self._lock:
            for item in list(self._items):
                if can_run(place, system, item):
                    self._items.remove(item)
                    return item
        return None

    def left(self) -> list[Work]:
        with self._lock:
            return list(self._items)
