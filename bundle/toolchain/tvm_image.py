"""The `tvm` image: tvm-builder + TVM's Python package + the libraries + the compile script.

The libraries come from the resumable build in bundle/toolchain/tvm_build.py (a detached
container with its ninja folder on a named volume); `TvmImage` reports its state, starts or
resumes it, and makes the image once libtvm.so is there.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from bundle.toolchain.tvm_build import (  # noqa: F401 - the build's names, re-exported for callers of this module
    BUILD_IN_CONTAINER, BUILD_LABEL, CMAKE_OPTIONS, DONE_MARK, SCRIPT_LABEL, SRC_IN_CONTAINER, STEP, RECENT_S,
    BuildPlan, Progress, find_build_container, parse_progress, read_progress, start_build,
)

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
        if not p.sessions and self.running:    # the container is up, its first progress line not yet
            return f"TVM build starting (volume {self.plan.volume}; follow it: make tvm-status)"
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
