"""Firmware stage: the build commands (runner injected), the double build's verdict, and the
parsers for the Zephyr memory report and `west spdx` documents, on fixture files in their
real formats (tests/corpus/firmware/)."""
from __future__ import annotations

import importlib.util
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from bundle.errors import ParseError
from bundle.toolchain.compile_config import config_for
from bundle.toolchain.firmware import (SOURCE_DATE_EPOCH, firmware_command, firmware_record, firmware_stage,
                                       memory_use, parse_memory_report, parse_spdx)

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "corpus" / "firmware"
NUCLEO = config_for("microtvm_native-nucleo_l4r5zi-kws")
NRF = config_for("microtvm_cmsis_nn-nrf5340dk-vww")


def _zephyr_build():
    """The in-image script, loaded from its file (it is not part of the host package API)."""
    spec = importlib.util.spec_from_file_location("zephyr_build", REPO / "bundle" / "toolchain" / "zephyr_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


zb = _zephyr_build()


@pytest.mark.parametrize("log,cfg,flash,ram,fits", [
    ("nucleo_l4r5zi-build.log", NUCLEO, 195088, 540624, True),
    ("nrf5340dk_nrf5340_cpuapp-build.log", NRF, 368524, 441736, True),
    ("too-big-build.log", NUCLEO, 195088, 676864, False),
])
def test_memory_report(log, cfg, flash, ram, fits):
    regions = parse_memory_report((CORPUS / log).read_text())
    assert set(regions) == {"FLASH", "SRAM", "IDT_LIST"}
    use = memory_use(regions, cfg)
    assert (use["flash_used"], use["ram_used"], use["fits"]) == (flash, ram, fits)
    assert use["flash_total"] == cfg.flash_bytes and use["ram_total"] == cfg.ram_bytes


def test_memory_units_and_soc_totals():
    regions = parse_memory_report((CORPUS / "nucleo_l4r5zi-build.log").read_text())
    assert regions["FLASH"]["size"] == 2 * 1024 * 1024 and regions["SRAM"]["size"] == 640 * 1024
    nrf = parse_memory_report((CORPUS / "nrf5340dk_nrf5340_cpuapp-build.log").read_text())
    # the linker's SRAM region is 448 KB; the app core has 512 KB: the record uses the SoC's
    assert nrf["SRAM"]["size"] == 448 * 1024 and memory_use(nrf, NRF)["ram_total"] == 512 * 1024
    assert memory_use(nrf, NRF)["ram_pct"] == round(100 * 441736 / (512 * 1024), 2)


def test_no_memory_report_is_a_parse_error():
    with pytest.raises(ParseError):
        parse_memory_report("[187/187] Linking CXX executable zephyr/zephyr.elf\n")


def test_spdx_documents():
    app = parse_spdx((CORPUS / "app.spdx").read_text())
    assert app["SPDXVersion"] == "SPDX-2.2" and app["DocumentName"] == "app-sources"
    assert [p["name"] for p in app["packages"]] == ["app-sources"] and app["packages"][0]["files"] == 2
    assert app["files"][0] == {"name": "./src/main.cpp", "spdxid": "SPDXRef-File-main.cpp",
                               "sha256": "0c8b5e2d7e4f3a1b9c6d8e0f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b"}
    build = parse_spdx((CORPUS / "build.spdx").read_text())
    assert build["files"][0]["name"] == "./zephyr/zephyr.elf"
    assert "SPDXRef-File-zephyr.elf GENERATED_FROM DocumentRef-app:SPDXRef-File-main.cpp" in build["relationships"]


def test_not_spdx_is_refused():
    with pytest.raises(ParseError):
        parse_spdx((CORPUS / "not-spdx.spdx").read_text())


# Table-driven golden command lines.
def test_golden_firmware_commands():
    assert firmware_command(NUCLEO, "/inputs/git/c7/closed/OctoML/code") == [
        "python3", "/opt/tinyrepro/zephyr_build.py",
        "--project", "/inputs/git/c7/closed/OctoML/code/microtvm_native/NUCLEO_L4R5ZI/kws",
        "--work", "/artifacts/firmware/microtvm_native-nucleo_l4r5zi-kws", "--board", "nucleo_l4r5zi",
        "--epoch", SOURCE_DATE_EPOCH]
    assert firmware_command(NRF, "/code", energy=True, swap_model=True) == [
        "python3", "/opt/tinyrepro/zephyr_build.py", "--project", "/code/microtvm_cmsis_nn/NRF5340DK/vww",
        "--work", "/artifacts/firmware/microtvm_cmsis_nn-nrf5340dk-vww-energy", "--board", "nrf5340dk_nrf5340_cpuapp",
        "--epoch", SOURCE_DATE_EPOCH, "--energy", "--mlf", "/artifacts/builds/microtvm_cmsis_nn-nrf5340dk-vww/model.tar"]
    spec = firmware_stage(NUCLEO, "/cache", "/run", "git/c7/closed/OctoML/code")
    assert spec.image_target == "zephyr" and not spec.network and spec.env == {"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}
    assert spec.command[3] == "/inputs/git/c7/closed/OctoML/code/microtvm_native/NUCLEO_L4R5ZI/kws"


ZB = "/opt/zephyrproject/zephyr"
PREFIX = ("-ffile-prefix-map=/w/src=. -fdebug-prefix-map=/w/src=. -ffile-prefix-map=/w/build=build "
          "-fdebug-prefix-map=/w/build=build -ffile-prefix-map=/opt/zephyrproject/zephyr=zephyr "
          "-fdebug-prefix-map=/opt/zephyrproject/zephyr=zephyr")


@pytest.mark.parametrize("board,energy,energy_flag", [("nucleo_l4r5zi", False, "0"),
                                                       ("nrf5340dk_nrf5340_cpuapp", True, "1")])
def test_golden_build_commands(board, energy, energy_flag):
    assert zb.build_commands("/w/src", "/w/build", board, energy, ZB, "/w/spdx") == [
        ["west", "spdx", "--init", "-d", "/w/build"],
        ["cmake", "-G", "Ninja", "-S", "/w/src", "-B", "/w/build", f"-DBOARD={board}", f"-DENERGY_MODE={energy_flag}",
         f"-DEXTRA_CFLAGS={PREFIX}", f"-DEXTRA_CXXFLAGS={PREFIX}"],
        ["ninja", "-C", "/w/build"],
        ["west", "spdx", "-d", "/w/build", "-s", "/w/spdx"],
    ]


class FakeToolchain:
    """Stands in for cmake/ninja/west: records every command, and `ninja` writes an ELF and
    HEX (same bytes every time unless `drift`) plus the linker's memory report to the log."""

    def __init__(self, drift: bool = False):
        self.calls, self.envs, self.drift, self.builds = [], [], drift, 0

    def __call__(self, cmd, stdout=None, stderr=None, env=None, cwd=None, capture_output=False, text=False):
        self.calls.append(list(cmd))
        self.envs.append(env or {})
        if cmd[0] == "ninja" and cmd[1] == "-C":
            self.builds += 1
            out = Path(cmd[2]) / "zephyr"
            out.mkdir(parents=True, exist_ok=True)
            (out / "zephyr.elf").write_bytes(b"\x7fELF" + (bytes([self.builds]) if self.drift else b"same"))
            (out / "zephyr.hex").write_text(":00000001FF\n")
            stdout.write((CORPUS / "nucleo_l4r5zi-build.log").read_text())
        if cmd[:2] == ["west", "spdx"] and "-s" in cmd:
            spdx = Path(cmd[cmd.index("-s") + 1])
            spdx.mkdir(parents=True, exist_ok=True)
            shutil.copy(CORPUS / "app.spdx", spdx / "app.spdx")
            shutil.copy(CORPUS / "build.spdx", spdx / "build.spdx")
        if capture_output:
            return subprocess.CompletedProcess(cmd, 0, stdout=f"{cmd[0]} version 1.0\n", stderr="")
        return subprocess.CompletedProcess(cmd, 0)


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "published" / "kws"
    (project / "model" / "codegen").mkdir(parents=True)
    (project / "model" / "codegen" / "published.c").write_text("int published;\n")
    (project / "CMakeLists.txt").write_text("project(x)\n")
    return project


def test_double_build_is_reproducible_and_recorded(tmp_path):
    fake = FakeToolchain()
    work = tmp_path / "work"
    builder = zb.Builder(work, "nucleo_l4r5zi", False, SOURCE_DATE_EPOCH, run=fake, zephyr_base=ZB)
    builder.prepare(_project(tmp_path), None)
    record = builder.build_twice()
    assert record["reproducible"] and record["sha256"] == record["first_sha256"]
    build_cmds = [c for c in fake.calls if c[0] in ("cmake", "ninja", "west")]
    # first build: spdx init, cmake, ninja, spdx; second: cmake, ninja; then the version probes
    assert [c[:2] for c in build_cmds[:6]] == [["west", "spdx"], ["cmake", "-G"], ["ninja", "-C"], ["west", "spdx"],
                                               ["cmake", "-G"], ["ninja", "-C"]]
    assert all(e.get("SOURCE_DATE_EPOCH") == SOURCE_DATE_EPOCH for e in fake.envs)
    assert not (work / "build.first").exists()
    rec = firmware_record(NUCLEO, work)
    assert rec["reproducible"] and rec["elf_sha256"] == record["sha256"]["zephyr/zephyr.elf"]
    assert rec["memory"]["flash_used"] == 195088 and rec["memory"]["fits"]
    assert rec["sbom"]["app.spdx"]["packages"] == ["app-sources"] and rec["sbom"]["build.spdx"]["files"] == 1
    assert rec["versions"]["gcc"] == "arm-zephyr-eabi-gcc version 1.0"
    assert json.loads((work / "firmware.json").read_text())["source_date_epoch"] == SOURCE_DATE_EPOCH


def test_a_drifting_build_is_not_reproducible_and_keeps_both(tmp_path):
    work = tmp_path / "work"
    builder = zb.Builder(work, "nucleo_l4r5zi", False, SOURCE_DATE_EPOCH, run=FakeToolchain(drift=True), zephyr_base=ZB)
    builder.prepare(_project(tmp_path), None)
    record = builder.build_twice()
    assert not record["reproducible"] and (work / "build.first" / "zephyr" / "zephyr.elf").is_file()


def test_regenerated_model_is_swapped_in(tmp_path):
    mlf = tmp_path / "model.tar"
    with tarfile.open(mlf, "w") as tar:
        data = b"int regenerated;\n"
        info = tarfile.TarInfo("codegen/regenerated.c")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    builder = zb.Builder(tmp_path / "work", "nucleo_l4r5zi", False, "0", run=FakeToolchain(), zephyr_base=ZB)
    builder.prepare(_project(tmp_path), mlf)
    model = tmp_path / "work" / "src" / "model"
    assert (model / "codegen" / "regenerated.c").is_file() and not (model / "codegen" / "published.c").exists()
    assert (tmp_path / "work" / "src" / "CMakeLists.txt").is_file()
