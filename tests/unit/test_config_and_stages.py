"""The reproduce config (versioned, validated) and the stage logic that uses it."""
from __future__ import annotations

from pathlib import Path

import pytest

from bundle.pipeline import diff, run
from bundle.pipeline.session import Session, session_for
from bundle.reproduce_config import load_reproduce_config
from bundle.errors import ConfigError

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "config"


def test_packaged_config_pairs_each_backend_with_the_build_it_stands_in_for():
    cfg = load_reproduce_config()
    assert cfg.sim.backends["litert"].compare_with == ["microtvm_native/NUCLEO_L4R5ZI"]
    assert cfg.sim.backends["litert-ref"].compare_with == ["microtvm_cmsis_nn/NUCLEO_L4R5ZI"]
    assert cfg.sim.backends["tvm"].informational
    assert not cfg.sim.backends["litert"].informational


@pytest.mark.parametrize("case", sorted(p.name for p in CORPUS.glob("*.yaml")))
def test_bad_config_files(case):
    with pytest.raises(ConfigError) as err:
        load_reproduce_config(CORPUS / case)
    assert err.value.hint


def _ctx(**kw) -> Session:
    cfg = load_reproduce_config()
    base = dict(port=None, engine="local", base_image=None, limit=None,
                backends=list(cfg.sim.backends), system=cfg.sim.performance_system)
    return session_for(cfg, Path("/tmp"), **{**base, **kw})


def test_compare_with_follows_the_config_for_sims_and_the_system_for_a_board():
    ctx = _ctx()
    assert diff.compare_with(ctx.request, {"backend": "litert-ref", "dut_kind": "sim"}) == (["microtvm_cmsis_nn/NUCLEO_L4R5ZI"], None)
    systems, why = diff.compare_with(ctx.request, {"backend": "tvm", "dut_kind": "sim"})
    assert len(systems) == 2 and "not OctoML's microTVM firmware" in why
    board = _ctx(port="/dev/ttyACM0", system="microtvm_cmsis_nn/NUCLEO_L4R5ZI", system_given=True)
    assert diff.compare_with(board.request, {"backend": None, "dut_kind": "board"}) == (["microtvm_cmsis_nn/NUCLEO_L4R5ZI"], None)


def test_informational_rows_keep_numbers_and_the_would_be_verdict():
    row = {"metric": "top1_pct", "published": 90.2, "reproduced": 89.7, "verdict": "DIFFERENT",
           "reason": "89.7 vs 90.2"}
    out = diff.informational(dict(row), "host build")
    assert out["verdict"] == "NOT_COMPARABLE"
    assert out["reproduced"] == 89.7 and "DIFFERENT" in out["reason"] and "host build" in out["reason"]
    not_run = {"metric": "auc", "verdict": "NOT_RUN", "reason": "log missing"}
    assert diff.informational(dict(not_run), "host build") == not_run


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        ctx = _ctx(backends=["litert", "onnx"])
        run.duts(ctx.request, ctx)
    assert "onnx" in str(err.value) and "litert" in err.value.hint


def test_every_benchmark_mode_not_reproduced_offline_has_a_reason():
    ctx = _ctx()
    rows = diff.not_run_rows(ctx.request, ctx)
    assert {r["benchmark"] for r in rows} == {"kws", "ic", "vww", "ad"}
    assert all(r["verdict"] == "NOT_RUN" and r["reason"] for r in rows)
    kws = [r for r in rows if r["benchmark"] == "kws"]
    assert {r["mode"] for r in kws} == {"energy"} and "EMON" in kws[0]["reason"]
