"""flash: one board, one firmware (the selected system's first offline benchmark), with the
probe's runner in the zephyr image. The run stage flashes the other benchmarks' firmware
before their runs through the same flasher (`board_flasher`), when this stage could run."""
from __future__ import annotations

import os

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
        build = board_build(req, req.cfg.offline_benchmarks[0])
        result = BoardFlasher(req, s).flash(build)   # ConfigError when the system has no such build
        return Flashed(_config(build).name, round(result.duration_s, 1), carries=build)

    def container(self, ctx):
        from bundle.toolchain.flash import flash_stage

        return flash_stage(ctx.compile, ctx.artifacts, ctx.probe_device)


def board_build(req, benchmark: str) -> str:
    """The build a benchmark runs on the request's board: <variant>/<board>/<benchmark>, the
    board named as the system names it (bundle/toolchain/flash.py `config_for_build`)."""
    return f"{req.system}/{benchmark}"


def board_flasher(req, s) -> tuple["BoardFlasher | None", str | None]:
    """(the flasher, None) when the board can be flashed from here, else (None, why not): the
    flash stage's own reasons (no probe runner in the image, labgrid, no zephyr image, no
    firmware built), asked of the stages that ran so far."""
    reason = Flash().why_not(req, s)
    return (None, reason) if reason else (BoardFlasher(req, s), None)


class BoardFlasher:
    """The toolchain's Flasher (`west flash` in the zephyr image, PROBE_DEVICE passed in) with
    each build's output in logs/flash-<build>.log and a note of each firmware written."""

    def __init__(self, req, s):
        self.req, self.s = req, s

    def flash(self, build: str):
        from bundle.toolchain.flash import Flasher

        name = _config(build).name
        flasher = Flasher(self.s.engine(), str(self.req.run_dir), os.environ.get("PROBE_DEVICE", "/dev/bus/usb"),
                          on_line=self.s.stage_sink("flash", name))
        result = flasher.flash(build)
        self.s.notes.append(f"flash: {build} written to the board at {self.req.port} "
                            f"({result.duration_s:.1f} s)")
        return result


def _config(build: str):
    from bundle.toolchain.flash import config_for_build

    return config_for_build(build)
