"""A tiny harness image from hand-written Thumb code (arm-none-eabi-as/ld): `th_infer` holds
the code, the two setup entry points return at once. Used by the timing model's tests (known
cycle counts from the manuals) and by `make bench` (the model's own speed)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bundle.errors import BuildError, StageUnavailable

TOOLS = ("arm-none-eabi-as", "arm-none-eabi-ld")
LINK = """
ENTRY(th_infer)
SECTIONS {
  .text 0x00000000 : { *(.text*) *(.rodata*) }
  .data 0x20000000 : { *(.data*) }
  .bss : { *(.bss*) }
  __stack_top = 0x20010000;
}
"""
PRELUDE = """
    .syntax unified
    .thumb
    .cpu cortex-m4
    .fpu fpv4-sp-d16
    .text
    .global th_final_initialize, th_load_tensor, th_infer
    .thumb_func
th_final_initialize:
    bx lr
    .thumb_func
th_load_tensor:
    bx lr
    .balign 4
    .thumb_func
th_infer:
"""


def assemble(out_dir: Path, body: str, data: str = "") -> Path:
    """`body` (then `bx lr`) as th_infer, `data` appended (e.g. a .rodata table); returns the ELF."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise StageUnavailable(f"{', '.join(missing)} not installed",
                               hint="make deps (apt-get install gcc-arm-none-eabi)")
    out_dir = Path(out_dir)
    src, obj, elf, ld = (out_dir / n for n in ("seq.s", "seq.o", "seq.elf", "seq.ld"))
    src.write_text(PRELUDE + body + "\n    bx lr\n" + data + "\n    .data\n    .word 0\n", encoding="utf-8")
    ld.write_text(LINK, encoding="utf-8")
    for cmd in (["arm-none-eabi-as", "-o", str(obj), str(src)],
                ["arm-none-eabi-ld", "-T", str(ld), "-o", str(elf), str(obj)]):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise BuildError(f"{cmd[0]} failed: {done.stderr.strip()[-500:]}", hint="check the assembly text")
    return elf
