"""A remote Docker engine's view of a stage: volumes, never this host's paths."""
from __future__ import annotations

import io
import os
import tarfile

import pytest

from bundle.engine.base import Mount, StageSpec
from bundle.engine.select import get_engine
from bundle.engine.remote import RemoteDockerEngine, engine_is_remote, pack, unpack
from bundle.errors import EngineError
from bundle.toolchain.pins import BUILDS
from bundle.toolchain.containers import StageContext, run_stage


@pytest.mark.parametrize("endpoint, remote", [
    ("ssh://lab@builder", True), ("tcp://10.0.0.5:2376", True),
    ("unix:///var/run/docker.sock", False), ("", False), ("npipe:////./pipe/docker_engine", False),
])
def test_which_endpoints_are_remote(endpoint, remote):
    assert engine_is_remote(endpoint) is remote


def test_docker_host_over_ssh_selects_the_remote_engine(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "ssh://lab@builder")
    assert isinstance(get_engine("docker"), RemoteDockerEngine)
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    assert not isinstance(get_engine("docker"), RemoteDockerEngine)
    assert isinstance(get_engine("docker-remote"), RemoteDockerEngine)


def _run_spec(tmp_path, port):
    ctx = StageContext(inputs=str(tmp_path / "cache"), artifacts=str(tmp_path / "run"), dut_port=port,
                       probe_device="", build=BUILDS[0])
    return run_stage(ctx, "kws", "accuracy", out="/artifacts/runs/places/p1/kws/accuracy", limit=5)


def test_run_stage_on_a_remote_engine_has_no_bind_mount_of_a_client_path(tmp_path):
    spec = _run_spec(tmp_path, "rfc2217://10.0.0.7:4001?ign_set_control")
    kwargs = RemoteDockerEngine(base_url="ssh://lab@builder").container_kwargs(spec)
    assert kwargs["mounts"] and all(m["Type"] == "volume" for m in kwargs["mounts"])
    client_paths = (str(tmp_path), os.getcwd())
    assert not any(str(m["Source"]).startswith(client_paths) for m in kwargs["mounts"])
    assert kwargs["devices"] == [] and kwargs["network_mode"] != "none"   # the port is reached by network
    assert "rfc2217://10.0.0.7:4001?ign_set_control" in kwargs["command"]
    # only the stimuli and the run's own folder travel
    inputs, artifacts = spec.mounts
    assert inputs.include[0] == "tree/datasets/kws01"
    assert len(inputs.include) > 900 and all(p.startswith("sha256/") for p in inputs.include[1:])
    assert artifacts.include == ("runs/places/p1/kws/accuracy",)


def test_a_device_of_the_engine_host_passes_a_pty_of_this_host_does_not(tmp_path):
    engine = RemoteDockerEngine(base_url="ssh://lab@builder")
    kwargs = engine.container_kwargs(_run_spec(tmp_path, "/dev/ttyACM7"))   # need not exist here
    assert kwargs["devices"] == ["/dev/ttyACM7:/dev/ttyDUT:rwm"]
    with pytest.raises(EngineError) as err:
        engine.container_kwargs(_run_spec(tmp_path, "/dev/pts/3"))
    assert "pseudo-terminal" in err.value.message and "--place" in err.value.hint


def test_pack_sends_only_the_includes_owned_by_the_stage_user(tmp_path):
    src = tmp_path / "cache"
    (src / "tree" / "datasets" / "kws01").mkdir(parents=True)
    (src / "tree" / "datasets" / "kws01" / "a.bin").write_bytes(b"abc")
    (src / "tree" / "models").mkdir()
    (src / "tree" / "models" / "big.tflite").write_bytes(b"x" * 100)
    data = pack(Mount(str(src), "/inputs", True, include=("tree/datasets/kws01", "missing/x")), "1234:99")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = {m.name: m for m in tar.getmembers()}
    assert set(names) == {".", "tree", "tree/datasets", "tree/datasets/kws01", "tree/datasets/kws01/a.bin"}
    assert {(m.uid, m.gid) for m in names.values()} == {(1234, 99)}


def test_unpack_refuses_paths_out_of_the_destination(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(tarfile.TarError):
        unpack([buf.getvalue()], tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()


def test_spec_roundtrip_keeps_mount_includes():
    spec = StageSpec("s", "runner", ["true"], mounts=[Mount("/a", "/b", True, include=("x",))])
    assert spec.mounts[0].include == ("x",)
