"""Board-free exact DUTs: a firmware project in the published layout (a fixture, given as a local
code tree), compiled unchanged for this host and for QEMU's Cortex-M4F, run by the real runner
over a real pty, and checked against the same model computed in Python. The real published
projects are tests/local/test_published_code.py."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tty
from pathlib import Path

import pytest

from bundle.cli import main
from bundle.dut.base import get_dut
from bundle.dut.harness import format_value
from bundle.dut.native_build import HOST, NativeBuilder, Project, qemu_target
from bundle.dut.native_project import BuildSpec, build_program
from bundle.dut.qemu import CALIBRATION, build_defines, read_calibration, timer_scaling
from bundle.errors import ConfigError, DutError, NetworkUnavailable, PortGone, StageUnavailable
from bundle.fetch.fetcher import default_cache_dir
from bundle.published.logs import parse_log
from bundle.runner.protocol import DutClient, Link, ReplyFault

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "octoml_code"
BUILD = "microtvm_native/NUCLEO_L4R5ZI/kws"
# Compiled programs are cached by content hash: a second session reuses them.
BUILD_DIR = default_cache_dir() / "native"


def _tools_or_skip(tools: list[str], hint: str) -> None:
    """Missing compilers or QEMU: skip here, but FAIL on CI (CI=true), where `make deps`
    installs them, so a missing install step cannot hide behind a skip."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        reason = f"{', '.join(missing)} missing: {hint}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def host_cc() -> None:
    _tools_or_skip(["gcc", "g++"], "apt-get install build-essential (make deps)")


@pytest.fixture(scope="session")
def qemu_tools() -> None:
    _tools_or_skip(["arm-none-eabi-gcc", "qemu-system-arm"], "make deps installs them")


needs_host_cc = pytest.mark.usefixtures("host_cc")
needs_qemu = pytest.mark.usefixtures("qemu_tools")


# -- the fixture model, computed independently --------------------------------------------------
def fixture_model(stimulus: bytes) -> list[float]:
    """The fixture's dense layer 490 -> 12 (model/codegen/host/src/default_lib0.c) in Python,
    dequantised with OUT_QUANT_SCALE/ZERO and printed as the firmware prints (3 decimals)."""
    x = [b - 256 if b > 127 else b for b in stimulus[:490]]
    out = []
    for j in range(12):
        acc = 100 * j - 500 + sum((xi + 128) * ((31 * i + 17 * j) % 15 - 7) for i, xi in enumerate(x))
        q = ((acc * 131072 + (1 << 23)) >> 24) - 20
        q = max(-128, min(127, q))
        out.append(float(format_value(0.00390625 * (q + 128))))
    return out


@pytest.fixture(scope="session")
def code_tree(tmp_path_factory) -> Path:
    """The fixture as a local code tree (what --code takes), copied so nothing writes into the repo."""
    tree = tmp_path_factory.mktemp("native") / "code"
    shutil.copytree(FIXTURE, tree)
    return tree


@pytest.fixture(scope="session")
def host_build(code_tree):
    if shutil.which("gcc") is None:
        pytest.skip("no host C compiler")
    return build_program("host", BuildSpec.parse(BUILD), code_tree, BUILD_DIR)


@pytest.fixture(scope="session")
def qemu_build(code_tree):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc missing: make deps installs it")
    return build_program("qemu", BuildSpec.parse(BUILD), code_tree, BUILD_DIR)


def _run(kind: str, code_tree: Path, fetcher, out: Path, *extra: str) -> int:
    return main(["run", "--dut", kind, "--build", BUILD, "--code", str(code_tree), "--build-dir", str(BUILD_DIR),
                 "--cache", str(fetcher.cache_dir), "--mirror", str(fetcher.mirror), "--out", str(out), *extra])


def _assert_outputs_are_the_models(out: Path, kws_dataset: Path, count: int) -> None:
    outputs = parse_log(out / "log.txt").outputs
    assert len(outputs) == count
    for o in outputs:
        assert list(o.values) == fixture_model((kws_dataset / o.file).read_bytes()), o.file


