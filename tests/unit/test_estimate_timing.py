"""The timing model on hand-written instruction sequences with cycle counts from the manuals.

Each sequence is assembled and linked with arm-none-eabi-as/ld into a tiny image with the
harness's three entry points; `th_infer` holds the sequence and ends in `bx lr` (1 cycle: the
return's refill happens after the measured call). Counts come from the Cortex-M4 TRM r0p1,
Table 3-1 and 3.3.2 "Load/store timings", and the Cortex-M4 FPU TRM (bundle/data/timing.yaml).
"""
from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import pytest

from bundle.errors import ConfigError, ParseError
from bundle.estimate import board_model, estimate_elf, load_timing
from bundle.estimate.memory import Cache

BX_LR = 1


@pytest.fixture(scope="module")
def binutils():
    from bundle.estimate.asm import TOOLS

    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        reason = f"{', '.join(missing)} missing: make deps installs gcc-arm-none-eabi"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)


def assemble(tmp_path: Path, body: str, data: str = "") -> Path:
    from bundle.estimate.asm import assemble as build

    return build(tmp_path, body, data)


def zero_wait(board: str = "NUCLEO_L4R5ZI"):
    """The board's core with a flash of no wait states: the core's own timings only."""
    timing = copy.deepcopy(load_timing())
    soc = timing["boards"][board]["soc"]
    timing["socs"][soc]["flash"].update(wait_states=0, line_fill="critical_word")
    return board_model(board, timing)


def cycles(tmp_path: Path, body: str, model=None, data: str = "") -> int:
    return estimate_elf(assemble(tmp_path, body, data), model or zero_wait()).cycles


SRAM_R1_R2 = """
    movw r1, #0
    movt r1, #0x2000
    movw r2, #8
    movt r2, #0x2000
    mov r3, r1
    movs r5, #0
    nop
"""   # 7 single-cycle instructions; the nop keeps the next address free of a just-written register


@pytest.mark.usefixtures("binutils")
class TestCoreTimings:
    def test_data_processing_is_one_cycle_each(self, tmp_path):
        assert cycles(tmp_path, "adds r0, r0, #1\n" * 4 + "eor r1, r0, r0\n lsls r2, r1, #3\n") == 6 + BX_LR

    def test_neighbouring_loads_pipeline(self, tmp_path):
        # TRM 3.3.2: "LDR R0,[R1,R5]; LDR R1,[R2]; LDR R2,[R3,#4] - normally four cycles total"
        body = SRAM_R1_R2 + "ldr r0, [r1, r5]\n ldr r1, [r2]\n ldr r2, [r3, #4]\n"
        assert cycles(tmp_path, body) == 7 + 4 + BX_LR

    def test_load_after_address_computation_stalls_a_cycle(self, tmp_path):
        # "Any load or store that generates an address dependent on the result of a preceding
        # data processing operation stalls the pipeline for an additional cycle"
        body = SRAM_R1_R2 + "adds r1, r1, #4\n ldr r0, [r1]\n"
        assert cycles(tmp_path, body) == 7 + 1 + (2 + 1) + BX_LR

    def test_store_with_immediate_offset_is_one_cycle(self, tmp_path):
        body = SRAM_R1_R2 + "str r0, [r1, #4]\n str r0, [r1, #8]\n str r0, [r1, r5]\n"
        assert cycles(tmp_path, body) == 7 + 1 + 1 + 2 + BX_LR

    def test_load_store_multiple_is_one_plus_n(self, tmp_path):
        body = SRAM_R1_R2 + "ldm r1, {r2, r3, r4, r5}\n push {r4, r5, r6, r7, lr}\n pop {r4, r5, r6, r7}\n" \
                            " add sp, sp, #4\n"
        assert cycles(tmp_path, body) == 7 + (1 + 4) + (1 + 5) + (1 + 4) + 1 + BX_LR

    def test_multiply_accumulate_and_simd_are_single_cycle(self, tmp_path):
        body = "mul r0, r1, r2\n mla r0, r1, r2, r3\n smlad r0, r1, r2, r3\n smull r0, r1, r2, r3\n" \
               " sadd16 r0, r1, r2\n ssat r0, #8, r1\n"
        assert cycles(tmp_path, body) == 6 + BX_LR

    def test_divide_is_charged_the_midpoint_of_its_range(self, tmp_path):
        body = "movs r1, #100\n movs r2, #7\n sdiv r0, r1, r2\n"
        assert cycles(tmp_path, body) == 2 + 7 + BX_LR          # 2-12 cycles by early termination

    def test_taken_branch_refills_the_pipeline(self, tmp_path):
        # 1 + 10 subs + 9 taken bne (1+P, P=1) + 1 not taken
        body = "movs r0, #10\n1:\n subs r0, r0, #1\n bne 1b\n"
        assert cycles(tmp_path, body) == 1 + 10 + 9 * 2 + 1 + BX_LR

    def test_branch_to_an_unaligned_wide_instruction_costs_one_more(self, tmp_path):
        # th_infer is word-aligned: the loop's first instruction, 32-bit, sits at offset 2
        body = "movs r0, #10\n1:\n add.w r1, r1, #1\n subs r0, r0, #1\n bne 1b\n"
        assert cycles(tmp_path, body) == 1 + 10 * 2 + 9 * (1 + 1 + 1) + 1 + BX_LR

    def test_indirect_branch_refill_is_longer(self, tmp_path):
        body = "adr r0, 1f\n adds r0, r0, #1\n bx r0\n .balign 4\n1:\n nop\n"
        assert cycles(tmp_path, body) == 1 + 1 + (1 + 2) + 1 + BX_LR

    def test_it_folds_after_a_16_bit_instruction(self, tmp_path):
        assert cycles(tmp_path, "cmp r0, #0\n it eq\n moveq r1, #1\n") == 1 + 0 + 1 + BX_LR

    def test_fpu_timings(self, tmp_path):
        body = SRAM_R1_R2 + "vldr s0, [r1]\n vadd.f32 s1, s0, s0\n vfma.f32 s2, s1, s0\n" \
                            " vdiv.f32 s3, s2, s1\n vpush {s0-s3}\n vpop {s0-s3}\n vldr d2, [r1]\n" \
                            " vldmia r1!, {s4}\n vldmia r1, {d4-d5}\n"
        assert cycles(tmp_path, body) == 7 + 2 + 1 + 3 + 14 + (1 + 4) + (1 + 4) + 3 + (1 + 1) + (1 + 2 * 2) + BX_LR

    def test_the_cortex_m33_uses_the_same_table(self, tmp_path):
        body = "mul r0, r1, r2\n movs r1, #100\n movs r2, #7\n sdiv r0, r1, r2\n"
        assert cycles(tmp_path, body, zero_wait("NRF5340DK")) == 3 + 6 + BX_LR   # M33 divider: 2-11


