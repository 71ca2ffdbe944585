"""The resumable build, for real, on a tiny CMake project standing in for TVM: the same script,
container and volume as the TVM build, in the tvm-builder image (cmake, ninja, gcc). A build
stopped half-way continues on the volume without redoing finished steps, and the progress log
counts the whole build across both sessions."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bundle.toolchain import tvm_image
from bundle.toolchain.tvm_image import BuildPlan, find_build_container, parse_progress, read_progress, start_build

pytestmark = pytest.mark.docker

CMAKE = """\
cmake_minimum_required(VERSION 3.10)
project(fake C)
add_library(tvm SHARED {tvm})
add_library(tvm_runtime SHARED rt.c)
add_custom_target(standalone_crt
  COMMAND ${{CMAKE_COMMAND}} -E make_directory standalone_crt/include
  COMMAND ${{CMAKE_COMMAND}} -E touch standalone_crt/include/crt_config.h)
"""


@pytest.fixture(scope="module")
def client_and_builder():
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as err:  # noqa: BLE001
        if os.environ.get("CI") == "true":
            pytest.fail(f"no Docker engine on CI: {err}")
        pytest.skip(f"no Docker engine: {err}")
    images = client.images.list(filters={"label": "org.tinyrepro.target=tvm-builder"})
    if not images:
        pytest.skip("the tvm-builder image is not built here (make tvm-image builds it)")
    return client, max(images, key=lambda i: i.attrs["Created"]).tags[0]


def _sources(root: Path, n: int, slow: int | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        # one slow unit (a long chain of constant work at -O1) makes "stop half-way" reliable
        body = "".join(f"int g{i}_{k}(int x){{return x*{k}+{i};}}\n" for k in range(3000 if i == slow else 1))
        (root / f"s{i}.c").write_text(body)
        names.append(f"s{i}.c")
    (root / "rt.c").write_text("int rt(void){return 0;}\n")
    (root / "CMakeLists.txt").write_text(CMAKE.format(tvm=" ".join(names)))
    for p in root.iterdir():   # what bundle.fetch.gitsources does to placed sources
        os.utime(p, (946684800, 946684800))
    return root


def _wait(container, timeout_s: float = 300) -> int:
    return container.wait(timeout=timeout_s)["StatusCode"]


def test_a_stopped_build_resumes_where_it_stopped(client_and_builder, tmp_path):
    client, builder = client_and_builder
    src = _sources(tmp_path / "src", 12, slow=11)
    plan = BuildPlan(source_key=f"test-{os.getpid()}-{time.time_ns()}", tvm_commit="0" * 40, jobs=1, nice=0)
    try:
        first = start_build(client, builder, plan, src)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:   # stop it once a few objects are done
            if parse_progress(read_progress(first)).done >= 4:
                break
            time.sleep(0.5)
        first.stop(timeout=1)
        assert first.wait(timeout=60)["StatusCode"] != 0
        stopped = parse_progress(read_progress(first))
        assert 4 <= stopped.done < stopped.total and not stopped.finished

        second = start_build(client, builder, plan, src)   # replaces the stopped container, same volume
        assert _wait(second) == 0
        log = read_progress(second)
        final = parse_progress(log)
        assert final.finished and final.sessions == 2 and final.done == final.total == stopped.total
        # the second session did only what was left: its ninja counts fewer steps
        second_session = log.split("session start")[-1]
        left = {int(line.split("[")[1].split("/")[1].split("]")[0]) for line in second_session.splitlines()
                if "] Building" in line or "] Linking" in line}
        assert left and max(left) < stopped.total
        assert "configuring" not in second_session.lower()   # no re-configure on resume
    finally:
        container = find_build_container(client, plan)
        if container is not None:
            container.remove(force=True)
        try:
            client.volumes.get(plan.volume).remove(force=True)
        except Exception:  # noqa: BLE001 - already gone
            pass


def test_the_final_image_context_holds_python_libraries_and_the_script(client_and_builder, tmp_path, monkeypatch):
    """What the tvm image is assembled from, without a finished TVM build: the libraries and
    the CRT are read from the volume (stubbed here), TVM's Python package from the placed sources."""
    import io
    import tarfile

    client, builder = client_and_builder
    src = tmp_path / "tvm"
    (src / "python" / "tvm" / "__pycache__").mkdir(parents=True)
    (src / "python" / "tvm" / "__init__.py").write_text("# tvm\n")
    (src / "python" / "tvm" / "__pycache__" / "x.pyc").write_bytes(b"\0")

    class Engine:
        pass

    engine = Engine()
    engine.client = client
    tvm = tvm_image.TvmImage(engine, tmp_path / "cache")
    monkeypatch.setattr(tvm, "source_dir", lambda: src)

    def volume_tar(builder, name):   # what docker cp gives: the file or folder under its own name
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            files = {name: f"ELF {name}"} if name.endswith(".so") else {f"{name}/include/crt_config.h": "//"}
            for arc, text in files.items():
                info = tarfile.TarInfo(arc)
                info.size, info.mode = len(text), 0o755
                t.addfile(info, io.BytesIO(text.encode()))
        return buf.getvalue()

    monkeypatch.setattr(tvm, "_volume_tar", volume_tar)
    with tarfile.open(fileobj=tvm._final_context(builder)) as tar:
        names = set(tar.getnames())
        dockerfile = tar.extractfile("Dockerfile").read().decode()
        lib = tar.extractfile("tvm/build/libtvm.so")
        assert lib.read() == b"ELF libtvm.so"
        assert tar.getmember("tvm/build/libtvm.so").mode & 0o111
    assert {"tvm_compile.py", "tvm/python/tvm/__init__.py", "tvm/build/libtvm_runtime.so",
            "tvm/build/standalone_crt/include/crt_config.h"} <= names
    assert not any("__pycache__" in n for n in names)
    assert dockerfile.startswith(f"FROM {builder}\n") and "TVM_LIBRARY_PATH=/opt/tvm/build" in dockerfile


