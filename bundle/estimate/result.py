"""An estimate beside the published latency: the printed table and the JSON record."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from bundle.estimate.machine import Run


@dataclass
class Estimate:
    build: str
    board: str
    core: str
    soc: str
    clock_hz: int
    elf: str
    run: Run
    published_ms: float | None

    @property
    def ms(self) -> float:
        return self.run.cycles / self.clock_hz * 1e3

    @property
    def ratio(self) -> float | None:
        return self.ms / self.published_ms if self.published_ms else None

    def to_dict(self) -> dict:
        return {"build": self.build, "board": self.board, "core": self.core, "soc": self.soc,
                "clock_hz": self.clock_hz, "elf": self.elf, "cycles": self.run.cycles,
                "instructions": self.run.instructions, "estimated_ms": round(self.ms, 3),
                "published_ms": self.published_ms, "ratio": round(self.ratio, 4) if self.ratio else None,
                "run": asdict(self.run)}


def published_latency_ms(results_txt: Path) -> float | None:
    """1000 / median throughput of a published performance results.txt (the parser's reading)."""
    from bundle.published.results import MEDIAN_THR_RE

    try:
        m = MEDIAN_THR_RE.search(Path(results_txt).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return 1000.0 / float(m[1]) if m and float(m[1]) > 0 else None


def format_text(est: Estimate) -> str:
    r = est.run
    lines = [f"estimate {est.build}: {est.core} + {est.soc} at {est.clock_hz / 1e6:g} MHz",
             f"  cycles             {r.cycles:>14,}   ({r.instructions:,} instructions, CPI {r.cycles / max(r.instructions, 1):.3f})",
             f"  estimated latency  {est.ms:>14.3f} ms"]
    if est.published_ms:
        lines += [f"  published latency  {est.published_ms:>14.3f} ms",
                  f"  ratio              {est.ratio:>14.3f}   (a model's estimate beside the board's number, not a verdict)"]
    else:
        lines.append("  published latency  not available")
    lines.append("  by instruction class (instructions, core cycles):")
    for cls, cycles in r.by_class.items():
        if cycles or r.insns_by_class.get(cls):
            lines.append(f"    {cls:<14} {r.insns_by_class.get(cls, 0):>12,} {cycles:>14,}")
    lines.append(f"    {'branch refill':<14} {'':>12} {r.branch_refill:>14,}   (taken branches: the P of 1+P)")
    lines.append("  by memory region (stall cycles beyond the core's own):")
    f, s = r.regions["flash"], r.regions["sram"]
    if f.get("unified"):
        caches = f"one cache for both: {f['icache_hits']:,} hits / {f['icache_misses']:,} misses"
    else:
        caches = (f"I-cache {f['icache_hits']:,} hits / {f['icache_misses']:,} misses, D-cache "
                  f"{f['dcache_hits']:,} / {f['dcache_misses']:,}")
    lines.append(f"    flash  {f['wait_states']} WS: instruction fetch stalls {f['instruction_fetch_stall_cycles']:,}, "
                 f"data reads {f['data_reads']:,} -> stalls {f['data_read_stall_cycles']:,} ({caches})")
    lines.append(f"    sram   {s['wait_states']} WS: {s['load_store_instructions']:,} load/store instructions, "
                 f"{s['stall_cycles']} stall cycles")
    lines.append(f"  emulated {r.blocks:,} blocks in {r.seconds:.1f} s")
    return "\n".join(lines)
