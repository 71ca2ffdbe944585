"""The real published code: OctoML's 12 firmware projects (closed/OctoML/code/, pinned file by file
in the lock) fetched from the mirror, built unchanged for the host and for QEMU, and run by the
real runner over a real pty.

- the three KWS builds on `host`: 1000/1000 output vectors equal to their published logs;
- the three KWS builds on `qemu`: the first QEMU_PREFIX stimuli equal to the published vectors
  (a fixed subset: 1000 inferences on QEMU take minutes per build);
- all 12 builds build on both DUTs and complete a performance run (PERF_N inferences per window,
  not the published N: the full-length run is `make reproduce`'s latency stage).

Builds are cached by content under <cache>/native (objects shared across projects), so each
program is compiled once per session (and once per machine while the cache lives).
"""
from __future__ import annotations

import json
import os
import shutil

import pytest

from bundle.cli import main
from bundle.dut.native_project import BuildSpec, build_program, cmsis_tree, published_code_tree
from bundle.published.logs import parse_log
from bundle.published.results import parse_results
from bundle.pipeline.latency import latency_builds

KWS_BUILDS = ["microtvm_native/NUCLEO_L4R5ZI/kws", "microtvm_cmsis_nn/NUCLEO_L4R5ZI/kws",
              "microtvm_cmsis_nn/NRF5340DK/kws"]
QEMU_PREFIX = 25
PERF_N = {"host": 30, "qemu": 3}   # host: enough for its 1 ms lap clock on the ~0.1 ms AD model


def _tools_or_skip(tools: list[str]) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        reason = f"{', '.join(missing)} missing: make deps installs them"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)


TOOLS = {"host": ["gcc", "g++"], "qemu": ["arm-none-eabi-gcc", "qemu-system-arm"]}


@pytest.fixture(scope="session")
def code(fetcher):
    return published_code_tree(fetcher.cache_dir, fetcher.mirror, offline=True)


@pytest.fixture(scope="session")
def programs(code, fetcher):
    """(kind, build) -> BuildResult, built once per session (and reused from the cache)."""
    done = {}

    def get(kind: str, build: str):
        _tools_or_skip(TOOLS[kind])
        if (kind, build) not in done:
            done[kind, build] = build_program(
                kind, BuildSpec.parse(build), code, fetcher.cache_dir / "native",
                cmsis=lambda: cmsis_tree(fetcher.cache_dir, fetcher.mirror, True))
        return done[kind, build]
    return get


def _run(kind: str, build: str, code, fetcher, out, *extra: str) -> int:
    return main(["run", "--dut", kind, "--build", build, "--code", str(code), "--cache", str(fetcher.cache_dir),
                 "--mirror", str(fetcher.mirror), "--offline", "--out", str(out), *extra])


def _published_outputs(published_root, build: str) -> dict:
    system = BuildSpec.parse(build).system
    return {o.file: o.values for o in parse_log(published_root / "results" / system / "kws" / "accuracy" / "log.txt").outputs}


@pytest.mark.parametrize("build", KWS_BUILDS)
def test_kws_on_the_host_equals_the_published_log(build, programs, code, fetcher, published_root, tmp_path):
    programs("host", build)
    out = tmp_path / "host"
    assert _run("host", build, code, fetcher, out) == 0
    theirs = _published_outputs(published_root, build)
    ours = parse_log(out / "log.txt").outputs
    assert len(ours) == len(theirs) == 1000
    assert sum(o.values == theirs[o.file] for o in ours) == 1000
    published = published_root / "results" / BuildSpec.parse(build).system / "kws" / "accuracy" / "results.txt"
    assert parse_results(out / "results.txt").top1_pct == parse_results(published).top1_pct


@pytest.mark.parametrize("build", KWS_BUILDS)
def test_kws_on_qemu_equals_the_published_log_on_a_prefix(build, programs, code, fetcher, published_root, tmp_path):
    programs("qemu", build)
    out = tmp_path / "qemu"
    assert _run("qemu", build, code, fetcher, out, "--limit", str(QEMU_PREFIX)) == 0
    theirs = _published_outputs(published_root, build)
    ours = parse_log(out / "log.txt").outputs
    assert len(ours) == QEMU_PREFIX and all(o.values == theirs[o.file] for o in ours)


@pytest.mark.parametrize("kind", ["host", "qemu"])
@pytest.mark.parametrize("build", latency_builds())
def test_every_build_builds_and_completes_a_performance_run(kind, build, programs, code, fetcher, tmp_path, capsys):
    built = programs(kind, build)
    assert built.program.is_file()
    out = tmp_path / "perf"
    assert _run(kind, build, code, fetcher, out, "--mode", "performance", "--n", str(PERF_N[kind]), "--w", "0") == 0
    printed = capsys.readouterr().out
    assert "Median throughput" in (out / "results.txt").read_text()
    info = json.loads((out / "run-info.json").read_text())
    assert info["program_digest"] == built.digest and info["n"] == PERF_N[kind]
    benchmark = build.rsplit("/", 1)[1]
    assert info["input"].startswith("pinned stimuli" if benchmark == "kws" else ("placeholder", "prepared set"))
    if kind == "qemu":
        est = info["latency_estimate"]
        assert est["estimate_ms"] > 0 and est["published_ms"] > 0
        assert est["ratio"] == pytest.approx(est["estimate_ms"] / est["published_ms"], abs=0.002)
        assert ("128 MHz" in est["emulation"] and "Cortex-M33" in est["emulation"]) == ("NRF5340DK" in build)
        assert "emulated latency estimate" in printed


def test_the_qemu_image_of_a_build_is_found_from_python_with_its_symbols(programs, fetcher):
    """built_image() gives other tools (e.g. a cycle model) the ELF QEMU runs: an Arm ELF whose
    symbol table holds the model's entry point."""
    import subprocess

    from bundle.dut.native_project import built_image

    built = built_image("qemu", KWS_BUILDS[0], fetcher.cache_dir, fetcher.mirror, offline=True)
    assert built.program == programs("qemu", KWS_BUILDS[0]).program
    assert built.program.read_bytes()[:4] == b"\x7fELF" and built.program.read_bytes()[18] == 40   # EM_ARM
    names = subprocess.run(["arm-none-eabi-nm", str(built.program)], capture_output=True, text=True,
                           check=True).stdout.split()
    assert {"main", "tvmgen_default_run", "Reset_Handler"} <= set(names)
