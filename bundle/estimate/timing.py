"""Core timing: what a straight run of Thumb instructions costs on the core, from its TRM.

An instruction is classified by its capstone name into a class of the timing table
(bundle/data/timing.yaml, `cores:`); a basic block's cost is the sum of its instructions'
costs plus the pipeline interactions the TRM names: neighbouring single loads/stores
pipeline, a load/store whose address was just computed stalls a cycle, IT folds after a
16-bit instruction. What depends on the path taken (branch refills, memory wait states) is
added by bundle/estimate/machine.py when the block runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import capstone

MULTIPLY = {"mul", "mla", "mls", "smull", "umull", "smlal", "umlal", "umaal", "smmul", "smmla",
            "smmls", "smmulr", "smmlar", "smmlsr", "smuad", "smuadx", "smusd", "smusdx", "smlad",
            "smladx", "smlsd", "smlsdx", "smlald", "smlaldx", "smlsld", "smlsldx", "smulbb", "smulbt",
            "smultb", "smultt", "smulwb", "smulwt", "smlabb", "smlabt", "smlatb", "smlatt", "smlawb",
            "smlawt", "smlalbb", "smlalbt", "smlaltb", "smlaltt"}
DIVIDE = {"sdiv", "udiv"}
LOADS = {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrt", "ldrbt", "ldrht", "ldrsbt", "ldrsht", "ldrex",
         "ldrexb", "ldrexh", "ldaex", "lda", "ldab", "ldah", "pld", "pli"}
STORES = {"str", "strb", "strh", "strt", "strbt", "strht", "strex", "strexb", "strexh", "stl", "stlb", "stlh"}
DUAL = {"ldrd", "strd"}
MULTIPLE = {"ldm", "ldmdb", "ldmia", "stm", "stmdb", "stmia", "push", "pop"}
BRANCH = {"b", "bl", "bx", "blx", "cbz", "cbnz", "tbb", "tbh"}
IT = {"it"}
SYSTEM = {"mrs", "msr", "nop", "dmb", "dsb", "isb", "cpsid", "cpsie", "wfi", "wfe", "sev", "bkpt", "svc", "udf"}
FPU_MAC = {"vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"}
FPU_DIV = {"vdiv", "vsqrt"}
FPU_LOAD = {"vldr", "vstr"}
FPU_MULTIPLE = {"vldmia", "vldmdb", "vstmia", "vstmdb", "vpush", "vpop", "vldm", "vstm"}
# Classes of the breakdown, in print order.
CLASSES = ("alu", "mul", "div", "load", "store", "load_dual", "multiple", "branch", "it", "system",
           "fpu", "fpu_mac", "fpu_div", "fpu_load", "fpu_multiple")


# Keys of a core's `cycles:` table (timing.yaml): the classes, with STR #imm, LDM/STM's and
# VLDM/VSTM's base cost.
CYCLE_KEYS = tuple(c for c in CLASSES if c not in ("multiple", "fpu_multiple")) + (
    "store_imm", "multiple_base", "fpu_multiple_base")


def classify(name: str) -> str:
    """Timing class of an instruction, by capstone's instruction name (insn_name())."""
    for cls, names in (("mul", MULTIPLY), ("div", DIVIDE), ("load", LOADS), ("store", STORES),
                       ("load_dual", DUAL), ("multiple", MULTIPLE), ("branch", BRANCH), ("it", IT),
                       ("system", SYSTEM), ("fpu_mac", FPU_MAC), ("fpu_div", FPU_DIV),
                       ("fpu_load", FPU_LOAD), ("fpu_multiple", FPU_MULTIPLE)):
        if name in names:
            return cls
    return "fpu" if name.startswith("v") or name in ("fmstat",) else "alu"


@dataclass(frozen=True)
class CoreTiming:
    """One core's timing table (timing.yaml `cores.<name>`)."""

    name: str
    cycles: dict[str, int]
    refill_base: int
    refill_indirect: int
    refill_unaligned: int
    address_stall: int

    @classmethod
    def from_config(cls, name: str, cores: dict) -> "CoreTiming":
        entry = cores[name]
        base = cores[entry["same_as"]] if "same_as" in entry else {}
        cycles = {**base.get("cycles", {}), **entry.get("cycles", {})}
        refill = {**base.get("branch_refill", {}), **entry.get("branch_refill", {})}
        stall = entry.get("address_dependency_stall", base.get("address_dependency_stall", 0))
        missing = [c for c in CYCLE_KEYS if not isinstance(cycles.get(c), int) or cycles[c] < 0]
        if missing:
            raise KeyError(f"cores.{name}.cycles: {', '.join(missing)}")
        return cls(name, cycles, refill["base"], refill["indirect"], refill["unaligned_wide_target"], stall)