# -- the project as its build files describe it ---------------------------------------------------
def test_project_reads_cmake_definitions_and_kconfig(code_tree):
    p = Project.load(BuildSpec.parse(BUILD).project_dir(code_tree))
    assert p.defines["MAX_DB_INPUT_SIZE"] == "490" and p.defines["OUT_QUANT_ZERO"] == "-128"
    assert p.defines["EE_CFG_ENERGY_MODE"] == "0"              # ${ENERGY_MODE} from option()
    assert Project.load(p.root, energy_mode=True).defines["EE_CFG_ENERGY_MODE"] == "1"
    assert p.kconfig["CONFIG_RING_BUFFER"] == "1" and "CONFIG_UART_CONSOLE" not in p.kconfig
    assert p.optimisation() == "-O2" and not p.cmsis
    names = {s.relative_to(p.root).as_posix() for s in p.sources()}
    assert {"src/api/internally_implemented.cpp", "src/main.cpp", "model/codegen/host/src/default_lib0.c",
            "crt/src/runtime/crt/memory/stack_allocator.c"} <= names


def test_build_spec_names_the_results_system():
    assert BuildSpec.parse("microtvm_cmsis_nn/NRF5340DK/vww").system == "microtvm_cmsis_nn/NRF5340-DK"


@needs_host_cc
def test_build_is_cached_by_content_not_location(code_tree, host_build, tmp_path):
    elsewhere = tmp_path / "code"
    shutil.copytree(code_tree, elsewhere)
    again = build_program("host", BuildSpec.parse(BUILD), elsewhere, BUILD_DIR)
    assert again.reused and again.digest == host_build.digest


BAD = REPO / "tests" / "corpus" / "native"


@needs_host_cc
@pytest.mark.parametrize("case", sorted(p.name for p in BAD.iterdir() if (p / "expect.yaml").is_file()))
def test_bad_project(case, tmp_path):
    import yaml

    from bundle import errors

    expect = yaml.safe_load((BAD / case / "expect.yaml").read_text())
    with pytest.raises(getattr(errors, expect["error"])) as err:
        NativeBuilder(tmp_path).build(Project.load(BAD / case / "project"), HOST)
    assert expect["message"] in err.value.message and err.value.hint


@pytest.mark.parametrize("spec", ["microtvm_native/kws", "microtvm_native/NUCLEO_L4R5ZI/ecg",
                                  "a/b/c/kws", "../NUCLEO_L4R5ZI/kws x"])
def test_bad_build_spec_is_a_usage_error(spec):
    from bundle.errors import UsageError

    with pytest.raises(UsageError):
        BuildSpec.parse(spec)


def test_cmsis_project_is_not_run_when_cmsis_cannot_be_fetched(code_tree, tmp_path):
    tree = tmp_path / "code"
    shutil.copytree(code_tree, tree)
    cmake = tree / BUILD / "CMakeLists.txt"
    cmake.write_text(cmake.read_text().replace("set(ENABLE_CMSIS FALSE)", "set(ENABLE_CMSIS TRUE)"))

    def unreachable():
        raise NetworkUnavailable("git fetch failed: could not resolve host github.com", hint="check the network")

    with pytest.raises(StageUnavailable, match="pinned CMSIS"):
        build_program("host", BuildSpec.parse(BUILD), tree, tmp_path / "build", cmsis=unreachable)


# -- host DUT -------------------------------------------------------------------------------------
@needs_host_cc
def test_host_dut_prints_the_fixture_models_outputs(code_tree, host_build, fetcher, kws_dataset, tmp_path, capsys):
    out = tmp_path / "host"
    assert _run("host", code_tree, fetcher, out, "--limit", "25") == 0, capsys.readouterr().err
    _assert_outputs_are_the_models(out, kws_dataset, 25)
    info = json.loads((out / "run-info.json").read_text())
    assert info["dut_kind"] == "host" and info["dut"] == "host" and info["program_digest"] == host_build.digest
    assert (out / "log.txt").read_text().count("dut: m-lap-us-") == 1 + 2 * 25   # the header's timestamp, 2 per infer


