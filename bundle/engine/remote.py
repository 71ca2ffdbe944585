"""Stages on a remote Docker engine: inputs go in and outputs come back through the Docker API.

A remote engine (DOCKER_HOST=ssh://... or tcp://..., the same in the current docker context,
or `--engine docker-remote` for any socket) cannot see this host's paths, so a stage gets no
bind mount of them. Each mount becomes a named volume on the engine: filled before the stage
from a tar stream (put_archive into a loader container that is created, never started), and
for a writable mount read back after it (get_archive) into the host folder. Only the paths a
mount lists in `include` travel (all of it when empty). Devices are paths on the engine's host
and are passed as they are; a pty of this host cannot be, and is refused with the alternative
(a network serial port, e.g. a labgrid place). Everything else (user, no capabilities, no
network unless declared, read-only inputs) is DockerEngine's policy, unchanged.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import re
import tarfile
import tempfile
from pathlib import Path

from bundle.engine.base import EngineCaps, LineSink, Mount, StageResult, StageSpec, host_user
from bundle.engine.docker import SESSION_LABEL, STAGE_LABEL, DockerEngine, _docker_module, session_id
from bundle.errors import EngineError

REMOTE_SCHEMES = ("ssh://", "tcp://", "http://", "https://")
VOLUME_LABEL = "org.tinyrepro.volume"


def docker_endpoint() -> str:
    """DOCKER_HOST, else the current docker context's endpoint (docker-py's context API)."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    with contextlib.suppress(Exception):   # no docker config: the default local socket
        from docker.context import ContextAPI

        return ContextAPI.get_current_context().Host or ""
    return ""


def engine_is_remote(endpoint: str | None = None) -> bool:
    endpoint = docker_endpoint() if endpoint is None else endpoint
    return endpoint.startswith(REMOTE_SCHEMES)