@pytest.mark.usefixtures("binutils")
class TestMemorySystem:
    def test_flash_data_read_misses_once_then_hits(self, tmp_path):
        # STM32L4R5 at 120 MHz: 5 wait states; a D-cache miss reads the 32-byte line as four
        # 64-bit flash reads of 6 cycles: 4 * 6 - 1 = 23 stall cycles beyond the 2-cycle load.
        body = "ldr r1, =table\n nop\n ldr r0, [r1]\n nop\n ldr r0, [r1, #4]\n"
        data = "    .section .rodata\n    .balign 32\ntable:\n    .word 1, 2, 3, 4\n"
        model = board_model("NUCLEO_L4R5ZI")
        run = estimate_elf(assemble(tmp_path, body, data), model)
        assert run.flash_reads == 3                      # the literal pool, then the table twice
        assert run.dcache == (1, 2)
        assert run.dread_stall == 2 * 23
        assert run.ifetch_stall == run.icache[1] * 23    # each missed code line: the same fill

    def test_unified_cache_of_the_nrf5340(self, tmp_path):
        body = "ldr r1, =table\n nop\n ldr r0, [r1]\n"
        data = "    .section .rodata\n    .balign 16\ntable:\n    .word 1\n"
        run = estimate_elf(assemble(tmp_path, body, data), board_model("NRF5340DK"))
        assert run.dcache == run.icache                   # one cache for both
        assert run.dread_stall % 4 == 0 and run.dread_stall >= 4   # one 128-bit read: 4 wait states


def test_cache_is_lru_per_set():
    c = Cache(lines=4, line_bytes=16, ways=2)            # 2 sets of 2 ways
    assert [c.access(x) for x in (0, 2, 0, 4, 0, 2, 1)] == [False, False, True, False, True, False, False]
    assert (c.hits, c.misses) == (2, 5)          # 4 evicted 2 (least recent), not 0


@pytest.mark.parametrize("geometry", [dict(lines=3, line_bytes=16, ways=2), dict(lines=4, line_bytes=12, ways=2),
                                      dict(lines=0, line_bytes=16, ways=1)])
def test_impossible_cache_is_a_config_error(geometry):
    with pytest.raises(ConfigError):
        Cache(**geometry)


def test_unknown_board_is_a_config_error():
    with pytest.raises(ConfigError, match="no timing model"):
        board_model("ARDUINO_UNO")


