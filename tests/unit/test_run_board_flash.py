"""The run stage on a board: each benchmark's firmware is flashed before that benchmark's runs,
once (the board is one BoardDut for the stage), the flash stage's firmware counts as on the
board, a failed flash fails that benchmark's runs only, and a board that cannot be flashed here
refuses another benchmark's build instead of running the wrong firmware. The runner and the
flash tool are faked at the engine boundary: the plan and the records are data."""
from __future__ import annotations

import pytest

from bundle.engine.base import EngineCaps, StageResult
from bundle.errors import EngineError, ProbeAccessDenied
from bundle.pipeline import run
from bundle.pipeline.outputs import Flashed, StimulusSet
from bundle.pipeline.session import session_for
from bundle.reproduce_config import load_reproduce_config

NUCLEO = "microtvm_native/NUCLEO_L4R5ZI"
NRF = "microtvm_cmsis_nn/NRF5340-DK"
BENCHMARKS = ["kws", "ic", "vww"]


class Runner:
    """The engine: records each run as ("run", benchmark, mode); `fail` runs raise as a failed
    runner stage does."""
    caps = EngineCaps("fake", True, True, True, True, needs_images=False)

    def __init__(self, events: list, fail: set[str] = frozenset()):
        self.events, self.fail = events, fail

    def run(self, spec, on_line=None, check=True) -> StageResult:
        _, label, benchmark, mode = spec.name.split(":")
        self.events.append(("run", benchmark, mode))
        if benchmark in self.fail:
            raise EngineError(f"stage {spec.name} exited with code 1 (the DUT runs another model)")
        return StageResult(spec.name, 0, 0.1, "fake")


class RecordingFlasher:
    """A flasher as the run stage's board gets it (a real one needs a probe)."""

    def __init__(self, events: list, fail: dict[str, Exception] | None = None):
        self.events, self.fail = events, fail or {}

    def flash(self, build: str):
        self.events.append(("flash", build))
        if build in self.fail:
            raise self.fail[build]
        return StageResult("flash", 0, 0.1, "fake")


def _session(tmp_path, system: str, events: list, fail_runs: set[str] = frozenset(), flashed: str | None = None):
    cfg = load_reproduce_config()
    # kws has pinned stimuli; ic and vww join the run stage when their sets were prepared
    outputs = {f"stimuli:{b}01": StimulusSet(b, tmp_path / f"{b}01", {}) for b in BENCHMARKS[1:]}
    s = session_for(cfg, tmp_path, system=system, port="/dev/ttyACM0", engine="local",
                    engine_obj=Runner(events, fail_runs), outputs=outputs)
    if flashed:     # the flash stage ran and wrote this build
        s.outputs["flash"] = Flashed("its-firmware", 1.0, carries=flashed)
        s.ran.add("flash")
    assert run.runnable_benchmarks(s.request, s) == BENCHMARKS and cfg.modes == ["accuracy", "performance"]
    return s


def _with_flasher(monkeypatch, flasher) -> None:
    monkeypatch.setattr("bundle.pipeline.flash.board_flasher", lambda req, s: (flasher, None))


def _runs(benchmark: str) -> list[tuple]:
    return [("run", benchmark, "accuracy"), ("run", benchmark, "performance")]


def _reasons(runs: list[dict]) -> dict[tuple[str, str], str | None]:
    return {(r["benchmark"], r["mode"]): r.get("reason") for r in runs}


def test_each_benchmark_is_flashed_once_before_its_runs(tmp_path, monkeypatch):
    events = []
    _with_flasher(monkeypatch, RecordingFlasher(events))
    s = _session(tmp_path, NUCLEO, events)
    runs = run.RunBenchmarks().run(s.request, s).runs
    assert events == [("flash", f"{NUCLEO}/kws"), *_runs("kws"), ("flash", f"{NUCLEO}/ic"), *_runs("ic"),
                      ("flash", f"{NUCLEO}/vww"), *_runs("vww")]
    assert all(r["dir"] and r["dut_kind"] == "board" for r in runs) and s.board.flashed == f"{NUCLEO}/vww"


def test_the_flash_stages_firmware_is_not_flashed_again(tmp_path, monkeypatch):
    events = []
    _with_flasher(monkeypatch, RecordingFlasher(events))
    s = _session(tmp_path, NUCLEO, events, flashed=f"{NUCLEO}/kws")
    run.RunBenchmarks().run(s.request, s)
    assert events == [*_runs("kws"), ("flash", f"{NUCLEO}/ic"), *_runs("ic"), ("flash", f"{NUCLEO}/vww"),
                      *_runs("vww")]


