"""The resumable TVM build: TVM e3a6cb6a built from pinned sources, surviving interruption.

Building TVM takes one to two hours on a small machine, longer than a session or a CI job may
last, and the classic Docker builder (no BuildKit here) cannot keep a half-done RUN. So the
build is not a Dockerfile RUN: it runs in a container of the `tvm-builder` image with

  * the sources assembled by the fetch layer (bundle.fetch.gitsources: TVM and the submodules
    it records, by commit, every file with one fixed mtime) mounted read-only at /src/tvm, and
  * its ninja build folder on a named Docker volume, named by everything that decides the
    build's commands (`build_key`), so a stopped build continues where it stopped, from any
    checkout of this repository, and a changed option starts a fresh volume.

The build runs detached (it outlives the command that started it) under `nice`, with ninja's
`[done/total]` lines time-stamped into progress.log on the volume (`parse_progress`).
The image made from it is bundle/toolchain/tvm_image.py.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

SRC_IN_CONTAINER = "/src/tvm"
BUILD_IN_CONTAINER = "/build"
VOLUME_PREFIX = "tinyrepro-tvm-build"
PROGRESS_LOG = "progress.log"
DONE_MARK = "BUILD-DONE"
BUILD_LABEL = "org.tinyrepro.tvm-build"
SCRIPT_LABEL = "org.tinyrepro.tvm-compile-script"

# Options on top of TVM's cmake/config.cmake defaults (apache/tvm@e3a6cb6a). microTVM and the
# CMSIS-NN external codegen are what OctoML's builds used; LLVM is needed by relay's constant
# folding (see the Dockerfile's tvm-builder stage). The submodules that are not fetched
# (libbacktrace, cutlass, vta-hw) stay off; ccache and gtest off so that what the builder
# image happens to contain cannot change the build's commands.
CMAKE_OPTIONS: dict[str, str] = {
    "USE_MICRO": "ON",
    "USE_MICRO_STANDALONE_RUNTIME": "ON",
    "USE_CMSISNN": "ON",
    "USE_LLVM": "llvm-config-11",
    "USE_LIBBACKTRACE": "OFF",
    "USE_CCACHE": "OFF",
    "USE_GTEST": "OFF",
}

# TVM's own C++ is compiled at -O1 instead of its default -O2 (CMakeLists.txt puts -O2 first and
# the user's CMAKE_CXX_FLAGS after it; the last -O wins). What TVM generates is decided by its
# passes and schedules, not by how fast the compiler binary runs them, so the generated C does
# not depend on this level: no -ffast-math at any level, and x86-64 does double arithmetic in
# SSE2 registers (no x87 excess precision), so even the quantization constants TVM computes in
# C++ come out bit for bit the same; constant folding runs on Debian's LLVM, untouched. It
# trades model compile time (slower passes) for TVM build time; the measurement behind the
# choice is in the README ("The tvm image").
OPT_FLAGS = "-O1"

# What the compile stage loads: libtvm.so (compiler + runtime), libtvm_runtime.so, which
# tvm.runtime falls back on, and standalone_crt/, the CRT sources that
# export_model_library_format puts into every AOT/CRT archive (python/tvm/micro/
# model_library_format.py, _make_tar; found next to libtvm.so by get_standalone_crt_dir).
# libtvm.so already depends on it (CMakeLists.txt: add_dependencies(tvm host_standalone_crt));
# it is named so that the image's needs are explicit. Together: 764 steps, all of ninja's
# default target with gtest off (libtvm.so alone 738).
NINJA_TARGETS = ("tvm", "tvm_runtime", "standalone_crt")
JOBS = 2
NICE = 15


@dataclass(frozen=True)
class BuildPlan:
    """Everything that decides the build's commands, hence the volume it lives on."""
    source_key: str                      # bundle.fetch.gitsources.SourceSet.key
    tvm_commit: str
    options: dict[str, str] = field(default_factory=lambda: dict(CMAKE_OPTIONS))
    opt_flags: str = OPT_FLAGS
    targets: tuple[str, ...] = NINJA_TARGETS
    jobs: int = JOBS
    nice: int = NICE

    @property
    def key(self) -> str:
        # jobs and nice change how fast, not what; more targets only add steps to the same build
        # folder (the commands of the others stay): none of them is in the key.
        blob = json.dumps({"source": self.source_key, "options": self.options, "flags": self.opt_flags},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def volume(self) -> str:
        return f"{VOLUME_PREFIX}-{self.tvm_commit[:12]}-{self.key}"

    @property
    def container_name(self) -> str:
        return f"{self.volume}-run"

    def cmake_args(self) -> list[str]:
        args = ["cmake", "-G", "Ninja", "-S", SRC_IN_CONTAINER, "-B", BUILD_IN_CONTAINER,
                f"-DCMAKE_CXX_FLAGS={self.opt_flags}", f"-DCMAKE_C_FLAGS={self.opt_flags}"]
        return args + [f"-D{k}={v}" for k, v in sorted(self.options.items())]

    def script(self) -> str:
        """The shell the build container runs: configure once, then ninja (resumes by itself),
        every output line time-stamped into the progress log and echoed for `docker logs`."""
        cmake = " ".join(_quote(a) for a in self.cmake_args())
        ninja = f"nice -n {self.nice} ninja -C {BUILD_IN_CONTAINER} -j{self.jobs} {' '.join(self.targets)}"
        log = f"{BUILD_IN_CONTAINER}/{PROGRESS_LOG}"
        return "\n".join([
            "set -eu -o pipefail",
            "stamp() { while IFS= read -r line; do printf '%s %s\\n' \"$(date +%s)\" \"$line\"; done | tee -a " + log + "; }",
            f"rm -f {BUILD_IN_CONTAINER}/{DONE_MARK}",
            "echo \"session start\" | stamp",
            f"if [ ! -f {BUILD_IN_CONTAINER}/build.ninja ]; then nice -n {self.nice} {cmake} 2>&1 | stamp; fi",
            "export NINJA_STATUS='[%f/%t] '",
            f"{ninja} 2>&1 | stamp",
            f"date +%s > {BUILD_IN_CONTAINER}/{DONE_MARK}",
            "echo 'build done' | stamp",
        ])


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w@%+=:,./-]+", arg) else "'" + arg.replace("'", "'\\''") + "'"