@needs_host_cc
def test_host_reboot_comes_back_on_the_same_pty(host_build):
    """An overflowing UART ring buffer makes the fixture abort and sys_reboot: the shim
    re-executes the program on the same pseudo-terminal, which boots and answers again."""
    import time

    import serial

    from bundle.dut.host import HostDut

    with HostDut(program=host_build.program).open() as port:
        link = serial.serial_for_url(port, timeout=0.2)
        try:
            link.write(b"x" * 3000)
            seen, deadline = b"", time.monotonic() + 15
            while b"m-init-done" not in seen and time.monotonic() < deadline:
                seen += link.read(4096)
            assert b"TVMPlatformAbort: 000beef2" in seen and b"m-init-done" in seen, seen[-300:]
            time.sleep(0.2)
            link.reset_input_buffer()
            link.write(b"name%")
            reply, deadline = b"", time.monotonic() + 5
            while b"m-ready" not in reply and time.monotonic() < deadline:
                reply += link.read(256)
            assert b"m-name-dut-[tinyrepro-fixture]" in reply
        finally:
            link.close()


@needs_host_cc
def test_printk_formats_like_zephyr(tmp_path):
    """The shim's own formatter: %f ties toward zero (as the published logs), ints, padding."""
    proj = tmp_path / "fmt"
    (proj / "src").mkdir(parents=True)
    (proj / "CMakeLists.txt").write_text("project(fmt)\n")
    (proj / "src" / "fmt.cpp").write_text(r'''
#include <kernel.h>
#include <stdio.h>
int main() {
  char b[256];
  snprintk(b, sizeof b, "%.3f|%.3f|%.3f|%.3f|%.2f|%f|%lu|%d|%08x|%-4s|%5d|%c|%%|%0.3f",
           0.0625f, 0.1875f, 0.99609375f, -0.0625, 11.8886, 1.5, 4294967295ul, -42, 0xbeef1, "ab", 7, 'z',
           11.8885);
  fprintf(stderr, "<%s>\n", b);
  return 0;
}
''')
    built = NativeBuilder(tmp_path / "build").build(Project.load(proj), HOST)
    done = subprocess.run([str(built.program)], capture_output=True, text=True, timeout=10)
    assert re.search(r"<(.*)>", done.stderr)[1] == \
        "0.062|0.187|0.996|-0.062|11.89|1.500000|4294967295|-42|000beef1|ab  |    7|z|%|11.888"


def _libc_reliance_project(root: Path) -> Project:
    """Includes as the published sources have them: tvmruntime.h uses int8_t after only
    <unistd.h> (newlib brings <stdint.h> types with it), tvmruntime.cpp PRIu64 with no
    <inttypes.h> of its own (Zephyr's <sys/printk.h>, included by <kernel.h>, has it)."""
    (root / "src").mkdir(parents=True)
    (root / "CMakeLists.txt").write_text("project(libc_reliance)\n")
    (root / "src" / "first.h").write_text("#include <stdarg.h>\n#include <unistd.h>\nextern int8_t g_zero;\n")
    (root / "src" / "main.cpp").write_text(r"""
#include "first.h"
#include <kernel.h>
#include <stdio.h>
int8_t g_zero = -128;
int main() {
  char b[64];
  snprintf(b, sizeof b, "%" PRIu64 "|%" PRId32 "|%d", (uint64_t)146960, (int32_t)-7, g_zero);
  fprintf(stderr, "<%s>\n", b);
  return 0;
}
""")
    return Project.load(root)


@needs_host_cc
def test_sources_relying_on_newlib_and_zephyr_includes_build_on_the_host(tmp_path):
    built = NativeBuilder(tmp_path / "build").build(_libc_reliance_project(tmp_path / "p"), HOST)
    done = subprocess.run([str(built.program)], capture_output=True, text=True, timeout=10)
    assert re.search(r"<(.*)>", done.stderr)[1] == "146960|-7|-128"


@needs_qemu
def test_sources_relying_on_newlib_and_zephyr_includes_build_for_qemu(tmp_path):
    target = qemu_target(build_defines("NUCLEO_L4R5ZI"))
    assert NativeBuilder(tmp_path / "build").build(_libc_reliance_project(tmp_path / "p"), target).program.is_file()


# -- qemu DUT -------------------------------------------------------------------------------------
def test_timer_scaling_is_derived_in_whole_numbers():
    assert timer_scaling(120_000_000) == {"insn_per_tick": 40, "insn_per_us": 120}
    assert timer_scaling(128_000_000, shift=3) == {"insn_per_tick": 5, "insn_per_us": 128}
    with pytest.raises(ConfigError):
        timer_scaling(120_000_000, shift=4)        # 40 ns per tick is not a whole number of 16 ns
    with pytest.raises(ConfigError):
        build_defines("NO_SUCH_BOARD")


