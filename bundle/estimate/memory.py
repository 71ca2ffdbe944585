"""The SoC's memory system: flash with wait states behind small caches, SRAM without.

Only flash accesses cost more than the core's own cycles: a fetch or data read that misses
the cache stalls the core for the flash's wait states per flash word read (timing.yaml
`socs:`). The caches are set-associative with LRU replacement (a fully associative cache is
one set); a miss fills the whole line.
"""
from __future__ import annotations

from dataclasses import dataclass

from bundle.errors import ConfigError


class Cache:
    """Tags only: which lines are present, per set, most recently used first."""

    def __init__(self, lines: int, line_bytes: int, ways: int):
        if lines <= 0 or ways <= 0 or lines % ways or line_bytes <= 0 or line_bytes & (line_bytes - 1):
            raise ConfigError(f"cache of {lines} lines x {line_bytes} B in {ways} ways is not a cache",
                              hint="lines a multiple of ways, line size a power of two (bundle/data/timing.yaml)")
        self.line_bytes = line_bytes
        self.shift = line_bytes.bit_length() - 1
        self.ways = ways
        self.n_sets = lines // ways
        self.sets: list[list[int]] = [[] for _ in range(self.n_sets)]
        self.hits = 0
        self.misses = 0

    def access(self, line: int) -> bool:
        """Touch line number `line` (address >> shift); True on a hit."""
        s = self.sets[line % self.n_sets]
        if s and s[0] == line:
            self.hits += 1
            return True
        if line in s:
            s.remove(line)
            s.insert(0, line)
            self.hits += 1
            return True
        s.insert(0, line)
        if len(s) > self.ways:
            s.pop()
        self.misses += 1
        return False


@dataclass(frozen=True)
class SocMemory:
    """timing.yaml `socs.<name>`."""

    name: str
    clock_hz: int
    wait_states: int
    word_bytes: int
    icache: dict
    dcache: dict
    unified: bool
    sram_wait_states: int
    line_fill: str = "critical_word"     # what a miss waits for: the demanded word, or the whole line

    def miss_stall(self, line_bytes: int) -> int:
        """Cycles a cache miss stalls the core beyond the 1-cycle access of a hit: each flash read
        takes wait_states + 1 cycles, and the core waits for one read or for the whole line."""
        reads = max(line_bytes // self.word_bytes, 1) if self.line_fill == "whole_line" else 1
        return reads * (self.wait_states + 1) - 1

    @classmethod
    def from_config(cls, name: str, socs: dict) -> "SocMemory":
        e = socs[name]
        f = e["flash"]
        fill = f.get("line_fill", "critical_word")
        if fill not in ("critical_word", "whole_line"):
            raise ConfigError(f"timing model {name}: line_fill {fill!r} is not critical_word or whole_line",
                              hint="see bundle/data/timing.yaml")
        soc = cls(name, int(e["clock_hz"]), int(f["wait_states"]), int(f["word_bytes"]), dict(f["icache"]),
                  dict(f["dcache"]), bool(f.get("unified", False)), int(e.get("sram_wait_states", 0)), fill)
        if soc.clock_hz <= 0 or soc.wait_states < 0 or soc.word_bytes <= 0 or soc.sram_wait_states:
            raise ConfigError(f"timing model {name}: clock, wait states or flash word size out of range "
                              "(SRAM wait states are not modelled: 0)", hint="see bundle/data/timing.yaml")
        soc.caches()      # an impossible cache geometry is an error now, not in the middle of a run
        return soc

    def caches(self) -> tuple[Cache, Cache]:
        icache = Cache(**self.icache)
        return icache, (icache if self.unified else Cache(**self.dcache))
