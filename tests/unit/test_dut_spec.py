"""One DUT model: the spec, its file (the DUT part of run-info.json), capabilities as data,
the run stage passing the spec file, and a board flashing each build before it runs."""
from __future__ import annotations

import dataclasses
import json

import pytest

from bundle.cli import build_parser
from bundle.diff import DUT_KINDS
from bundle.dut.base import KINDS, Capabilities, get_dut, run_builds
from bundle.dut.board import BoardDut
from bundle.dut.select import choose_dut
from bundle.dut.spec import DutSpec, from_run_info, open_dut, read_spec, write_spec
from bundle.engine.base import StageResult
from bundle.errors import DutError, FlashError, ParseError, ProbeAccessDenied, UsageError
from bundle.toolchain.flash import Flasher, config_for_build
from bundle.toolchain.containers import StageContext, run_stage

NATIVE_KWS = "microtvm_native/NUCLEO_L4R5ZI/kws"
CMSIS_IC = "microtvm_cmsis_nn/NUCLEO_L4R5ZI/ic"


# -- capabilities are one dataclass -------------------------------------------------------------
def test_every_kind_declares_the_same_capability_fields():
    for kind in KINDS:
        caps = get_dut(kind).capabilities
        assert type(caps) is Capabilities and get_dut(kind).name == kind
    assert {get_dut(k).capabilities.dut_kind for k in KINDS} == set(DUT_KINDS)


# -- the spec and its file ----------------------------------------------------------------------
@pytest.mark.parametrize("spec", [
    DutSpec("sim", runtime="litert", infer_ms=144.03),
    DutSpec("board", build=NATIVE_KWS),
    DutSpec("host", program="proj@abc123"),
    DutSpec("qemu", build=NATIVE_KWS, program_digest="abc", code="/code"),
])
def test_the_spec_file_is_the_dut_part_of_run_info_and_reads_back(spec, tmp_path):
    path = write_spec(tmp_path / "dut.json", dataclasses.replace(spec, port="/dev/pts/9", probe="/dev/bus/usb"))
    assert json.loads(path.read_text()) == spec.to_run_info()
    assert read_spec(path) == spec          # where it answers and its probe are not recorded


def test_run_info_of_old_run_folders_still_loads():
    assert from_run_info({"dut_kind": "sim", "backend": "litert", "emulated_infer_ms": 0.0}) == \
        DutSpec("sim", runtime="litert", infer_ms=0.0)
    assert from_run_info({"dut_kind": "board", "backend": None, "emulated_infer_ms": None}) == DutSpec("board")
    assert from_run_info({"dut_kind": "host", "backend": "p@d", "emulated_infer_ms": None}).program == "p@d"
    assert from_run_info({"dut_kind": "emulated", "backend": None, "dut": "qemu", "build": NATIVE_KWS}).kind == "qemu"


def test_the_run_info_keys_stay_as_they_were():
    assert DutSpec("sim", runtime="litert", infer_ms=144.03).to_run_info() == {
        "dut_kind": "sim", "backend": "litert", "emulated_infer_ms": 144.03}
    assert DutSpec("board").to_run_info() == {"dut_kind": "board", "backend": None, "emulated_infer_ms": None}


@pytest.mark.parametrize("text, error", [("{not json", ParseError), ('["sim"]', ParseError),
                                         ('{"dut_kind": "fpga"}', ParseError),
                                         ('{"dut_kind": "sim", "backend": 3}', ParseError),
                                         ('{"dut_kind": "board", "backend": "litert"}', UsageError),
                                         ('{"dut_kind": "host", "emulated_infer_ms": 5}', UsageError)])
def test_a_bad_spec_file_is_refused_naming_it(text, error, tmp_path):
    (tmp_path / "dut.json").write_text(text)
    with pytest.raises(error) as err:
        read_spec(tmp_path / "dut.json")
    assert str(tmp_path / "dut.json") in err.value.message and err.value.hint


# -- the CLI and the run stage ------------------------------------------------------------------
def test_run_help_shows_only_options_a_user_gives():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command" or getattr(a, "choices", None) and "run" in a.choices)
    text = sub.choices["run"].format_help()
    assert "--dut-spec" in text
    for internal in ("--dut-kind", "--backend-label", "--emulated-infer-ms"):
        assert internal not in text


def _ctx(tmp_path, port="/dev/pts/7") -> StageContext:
    return StageContext(inputs=str(tmp_path / "cache"), artifacts=str(tmp_path / "run"), dut_port=port,
                        probe_device="")


def test_the_run_stage_passes_the_spec_as_one_file(tmp_path):
    spec = DutSpec("sim", runtime="litert", infer_ms=144.0)
    stage = run_stage(_ctx(tmp_path), "kws", "accuracy", out="/artifacts/runs/sim-litert/kws/accuracy",
                      name="run:sim-litert:kws:accuracy", dut=spec)
    cmd = stage.command
    inside = cmd[cmd.index("--dut-spec") + 1]
    assert inside.startswith("/artifacts/dut-specs/") and "--dut" not in cmd
    rel = inside[len("/artifacts/"):]
    assert read_spec(tmp_path / "run" / rel) == spec
    artifacts = next(m for m in stage.mounts if m.dst == "/artifacts")
    assert rel in artifacts.include and "runs/sim-litert/kws/accuracy" in artifacts.include
    assert not {"--dut-kind", "--backend-label", "--emulated-infer-ms"} & set(cmd)


