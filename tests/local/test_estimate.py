"""`tinyrepro estimate` on real images: the fixture project in the published layout (always),
and a published build wherever the published code tree can be fetched (cache or mirror)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from bundle.cli import main
from bundle.dut.native_project import BuildSpec, build_program, cmsis_tree, published_code_tree
from bundle.errors import ReproError
from bundle.estimate import board_model, estimate_build, estimate_elf
from bundle.fetch.fetcher import default_cache_dir

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "octoml_code"
BUILD = "microtvm_native/NUCLEO_L4R5ZI/kws"
BUILD_DIR = default_cache_dir() / "native"     # shared with the native DUT tests: same images


def _cross_or_skip() -> None:
    if shutil.which("arm-none-eabi-gcc") is None:
        reason = "arm-none-eabi-gcc missing: make deps installs it"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def fixture_image(tmp_path_factory) -> Path:
    """The fixture project as a local code tree (what --code takes), built as the qemu DUT builds it."""
    _cross_or_skip()
    code = tmp_path_factory.mktemp("estimate") / "code"
    shutil.copytree(FIXTURE, code)
    return build_program("qemu", BuildSpec.parse(BUILD), code, BUILD_DIR).program


def test_fixture_inference_is_estimated_with_its_breakdown(fixture_image):
    run = estimate_elf(fixture_image, board_model("NUCLEO_L4R5ZI"))
    assert run.instructions > 1000 and run.cycles > run.instructions    # loads and flash cost more than 1
    assert sum(run.insns_by_class.values()) == run.instructions
    assert run.cycles == sum(run.by_class.values()) + run.branch_refill + run.ifetch_stall + run.dread_stall
    assert run.regions["flash"]["data_reads"] == run.flash_reads > 0       # the dense layer's weights


def test_estimate_command_prints_cycles_latency_and_breakdown(fixture_image, capsys):
    assert main(["estimate", "--build", BUILD, "--elf", str(fixture_image), "--offline",
                 "--cache", str(default_cache_dir())]) == 0
    out = capsys.readouterr().out
    for text in ("cycles", "estimated latency", "by instruction class", "by memory region", "flash  5 WS"):
        assert text in out
    assert main(["estimate", "--build", BUILD, "--elf", str(fixture_image), "--json", "--offline",
                 "--cache", str(default_cache_dir())]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["cycles"] > 0 and record["core"] == "cortex-m4" and record["clock_hz"] == 120_000_000


def test_estimate_of_a_published_build(fetcher):
    """A prediction (not the calibration build): within 15% of the published latency."""
    _cross_or_skip()
    try:
        code = published_code_tree(fetcher.cache_dir, fetcher.mirror, offline=True)
    except ReproError as err:
        pytest.skip(f"the published code tree is not fetchable here: {err.message}")
    spec = BuildSpec.parse("microtvm_native/NUCLEO_L4R5ZI/ad")
    results = fetcher.fetch_tree(f"published/octoml-v1.0/results/{spec.system}/ad/performance/")
    est = estimate_build(spec, code_root=code, build_dir=BUILD_DIR,
                         cmsis=lambda: cmsis_tree(fetcher.cache_dir, fetcher.mirror, True),
                         published_results=results.parents[3])
    assert est.published_ms == pytest.approx(11.718, abs=0.01)
    assert 0.85 <= est.ratio <= 1.15, est.to_dict()