@needs_qemu
def test_qemu_clock_counts_instructions_as_cycles_at_120_mhz():
    image = NativeBuilder(BUILD_DIR).build(Project.load(CALIBRATION),
                                           qemu_target(build_defines("NUCLEO_L4R5ZI"))).program
    rows = read_calibration(image)
    assert [r["n"] for r in rows] == [1000, 100000, 1000000, 5000000]
    for r in rows:
        # the loop's 2n instructions, plus the clock read itself (a few 40-instruction ticks)
        assert 0 <= r["cycles"] - r["insn"] <= 400, r
        assert abs(r["us"] - r["insn"] / 120) <= 4, r


@needs_qemu
def test_qemu_dut_gives_the_same_outputs(code_tree, qemu_build, fetcher, kws_dataset, tmp_path, capsys):
    out = tmp_path / "qemu"
    assert _run("qemu", code_tree, fetcher, out, "--limit", "4") == 0, capsys.readouterr().err
    _assert_outputs_are_the_models(out, kws_dataset, 4)
    assert json.loads((out / "run-info.json").read_text())["dut_kind"] == "emulated"


@needs_qemu
def test_qemu_performance_shows_an_estimate_beside_the_published_latency(code_tree, qemu_build, fetcher,
                                                                         published_root, tmp_path, capsys):
    from bundle.diff import diff_mode_dirs

    out = tmp_path / "perf"
    assert _run("qemu", code_tree, fetcher, out, "--mode", "performance", "--n", "200", "--w", "1") == 0
    printed = capsys.readouterr().out
    m = re.search(r"emulated latency estimate ([\d.]+) ms .*published 144\.03 ms; ratio ([\d.]+)", printed)
    assert m, printed
    assert float(m[2]) == pytest.approx(float(m[1]) / 144.03, abs=0.001)
    laps = parse_log(out / "log.txt").laps
    assert len(laps) == 11 and all(laps[2 * k + 2] > laps[2 * k + 1] for k in range(5))
    rows = {r["metric"]: r for r in diff_mode_dirs(published_root / "results" / BUILD / "performance", out)}
    latency = rows["latency_ms"]
    assert latency["verdict"] == "NOT_COMPARABLE" and latency["dut"] == "emulated"
    assert "emulated estimate" in latency["reason"] and "beside published 144.03 ms (ratio" in latency["reason"]


# -- the runner's lap check follows the DUT's timing capability ----------------------------------
def test_only_emulated_timing_skips_the_lap_check():
    timing = {k: get_dut(k).capabilities.timing for k in ("board", "sim", "host", "qemu")}
    assert timing == {"board": "board", "sim": "host", "host": "host", "qemu": "emulated"}


def test_emulated_laps_are_not_held_to_the_host_clock():
    master, slave = os.openpty()
    tty.setraw(master)
    link = Link.open(os.ttyname(slave), 115200)
    values = ",".join(["0.000"] * 12)
    # 5 s of emulated time, answered at once
    reply = "".join(f"{ln}\r\n" for ln in ["m-warmup-start-0", "m-warmup-done", "m-infer-start-1",
                                           "m-lap-us-1000000", "m-lap-us-6000000", "m-infer-done",
                                           f"m-results-[{values}]", "m-ready"]).encode()
    try:
        os.write(master, reply)
        with pytest.raises(ReplyFault, match="implausible"):
            DutClient(link).infer(1, 0, 12, timeout_s=1.0)
        os.write(master, reply)
        assert DutClient(link).infer(1, 0, 12, timeout_s=1.0, check_laps=False).laps == [1000000, 6000000]
    finally:
        link.close()
        os.close(master)
        os.close(slave)


