"""Flash stage (zephyr image): `west flash` with the board's runner, only the probe's USB
device passed in; known failures in the tool output become FlashError subclasses with hints.

NUCLEO-L4R5ZI: openocd through the on-board ST-LINK. nRF5340-DK: nrfjprog through the on-board
J-Link, with `--recover` first (a board shipped or left with APPROTECT set refuses to be written
until recovered, which erases it).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from bundle.engine.base import Mount, StageSpec
from bundle.errors import ConfigError, FlashError, ProbeAccessDenied, ProbeBusy, ProbeNotFound, WrongBoard
from bundle.toolchain.compile_config import CompileConfig, compile_configs
from bundle.toolchain.firmware import work_dir

# The probe is a USB device, not a tty: openocd and J-Link talk to it through libusb.
PROBE_IN_STAGE = "/dev/bus/usb"
WEST_TOPDIR = "/opt/zephyrproject"   # west extension commands need the workspace


@dataclass(frozen=True)
class FlashRunner:
    runner: str
    extra: tuple[str, ...] = ()
    probe: str = ""


RUNNERS = {
    "nucleo_l4r5zi": FlashRunner("openocd", probe="ST-LINK/V2-1"),
    "nrf5340dk_nrf5340_cpuapp": FlashRunner("nrfjprog", ("--recover",), probe="J-Link OB (nRF5340-DK)"),
}


def flash_command(cfg: CompileConfig, energy: bool = False, out: str = "/artifacts") -> list[str]:
    runner = RUNNERS[cfg.zephyr_board]
    return ["west", "flash", "--skip-rebuild", "-d", f"{work_dir(cfg, energy, out)}/build",
            "--runner", runner.runner, *runner.extra]


def flash_stage(cfg: CompileConfig, artifacts: str, probe_device: str, energy: bool = False) -> StageSpec:
    return StageSpec(
        name="flash", image_target="zephyr", command=flash_command(cfg, energy),
        mounts=[Mount(artifacts, "/artifacts", True)],
        devices=[f"{probe_device}:{PROBE_IN_STAGE}"], network=False, timeout_s=300, workdir=WEST_TOPDIR,
    )


UDEV_HINT = ("install the probe's udev rule (openocd: 60-openocd.rules; Nordic: 71-nrf.rules / "
             "SEGGER 99-jlink.rules), run `udevadm control --reload && udevadm trigger`, replug the board")
# Order matters: the specific causes first, "not found" last (openocd also says "open failed"
# after an access or busy error).
KNOWN = [
    (ProbeAccessDenied, re.compile(r"LIBUSB_ERROR_ACCESS|Permission denied.*usb|insufficient permissions", re.I),
     "the probe was found but may not be opened by this user", UDEV_HINT),
    (ProbeBusy, re.compile(r"LIBUSB_ERROR_BUSY|resource busy|already (in use|used by another)|"
                           r"Cannot connect to J-Link|Unable to connect to a debugger", re.I),
     "the probe is held by another process",
     "close other debuggers, IDEs and openocd/JLink instances (`lsof /dev/bus/usb/*/*`), then retry"),
    (WrongBoard, re.compile(r"UNEXPECTED idcode|Cannot identify target as a|does not match the device connected|"
                            r"device family", re.I),
     "the connected chip is not the one this firmware was built for",
     "check which board is on USB (only one board at a time), and that --system names that board"),
    (ProbeNotFound, re.compile(r"open failed|no (ST-?LINK|device|debugger) (detected|found|connected)|"
                               r"There is no debugger connected|LIBUSB_ERROR_NO_DEVICE|No J-Link found", re.I),
     "no debug probe found",
     "plug the board's debug USB port in, and pass its bus to the stage (PROBE_DEVICE=/dev/bus/usb)"),
]


def classify_flash_output(output: str) -> FlashError | None:
    """The known failure this tool output shows, or None."""
    for cls, pattern, what, hint in KNOWN:
        m = pattern.search(output)
        if m:
            return cls(f"flash failed: {what} ({m.group(0).strip()})", hint=hint)
    return None


def flash_error(output: str, exit_code: int) -> FlashError:
    return classify_flash_output(output) or FlashError(
        f"west flash exited with code {exit_code}", hint="read the [flash] lines above")


def config_for_build(build: str) -> CompileConfig:
    """The compile configuration of a <variant>/<board>/<benchmark> build (board as the code tree
    or the system names it: NRF5340DK or NRF5340-DK)."""
    variant, _, rest = build.partition("/")
    board, _, benchmark = rest.partition("/")
    for cfg in compile_configs():
        if (cfg.variant, cfg.benchmark) == (variant, benchmark) and board in (cfg.board, cfg.system_board):
            return cfg
    raise ConfigError(f"no compile configuration for {build}",
                      hint="see bundle/data/compile.yaml for the published builds")


@dataclass
class Flasher:
    """A board's flasher: runs the flash stage for a build through an engine (anything with
    `run(StageSpec, on_line=..., check=False) -> StageResult`), the probe's device passed in."""

    engine: object
    artifacts: str
    probe_device: str = "/dev/bus/usb"
    on_line: Callable[[str], None] | None = None

    def flash(self, build: str):
        cfg = config_for_build(build)
        result = self.engine.run(flash_stage(cfg, self.artifacts, self.probe_device),
                                 on_line=self.on_line, check=False)
        if not result.ok:
            raise flash_error("\n".join(result.output_tail), result.exit_code)
        return result
