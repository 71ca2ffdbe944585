"""The `tvm` image: TVM e3a6cb6a built from pinned sources, in a build that survives interruption.

Building TVM takes one to two hours on a small machine, longer than a session or a CI job may
last, and the classic Docker builder (no BuildKit here) cannot keep a half-done RUN. So the
build is not a Dockerfile RUN: it runs in a container of the `tvm-builder` image with

  * the sources assembled by the fetch layer (bundle.fetch.gitsources: TVM and the submodules
    it records, by commit, every file with one fixed mtime) mounted read-only at /src/tvm, and
  * its ninja build folder on a named Docker volume, named by everything that decides the
    build's commands (`build_key`), so a stopped build continues where it stopped, from any
    checkout of this repository, and a changed option starts a fresh volume.

The build runs detached (it outlives the command that started it) under `nice`, with ninja's
`[done/total]` lines time-stamped into progress.log on the volume. When libtvm.so is there,
`tvm` = tvm-builder + TVM's Python package + the libraries + the compile script.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

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


# ---------------------------------------------------------------------------------- the tvm image

# The tvm image: the builder plus what the compile stage loads. TVM's Python finds libtvm.so
# through TVM_LIBRARY_PATH (python/tvm/_ffi/libinfo.py at e3a6cb6a).
FINAL_DOCKERFILE = """\
FROM {builder}
COPY tvm/ /opt/tvm/
COPY tvm_compile.py /opt/tinyrepro/tvm_compile.py
ENV TVM_HOME=/opt/tvm PYTHONPATH=/opt/tvm/python TVM_LIBRARY_PATH=/opt/tvm/build
RUN python -c 'import tvm, tvm.micro, tvm.relay.frontend; from tvm.relay.op.contrib import cmsisnn; print("tvm", tvm.__version__)'
USER 1000:1000
WORKDIR /work
"""
LIBRARIES = ("libtvm.so", "libtvm_runtime.so")
CRT_DIR = "standalone_crt"
SCRIPT = Path(__file__).with_name("tvm_compile.py")


@dataclass(frozen=True)
class BuildState:
    plan: BuildPlan
    running: bool
    progress: Progress
    exit_code: int | None        # of the last build container, when it has stopped

    @property
    def done(self) -> bool:
        return self.progress.finished and not self.running

    def describe(self) -> str:
        p = self.progress
        if self.done:
            return f"TVM build done ({p.total} steps, {_minutes(p.running_s)} of building)"
        if not p.sessions:
            return f"TVM build not started (volume {self.plan.volume}; start it: make tvm-image)"
        rate = f"{p.rate_per_min:.1f} steps/min" if p.rate_per_min else "rate unknown"
        if p.recent_rate_per_min:
            rate += f" ({p.recent_rate_per_min:.1f} in the last {RECENT_S // 60} min)"
        left = f", about {_minutes(p.remaining_s)} left" if p.remaining_s is not None else ""
        state = "running" if self.running else (f"stopped (exit {self.exit_code})" if self.exit_code is not None
                                                else "stopped")
        return (f"TVM build {state}: {p.done}/{p.total or '?'} steps, {rate}{left} "
                f"(volume {self.plan.volume}; resume: make tvm-image)")


def _minutes(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds / 60:.0f} min"


class TvmImage:
    """Build state, build (resumable), and final image of `tvm` for one DockerEngine."""

    def __init__(self, engine, cache_dir: Path, mirror: Path | None = None, offline: bool = False):
        from bundle.fetch.gitsources import SourceSet
        from bundle.fetch.lock import load_lock

        self.engine = engine
        self.cache_dir, self.mirror, self.offline = Path(cache_dir), mirror, offline
        self.sources = SourceSet.from_toolchain(load_lock().toolchain, "tvm")
        self.plan = BuildPlan(source_key=self.sources.key, tvm_commit=self.sources.root.commit)

    @property
    def client(self):
        return self.engine.client

    def source_dir(self) -> Path:
        from bundle.fetch.gitsources import place
        from bundle.fetch.gittree import GitTreeFetcher

        return place(self.sources, GitTreeFetcher(self.cache_dir, self.mirror, self.offline), self.cache_dir)

    def builder(self) -> str:
        record, _ = self.engine.ensure_image("tvm-builder")
        return record.tag

    def state(self) -> BuildState:
        """From the build container, which stays (stopped) after each session until the next
        one replaces it: no container, no build on record."""
        container = find_build_container(self.client, self.plan)
        if container is None:
            return BuildState(self.plan, False, parse_progress(""), None)
        container.reload()
        running = container.status == "running"
        code = None if running else container.attrs.get("State", {}).get("ExitCode")
        return BuildState(self.plan, running, parse_progress(read_progress(container)), code)

    def final_tag(self, builder: str) -> str:
        from bundle.engine import images as img

        h = hashlib.sha256(f"{builder}\n{self.plan.key}\n{FINAL_DOCKERFILE}".encode())
        h.update(SCRIPT.read_bytes())
        return img.image_tag("tvm", h.hexdigest())

    def find(self):
        """The tvm image, if it is there (no build started)."""
        import docker

        try:
            return self.client.images.get(self.final_tag(self.builder()))
        except docker.errors.ImageNotFound:
            return None

    def build(self, wait: bool = True, sink=print) -> BuildState:
        """Start or resume the build (a running one is joined); with `wait`, follow it to the
        end and make the final image."""
        builder = self.builder()
        state = self.state()
        if not state.done:
            container = start_build(self.client, builder, self.plan, self.source_dir())
            sink(f"{state.describe()}; container {container.name}")
            if not wait:
                return self.state()
            self._follow(container, sink)
            state = self.state()
            if not state.done:
                from bundle.errors import EngineError
                raise EngineError(f"the TVM build stopped: {state.describe()}",
                                  hint=f"docker logs {self.plan.container_name}; rerun make tvm-image to resume")
        self.final_image(builder, sink)
        return state

    def _follow(self, container, sink, every: int = 25) -> None:
        """ninja's lines as they come ([n/left] of this session), and every `every` steps the
        whole build's state (steps of all sessions, pace, time left)."""
        import time

        steps = 0
        for raw in container.logs(stream=True, follow=True, since=int(time.time())):
            line = raw.decode(errors="replace").rstrip()
            _stamp, _, rest = line.partition(" ")
            if rest.startswith("[") or "error" in rest.lower() or rest in ("build done",):
                sink(rest)
            if STEP.match(line):
                steps += 1
                if steps % every == 0:
                    sink(self.state().describe())
        container.wait()

    def final_image(self, builder: str, sink=print):
        import docker

        tag = self.final_tag(builder)
        try:
            return self.client.images.get(tag)
        except docker.errors.ImageNotFound:
            pass
        from bundle.engine import images as img

        sink(f"assembling {tag} from {self.plan.volume}")
        context = self._final_context(builder)
        labels = {img.INPUTS_LABEL: tag.split(":")[-1], img.TARGET_LABEL: "tvm", BUILD_LABEL: self.plan.key,
                  SCRIPT_LABEL: script_digest()}
        for chunk in self.client.api.build(fileobj=context, custom_context=True, tag=tag, labels=labels,
                                           rm=True, forcerm=True, decode=True, pull=False, network_mode="none"):
            if "error" in chunk:
                from bundle.errors import EngineError
                raise EngineError(f"assembling the tvm image failed: {chunk['error'].strip()}",
                                  hint="the build volume may be incomplete: rerun make tvm-image")
            for line in chunk.get("stream", "").splitlines():
                if line.strip():
                    sink(line)
        return self.client.images.get(tag)

    def _final_context(self, builder: str):
        """Dockerfile + tvm/python (from the placed sources) + tvm/build/lib*.so and
        tvm/build/standalone_crt/ (from the volume)."""
        import io
        import tarfile

        src = self.source_dir()
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            _add_bytes(tar, "Dockerfile", FINAL_DOCKERFILE.format(builder=builder).encode())
            _add_bytes(tar, "tvm_compile.py", SCRIPT.read_bytes())
            tar.add(src / "python", arcname="tvm/python", filter=_clean_member)
            for name in LIBRARIES:
                _add_bytes(tar, f"tvm/build/{name}", self._library(builder, name), mode=0o755)
            with tarfile.open(fileobj=io.BytesIO(self._volume_tar(builder, CRT_DIR))) as crt:
                for member in crt.getmembers():   # arcnames start with standalone_crt/
                    member = _clean_member(member)
                    member.name = f"tvm/build/{member.name}"
                    tar.addfile(member, crt.extractfile(member) if member.isfile() else None)
        buf.seek(0)
        return buf

    def _library(self, builder: str, name: str) -> bytes:
        import io
        import tarfile

        with tarfile.open(fileobj=io.BytesIO(self._volume_tar(builder, name))) as tar:
            return tar.extractfile(tar.getmembers()[0]).read()

    def _volume_tar(self, builder: str, name: str) -> bytes:
        """A file or folder of the build volume, as the tar docker cp gives."""
        holder = self.client.containers.create(builder, ["true"], network_mode="none",
                                               volumes={self.plan.volume: {"bind": BUILD_IN_CONTAINER, "mode": "ro"}})
        try:
            stream, _ = holder.get_archive(f"{BUILD_IN_CONTAINER}/{name}")
            return b"".join(stream)
        finally:
            holder.remove(force=True)