class RemoteDockerEngine(DockerEngine):
    caps = EngineCaps(name="docker-remote", isolates_filesystem=True, enforces_read_only=True,
                      enforces_no_network=True, runs_as_user=True, needs_images=True)

    def __init__(self, *args, base_url: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.base_url = base_url or docker_endpoint()

    @property
    def client(self):
        if self._client is None:
            docker = _docker_module()
            try:
                self._client = docker.DockerClient(base_url=self.base_url or None, timeout=120,
                                                   use_ssh_client=self.base_url.startswith("ssh://"))
                self._client.ping()
            except Exception as err:  # noqa: BLE001 - any failure means "no engine"
                self._client = None
                raise EngineError(f"remote Docker engine {self.base_url or '(default)'} not reachable: {err}",
                                  hint="check DOCKER_HOST / `docker context use`, and that you can reach it") from err
        return self._client

    # -- the stage as the engine sees it ---------------------------------------------------
    def container_kwargs(self, spec: StageSpec) -> dict:
        """DockerEngine's policy with volumes for mounts and engine-host devices as given."""
        kwargs = super().container_kwargs(dataclasses.replace(spec, mounts=[], devices=[]))
        docker = _docker_module()
        kwargs["mounts"] = [docker.types.Mount(target=m.dst, source=volume_name(spec, i),
                                               type="volume", read_only=m.read_only)
                            for i, m in enumerate(spec.mounts)]
        devices = []
        for host, inside in spec.device_pairs():
            if host.startswith("/dev/pts/"):
                raise EngineError(f"stage {spec.name}: {host} is a pseudo-terminal of this host, which a remote "
                                  "engine cannot reach",
                                  hint="give the DUT as a network serial port (a labgrid place, --place), or run "
                                       "this stage on the local engine")
            devices.append(f"{host}:{inside}:rwm")
        kwargs["devices"] = devices
        return kwargs

    def run(self, spec: StageSpec, on_line: LineSink | None = None, check: bool = True) -> StageResult:
        record, _ = self.ensure_image(spec.image_target)
        user = spec.user or host_user()
        try:
            for i in range(len(spec.mounts)):
                self._create_volume(volume_name(spec, i), spec)
            self._with_loader(record.image_id, spec, lambda c: self._send(c, spec, user))
            result = super().run(spec, on_line, check=False)
            self._with_loader(record.image_id, spec, lambda c: self._receive(c, spec))
        finally:
            self._remove_volumes(spec)
        if check:
            from bundle.engine.base import check_result

            return check_result(result)
        return result

    # -- volumes and transfers ---------------------------------------------------------------
    def _create_volume(self, name: str, spec: StageSpec) -> None:
        self.client.volumes.create(name=name, labels={VOLUME_LABEL: spec.name, SESSION_LABEL: session_id()})

    def _remove_volumes(self, spec: StageSpec) -> None:
        for i in range(len(spec.mounts)):
            with contextlib.suppress(Exception):
                self.client.volumes.get(volume_name(spec, i)).remove(force=True)

    def _with_loader(self, image_id: str, spec: StageSpec, action) -> None:
        """A container that is created, never started: the mount points of the volumes."""
        docker = _docker_module()
        mounts = [docker.types.Mount(target=m.dst, source=volume_name(spec, i), type="volume")
                  for i, m in enumerate(spec.mounts)]
        loader = self.client.containers.create(image_id, command=["true"], mounts=mounts, network_mode="none",
                                               labels={STAGE_LABEL: f"{spec.name}:transfer",
                                                       SESSION_LABEL: session_id()})
        try:
            action(loader)
        finally:
            with contextlib.suppress(Exception):
                loader.remove(force=True)

    def _send(self, loader, spec: StageSpec, user: str) -> None:
        for mount in spec.mounts:
            data = pack(mount, user)
            if not loader.put_archive(mount.dst, data):
                raise EngineError(f"stage {spec.name}: could not copy {mount.src} to the engine",
                                  hint="check the remote engine's disk space")

    def _receive(self, loader, spec: StageSpec) -> None:
        for mount in spec.mounts:
            if mount.read_only:
                continue
            for rel in mount.include or (".",):
                inside = f"{mount.dst.rstrip('/')}/{rel}".rstrip("/.") if rel != "." else mount.dst
                try:
                    stream, _ = loader.get_archive(inside)
                except _docker_module().errors.NotFound:
                    continue    # the stage wrote nothing there
                target = Path(mount.src) / rel if rel != "." else Path(mount.src)
                unpack(stream, target.parent if rel != "." else target, strip_top=rel == ".")


def volume_name(spec: StageSpec, index: int) -> str:
    safe = re.sub(r"[^a-zA-Z0-9_.-]", "-", spec.name)[:60]
    return f"tinyrepro-{session_id()}-{safe}-{index}"


def pack(mount: Mount, user: str) -> bytes:
    """A tar of the mount's includes (all of src when none), owned by the stage user, with the
    volume root itself, so a writable volume is writable by that user."""
    uid, gid = (int(x) for x in user.split(":"))
    src = Path(mount.src)

    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
        return info

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        if src.exists():
            root = tar.gettarinfo(str(src), arcname=".")
        else:   # an output folder the stage creates
            root = tarfile.TarInfo(".")
            root.type, root.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(owned(root))
        for rel in mount.include or (sorted(p.name for p in src.iterdir()) if src.is_dir() else ()):
            path = src / rel
            if not path.exists():
                continue
            for parent in reversed(Path(rel).parents[:-1]):   # the folders leading to it
                tar.addfile(owned(tar.gettarinfo(str(src / parent), arcname=str(parent))))
            tar.add(str(path), arcname=rel, filter=owned)
    return buf.getvalue()


def unpack(stream, dest: Path, strip_top: bool = False) -> None:
    """Extract a get_archive stream into dest (tar's own safety filter: no absolute paths, no
    links out of dest). strip_top: the archive's top folder is dest itself."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as tmp:
        for chunk in stream:
            tmp.write(chunk)
        tmp.seek(0)
        with tarfile.open(fileobj=tmp) as tar:
            members = tar.getmembers()
            if strip_top:
                top = members[0].name.split("/")[0] if members else ""
                members = [m for m in members if m.name != top]
                for m in members:
                    m.name = m.name[len(top) + 1:]
            tar.extractall(dest, members=members, filter="data")