# -- `tinyrepro reproduce` runs the host DUT when the code is reachable --------------------------
@needs_host_cc
def test_reproduce_stage_runs_the_host_dut_and_diffs_it(code_tree, host_build, fetcher, tmp_path):
    import dataclasses

    from bundle.reproduce_config import load_reproduce_config
    from bundle.dut.select import choose_dut
    from bundle.pipeline.diff import DiffRuns
    from bundle.pipeline.fetch import fetch_inputs
    from bundle.pipeline.outputs import Runs
    from bundle.pipeline.run import RunBenchmarks, run_plan
    from bundle.pipeline.session import session_for

    full = session_for(load_reproduce_config(), tmp_path, port=None, engine="local", base_image=None,
                       limit=None, backends=["litert"], system="microtvm_native/NUCLEO_L4R5ZI")
    full.dut_choice = choose_dut(None, fetch_code=lambda: code_tree, have_compiler=lambda: True)
    # the host runs each compared system's own code (accuracy); the sim stays as a cross-check
    assert run_plan(full.request, full) == [
        ("host", "host", "microtvm_native/NUCLEO_L4R5ZI", "kws", "accuracy"),
        ("host", "host", "microtvm_cmsis_nn/NUCLEO_L4R5ZI", "kws", "accuracy"),
        ("host", "host", "microtvm_cmsis_nn/NRF5340-DK", "kws", "accuracy"),
        ("sim-litert", "litert", None, "kws", "accuracy"), ("sim-litert", "litert", None, "kws", "performance")]
    cfg = dataclasses.replace(load_reproduce_config(), modes=["accuracy"],
                              compare_systems=["microtvm_native/NUCLEO_L4R5ZI"])
    ctx = session_for(cfg, tmp_path, port=None, engine="local", base_image=None, limit=12,
                      backends=[], system="microtvm_native/NUCLEO_L4R5ZI", offline=True, cache=fetcher.cache_dir)
    ctx.outputs["fetch"] = fetch_inputs(fetcher)
    ctx.dut_choice = choose_dut(None, fetch_code=lambda: code_tree, have_compiler=lambda: True)
    runs = RunBenchmarks().run(ctx.request, ctx).runs
    assert [(r["label"], r["dut_kind"], r["mode"]) for r in runs] == [("host", "host", "accuracy")]
    assert json.loads((runs[0]["dir"] / "run-info.json").read_text())["dut_kind"] == "host"
    ctx.outputs["run"] = Runs(runs)
    rows = DiffRuns().run(ctx.request, ctx).rows
    assert {r["system"] for r in rows} == {"microtvm_native/NUCLEO_L4R5ZI"} and {r["dut"] for r in rows} == {"host"}
    # a 12-stimulus prefix is shown but never judged; the fixture's outputs are not the published ones
    assert all(r["verdict"] in ("NOT_COMPARABLE", "NOT_RUN") for r in rows)
    assert rows[0]["outputs_total"] == 1000 and rows[0]["outputs_equal"] == 0


# -- failures say what happened -------------------------------------------------------------------
def test_a_dut_program_that_dies_is_reported_with_its_signal_and_last_output():
    """The link error a dead program causes (here: its pty is gone) becomes a DutError (exit 6)
    naming the signal and what the program printed last."""
    from bundle.dut.ptyproc import PtyProcess

    script = "echo PTY /dev/pts/does-not-exist; echo 'booting tinyrepro'; echo 'last words'; kill -SEGV $$"
    with pytest.raises(DutError) as err:
        with PtyProcess(["sh", "-c", script], r"^PTY (\S+)", "host DUT program"):
            import time

            time.sleep(0.5)
            raise PortGone("cannot open serial port /dev/pts/does-not-exist: No such file or directory")
    assert "killed by signal SIGSEGV" in err.value.message and "last words" in err.value.message
    assert err.value.exit_code == 6 and isinstance(err.value.__cause__, PortGone)


def test_a_program_that_exits_before_announcing_its_port_says_how():
    from bundle.dut.ptyproc import PtyProcess

    with pytest.raises(DutError, match=r"exited with status 3.*cannot map"):
        with PtyProcess(["sh", "-c", "echo 'cannot map board page'; exit 3"], r"^PTY (\S+)", "host DUT program"):
            pass


