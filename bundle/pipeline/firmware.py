"""firmware: each published build built twice with Zephyr (the zephyr image), its hash and
flash/RAM use recorded; the regenerated model is swapped in when the compile stage ran."""
from __future__ import annotations

from bundle import jsonout
from bundle.fsutil import atomic_output
from bundle.pipeline.chain import ChainStage, toolchain_dir
from bundle.pipeline.outputs import Firmware

WHAT = "the zephyr image (Zephyr v2.7.3 + modules, SDK 0.13.2, pinned CMSIS) cannot be built"


class BuildFirmware(ChainStage):
    name = "firmware"
    image = "zephyr"
    inputs_from = ("code",)

    def blocked(self, req, s) -> str | None:
        if req.network.block:   # the zephyr image fetches from GitHub
            return f"{WHAT}: GitHub is not reachable from this host ({req.network.block})"
        return None

    def run(self, req, s) -> Firmware:
        from bundle.toolchain.compile_config import compile_configs
        from bundle.toolchain.firmware import firmware_record, firmware_stage
        from bundle.toolchain.containers import code_rel

        engine, out, swap = s.engine(), toolchain_dir(req), "compile" in s.ran
        done = s.outputs[self.name] = Firmware()   # the records so far, should a later build fail
        (out / "firmware").mkdir(exist_ok=True)
        for energy in (False, True) if req.options.energy_firmware else (False,):
            for cfg in compile_configs():
                name = cfg.name + ("-energy" if energy else "")
                engine.run(firmware_stage(cfg, str(req.sources.cache), str(req.run_dir), code_rel(), energy=energy,
                                          swap_model=swap), on_line=s.stage_sink(self.name, name))
                record = firmware_record(cfg, req.run_dir / "firmware" / name, energy=energy, swapped=swap)
                with atomic_output(out / "firmware" / f"{record['build']}.json") as tmp:
                    tmp.write_text(jsonout.dumps(record, indent=2) + "\n")
                done.records.append(record)
        return done

    def container(self, ctx):
        from bundle.toolchain.firmware import firmware_stage
        from bundle.toolchain.containers import code_rel

        return firmware_stage(ctx.compile, ctx.inputs, ctx.artifacts, code_rel(), swap_model=True)


def firmware_section(s) -> list[dict]:
    """A row per firmware image: its hash, whether two builds agreed, flash/RAM against the SoC."""
    from bundle.toolchain.compile_config import compile_configs

    done = {r["build"]: r for r in s.firmware.records}
    names = [cfg.name + suffix for suffix in ("", "-energy") if suffix == "" or s.request.options.energy_firmware
             for cfg in compile_configs()]
    rows = []
    for name in names:
        r = done.get(name)
        rows.append({"build": name, "status": "BUILT", "elf_sha256": r["elf_sha256"],
                     "reproducible": r["reproducible"], "flash_pct": r["memory"].get("flash_pct"),
                     "ram_pct": r["memory"].get("ram_pct"), "model": r["model"]} if r else
                    {"build": name, "status": "NOT_RUN", "reason": s.recorder.reason("firmware")})
    return rows
