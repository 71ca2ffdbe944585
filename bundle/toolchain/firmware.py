"""Firmware stage (zephyr image): the MLF archive + EEMBC harness to a Zephyr ELF with west."""
from __future__ import annotations

from bundle.engine.base import Mount, StageSpec
from bundle.builds import Build


def firmware_command(build: Build, out: str = "/artifacts") -> list[str]:
    build_dir = f"{out}/builds/{build.name}"
    return ["west", "build", "--pristine", "always", "-b", build.zephyr_board, "-d", f"{build_dir}/zephyr",
            f"/inputs/tree/code/{build.variant}/{build.benchmark}", "--",
            f"-DMODEL_LIBRARY={build_dir}/model.tar", f"-DEE_CFG_ENERGY_MODE={int(build.energy)}",
            f"-DCONFIG_UART_BAUD={build.baud}"]


def firmware_stage(build: Build, inputs: str, artifacts: str) -> StageSpec:
    return StageSpec(
        name="firmware", image_target="zephyr", command=firmware_command(build),
        mounts=[Mount(inputs, "/inputs", True), Mount(artifacts, "/artifacts", False)],
        network=False, timeout_s=1800,
    )
