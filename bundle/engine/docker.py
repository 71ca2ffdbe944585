"""Docker backend (Docker SDK for Python): build images by content hash, run stages in them.

Isolation per stage: host uid:gid, no capabilities, no-new-privileges, `network_mode=none`
unless the stage declares it needs the network, inputs mounted read-only, only the declared
devices. Containers are removed on success, failure, timeout and Ctrl-C/SIGTERM.

Serial devices: a real port (/dev/ttyACM0) is passed with --device. A pty (/dev/pts/N, the
simulated DUT) cannot be: --device mknods a copy inside the container's own devpts, where
that pty does not exist (open() gives EIO). It is bind-mounted instead, which keeps the host
devpts inode, plus an explicit cgroup rule for pty majors (136).
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
import uuid
from collections import deque

from bundle.engine import images as img
from bundle.engine.images import HostCaps, ImagePlan, plan_images  # noqa: F401 - part of this API
from bundle.engine.base import (
    Engine, EngineCaps, ImageRecord, LineSink, StageResult, StageSpec, check_result, host_user,
)
from bundle.errors import EngineError, StageTimeout
from bundle.signals import main_thread, sigterm_as_interrupt

log = logging.getLogger(__name__)

STAGE_LABEL = "org.tinyrepro.stage"
PTY_CGROUP_RULE = "c 136:* rwm"
DEFAULT_BASE_IMAGE = None  # None: the Dockerfile's digest-pinned default


SESSION_LABEL = "org.tinyrepro.session"


def session_id() -> str:
    """One id per run, inherited by child processes, so a session counts only its own
    containers, never those of another tinyrepro running on the same engine."""
    return os.environ.setdefault("TINYREPRO_SESSION", uuid.uuid4().hex[:12])


def _docker_module():
    try:
        import docker
    except ImportError as err:  # pragma: no cover - docker is a hard dependency
        raise EngineError("the Docker SDK for Python is not installed", hint="pip install docker") from err
    return docker


class DockerEngine(Engine):
    caps = EngineCaps(name="docker", isolates_filesystem=True, enforces_read_only=True,
                      enforces_no_network=True, runs_as_user=True, needs_images=True)

    def __init__(self, base_image: str | None = DEFAULT_BASE_IMAGE, build_extra: dict[str, str] | None = None,
                 on_build_line: LineSink | None = None, repo=img.REPO):
        self.base_image = base_image
        self.build_extra = build_extra or {}
        self.on_build_line = on_build_line
        self.repo = repo
        self._client = None
        self._images: dict[str, ImageRecord] = {}
        # Network of the stages that need one; "host" reaches a board host's exporter on loopback.
        self.stage_network = os.environ.get("TINYREPRO_STAGE_NETWORK", "bridge")
        session_id()  # fixed now, so stage subprocesses started later share it

    # ------------------------------------------------------------------ engine reachability
    @property
    def client(self):
        if self._client is None:
            docker = _docker_module()
            try:
                self._client = docker.from_env(timeout=30)
                self._client.ping()
            except Exception as err:  # noqa: BLE001 - any failure means "no engine"
                self._client = None
                raise EngineError(f"Docker engine not reachable: {err}",
                                  hint="start dockerd, check DOCKER_HOST, or use --engine local") from err
        return self._client

    def available(self) -> tuple[bool, str]:
        try:
            version = self.client.version().get("Version", "?")
        except EngineError as err:
            return False, err.message
        return True, f"Docker engine {version}"

    # ------------------------------------------------------------------ images
    def image_for(self, target: str) -> tuple[str, str, dict[str, str]]:
        if target not in img.TARGETS:
            raise EngineError(f"unknown image target {target!r}", hint=f"one of: {', '.join(img.TARGETS)}")
        args = img.build_args(self.base_image, extra={**img.lock_pins(), **self.build_extra})
        digest = img.inputs_hash(target, args, self.repo)
        return img.image_tag(target, digest), digest, args

    def find_image(self, target: str) -> ImageRecord | None:
        tag, digest, args = self.image_for(target)
        docker = _docker_module()
        try:
            image = self.client.images.get(tag)
        except docker.errors.ImageNotFound:
            return None
        return self._record(target, tag, digest, args, image)

    def use_image(self, target: str, image) -> ImageRecord:
        """Run `target`'s stages in an image made elsewhere (the tvm image: bundle.toolchain.tvm_image)."""
        labels = image.labels or {}
        record = ImageRecord(target=target, tag=image.tags[0] if image.tags else image.id, image_id=image.id,
                             repo_digests=list(image.attrs.get("RepoDigests") or []),
                             base_image=f"{target}-builder", inputs_hash=labels.get(img.INPUTS_LABEL, ""))
        self._images[target] = record
        return record

    def ensure_image(self, target: str, force: bool = False) -> tuple[ImageRecord, bool]:
        """(image record, whether it was built now). Builds only when the inputs hash changed."""
        if not force and target in self._images:
            return self._images[target], False
        found = None if force else self.find_image(target)
        if found:
            self._images[target] = found
            return found, False
        tag, digest, args = self.image_for(target)
        image = self._build(target, tag, digest, args)
        record = self._record(target, tag, digest, args, image)
        self._images[target] = record
        return record, True

    def _build(self, target, tag, digest, args):
        sink = self.on_build_line or (lambda line: log.info("[build %s] %s", target, line))
        labels = {img.INPUTS_LABEL: digest, img.TARGET_LABEL: target}
        sink(f"building {tag} (inputs {digest[:12]}, base {args.get('BASE_IMAGE', 'Dockerfile default')})")
        tail: deque[str] = deque(maxlen=30)
        stream = self.client.api.build(
            fileobj=img.context_tar(self.repo), custom_context=True, tag=tag, target=target,
            buildargs=args, labels=labels, rm=True, forcerm=True, decode=True, pull=False,
        )
        for chunk in stream:
            if "error" in chunk:
                raise EngineError(
                    f"building image {target} failed: {chunk['error'].strip()}\n" + "\n".join(tail),
                    hint="see the build output above; a placeholder pin or an unreachable upstream "
                         "is the usual cause (`tinyrepro images list` says which)",
                )
            for line in chunk.get("stream", "").splitlines():
                if line.strip():
                    tail.append(line)
                    sink(line)
        return self.client.images.get(tag)

    def _record(self, target, tag, digest, args, image) -> ImageRecord:
        return ImageRecord(target=target, tag=tag, image_id=image.id,
                           repo_digests=list(image.attrs.get("RepoDigests") or []),
                           base_image=args.get("BASE_IMAGE", "Dockerfile default"), inputs_hash=digest)

    def list_images(self) -> list[dict]:
        rows = []
        for image in self.client.images.list(filters={"label": img.TARGET_LABEL}):
            labels = image.labels or {}
            rows.append({"target": labels.get(img.TARGET_LABEL), "tags": image.tags, "id": image.id,
                         "inputs": labels.get(img.INPUTS_LABEL, "")[:12],
                         "created": image.attrs.get("Created", "")})
        return sorted(rows, key=lambda r: (r["target"] or "", r["created"]))

    # ------------------------------------------------------------------ stages
    def container_kwargs(self, spec: StageSpec) -> dict:
        """The docker create() arguments for a stage: all policy lives here, as data."""
        docker = _docker_module()
        mounts = [docker.types.Mount(target=m.dst, source=os.path.abspath(m.src), type="bind",
                                     read_only=m.read_only) for m in spec.mounts]
        devices, group_add, cgroup_rules = [], set(), []
        for host, inside in spec.device_pairs():
            if not os.path.exists(host):
                raise EngineError(f"stage {spec.name}: device {host} does not exist",
                                  hint="check the port (tinyrepro doctor lists serial devices)")
            group_add.add(str(os.stat(host).st_gid))
            if host.startswith("/dev/pts/"):
                mounts.append(docker.types.Mount(target=inside, source=host, type="bind", read_only=False))
                cgroup_rules = [PTY_CGROUP_RULE]
            else:
                devices.append(f"{host}:{inside}:rwm")
        env = {"HOME": "/tmp", **spec.env}
        return dict(
            command=list(spec.command), mounts=mounts, devices=devices, device_cgroup_rules=cgroup_rules,
            group_add=sorted(group_add), user=spec.user or host_user(), environment=env,
            working_dir=spec.workdir, network_mode=self.stage_network if spec.network else "none",
            cap_drop=["ALL"], security_opt=["no-new-privileges"], labels={STAGE_LABEL: spec.name, SESSION_LABEL: session_id()},
            detach=True, init=True,
        )

    def run(self, spec: StageSpec, on_line: LineSink | None = None, check: bool = True) -> StageResult:
        record, _ = self.ensure_image(spec.image_target)
        sink = on_line or (lambda line: print(f"[{spec.name}] {line}", flush=True))
        kwargs = self.container_kwargs(spec)
        start = time.monotonic()
        container = None
        tail: deque[str] = deque(maxlen=200)
        try:
            with sigterm_as_interrupt():
                container = self.client.containers.create(record.image_id, **kwargs)
                pump = threading.Thread(target=_pump_logs, args=(container, sink, tail), daemon=True)
                container.start()
                pump.start()
                exit_code = self._wait(container, spec)
                pump.join(timeout=5)
        finally:
            if container is not None:
                _remove(container)
        result = StageResult(spec.name, exit_code, time.monotonic() - start, "docker", record, list(tail))
        return check_result(result) if check else result

    def _wait(self, container, spec: StageSpec) -> int:
        deadline = time.monotonic() + spec.timeout_s
        # Short waits in a loop, so Ctrl-C is seen promptly and the timeout is ours, not HTTP's.
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                with contextlib.suppress(Exception):
                    container.kill()
                raise StageTimeout(f"stage {spec.name} exceeded its {spec.timeout_s:g} s timeout and was killed",
                                   hint="raise the stage timeout, or check the DUT is answering")
            try:
                return int(container.wait(timeout=min(remaining, 1.0))["StatusCode"])
            except Exception as err:  # noqa: BLE001 - the SDK raises requests' timeouts
                if "timed out" not in str(err).lower() and "timeout" not in type(err).__name__.lower():
                    raise EngineError(f"lost the container of stage {spec.name}: {err}",
                                      hint="check `docker ps -a` and the Docker daemon log") from err

    def leftover_containers(self) -> list[str]:
        """Stage containers of this session (this process and its children) still present."""
        return [c.id for c in self.client.containers.list(
            all=True, filters={"label": [STAGE_LABEL, f"{SESSION_LABEL}={session_id()}"]})]


def _pump_logs(container, sink: LineSink, tail: deque) -> None:
    buf = b""
    with contextlib.suppress(Exception):  # the container may be removed under us on Ctrl-C
        for chunk in container.logs(stream=True, follow=True):
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                line = raw.decode("utf-8", "replace").rstrip("\r")
                tail.append(line)
                sink(line)
    if buf:
        line = buf.decode("utf-8", "replace")
        tail.append(line)
        sink(line)


def _remove(container) -> None:
    # Survive a second Ctrl-C while cleaning up: a leaked container is worse than a slow exit.
    old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread() else None
    try:
        with contextlib.suppress(Exception):
            container.remove(force=True)
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
