"""A runner stage on a second Docker engine, reached through its own socket as a remote one:
its inputs go in and its outputs come back through the Docker API, never a bind mount.

The second engine is a dockerd started here (root only) with its own socket, data root, exec
root and a bridge interface of its own (never `--bridge none`: dockerd then deletes the host's
docker0, which the first engine's containers use), no iptables, stopped at the end; the runner image is copied to it from the local engine
(docker save | docker load: no registry here). The DUT is a software DUT behind a loopback
labgrid place, reached over rfc2217:// from the stage (host network: the exporter is on
127.0.0.1). Skipped, with the reason, where a second engine cannot be started.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bundle.engine.docker import SESSION_LABEL, session_id
from bundle.lab.coordinator import Coordinator, acquired
from bundle.lab.loopback import LoopbackLab, missing_tools
from bundle.published.logs import parse_log

pytestmark = pytest.mark.docker
BASE = os.environ.get("TINYREPRO_BASE_IMAGE", "tinyrepro/debian-base:bookworm")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def local_engine(tmp_path_factory):
    """The local engine with the runner image built from a frozen copy of the build context."""
    from bundle.engine.docker import DockerEngine
    from bundle.engine.images import context_files

    snapshot = tmp_path_factory.mktemp("context")
    for rel in context_files(REPO):
        (snapshot / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / rel, snapshot / rel)
    engine = DockerEngine(base_image=BASE, repo=snapshot)
    ok, detail = engine.available()
    if not ok:
        pytest.skip(f"no local Docker engine to copy the runner image from: {detail}")
    import docker

    try:
        engine.client.images.get(BASE)
    except docker.errors.ImageNotFound:
        pytest.skip(f"base image {BASE} missing: run `make base-image`")
    engine.ensure_image("runner")
    return engine


def _why_no_second_engine() -> str:
    if os.geteuid() != 0:
        return "starting a second dockerd needs root"
    if not shutil.which("dockerd"):
        return "no dockerd binary on this host"
    if not shutil.which("ip"):
        return "no `ip` (iproute2) to make the second engine's bridge"
    return missing_tools()


@pytest.fixture(scope="module")
def second_engine(tmp_path_factory, local_engine):
    """unix:// URL of a dockerd started for this module; stopped and its data removed after."""
    reason = _why_no_second_engine()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("dockerd2")
    (root / "daemon.json").write_text("{}")        # not the host's /etc/docker/daemon.json
    sock = root / "docker.sock"
    driver = local_engine.client.info().get("Driver", "overlay2")
    bridge = _make_bridge()
    log = open(root / "dockerd.log", "wb")
    proc = subprocess.Popen(
        ["dockerd", "--config-file", str(root / "daemon.json"), "--host", f"unix://{sock}",
         "--data-root", str(root / "data"), "--exec-root", str(root / "exec"), "--pidfile", str(root / "pid"),
         "--bridge", bridge, "--iptables=false", "--ip-masq=false", "--storage-driver", driver],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"unix://{sock}"
    try:
        client = _wait_for(url, proc, root)
        image = local_engine.ensure_image("runner")[0]
        client.images.load(local_engine.client.images.get(image.image_id).save(named=True))
        client.close()
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        subprocess.run(["ip", "link", "delete", bridge], check=False)
        _unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


def _unmount_under(root: Path) -> None:
    """What dockerd leaves mounted under its roots (its netns bind mount), deepest first."""
    with open("/proc/self/mounts") as fh:
        points = [line.split()[1] for line in fh if line.split()[1].startswith(str(root) + "/")]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)


def _make_bridge() -> str:
    """A bridge interface for the second engine only, on an address of the benchmarking range
    (198.18.0.0/15, RFC 2544) so it meets no real network."""
    import secrets

    name = f"trbr{secrets.token_hex(3)}"
    subnet = f"198.18.{secrets.randbelow(250) + 1}.1/24"
    for cmd in (["ip", "link", "add", "name", name, "type", "bridge"], ["ip", "addr", "add", subnet, "dev", name],
                ["ip", "link", "set", name, "up"]):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            subprocess.run(["ip", "link", "delete", name], check=False, capture_output=True)
            pytest.skip(f"cannot make a bridge for a second engine: {done.stderr.strip()}")
    return name


def _wait_for(url: str, proc: subprocess.Popen, root: Path):
    import docker

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            client = docker.DockerClient(base_url=url, timeout=120)
            client.ping()
            return client
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.5)
    tail = (root / "dockerd.log").read_text(errors="replace")[-800:]
    pytest.skip(f"a second dockerd could not be started here: {tail}")


def test_runner_stage_on_a_second_engine_through_the_docker_api(second_engine, local_engine, monkeypatch,
                                                                 tmp_path, fetcher, kws_dataset, kws_model):
    from bundle.engine.remote import RemoteDockerEngine
    from bundle.toolchain.pins import BUILDS
    from bundle.toolchain.containers import StageContext, run_stage

    monkeypatch.setenv("TINYREPRO_STAGE_NETWORK", "host")   # the exporter listens on 127.0.0.1
    engine = RemoteDockerEngine(base_url=second_engine, base_image=BASE, repo=local_engine.repo)
    run_dir = tmp_path / "run"
    with LoopbackLab(tmp_path, [dict(backend="litert", benchmark="kws", model=kws_model, baud=0)]) as lab:
        coordinator = Coordinator(lab.address)
        try:
            with acquired(coordinator, lab.places):
                url = coordinator.serial_url(lab.places[0])
                ctx = StageContext(inputs=str(fetcher.cache_dir), artifacts=str(run_dir), dut_port=url,
                                   probe_device="", build=BUILDS[0])
                spec = run_stage(ctx, "kws", "accuracy", out="/artifacts/runs/remote/kws/accuracy", limit=20,
                                 name="run:remote")
                kwargs = engine.container_kwargs(spec)
                assert all(m["Type"] == "volume" for m in kwargs["mounts"])
                result = engine.run(spec)
        finally:
            coordinator.close()
    assert result.ok and result.engine == "docker"
    out = run_dir / "runs" / "remote" / "kws" / "accuracy"
    assert len(parse_log(out / "log.txt").outputs) == 20
    assert json.loads((out / "run-info.json").read_text())["stimuli"] == 20
    assert "partial run (20 of 1000 stimuli)" in (out / "results.txt").read_text()
    assert not [p for p in run_dir.rglob("*") if p.is_file() and out not in p.parents]   # nothing else came back
    left = engine.client.volumes.list(filters={"label": f"{SESSION_LABEL}={session_id()}"})
    assert left == [] and engine.leftover_containers() == []
