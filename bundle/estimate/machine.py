"""Run one inference of a firmware ELF under unicorn and charge each basic block its cycles.

The ELF is the one the `qemu` DUT runs (or any image built for the core): its loadable
segments are copied to their run addresses (.data already initialised, .bss zero), the harness's
own functions are called as the firmware's main loop calls them (`th_final_initialize`,
`th_load_tensor`, then the measured `th_infer`), and during `th_infer` a block hook adds each
block's static cost (bundle/estimate/timing.py), the pipeline refill of a taken branch and
the flash stall of instruction fetches that miss the cache; a read hook on the flash
range only charges data reads (weights, constants, literal pools) that miss the data cache.
Latency does not depend on the input values, so the all-zero input buffer is as good as any.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bundle.errors import ConfigError, ParseError
from bundle.estimate.memory import SocMemory
from bundle.estimate.timing import CLASSES, BlockCost, CoreTiming, block_cost, decode, decoder

PAGE = 0x1000
STOP = 0x0FFF_F000              # return address of a called function: an unmapped-by-firmware page
SETUP_CALLS = ("th_final_initialize", "th_load_tensor")
MEASURED_CALL = "th_infer"
INSN_LIMIT = 500_000_000        # a runaway guard: ten times the longest inference (vww, ic)


@dataclass
class Image:
    segments: list[tuple[int, bytes, int, bool]]    # (address, file bytes, memory size, writable)
    symbols: dict[str, int]
    flash: tuple[int, int]                          # [start, end) of the read-only segments
    ram: tuple[int, int]                            # [start, end) of the writable segments
    stack_top: int | None

    @classmethod
    def load(cls, path: Path) -> "Image":
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile

        try:
            with open(path, "rb") as fh:
                elf = ELFFile(fh)
                if elf["e_machine"] != "EM_ARM":
                    raise ParseError(f"{path} is not an Arm ELF ({elf['e_machine']})",
                                     hint="pass the firmware.elf built for the board's core")
                segments = [(s["p_vaddr"], s.data(), s["p_memsz"], bool(s["p_flags"] & 2))
                            for s in elf.iter_segments() if s["p_type"] == "PT_LOAD" and s["p_memsz"]]
                symtab = elf.get_section_by_name(".symtab")
                symbols = {s.name: s["st_value"] for s in symtab.iter_symbols()} if symtab else {}
        except (OSError, ELFError) as err:
            raise ParseError(f"cannot read the ELF {path}: {err}",
                             hint="pass the firmware.elf the qemu DUT builds (tinyrepro run --dut qemu)") from None
        ro = [(a, a + m) for a, _, m, w in segments if not w]
        rw = [(a, a + m) for a, _, m, w in segments if w]
        if not ro or not rw:
            raise ParseError(f"{path} has no read-only and writable segments to place in flash and SRAM",
                             hint="pass a linked firmware image, not an object file")
        return cls(segments, symbols, (min(a for a, _ in ro), max(b for _, b in ro)),
                   (min(a for a, _ in rw), max(b for _, b in rw)), symbols.get("__stack_top"))

    def function(self, name: str) -> int:
        """Address of a C or C++ (mangled, no arguments) function."""
        for candidate in (name, f"_Z{len(name)}{name}v"):
            if candidate in self.symbols:
                return self.symbols[candidate]
        raise ConfigError(f"the image has no function {name}()",
                          hint="an EEMBC harness image (th_final_initialize, th_load_tensor, th_infer) is needed")


@dataclass
class Run:
    """What one measured call cost."""

    cycles: int
    instructions: int
    by_class: dict[str, int]             # core cycles per instruction class
    insns_by_class: dict[str, int]
    branch_refill: int                   # taken-branch pipeline refills (the P of 1+P)
    ifetch_stall: int                    # flash wait states on instruction fetches missing the cache
    dread_stall: int                     # flash wait states on data reads missing the cache
    flash_reads: int                     # data reads from flash
    icache: tuple[int, int]              # hits, misses
    dcache: tuple[int, int]
    blocks: int
    seconds: float
    regions: dict[str, dict] = field(default_factory=dict)


class Machine:
    def __init__(self, image: Image, core: CoreTiming, soc: SocMemory):
        from unicorn import UC_ARCH_ARM, UC_MODE_MCLASS, UC_MODE_THUMB, Uc
        from unicorn import arm_const

        self.image, self.core, self.soc = image, core, soc
        self.uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
        model = arm_const.UC_CPU_ARM_CORTEX_M33 if core.name == "cortex-m33" else arm_const.UC_CPU_ARM_CORTEX_M4
        self.uc.ctl_set_cpu_model(model)
        self._map()
        self.md = decoder()
        self.blocks: dict[int, tuple[int, BlockCost, list, int]] = {}

    def _map(self) -> None:
        lo, hi = _align(*self.image.flash)
        self.uc.mem_map(lo, hi - lo)
        ram_lo = self.image.ram[0] & ~(PAGE - 1)
        top = self.image.stack_top or (self.image.ram[1] + (1 << 20))
        ram_hi = (max(top, self.image.ram[1]) + PAGE - 1) & ~(PAGE - 1)
        self.uc.mem_map(ram_lo, ram_hi - ram_lo)
        self.stack_top = ram_hi - 16
        self.uc.mem_map(STOP, PAGE)
        for address, data, memsz, _ in self.image.segments:
            self.uc.mem_write(address, data + bytes(memsz - len(data)))

    def call(self, name: str) -> None:
        from unicorn import UcError
        from unicorn.arm_const import UC_ARM_REG_LR, UC_ARM_REG_SP

        self.uc.reg_write(UC_ARM_REG_SP, self.stack_top)
        self.uc.reg_write(UC_ARM_REG_LR, STOP | 1)
        from unicorn.arm_const import UC_ARM_REG_PC

        try:
            self.uc.emu_start(self.image.function(name) | 1, STOP, count=INSN_LIMIT)
        except UcError as err:
            pc = self.uc.reg_read(UC_ARM_REG_PC)
            raise ParseError(f"{name}() stopped with {err} at pc=0x{pc:08x}",
                             hint="the image does not run without its board here; "
                                  "build it for the qemu DUT (tinyrepro run --dut qemu)") from None
        pc = self.uc.reg_read(UC_ARM_REG_PC)
        if pc & ~1 != STOP:
            raise ParseError(f"{name}() did not return within {INSN_LIMIT:,} instructions (pc=0x{pc:08x})",
                             hint="the image loops (an abort, or a wait on a peripheral): "
                                  "check it runs on the qemu DUT (tinyrepro run --dut qemu)")

    def measure(self, name: str = MEASURED_CALL) -> Run:
        from unicorn import UC_HOOK_BLOCK, UC_HOOK_MEM_READ

        icache, dcache = self.soc.caches()
        flash_lo, flash_hi = self.image.flash
        istall, dstall = self.soc.miss_stall(icache.line_bytes), self.soc.miss_stall(dcache.line_bytes)
        counts: Counter = Counter()
        state = {"prev": None, "refill": 0, "istall": 0, "dstall": 0, "reads": 0}
        blocks, iaccess, daccess, dshift = self.blocks, icache.access, dcache.access, dcache.shift
        refill_indirect = self.core.refill_indirect

        def on_block(uc, address, size, _):
            b = blocks.get(address)
            if b is None or b[0] != size:
                b = blocks[address] = self._block(address, size)
            counts[address] += 1
            prev = state["prev"]
            if prev is not None and prev[3] != address and prev[1].ends_in_branch:
                state["refill"] += self.core.refill_base + (refill_indirect if prev[1].indirect else 0) \
                    + (self.core.refill_unaligned if b[1].entry_unaligned_wide else 0)
            state["prev"] = b
            for line in b[2]:
                if not iaccess(line):
                    state["istall"] += istall

        def on_read(uc, access, address, size, value, _):
            state["reads"] += 1
            if not daccess(address >> dshift):
                state["dstall"] += dstall

        hooks = [self.uc.hook_add(UC_HOOK_BLOCK, on_block),
                 self.uc.hook_add(UC_HOOK_MEM_READ, on_read, begin=flash_lo, end=flash_hi - 1)]
        t0 = time.monotonic()
        try:
            self.call(name)
        finally:
            for h in hooks:
                self.uc.hook_del(h)
        seconds = time.monotonic() - t0
        return self._tally(counts, state, icache, dcache, seconds)

    def _block(self, address: int, size: int):
        code = bytes(self.uc.mem_read(address, size))
        insns = decode(self.md, code, address)
        cost = block_cost(insns, self.core)
        lo, hi = self.image.flash
        lines = []
        if lo <= address < hi:
            shift = self.soc.icache["line_bytes"].bit_length() - 1
            lines = list(range(address >> shift, ((address + size - 1) >> shift) + 1))
        return (size, cost, lines, address + size)

    def _tally(self, counts: Counter, state: dict, icache, dcache, seconds: float) -> Run:
        by_class = dict.fromkeys(CLASSES, 0)
        insns_by_class = dict.fromkeys(CLASSES, 0)
        core_cycles = instructions = 0
        for address, n in counts.items():
            cost = self.blocks[address][1]
            core_cycles += n * cost.cycles
            instructions += n * cost.n_insns
            for cls, c in cost.by_class.items():
                by_class[cls] += n * c
            for cls, c in cost.insns_by_class.items():
                insns_by_class[cls] += n * c
        total = core_cycles + state["refill"] + state["istall"] + state["dstall"]
        memory_insns = sum(insns_by_class[c] for c in ("load", "store", "load_dual", "multiple",
                                                        "fpu_load", "fpu_multiple"))
        regions = {
            "flash": {"instruction_fetch_stall_cycles": state["istall"], "data_reads": state["reads"],
                      "data_read_stall_cycles": state["dstall"], "wait_states": self.soc.wait_states,
                      "icache_hits": icache.hits, "icache_misses": icache.misses,
                      "dcache_hits": dcache.hits, "dcache_misses": dcache.misses, "unified": icache is dcache},
            "sram": {"load_store_instructions": max(memory_insns - state["reads"], 0),
                     "wait_states": self.soc.sram_wait_states, "stall_cycles": 0},
        }
        return Run(total, instructions, by_class, insns_by_class, state["refill"], state["istall"],
                   state["dstall"], state["reads"], (icache.hits, icache.misses), (dcache.hits, dcache.misses),
                   sum(counts.values()), seconds, regions)


def _align(lo: int, hi: int) -> tuple[int, int]:
    return lo & ~(PAGE - 1), (hi + PAGE - 1) & ~(PAGE - 1)