def test_timing_file_without_version_is_a_config_error(tmp_path):
    bad = tmp_path / "timing.yaml"
    bad.write_text("cores: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="version"):
        load_timing(bad)


def test_every_parameter_names_its_source():
    timing = load_timing()
    for section in ("cores", "socs"):
        for name, entry in timing[section].items():
            assert "source" in entry and len(entry["source"]) > 40, f"{section}.{name} has no source"


@pytest.mark.usefixtures("binutils")
def test_an_inference_that_never_returns_is_a_parse_error(tmp_path, monkeypatch):
    from bundle.estimate import machine

    monkeypatch.setattr(machine, "INSN_LIMIT", 10_000)
    with pytest.raises(ParseError, match="did not return"):
        cycles(tmp_path, "1:\n b 1b\n")


@pytest.mark.usefixtures("binutils")
def test_an_inference_that_faults_is_a_parse_error(tmp_path):
    with pytest.raises(ParseError, match="stopped with"):
        cycles(tmp_path, "movw r0, #0\n movt r0, #0x6000\n ldr r1, [r0]\n")   # nothing mapped there


def test_not_an_elf_is_a_parse_error(tmp_path):
    bad = tmp_path / "firmware.elf"
    bad.write_bytes(b"not an elf at all")
    with pytest.raises(ParseError):
        estimate_elf(bad, board_model("NUCLEO_L4R5ZI"))


# -- the reproduce stage's rows ------------------------------------------------------------------
def _ctx(tmp_path):
    from bundle.reproduce_config import load_reproduce_config
    from bundle.pipeline.outputs import Fetched
    from bundle.pipeline.session import session_for

    cfg = load_reproduce_config()
    fetched = Fetched(tmp_path / "published", tmp_path / "datasets", tmp_path / "models", {}, {}, None)
    return session_for(cfg, tmp_path, port=None, engine="local", base_image=None, limit=None,
                       backends=list(cfg.sim.backends), offline=True, cache=tmp_path / "cache", mirror=None,
                       outputs={"fetch": fetched})


def _estimate_rows(s) -> list[dict]:
    from bundle.pipeline.estimate import Estimate

    return Estimate().run(s.request, s).rows


def test_estimate_rows_are_not_run_with_the_reason_without_the_code_tree(tmp_path, monkeypatch):
    from bundle.dut import native_project
    from bundle.errors import StageUnavailable

    def unavailable(*a, **k):
        raise StageUnavailable("closed/OctoML/code is not in the cache, and offline")
    monkeypatch.setattr(native_project, "published_code_tree", unavailable)
    rows = _estimate_rows(_ctx(tmp_path))
    assert len(rows) == 12 and {r["verdict"] for r in rows} == {"NOT_RUN"}
    assert all("not in the cache" in r["reason"] and r["metric"] == "latency_ms" for r in rows)


def test_estimate_rows_are_never_a_verdict(tmp_path, monkeypatch):
    import bundle.estimate as estimate
    from bundle.dut import native_project
    from bundle.estimate.machine import Run
    from bundle.estimate.result import Estimate

    monkeypatch.setattr(native_project, "published_code_tree", lambda *a, **k: tmp_path)

    def fake(spec, **kw):
        run = Run(12_000_000, 10_000_000, {}, {}, 0, 0, 0, 0, (0, 0), (0, 0), 0, 0.0)
        return Estimate(f"{spec.variant}/{spec.board}/{spec.benchmark}", spec.board, "cortex-m4", "stm32l4r5",
                        120_000_000, "x.elf", run, 100.0)
    monkeypatch.setattr(estimate, "estimate_build", fake)
    rows = _estimate_rows(_ctx(tmp_path))
    assert {r["verdict"] for r in rows} == {"NOT_COMPARABLE"}
    assert rows[0]["reproduced"] == 100.0 and rows[0]["published"] == 100.0 and "ratio 1.000" in rows[0]["reason"]
    assert {r["system"] for r in rows} == {"microtvm_native/NUCLEO_L4R5ZI", "microtvm_cmsis_nn/NUCLEO_L4R5ZI",
                                           "microtvm_cmsis_nn/NRF5340-DK"}


# -- bad timing models: a corpus, and arbitrary text -----------------------------------------------
TIMING_CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "timing"


@pytest.mark.parametrize("case", sorted(p.name for p in TIMING_CORPUS.glob("*.yaml")))
def test_bad_timing_model(case):
    """Each file's first line says `# expect: <message fragment>`; every error has a hint."""
    path = TIMING_CORPUS / case
    fragment = path.read_text(encoding="utf-8").splitlines()[0].split("expect:", 1)[1].strip()
    with pytest.raises(ConfigError) as err:
        board_model("NUCLEO_L4R5ZI", load_timing(path))
    assert fragment in str(err.value) and err.value.hint


def test_any_text_as_timing_model_is_a_model_or_a_config_error():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=60, deadline=None)
    @given(st.text(max_size=200))
    def check(text):
        import tempfile

        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
            fh.write(text)
        try:
            board_model("NUCLEO_L4R5ZI", load_timing(Path(fh.name)))
        except ConfigError as err:
            assert err.hint
        finally:
            Path(fh.name).unlink()
    check()
