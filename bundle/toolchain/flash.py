"""Flash stage (zephyr image): write the ELF to the board through its ST-LINK with openocd."""
from __future__ import annotations

from bundle.engine.base import Mount, StageSpec
from bundle.builds import Build

# The probe is a USB device, not a tty: openocd talks to it through libusb.
PROBE_IN_STAGE = "/dev/bus/usb"


def flash_stage(build: Build, artifacts: str, probe_device: str) -> StageSpec:
    elf_dir = f"/artifacts/builds/{build.name}/zephyr"
    return StageSpec(
        name="flash", image_target="zephyr",
        command=["west", "flash", "--skip-rebuild", "-d", elf_dir, "--runner", "openocd"],
        mounts=[Mount(artifacts, "/artifacts", True)],
        devices=[f"{probe_device}:{PROBE_IN_STAGE}"], network=False, timeout_s=300,
    )
