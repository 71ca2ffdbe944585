"""`tinyrepro reproduce --dut qemu`: the published builds' accuracy runs go to the qemu DUT
instead of the host DUT, labelled qemu and diffed as an emulated DUT's (exact outputs,
timing not comparable). No QEMU is started here: the plan and the records are data."""
from __future__ import annotations

from pathlib import Path

import pytest

from bundle.cli import build_parser
from bundle.dut.spec import DutSpec
from bundle.pipeline import diff, run
from bundle.pipeline.outputs import Fetched
from bundle.pipeline.session import session_for
from bundle.reproduce_config import load_reproduce_config


def _session(tmp_path: Path, monkeypatch, dut: str, port: str | None = None):
    monkeypatch.setattr("bundle.dut.select._have_tools", lambda kind: True)
    (tmp_path / "published" / "code").mkdir(parents=True)
    cfg = load_reproduce_config()
    s = session_for(cfg, tmp_path, port=port, engine="local", dut=dut, backends=["litert"],
                    outputs={"fetch": Fetched(tmp_path / "published", tmp_path, tmp_path, {}, {}, None)})
    return s


def test_reproduce_accepts_dut_qemu():
    assert build_parser().parse_args(["reproduce", "--dut", "qemu"]).dut == "qemu"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["reproduce", "--dut", "fpga"])


def test_dut_qemu_runs_each_systems_code_on_qemu_beside_the_sim(tmp_path, monkeypatch):
    s = _session(tmp_path, monkeypatch, "qemu")
    duts = run.duts(s.request, s)
    assert [label for label, _ in duts] == ["qemu", "sim-litert"]
    assert duts[0][1].kind == "qemu" and duts[0][1].capabilities.exact_outputs
    assert not duts[0][1].capabilities.timing_comparable
    assert s.dut_kind == "qemu" and "qemu" in s.notes[0]
    systems = s.request.cfg.compare_systems
    assert [r for r in run.run_plan(s.request, s) if r[0] == "qemu"] == [
        ("qemu", "qemu", system, "kws", "accuracy") for system in systems]
    assert "emulated Cortex-M4F" in run.RunBenchmarks().plan_note(s.request, s)


def test_auto_still_runs_the_host_dut(tmp_path, monkeypatch):
    s = _session(tmp_path, monkeypatch, "auto")
    assert [label for label, _ in run.duts(s.request, s)] == ["host", "sim-litert"]
    assert s.dut_kind == "host"


def test_a_board_is_a_board_spec_whatever_dut_asks(tmp_path, monkeypatch):
    s = _session(tmp_path, monkeypatch, "qemu", port="/dev/ttyACM0")
    assert run.duts(s.request, s) == [("board", DutSpec("board", port="/dev/ttyACM0"))]
    assert run.run_plan(s.request, s)[0][:2] == ("board", None)


def test_qemu_rows_compare_each_systems_own_outputs(tmp_path, monkeypatch):
    s = _session(tmp_path, monkeypatch, "qemu")
    record = {"label": "qemu", "system": "microtvm_cmsis_nn/NRF5340-DK", "dut_kind": "emulated",
              "backend": "qemu"}
    assert diff.compare_with(s.request, record) == (["microtvm_cmsis_nn/NRF5340-DK"], None)
    assert diff.runs_published_code("host") and not diff.runs_published_code("sim")
