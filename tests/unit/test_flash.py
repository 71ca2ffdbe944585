"""Flash stage: the runner each board needs, and tool output mapped to the known failures
(a corpus of real-format openocd / nrfjprog / west outputs, tests/corpus/flash/<ErrorClass>/)."""
from __future__ import annotations

from pathlib import Path

import pytest

from bundle import errors
from bundle.toolchain.compile_config import config_for
from bundle.toolchain.flash import classify_flash_output, flash_command, flash_error, flash_stage

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "flash"
CASES = sorted(CORPUS.glob("*/*.txt"))


def test_golden_flash_commands():
    assert flash_command(config_for("microtvm_native-nucleo_l4r5zi-kws")) == [
        "west", "flash", "--skip-rebuild", "-d", "/artifacts/firmware/microtvm_native-nucleo_l4r5zi-kws/build",
        "--runner", "openocd"]
    assert flash_command(config_for("microtvm_cmsis_nn-nrf5340dk-ic"), energy=True) == [
        "west", "flash", "--skip-rebuild", "-d", "/artifacts/firmware/microtvm_cmsis_nn-nrf5340dk-ic-energy/build",
        "--runner", "nrfjprog", "--recover"]


def test_only_the_probe_is_passed_in():
    spec = flash_stage(config_for("microtvm_native-nucleo_l4r5zi-kws"), "/run", "/dev/bus/usb/001")
    assert spec.devices == ["/dev/bus/usb/001:/dev/bus/usb"] and not spec.network
    assert [(m.dst, m.read_only) for m in spec.mounts] == [("/artifacts", True)]


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_known_failures_are_named_with_a_hint(path):
    expected = getattr(errors, path.parent.name)
    err = classify_flash_output(path.read_text())
    assert type(err) is expected, f"{path.name}: got {type(err).__name__}"
    assert err.hint and err.exit_code == errors.EXIT_DUT


def test_unknown_output_is_a_plain_flash_error():
    assert classify_flash_output("-- west flash: using runner openocd\nsomething new\n") is None
    err = flash_error("something new", 3)
    assert type(err) is errors.FlashError and "code 3" in err.message


def test_corpus_covers_every_known_failure():
    assert {p.parent.name for p in CASES} == {"ProbeAccessDenied", "ProbeBusy", "ProbeNotFound", "WrongBoard"}
