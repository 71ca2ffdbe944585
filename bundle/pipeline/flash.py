"""flash: one board, one firmware (the selected system's first offline benchmark), with the
probe's runner in the zephyr image."""
from __future__ import annotations

import os

from bundle.errors import ConfigError
from bundle.pipeline.chain import ChainStage
from bundle.pipeline.outputs import Flashed


class Flash(ChainStage):
    name = "flash"
    image = "zephyr"
    inputs_from = ("firmware",)

    def blocked(self, req, s) -> str | None:
        from bundle.toolchain.compile_config import compile_configs
        from bundle.toolchain.flash import RUNNERS

        if req.places and not req.port:
            return ("flashing through labgrid is not implemented: flash each place's board on its host "
                    "(west flash) and tag the place with the variant and benchmark it carries")
        if not req.port:
            return "no board attached (pass PORT=/dev/ttyACM0 with a probe on USB); the software DUT needs no flashing"
        board = next((c.zephyr_board for c in compile_configs() if c.system == req.system), None)
        runner = RUNNERS.get(board)
        if runner and runner.runner == "nrfjprog":
            return ("the nRF5340-DK flashes with nrfjprog (J-Link), which is proprietary and not in the zephyr "
                    "image; flash it from the host: west flash --runner nrfjprog --recover")
        return None

    def run(self, req, s) -> Flashed:
        from bundle.toolchain.compile_config import compile_configs
        from bundle.toolchain.flash import flash_error, flash_stage

        bench = req.cfg.offline_benchmarks[0]
        cfg = next((c for c in compile_configs() if c.system == req.system and c.benchmark == bench), None)
        if cfg is None:
            raise ConfigError(f"no compile configuration for {req.system} {bench}",
                              hint="see bundle/data/compile.yaml for the published builds")
        spec = flash_stage(cfg, str(req.run_dir), os.environ.get("PROBE_DEVICE", "/dev/bus/usb"))
        result = s.engine().run(spec, on_line=s.stage_sink(self.name, cfg.name), check=False)
        if not result.ok:
            raise flash_error("\n".join(result.output_tail), result.exit_code)
        return Flashed(cfg.name, round(result.duration_s, 1))

    def container(self, ctx):
        from bundle.toolchain.flash import flash_stage

        return flash_stage(ctx.compile, ctx.artifacts, ctx.probe_device)