def test_a_failed_build_leads_with_the_compilers_first_error():
    from bundle.dut.native_build import first_error

    lines = ["In file included from crt/src/runtime/crt/common/crt_backend_api.c:29:",
             "crt/src/runtime/crt/common/crt_backend_api.c: In function 'TVMBackendAllocWorkspace':",
             "crt/src/runtime/crt/common/crt_backend_api.c:43:49: error: expected ')' before 'PRIu64'",
             "   43 |  \"TVMBackendAllocWorkspace(%d, %d, %\" PRIu64 \", %d, %d) -> %\" PRId32,",
             "note: 'PRIu64' is defined in header '<inttypes.h>'"]
    assert first_error(lines) == lines[2]
    assert first_error(["/usr/bin/ld: default_lib1.c:28957: undefined reference to `f'", "collect2: error: ld"]) \
        .endswith("undefined reference to `f'")


@needs_host_cc
def test_a_board_register_write_lands_in_a_mapped_page_on_the_host(tmp_path):
    """The nRF sources' clock-divider write (0x50005558) must not crash the host program."""
    proj = tmp_path / "reg"
    (proj / "src").mkdir(parents=True)
    (proj / "CMakeLists.txt").write_text("project(reg)\n")
    (proj / "src" / "main.cpp").write_text(r'''
#include <stdint.h>
#include <stdio.h>
int main() {
  uint32_t* clock_div = (uint32_t*)0x50005558;
  *clock_div = 0;
  fprintf(stderr, "<%u>\n", (unsigned)*clock_div);
  return 0;
}
''')
    built = NativeBuilder(tmp_path / "build").build(Project.load(proj), HOST)
    done = subprocess.run([str(built.program)], capture_output=True, text=True, timeout=10)
    assert done.returncode == 0 and "<0>" in done.stderr, done


@needs_qemu
def test_a_board_register_write_is_dropped_on_qemu(tmp_path):
    """On QEMU the same write is a bus fault; the handler skips it and the program goes on."""
    import time

    import serial

    from bundle.dut.ptyproc import PtyProcess
    from bundle.dut.qemu import qemu_argv

    proj = tmp_path / "reg"
    (proj / "src").mkdir(parents=True)
    (proj / "CMakeLists.txt").write_text("project(reg)\n")
    (proj / "src" / "main.cpp").write_text(r'''
#include <stdint.h>
#include <kernel.h>
extern "C" volatile uint32_t tinyrepro_board_accesses_dropped;
int main() {
  volatile uint32_t* clock_div = (uint32_t*)0x50005558;
  *clock_div = 0;
  printk("after-write dropped=%u\r\n", (unsigned)tinyrepro_board_accesses_dropped);
  for (;;) k_msleep(1000);
}
''')
    image = NativeBuilder(tmp_path / "build").build(Project.load(proj), qemu_target(build_defines("NRF5340DK"))).program
    with PtyProcess(qemu_argv(image), r"char device redirected to (/dev/pts/\d+)", "QEMU DUT") as port:
        link = serial.serial_for_url(port, timeout=0.2)
        seen, deadline = b"", time.monotonic() + 20
        try:
            while b"dropped=" not in seen or not seen.endswith(b"\n") and time.monotonic() < deadline:
                seen += link.read(256)
                if time.monotonic() > deadline:
                    break
        finally:
            link.close()
    assert b"after-write dropped=1" in seen, seen


@needs_qemu
def test_a_crashing_qemu_image_exits_and_says_why(tmp_path):
    """A real fault (here a store to unmapped memory outside the board's peripheral space) ends
    QEMU with a status, and its last output names the fault and the faulting pc."""
    import time

    from bundle.dut.ptyproc import PtyProcess
    from bundle.dut.qemu import qemu_argv

    proj = tmp_path / "crash"
    (proj / "src").mkdir(parents=True)
    (proj / "CMakeLists.txt").write_text("project(crash)\n")
    (proj / "src" / "main.cpp").write_text("#include <stdint.h>\nint main() { *(volatile uint32_t*)0x90000000u = 1; "
                                          "for (;;) {} }\n")
    image = NativeBuilder(tmp_path / "build").build(Project.load(proj), qemu_target(build_defines("NUCLEO_L4R5ZI"))).program
    proc = PtyProcess(qemu_argv(image), r"char device redirected to (/dev/pts/\d+)", "QEMU DUT")
    with pytest.raises(DutError) as err:
        with proc:
            deadline = time.monotonic() + 20
            while proc.ended() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            raise PortGone("the serial port went away")
    assert "exited with status 1" in err.value.message and "tinyrepro-qemu: hard fault pc=0x" in err.value.message
