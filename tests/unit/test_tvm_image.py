"""The resumable TVM build as data: what names its volume, the container's script, and how
progress is read back from ninja's time-stamped [done/total] lines."""
from __future__ import annotations

from dataclasses import replace

import pytest

from bundle.toolchain.tvm_image import (
    BUILD_IN_CONTAINER, CMAKE_OPTIONS, DONE_MARK, SRC_IN_CONTAINER, BuildPlan, BuildState, parse_progress,
)

COMMIT = "e3a6cb6a1bc1764e261321713ab275461b36dcc0"


def _plan(**kw) -> BuildPlan:
    return BuildPlan(source_key="0123456789abcdef", tvm_commit=COMMIT, **kw)


def test_volume_is_named_by_what_decides_the_build_commands():
    base = _plan()
    assert base.volume.startswith("tinyrepro-tvm-build-e3a6cb6a1bc1-") and base.volume.endswith(base.key)
    assert _plan().key == base.key                                    # stable across processes
    assert _plan(opt_flags="-O2").key != base.key                     # other flags: other objects
    assert _plan(options={**CMAKE_OPTIONS, "USE_MICRO": "OFF"}).key != base.key
    assert replace(base, source_key="fedcba9876543210").key != base.key
    assert _plan(targets=("tvm",)).key == base.key                    # a target more only adds steps
    # how fast is not what: the same volume
    assert _plan(jobs=8, nice=0).volume == base.volume
    assert base.container_name == base.volume + "-run"


def test_cmake_line_lowers_tvms_optimisation_and_sets_the_options():
    args = _plan().cmake_args()
    assert args[:7] == ["cmake", "-G", "Ninja", "-S", SRC_IN_CONTAINER, "-B", BUILD_IN_CONTAINER]
    assert "-DCMAKE_CXX_FLAGS=-O1" in args and "-DCMAKE_C_FLAGS=-O1" in args
    for key in ("USE_MICRO=ON", "USE_CMSISNN=ON", "USE_LLVM=llvm-config-11", "USE_LIBBACKTRACE=OFF",
                "USE_CCACHE=OFF", "USE_GTEST=OFF"):
        assert f"-D{key}" in args


def test_script_configures_once_builds_only_the_libraries_and_marks_the_end():
    script = _plan().script()
    lines = script.splitlines()
    assert lines[0] == "set -eu -o pipefail"
    assert f"if [ ! -f {BUILD_IN_CONTAINER}/build.ninja ]; then" in script   # resume: no re-configure
    ninja = next(line for line in lines if " ninja " in line)
    assert ninja.startswith("nice -n 15 ninja") and "-j2 tvm tvm_runtime standalone_crt" in ninja
    assert "| stamp" in ninja
    # the done mark is removed first and written only after ninja succeeded (set -e, pipefail)
    assert lines.index(f"rm -f {BUILD_IN_CONTAINER}/{DONE_MARK}") < lines.index(ninja)
    assert lines.index(ninja) < next(i for i, line in enumerate(lines) if line.startswith("date +%s >"))
    assert "export NINJA_STATUS='[%f/%t] '" in lines


LOG_TWO_SESSIONS = """\
1000 session start
1001 -- Configuring done
1010 [1/2] Re-checking globbed directories...
1011 [2/2] Re-running CMake...
1020 [1/100] Building CXX object a.o
1080 [2/100] Building CXX object b.o
1140 [3/100] Building CXX object c.o
5000 session start
5030 [1/2] Re-checking globbed directories...
5060 [1/97] Building CXX object d.o
5120 [2/97] Building CXX object e.o
"""


def test_progress_across_a_resumed_session():
    p = parse_progress(LOG_TWO_SESSIONS)
    assert (p.done, p.total, p.sessions, p.finished) == (5, 100, 2, False)
    assert p.running_s == (1140 - 1000) + (5120 - 5000)     # the gap between sessions is not counted
    assert p.rate_per_min == pytest.approx(8 / (260 / 60))  # every step line over the building time
    assert p.remaining_s == pytest.approx(95 / p.rate_per_min * 60)
    assert p.projected_total_s == pytest.approx(260 + p.remaining_s)


def test_progress_when_finished_and_when_never_started():
    done = parse_progress(LOG_TWO_SESSIONS + "5200 [97/97] Linking CXX shared library libtvm.so\n5201 build done\n")
    assert done.finished and done.done == 100 and done.remaining_s == 0.0
    empty = parse_progress("")
    assert (empty.done, empty.total, empty.sessions, empty.rate_per_min, empty.remaining_s) == (0, 0, 0, None, None)
    noise = parse_progress("garbage\n\n12ab [1/2] x\n")
    assert noise.sessions == 0 and noise.done == 0


def test_state_says_where_the_build_lives_and_how_to_resume():
    plan = _plan()
    running = BuildState(plan, True, parse_progress(LOG_TWO_SESSIONS), None)
    text = running.describe()
    assert "running: 5/100 steps" in text and plan.volume in text and "make tvm-image" in text
    stopped = BuildState(plan, False, parse_progress(LOG_TWO_SESSIONS), 137)
    assert "stopped (exit 137)" in stopped.describe() and not stopped.done
    assert "not started" in BuildState(plan, False, parse_progress(""), None).describe()
    # just launched: the container runs but has not logged its first step yet
    assert "starting" in BuildState(plan, True, parse_progress(""), None).describe()


def test_the_time_left_follows_the_recent_pace():
    # 100 quick steps (1 s each), then 40 slow ones (60 s each): the last half hour is slow
    lines = ["0 session start"] + [f"{i} [{i}/500] quick" for i in range(1, 101)]
    lines += [f"{100 + 60 * k} [{100 + k}/500] slow" for k in range(1, 41)]
    p = parse_progress("\n".join(lines) + "\n")
    assert p.done == 140 and p.rate_per_min > 3
    assert p.recent_rate_per_min == pytest.approx(1.0)
    assert p.remaining_s == pytest.approx(360 * 60)
    assert "in the last 30 min" in BuildState(_plan(), True, p, None).describe()


def test_a_target_added_on_resume_makes_the_build_larger():
    log = LOG_TWO_SESSIONS + "9000 session start\n9010 [1/120] Copying CRT file\n9020 [2/120] Copying CRT file\n"
    p = parse_progress(log)
    assert (p.done, p.total, p.sessions) == (7, 125, 3)   # 5 done before, 120 left of which 2 done now
