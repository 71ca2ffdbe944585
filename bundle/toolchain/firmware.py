"""Firmware stage (zephyr image): build a published Zephyr project, or the same project with
the regenerated model swapped in, twice, and record what came out.

The build itself is bundle/toolchain/zephyr_build.py inside the image. Here: the StageSpec
that runs it, and the parsers for what it leaves behind: the linker's memory report (Zephyr
2.7 prints "Memory region Used Size Region Size %age Used") and the SPDX 2.2 tag-value
documents `west spdx` writes, turned into one firmware record per build.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from bundle.engine.base import Mount, StageSpec
from bundle.errors import ParseError
from bundle.toolchain.compile import mlf_path
from bundle.toolchain.compile_config import CompileConfig

SCRIPT_IN_IMAGE = "/opt/tinyrepro/zephyr_build.py"
# Any fixed value makes the builds comparable; this one is the v1.0 results' publication day.
SOURCE_DATE_EPOCH = "1654041600"
UNITS = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}
_REGION = re.compile(r"^\s*(\S+):\s+(\d+)\s*(B|KB|MB|GB)\s+(\d+)\s*(B|KB|MB|GB)\s+([\d.]+)%\s*$")
FLASH_REGIONS, RAM_REGIONS = ("FLASH",), ("SRAM", "RAM")


def work_dir(cfg: CompileConfig, energy: bool = False, out: str = "/artifacts") -> str:
    return f"{out}/firmware/{cfg.name}" + ("-energy" if energy else "")


def firmware_command(cfg: CompileConfig, code_root: str, energy: bool = False, swap_model: bool = False,
                     out: str = "/artifacts") -> list[str]:
    """`code_root`: closed/OctoML/code/ as the stage sees it."""
    cmd = ["python3", SCRIPT_IN_IMAGE, "--project", f"{code_root}/{cfg.code_path}",
           "--work", work_dir(cfg, energy, out), "--board", cfg.zephyr_board, "--epoch", SOURCE_DATE_EPOCH]
    if energy:
        cmd.append("--energy")
    if swap_model:
        cmd += ["--mlf", mlf_path(cfg, out)]
    return cmd


def firmware_stage(cfg: CompileConfig, inputs: str, artifacts: str, code_rel: str,
                   energy: bool = False, swap_model: bool = False) -> StageSpec:
    """`code_rel`: the code tree relative to the inputs folder (the fetch cache)."""
    return StageSpec(
        name="firmware", image_target="zephyr",
        command=firmware_command(cfg, f"/inputs/{code_rel}".rstrip("/"), energy, swap_model),
        mounts=[Mount(inputs, "/inputs", True), Mount(artifacts, "/artifacts", False)],
        env={"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}, network=False, timeout_s=1800,
    )


def parse_memory_report(text: str) -> dict[str, dict]:
    """region -> {used, size, percent} in bytes, from the last report in a build log."""
    regions: dict[str, dict] = {}
    in_table = False
    for line in text.splitlines():
        if re.match(r"^\s*Memory region\s+Used Size\s+Region Size\s+%age Used", line):
            regions, in_table = {}, True
            continue
        m = _REGION.match(line) if in_table else None
        if m:
            name, used, uu, size, su, pct = m.groups()
            regions[name] = {"used": int(used) * UNITS[uu], "size": int(size) * UNITS[su], "percent": float(pct)}
        elif in_table and line.strip():
            in_table = False
    if not regions:
        raise ParseError("no linker memory report in the build log",
                         hint="Zephyr prints it with CONFIG_OUTPUT_PRINT_MEMORY_USAGE=y (the default)")
    return regions


def memory_use(regions: dict[str, dict], cfg: CompileConfig) -> dict:
    """Flash and RAM used, against the SoC's (not the linker region's) capacity."""
    def used(names):
        return sum(r["used"] for n, r in regions.items() if n in names)
    flash, ram = used(FLASH_REGIONS), used(RAM_REGIONS)
    return {"flash_used": flash, "flash_total": cfg.flash_bytes, "flash_pct": round(100 * flash / cfg.flash_bytes, 2),
            "ram_used": ram, "ram_total": cfg.ram_bytes, "ram_pct": round(100 * ram / cfg.ram_bytes, 2),
            "fits": flash <= cfg.flash_bytes and ram <= cfg.ram_bytes, "regions": regions}


def parse_spdx(text: str) -> dict:
    """An SPDX 2.2 tag-value document: its header, packages and files (with SHA-256)."""
    doc: dict = {"packages": [], "files": [], "relationships": []}
    current: dict | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        tag, _, value = line.partition(":")
        tag, value = tag.strip(), value.strip()
        if tag == "PackageName":
            current = {"name": value, "files": 0}
            doc["packages"].append(current)
        elif tag == "FileName":
            current = {"name": value}
            doc["files"].append(current)
            if doc["packages"]:
                doc["packages"][-1]["files"] += 1
        elif tag == "FileChecksum" and current is not None and value.startswith("SHA256:"):
            current["sha256"] = value.split(":", 1)[1].strip()
        elif tag == "SPDXID" and current is not None:
            current["spdxid"] = value
        elif tag == "Relationship":
            doc["relationships"].append(value)
        elif current is None:
            doc[tag] = value
    if not doc.get("SPDXVersion", "").startswith("SPDX-"):
        raise ParseError("not an SPDX tag-value document (no SPDXVersion line)",
                         hint="pass the .spdx files `west spdx` wrote")
    return doc


def sbom_summary(spdx_dir: Path) -> dict:
    out = {}
    for path in sorted(spdx_dir.glob("*.spdx")):
        doc = parse_spdx(path.read_text(errors="replace"))
        out[path.name] = {"version": doc["SPDXVersion"], "name": doc.get("DocumentName"),
                          "packages": [p["name"] for p in doc["packages"]], "files": len(doc["files"])}
    return out


def firmware_record(cfg: CompileConfig, work: Path, energy: bool = False, swapped: bool = False) -> dict:
    """One build's record, from what zephyr_build.py left in its work folder."""
    info = json.loads((work / "firmware.json").read_text())
    return {"build": cfg.name + ("-energy" if energy else ""), "board": cfg.zephyr_board,
            "model": "regenerated" if swapped else "published", "energy": energy,
            "elf_sha256": info["sha256"].get("zephyr/zephyr.elf"), "hex_sha256": info["sha256"].get("zephyr/zephyr.hex"),
            "reproducible": info["reproducible"], "versions": info.get("versions", {}),
            "memory": memory_use(parse_memory_report((work / "build.log").read_text(errors="replace")), cfg),
            "sbom": sbom_summary(work / "spdx") if (work / "spdx").is_dir() else {}}