@pytest.mark.skipif(os.environ.get("TINYREPRO_TOOLCHAIN_TIER") != "1",
                    reason="assembles a 1.6 GB image (about 2 min here): run by make test-toolchain")
def test_a_finished_build_becomes_the_tvm_image(client_and_builder, tmp_path, monkeypatch):
    """Build (tiny stand-in libraries), assemble the image, find it by its labels, import the
    package inside it: the whole path from volume to `tvm` image, on the real engine."""
    import docker

    client, builder = client_and_builder
    src = _sources(tmp_path / "src", 2)
    for pkg in ("tvm", "tvm/micro", "tvm/relay", "tvm/relay/frontend", "tvm/relay/op", "tvm/relay/op/contrib"):
        (src / "python" / pkg).mkdir(parents=True, exist_ok=True)
        (src / "python" / pkg / "__init__.py").write_text("__version__ = 'stand-in'\n" if pkg == "tvm" else "")
    (src / "python/tvm/relay/op/contrib/cmsisnn.py").write_text("")
    plan = BuildPlan(source_key=f"test-{os.getpid()}-{time.time_ns()}", tvm_commit="0" * 40, jobs=1, nice=0)

    class Engine:
        pass

    engine = Engine()
    engine.client = client
    tvm = tvm_image.TvmImage(engine, tmp_path / "cache")
    monkeypatch.setattr(tvm, "plan", plan)
    monkeypatch.setattr(tvm, "source_dir", lambda: src)
    monkeypatch.setattr(tvm, "builder", lambda: builder)
    image = None
    try:
        assert _wait(start_build(client, builder, plan, src)) == 0
        assert tvm.state().done
        image = tvm.final_image(builder, sink=lambda line: None)
        assert tvm_image.find_built(client, plan, current_script=True).id == image.id
        assert image.labels[tvm_image.BUILD_LABEL] == plan.key
        out = client.containers.run(image.id, ["sh", "-c", "python -c 'import tvm; print(tvm.__file__)'; "
                                               "ls /opt/tvm/build; test -f /opt/tinyrepro/tvm_compile.py; "
                                               "test -f /opt/tvm/build/standalone_crt/include/crt_config.h"],
                                    network_mode="none", remove=True).decode()
        assert "/opt/tvm/python/tvm/__init__.py" in out and "libtvm.so" in out and "libtvm_runtime.so" in out
        assert tvm.final_image(builder).id == image.id   # assembled once
    finally:
        if image is not None:
            client.images.remove(image.id, force=True)
        container = find_build_container(client, plan)
        if container is not None:
            container.remove(force=True)
        try:
            client.volumes.get(plan.volume).remove(force=True)
        except docker.errors.NotFound:
            pass
