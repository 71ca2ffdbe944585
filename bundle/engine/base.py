"""The engine interface: stages are data, engines execute them.

A stage never calls Docker or subprocess itself: it is a `StageSpec` (command, image target,
mounts, devices, network policy, user, env, timeout). An engine runs it and hands back a
`StageResult`. Engines say what they can guarantee through `EngineCaps`, so the pipeline can
record what isolation a run really had. The engine is chosen by name in bundle/engine/select.py.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from bundle.fsutil import atomic_output  # noqa: F401 - re-exported for stages
from bundle.errors import EngineError

# Where a stage sees the DUT serial port, whatever the host calls it.
DUT_DEVICE_IN_STAGE = "/dev/ttyDUT"

LineSink = Callable[[str], None]


@dataclass(frozen=True)
class Mount:
    src: str          # host path (or a ${VAR} expression when rendered for compose)
    dst: str          # path inside the stage
    read_only: bool = True
    # What the stage reads or writes under src (relative paths); empty: all of it. A remote
    # engine copies only these, in and (when writable) back out.
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class StageSpec:
    name: str
    image_target: str                       # Dockerfile target: runner, tvm, zephyr
    command: list[str]
    mounts: list[Mount] = field(default_factory=list)
    # "host" or "host:inside". A pty (/dev/pts/N) is fine: engines handle it.
    devices: list[str] = field(default_factory=list)
    network: bool = False
    user: str | None = None                 # "uid:gid"; None = the host user
    env: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 3600.0
    workdir: str = "/work"

    def device_pairs(self) -> list[tuple[str, str]]:
        pairs = []
        for dev in self.devices:
            host, _, inside = dev.partition(":")
            pairs.append((host, inside or host))
        return pairs


@dataclass(frozen=True)
class ImageRecord:
    """What the run report records about the image a stage ran in."""
    target: str
    tag: str
    image_id: str
    repo_digests: list[str]
    base_image: str
    inputs_hash: str


@dataclass
class StageResult:
    name: str
    exit_code: int
    duration_s: float
    engine: str
    image: ImageRecord | None = None
    output_tail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class EngineCaps:
    """What an engine guarantees; the pipeline copies this into the run report."""
    name: str
    isolates_filesystem: bool   # only the declared mounts are visible
    enforces_read_only: bool    # read-only mounts really are read-only
    enforces_no_network: bool   # network=False really cuts the network
    runs_as_user: bool          # StageSpec.user is honoured
    needs_images: bool          # stages run inside built images


class Engine(ABC):
    caps: EngineCaps

    @abstractmethod
    def available(self) -> tuple[bool, str]:
        """(usable on this host, why not)."""

    @abstractmethod
    def run(self, spec: StageSpec, on_line: LineSink | None = None, check: bool = True) -> StageResult:
        """Run one stage to completion. Raises StageTimeout, EngineError (check=True and exit != 0)."""


def tagged_printer(stage: str) -> LineSink:
    return lambda line: print(f"[{stage}] {line}", flush=True)


def check_result(result: StageResult) -> StageResult:
    if result.ok:
        return result
    tail = "\n".join(result.output_tail[-15:])
    raise EngineError(
        f"stage {result.name} exited with code {result.exit_code} ({result.engine} engine)\n{tail}",
        hint=f"read the [{result.name}] lines above; rerun with -v for the full command",
    )


def host_user() -> str:
    return f"{os.getuid()}:{os.getgid()}"