def test_how_a_dut_is_started_does_not_change_its_stage(tmp_path):
    # the sim's line rate says how it is started, not what it is: not in the spec file
    a = run_stage(_ctx(tmp_path), "kws", name="a", dut=DutSpec("sim", runtime="litert", infer_ms=1.5, line_baud=9600))
    b = run_stage(_ctx(tmp_path), "kws", name="a", dut=DutSpec("sim", runtime="litert", infer_ms=1.5))
    assert a == b
    host = run_stage(_ctx(tmp_path), "kws", name="h", dut=DutSpec("host", program="p@d"))
    path = host.command[host.command.index("--dut-spec") + 1][len("/artifacts/"):]
    assert read_spec(tmp_path / "run" / path) == DutSpec("host", program="p@d")


def test_a_board_stage_needs_no_spec_file(tmp_path):
    stage = run_stage(_ctx(tmp_path), "kws", dut=DutSpec("board"))
    assert stage.command[4:6] == ["--dut", "board"] and not (tmp_path / "run").exists()


# -- the chooser ---------------------------------------------------------------------------------
def test_the_chooser_returns_the_spec_and_qemu_can_be_asked_for(tmp_path):
    board = choose_dut("/dev/ttyACM0", fetch_code=lambda: tmp_path, probe="/dev/bus/usb/001")
    assert board.spec == DutSpec("board", port="/dev/ttyACM0", probe="/dev/bus/usb/001")
    qemu = choose_dut(None, fetch_code=lambda: tmp_path, have_compiler=lambda: True, requested="qemu")
    assert qemu.kind == "qemu" and qemu.spec.code == str(tmp_path) and "asked for" in qemu.reason
    none = choose_dut(None, fetch_code=lambda: tmp_path, have_compiler=lambda: False, requested="qemu")
    assert none.kind == "sim" and "qemu-system-arm" in none.reason


# -- a board flashes each build before running it (the flash tool faked at the process boundary) --
class FakeEngine:
    def __init__(self, outputs: dict[str, tuple[int, str]] | None = None):
        self.outputs = outputs or {}
        self.ran: list[list[str]] = []

    def run(self, spec, on_line=None, check=True) -> StageResult:
        self.ran.append(spec.command)
        build_dir = spec.command[spec.command.index("-d") + 1]
        code, text = next(((c, t) for key, (c, t) in self.outputs.items() if key in build_dir), (0, "ok"))
        return StageResult(spec.name, code, 0.1, "fake", output_tail=text.splitlines())


def _flashed_dirs(engine: FakeEngine) -> list[str]:
    return [cmd[cmd.index("-d") + 1].split("/")[3] for cmd in engine.ran]


def test_a_multi_benchmark_board_run_flashes_each_benchmark_first(tmp_path):
    engine = FakeEngine()
    board = BoardDut(port="/dev/ttyACM0", flasher=Flasher(engine, str(tmp_path), "/dev/bus/usb/001"))
    events = []
    run_builds(board, [NATIVE_KWS, CMSIS_IC, CMSIS_IC],
               lambda build, port: events.append((build, port, len(engine.ran))))
    assert _flashed_dirs(engine) == [config_for_build(NATIVE_KWS).name, config_for_build(CMSIS_IC).name]
    # each run saw its own build flashed just before it; the same build twice is flashed once
    assert events == [(NATIVE_KWS, "/dev/ttyACM0", 1), (CMSIS_IC, "/dev/ttyACM0", 2), (CMSIS_IC, "/dev/ttyACM0", 2)]
    assert board.flashed == CMSIS_IC


def test_a_failed_flash_is_named_and_the_board_keeps_its_old_build(tmp_path):
    ic = config_for_build(CMSIS_IC).name
    engine = FakeEngine({ic: (1, "Error: libusb_open() failed with LIBUSB_ERROR_ACCESS")})
    board = BoardDut(port="/dev/ttyACM0", flasher=Flasher(engine, str(tmp_path)), flashed=NATIVE_KWS)
    with pytest.raises(ProbeAccessDenied) as err:
        board.prepare(CMSIS_IC)
    assert isinstance(err.value, FlashError) and err.value.hint and board.flashed == NATIVE_KWS


def test_open_dut_flashes_the_spec_build_through_the_registry(tmp_path):
    engine = FakeEngine()
    spec = DutSpec("board", port="rfc2217://lab:4000", probe="/dev/bus/usb/002")
    with open_dut(spec, build=NATIVE_KWS, flasher=Flasher(engine, str(tmp_path), spec.probe)) as port:
        assert port == "rfc2217://lab:4000"
    assert _flashed_dirs(engine) == [config_for_build(NATIVE_KWS).name]
    assert engine.ran and all("/dev/bus/usb/002" not in c for c in engine.ran)   # a device, not an argument


def test_a_board_without_a_flasher_refuses_another_build():
    board = BoardDut(port="/dev/ttyACM0", flashed=NATIVE_KWS)
    board.prepare(NATIVE_KWS)
    with pytest.raises(DutError, match="carries"):
        board.prepare(CMSIS_IC)
    hand = BoardDut(port="/dev/ttyACM0")        # flashed by hand: taken as given
    hand.prepare(CMSIS_IC)
    assert hand.flashed == CMSIS_IC