STEP = re.compile(r"^(\d+) \[(\d+)/(\d+)\]")
RECENT_S = 1800


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    sessions: int
    rate_per_min: float | None       # steps per minute over the build's running time
    running_s: float                 # time spent building, summed over sessions
    finished: bool
    # steps per minute over the last RECENT_S of the latest session: the first steps (TVM's
    # runtime) are quick, the compiler's later ones slow, and the machine's load changes
    recent_rate_per_min: float | None = None

    @property
    def remaining_s(self) -> float | None:
        if self.finished:
            return 0.0
        rate = self.recent_rate_per_min or self.rate_per_min
        if not rate or not self.total:
            return None
        return (self.total - self.done) / rate * 60

    @property
    def projected_total_s(self) -> float | None:
        rem = self.remaining_s
        return None if rem is None else self.running_s + rem


def parse_progress(text: str) -> Progress:
    """Steps done and the rate, from progress.log (several sessions append to it). A session's
    time runs from its start line to its last step line; gaps between sessions do not count."""
    done = total = sessions = base = 0
    running = 0.0
    session_start = last = None
    steps_timed = 0
    finished = False
    stamps: list[int] = []   # step times of the latest session
    for line in text.splitlines():
        stamp, _, rest = line.partition(" ")
        if not stamp.isdigit():
            continue
        t = int(stamp)
        if rest == "session start":
            if session_start is not None and last is not None:
                running += last - session_start
            sessions += 1
            session_start, last = t, t
            stamps = []
            base = done
            continue
        m = STEP.match(line)
        if m:
            # A resumed ninja counts only what is left: [n/left], on top of what earlier
            # sessions finished (`base`); a target added later makes the whole build larger.
            # Short series such as ninja re-running cmake ([1/2]) come and go.
            n, left = int(m.group(2)), int(m.group(3))
            total = max(total, base + left)
            done = base + n
            steps_timed += 1
            stamps.append(t)
            last = t
        elif rest == "build done":
            finished = True
            last = t
    if session_start is not None and last is not None:
        running += last - session_start
    rate = steps_timed / (running / 60) if running > 0 and steps_timed else None
    recent = [x for x in stamps if x >= stamps[-1] - RECENT_S] if stamps else []
    span = recent[-1] - recent[0] if recent else 0
    recent_rate = (len(recent) - 1) / (span / 60) if len(recent) >= 10 and span > 0 else None
    return Progress(done, total, sessions, rate, running, finished, recent_rate)


# ---------------------------------------------------------------------------------- Docker side

def builder_volumes(plan: BuildPlan, source_dir) -> dict:
    return {str(source_dir): {"bind": SRC_IN_CONTAINER, "mode": "ro"},
            plan.volume: {"bind": BUILD_IN_CONTAINER, "mode": "rw"}}


def ensure_volume(client, plan: BuildPlan):
    import docker

    try:
        return client.volumes.get(plan.volume)
    except docker.errors.NotFound:
        return client.volumes.create(plan.volume, labels={BUILD_LABEL: plan.key})


def find_build_container(client, plan: BuildPlan):
    import docker

    try:
        return client.containers.get(plan.container_name)
    except docker.errors.NotFound:
        return None


def start_build(client, builder_image: str, plan: BuildPlan, source_dir):
    """The build container, running: the one already running for this plan, else a new one on
    the plan's volume (ninja continues from what the volume holds). No network: the sources
    are all mounted."""
    running = find_build_container(client, plan)
    if running is not None:
        running.reload()
        if running.status == "running":
            return running
        running.remove(force=True)   # ours: named after our volume, exited
    ensure_volume(client, plan)
    return client.containers.run(
        builder_image, ["bash", "-c", plan.script()], name=plan.container_name, detach=True,
        volumes=builder_volumes(plan, source_dir), network_mode="none", working_dir=BUILD_IN_CONTAINER,
        labels={BUILD_LABEL: plan.key}, cpu_shares=256, security_opt=["no-new-privileges"])


def read_progress(container) -> str:
    """progress.log from the build container (running or stopped: its volume stays mounted)."""
    import io
    import tarfile

    import docker

    try:
        stream, _ = container.get_archive(f"{BUILD_IN_CONTAINER}/{PROGRESS_LOG}")
    except docker.errors.NotFound:
        return ""
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        return tar.extractfile(tar.getmembers()[0]).read().decode(errors="replace")