def test_a_failed_flash_fails_that_benchmarks_runs_and_the_others_go_on(tmp_path, monkeypatch):
    events = []
    denied = ProbeAccessDenied("flash failed: the probe was found but may not be opened by this user "
                               "(LIBUSB_ERROR_ACCESS)", hint="install the probe's udev rule")
    _with_flasher(monkeypatch, RecordingFlasher(events, {f"{NUCLEO}/ic": denied}))
    s = _session(tmp_path, NUCLEO, events, flashed=f"{NUCLEO}/kws")
    runs = run.RunBenchmarks().run(s.request, s).runs
    # one try for ic (not again for its performance run), then vww gets its own
    assert events == [*_runs("kws"), ("flash", f"{NUCLEO}/ic"), ("flash", f"{NUCLEO}/vww"), *_runs("vww")]
    reasons = _reasons(runs)
    for mode in ("accuracy", "performance"):
        assert reasons[("ic", mode)].startswith("FAILED: flash failed")
        assert "LIBUSB_ERROR_ACCESS" in reasons[("ic", mode)] and "udev rule" in reasons[("ic", mode)]
    assert [k for k, v in reasons.items() if v is None] == [(b, m) for b in ("kws", "vww")
                                                           for m in ("accuracy", "performance")]
    assert not any(r["dir"] for r in runs if r["benchmark"] == "ic")


def test_a_board_not_flashed_here_refuses_another_benchmarks_build(tmp_path):
    """The nRF5340-DK: nrfjprog is not in the zephyr image, so no flasher; the firmware flashed
    by hand is taken for the first benchmark, and the others fail saying why."""
    events = []
    s = _session(tmp_path, NRF, events)
    runs = run.RunBenchmarks().run(s.request, s).runs
    assert events == _runs("kws")       # nothing flashed, no wrong firmware run
    reasons = _reasons(runs)
    assert reasons[("kws", "accuracy")] is None and reasons[("kws", "performance")] is None
    for benchmark in ("ic", "vww"):
        reason = reasons[(benchmark, "accuracy")]
        assert reason.startswith(f"FAILED: the board at /dev/ttyACM0 carries {NRF}/kws, this run needs "
                                 f"{NRF}/{benchmark}")
        assert "nrfjprog" in reason and f"Flash {NRF}/{benchmark} by hand" in reason
    assert "not flashed here" in run.RunBenchmarks().plan_note(s.request, s)


def test_a_firmware_flashed_by_hand_that_fails_its_run_is_not_assumed_for_the_next(tmp_path):
    """The board was flashed by hand with ic: kws is taken on trust and its runs fail (the
    runner's profile check reads another model), so ic is taken on trust next, and runs."""
    events = []
    s = _session(tmp_path, NRF, events, fail_runs={"kws"})
    runs = run.RunBenchmarks().run(s.request, s).runs
    assert events == [*_runs("kws"), *_runs("ic")]
    reasons = _reasons(runs)
    assert reasons[("ic", "accuracy")] is None and reasons[("ic", "performance")] is None
    assert "another model" in reasons[("kws", "accuracy")]
    assert f"carries {NRF}/ic, this run needs {NRF}/vww" in reasons[("vww", "accuracy")]


def test_the_flasher_is_the_flash_stages_and_only_where_it_could_run(tmp_path):
    from bundle.pipeline.flash import BoardFlasher, board_flasher

    s = _session(tmp_path, NUCLEO, [])
    flasher, why = board_flasher(s.request, s)
    assert flasher is None and "zephyr image" in why       # no image built in this session
    s.ran.add("firmware")
    s.outputs["images"] = type(s.images)(built={"zephyr": None})
    flasher, why = board_flasher(s.request, s)
    assert isinstance(flasher, BoardFlasher) and why is None
    assert "flashed with each benchmark's firmware" in run.RunBenchmarks().plan_note(s.request, s)


@pytest.mark.parametrize("system", [NUCLEO, NRF])
def test_board_builds_are_named_as_the_flasher_reads_them(system, tmp_path):
    from bundle.pipeline.flash import board_build
    from bundle.toolchain.flash import config_for_build

    s = _session(tmp_path, system, [])
    for benchmark in ("kws", "ic", "vww", "ad"):
        cfg = config_for_build(board_build(s.request, benchmark))
        assert (cfg.system, cfg.benchmark) == (system, benchmark)


def test_the_flash_stage_writes_the_first_benchmark_through_the_same_flasher(tmp_path):
    from bundle.pipeline.flash import Flash
    from bundle.toolchain.flash import config_for_build

    class FlashTool:
        def __init__(self):
            self.commands = []

        def run(self, spec, on_line=None, check=True) -> StageResult:
            self.commands.append(spec.command)
            return StageResult(spec.name, 0, 2.34, "fake")

    s = _session(tmp_path, NUCLEO, [])
    s.engine_obj = tool = FlashTool()
    flashed = Flash().run(s.request, s)
    name = config_for_build(f"{NUCLEO}/kws").name
    assert (flashed.build, flashed.carries, flashed.seconds) == (name, f"{NUCLEO}/kws", 2.3)
    assert len(tool.commands) == 1 and f"/artifacts/firmware/{name}/build" in tool.commands[0]
