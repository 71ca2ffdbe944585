"""`tinyrepro plan --json`: the interface scripts read (stages, builds) and its content."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bundle.commands.plan import plan
from bundle.reproduce_config import load_reproduce_config
from bundle.pipeline.outputs import Images
from bundle.pipeline.session import Session, session_for

REPO = Path(__file__).resolve().parents[2]
USMP_OFF = {("microtvm_native", "NUCLEO_L4R5ZI", "kws"), ("microtvm_cmsis_nn", "NUCLEO_L4R5ZI", "kws"),
            ("microtvm_cmsis_nn", "NRF5340DK", "kws"), ("microtvm_native", "NUCLEO_L4R5ZI", "vww")}


@pytest.fixture(scope="module")
def offline_plan(tmp_path_factory) -> dict:
    cache = tmp_path_factory.mktemp("cache")
    out = subprocess.run([sys.executable, "-m", "bundle", "plan", "--json", "--offline", "--engine", "local",
                          "--cache", str(cache)], capture_output=True, text=True, cwd=REPO, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(cache)})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_schema(offline_plan):
    assert isinstance(offline_plan["stages"], list) and isinstance(offline_plan["builds"], list)
    for s in offline_plan["stages"]:
        assert {"name", "image", "runnable", "reason"} <= set(s)
        assert isinstance(s["runnable"], bool) and (s["runnable"] or s["reason"])
    for b in offline_plan["builds"]:
        assert {"variant", "board", "benchmark", "model", "target", "usmp", "workspace_size"} <= set(b)
        assert isinstance(b["usmp"], bool) and isinstance(b["workspace_size"], int)


def test_twelve_builds_with_usmp_per_build(offline_plan):
    builds = offline_plan["builds"]
    assert len(builds) == 12
    off = {(b["variant"], b["board"], b["benchmark"]) for b in builds if not b["usmp"]}
    assert off == USMP_OFF
    assert {b["board"] for b in builds} == {"NUCLEO_L4R5ZI", "NRF5340DK"}
    native_kws = next(b for b in builds if b["variant"] == "microtvm_native" and b["benchmark"] == "kws")
    assert native_kws["workspace_size"] == 146448 and native_kws["model"] == "kws_ref_model.tflite"


def test_every_stage_with_its_image_and_reason(offline_plan):
    by = {s["name"]: s for s in offline_plan["stages"]}
    assert list(by) == ["fetch", "published-recompute", "images", "code", "compile", "codediff", "firmware",
                        "flash", "stimuli:ic01", "stimuli:vww01", "stimuli:ad01", "run", "latency", "diff", "estimate",
                        "report"]
    assert {by[n]["image"] for n in ("compile",)} == {"tvm"} and by["firmware"]["image"] == "zephyr"
    assert by["flash"]["image"] == "zephyr" and by["run"]["image"] == "runner"
    assert not by["images"]["runnable"] and "Docker" in by["images"]["reason"]
    # no mirror and offline: the fetch stage (which brings the code tree, pinned file by file) cannot run
    assert not by["fetch"]["runnable"] and "GitHub" in by["fetch"]["reason"]
    assert not by["code"]["runnable"] and "fetch" in by["code"]["reason"]
    assert not by["compile"]["runnable"] and "tvm image" in by["compile"]["reason"]
    assert "code, compile" in by["codediff"]["reason"]
    assert "no board" in by["flash"]["reason"]
    assert by["run"]["runnable"] and by["report"]["runnable"]
    assert "UNSET" not in by["firmware"]["image_status"]  # the Zephyr pins are filled in the lock


def _ctx(tmp_path, images=None, **kw) -> Session:
    cfg = load_reproduce_config(None)
    base = dict(port=None, engine="docker", base_image=None, limit=None,
                backends=[], system="microtvm_native/NUCLEO_L4R5ZI", cache=tmp_path / "cache", mirror=None)
    base.update(kw)
    return session_for(cfg, tmp_path, outputs={"images": images} if images else None, **base)


def test_networked_host_with_images_and_a_board(tmp_path):
    """What a lab host would see: everything runs except what needs what it lacks."""
    ctx = _ctx(tmp_path, port="/dev/ttyACM0", reachable=frozenset({"pypi", "debian", "github"}),
               images=Images({"runner": object(), "tvm": object(), "zephyr": object()}, {}))
    by = {s["name"]: s for s in plan(ctx, docker=True)["stages"]}
    assert all(by[n]["runnable"] for n in ("code", "compile", "codediff", "firmware", "flash", "run")), by
    nrf = _ctx(tmp_path, port="/dev/ttyACM0", system="microtvm_cmsis_nn/NRF5340-DK",
               reachable=frozenset({"github"}), images=ctx.images)
    flash = next(s for s in plan(nrf, docker=True)["stages"] if s["name"] == "flash")
    assert not flash["runnable"] and "nrfjprog" in flash["reason"]


def test_no_compile_leaves_out_compile_and_codediff_with_the_tvm_image_built(tmp_path):
    ctx = _ctx(tmp_path, compile=False, reachable=frozenset({"pypi", "debian", "github"}),
               images=Images({"runner": object(), "tvm": object(), "zephyr": object()}, {}))
    by = {s["name"]: s for s in plan(ctx, docker=True)["stages"]}
    assert not by["compile"]["runnable"] and by["compile"]["reason"] == "not selected (--no-compile)"
    assert by["codediff"]["reason"] == "needs the output of stage(s) compile, which did not run"
    assert by["code"]["runnable"] and by["run"]["runnable"]


def test_a_mirror_makes_the_code_stage_runnable_offline(tmp_path):
    (tmp_path / "mirror").mkdir()
    ctx = _ctx(tmp_path, offline=True, block="offline run (--offline)", mirror=tmp_path / "mirror")
    by = {s["name"]: s for s in plan(ctx, docker=False)["stages"]}
    assert by["code"]["runnable"] and not by["compile"]["runnable"]
    assert by["codediff"]["reason"] == "needs the output of stage(s) compile, which did not run"


def test_table_output(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bundle", "plan", "--offline", "--engine", "local",
                          "--cache", str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    assert "codediff" in out.stdout and "microtvm_cmsis_nn-nrf5340dk-ad" in out.stdout


def test_stimuli_stages_follow_reproduce_with_their_reasons(offline_plan):
    names = [s["name"] for s in offline_plan["stages"]]
    assert names.index("flash") < names.index("stimuli:ic01") < names.index("run")
    by_name = {s["name"]: s for s in offline_plan["stages"]}
    assert "offline" in by_name["stimuli:ad01"]["reason"]      # pinned by MD5 + size: no UNSET
    assert "offline" in by_name["stimuli:ic01"]["reason"] and not by_name["stimuli:vww01"]["runnable"]
    assert "host DUT" in by_name["run"]["note"]
