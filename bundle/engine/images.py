"""The images as data: targets, what building each needs, the build context and its hash.

The build context is assembled here (not by `docker build .`), so the content hash that names
an image covers exactly the bytes Docker sees: Dockerfile, lock file, pyproject, the bundle
sources, plus the build arguments. Same inputs, same tag, no rebuild.

The tag names the image, nothing else: it hashes all of bundle/ (the report's modules too),
so no stage-cache key includes it; a stage is keyed by the sources it runs instead
(bundle/stagekeys.py), and a report-only change rebuilds the runner image without re-running
a DUT.
"""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IMAGE_REPO = "tinyrepro"
INPUTS_LABEL = "org.tinyrepro.inputs"
TARGET_LABEL = "org.tinyrepro.target"

# Pass-through of the host's proxy and mirror settings; Docker excludes the *_PROXY ones
# from the image history by design.
# TOOLCHAIN_BASE_IMAGE: the tvm-builder/zephyr base where the pinned python:3.8 cannot be pulled
# (`make toolchain-base-image` bootstraps Debian bullseye).
PASSTHROUGH_ARGS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
                    "PIP_INDEX_URL", "APT_MIRROR", "TOOLCHAIN_BASE_IMAGE")
# Proxies change how we reach the network, not what is built: kept out of the hash.
UNHASHED_ARGS = {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"}


@dataclass(frozen=True)
class ImageTarget:
    name: str
    needs: tuple[str, ...]        # upstreams the build downloads from: pypi, debian, github
    stages: tuple[str, ...]       # pipeline stages that run in it
    pins: tuple[str, ...] = ()    # build args it takes from the lock file (see lock_pins)
    part_of: str | None = None    # built only as a step of that target (not planned on its own)

    @property
    def unset_pins(self) -> list[str]:
        return [k for k in self.pins if lock_pins()[k].startswith("UNSET")]

    @property
    def pinned_ready(self) -> bool:
        return not self.unset_pins


TARGETS: dict[str, ImageTarget] = {
    t.name: t for t in (
        ImageTarget("runner", needs=("pypi",), stages=("run", "report")),
        # TVM's sources come through the fetch layer (GitHub or a mirror clone), its build runs
        # in a tvm-builder container (bundle/toolchain/tvm_build.py).
        ImageTarget("tvm", needs=("pypi", "debian"), stages=("compile",)),
        ImageTarget("tvm-builder", needs=("pypi", "debian"), stages=(), part_of="tvm"),
        ImageTarget("zephyr", needs=("pypi", "debian", "github"), stages=("firmware", "flash"),
                    pins=("ZEPHYR_VERSION", "ZEPHYR_SHA", "ZEPHYR_SDK_VERSION", "ZEPHYR_SDK_SHA256", "CMSIS_SHA")),
    )
}


def lock_pins() -> dict[str, str]:
    """The Dockerfile's pin build args, from artifacts/lock.yaml (the one place pins live);
    the orchestrator passes them to every build, so the Dockerfile defaults never decide."""
    from bundle.submission_builds import pins

    t = pins()
    return {"CMSIS_SHA": t["cmsis"]["commit"],
            "ZEPHYR_VERSION": t["zephyr"]["tag"], "ZEPHYR_SHA": str(t["zephyr"].get("commit") or "UNSET"),
            "ZEPHYR_SDK_VERSION": str(t["zephyr_sdk"]["version"]),
            "ZEPHYR_SDK_SHA256": str(t["zephyr_sdk"].get("sha256") or "UNSET")}


def context_files(repo: Path = REPO) -> list[Path]:
    """Relative paths of every file the Dockerfile may COPY, sorted for a stable hash."""
    fixed = [Path("Dockerfile"), Path("pyproject.toml"), Path("requirements-runner.lock"),
             Path("requirements-tvm.lock"),
             Path("artifacts/lock.yaml")]
    sources = [
        p.relative_to(repo) for p in (repo / "bundle").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    ]
    return fixed + sorted(sources)


def build_args(base_image: str | None, env: dict[str, str] | None = None,
               extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if env is None else env)
    args = {k: env[k] for k in PASSTHROUGH_ARGS if env.get(k)}
    if base_image:
        args["BASE_IMAGE"] = base_image
    args.update(extra or {})
    return args


def inputs_hash(target: str, args: dict[str, str], repo: Path = REPO) -> str:
    h = hashlib.sha256()
    h.update(f"target={target}\n".encode())
    for key in sorted(k for k in args if k not in UNHASHED_ARGS):
        h.update(f"arg {key}={args[key]}\n".encode())
    for rel in context_files(repo):
        h.update(f"file {rel.as_posix()}\n".encode())
        h.update(hashlib.sha256((repo / rel).read_bytes()).digest())
    return h.hexdigest()


def image_tag(target: str, digest: str) -> str:
    return f"{IMAGE_REPO}/{target}:{digest[:12]}"


def context_tar(repo: Path = REPO) -> io.BytesIO:
    """An uncompressed tar of the context, with fixed owners and times (reproducible layers)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for rel in context_files(repo):
            data = (repo / rel).read_bytes()
            info = tarfile.TarInfo(rel.as_posix())
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


@dataclass(frozen=True)
class HostCaps:
    """What this host can reach and run, as measured by doctor (or given by a test)."""
    docker: bool
    reachable: frozenset[str]       # of: pypi, debian, github
    base_image_present: bool = True


@dataclass(frozen=True)
class ImagePlan:
    target: str
    buildable: bool
    reason: str
    stages: tuple[str, ...]


def plan_images(host: HostCaps, targets: dict[str, ImageTarget] = TARGETS) -> list[ImagePlan]:
    """Which images this host can build, and for the others why not (the pipeline records
    their stages as NOT_RUN with that reason)."""
    plans = []
    for t in targets.values():
        if t.part_of:
            continue
        missing = [n for n in t.needs if n not in host.reachable]
        if not host.docker:
            reason = "no Docker engine reachable (run `tinyrepro doctor`)"
        elif not host.base_image_present and t.name == "runner":
            reason = "base image missing: `make base-image` or pass --base-image"
        elif missing:
            reason = f"needs network access to {', '.join(missing)}, unreachable from this host"
        elif not t.pinned_ready:
            reason = f"pins not set in artifacts/lock.yaml (toolchain): {', '.join(t.unset_pins)}"
        else:
            reason = ""
        plans.append(ImagePlan(t.name, buildable=not reason, reason=reason or "ok", stages=t.stages))
    return plans