def _add_bytes(tar, name: str, data: bytes, mode: int = 0o644) -> None:
    import io
    import tarfile

    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def _clean_member(info):
    """Fixed owner and no caches: the image layer depends on the sources only."""
    if "__pycache__" in info.name:
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def script_digest() -> str:
    return hashlib.sha256(SCRIPT.read_bytes()).hexdigest()[:16]


def find_built(client, plan: BuildPlan, current_script: bool = False):
    """The newest tvm image assembled from this plan's build, found by label (no build);
    `current_script`: only one carrying this checkout's tvm_compile.py."""
    labels = [f"{BUILD_LABEL}={plan.key}"] + ([f"{SCRIPT_LABEL}={script_digest()}"] if current_script else [])
    images = client.images.list(filters={"label": labels})
    return max(images, key=lambda i: i.attrs.get("Created", ""), default=None)


def bench_figures(engine, cache_dir: Path) -> dict:
    """`make bench`: the TVM build's time (or, unfinished, steps done, rate and the projected
    total) and the tvm image's size. Reads state only; builds nothing."""
    tvm = TvmImage(engine, cache_dir)
    state = tvm.state()
    p = state.progress
    out = {"tvm_build_steps_done": p.done, "tvm_build_steps_total": p.total,
           "tvm_build_finished": state.done, "tvm_build_sessions": p.sessions,
           "tvm_build_s": round(p.running_s), "tvm_build_rate_steps_per_min": round(p.rate_per_min or 0, 2),
           "tvm_build_recent_rate_steps_per_min": round(p.recent_rate_per_min or 0, 2),
           "tvm_build_projected_total_s": None if p.projected_total_s is None else round(p.projected_total_s),
           "tvm_build_opt_flags": tvm.plan.opt_flags, "tvm_build_jobs": tvm.plan.jobs}
    image = find_built(engine.client, tvm.plan)
    out["tvm_image_size_mb"] = round(image.attrs["Size"] / 1e6, 1) if image is not None else None
    return out