@dataclass
class Insn:
    """What the timing model needs of one decoded instruction."""

    address: int
    size: int
    name: str
    cls: str
    reads: frozenset
    writes: frozenset
    address_regs: frozenset      # base and index registers of a memory operand
    regs_moved: int              # LDM/STM/PUSH/POP/VLDM...: registers (words) transferred
    immediate_offset: bool       # STR Rx,[Ry,#imm]
    writes_pc: bool


@dataclass
class BlockCost:
    """The static cost of one basic block: cycles and instructions per class."""

    cycles: int = 0
    by_class: dict[str, int] = field(default_factory=dict)
    insns_by_class: dict[str, int] = field(default_factory=dict)
    n_insns: int = 0
    ends_in_branch: bool = False
    indirect: bool = False       # the final branch takes its target from a register or memory
    entry_unaligned_wide: bool = False


def decoder() -> capstone.Cs:
    md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
    md.detail = True
    return md


def decode(md: capstone.Cs, code: bytes, address: int) -> list[Insn]:
    out = []
    for ins in md.disasm(code, address):
        name = ins.insn_name()
        reads, writes = (frozenset(ins.reg_name(r) for r in regs) for regs in ins.regs_access())
        addr_regs, imm, moved = set(), False, 0
        for op in ins.operands:
            if op.type == capstone.arm.ARM_OP_MEM:
                addr_regs |= {ins.reg_name(r) for r in (op.mem.base, op.mem.index) if r}
                imm = op.mem.index == 0
            elif op.type == capstone.arm.ARM_OP_REG:
                moved += 1
        cls = classify(name)
        if name not in ("push", "pop", "vpush", "vpop"):
            moved -= 1 if cls in ("multiple", "fpu_multiple") else 0   # the base register is not moved
        doubles = any(ins.reg_name(op.reg).startswith("d") for op in ins.operands
                      if op.type == capstone.arm.ARM_OP_REG)
        if cls in ("fpu_multiple", "fpu_load") and doubles:
            moved *= 2                       # a D register is two words
        out.append(Insn(ins.address, ins.size, name, cls, reads, writes, frozenset(addr_regs), moved, imm,
                        "pc" in writes))
    return out


def block_cost(insns: list[Insn], core: CoreTiming) -> BlockCost:
    cost = BlockCost()
    prev: Insn | None = None
    for ins in insns:
        c = _issue_cycles(ins, prev, core)
        cost.cycles += c
        cost.by_class[ins.cls] = cost.by_class.get(ins.cls, 0) + c
        cost.insns_by_class[ins.cls] = cost.insns_by_class.get(ins.cls, 0) + 1
        cost.n_insns += 1
        prev = ins
    if insns:
        last = insns[-1]
        cost.ends_in_branch = last.cls == "branch" or last.writes_pc
        cost.indirect = last.writes_pc and last.name not in ("b", "bl", "cbz", "cbnz")
        first = insns[0]
        cost.entry_unaligned_wide = first.size == 4 and first.address % 4 != 0
    return cost


def _issue_cycles(ins: Insn, prev: Insn | None, core: CoreTiming) -> int:
    t = core.cycles
    cls = ins.cls
    if cls in ("load", "store"):
        c = t["store_imm"] if cls == "store" and ins.immediate_offset else t[cls]
        # "LDR [any] are pipelined when possible": after a single load whose result does not form
        # this address, one cycle is removed; nothing pipelines after a store (TRM 3.3.2).
        if prev is not None and prev.cls == "load" and not (prev.writes & ins.address_regs):
            c = max(1, c - 1)
        return c + _address_stall(ins, prev, core)
    if cls == "load_dual":
        return t["load_dual"] + _address_stall(ins, prev, core)
    if cls == "multiple":
        return t["multiple_base"] + max(ins.regs_moved, 1)
    if cls == "fpu_multiple":
        return t["fpu_multiple_base"] + max(ins.regs_moved, 1)
    if cls == "fpu_load":          # VLDR/VSTR: 2 for a float, 3 for a double
        return t["fpu_load"] + (1 if ins.regs_moved > 1 else 0) + _address_stall(ins, prev, core)
    if cls == "it":
        return 0 if prev is not None and prev.size == 2 and prev.cls != "branch" else t["it"]
    return t[cls]


def _address_stall(ins: Insn, prev: Insn | None, core: CoreTiming) -> int:
    """A load/store whose address register was just written by a data-processing instruction."""
    if prev is None or prev.cls not in ("alu", "mul", "div"):
        return 0
    return core.address_stall if prev.writes & ins.address_regs else 0
