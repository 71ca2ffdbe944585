"""From `--build <variant>/<board>/<benchmark>` to a program a board-free DUT can run.

The project comes from OctoML's published code tree, pinned file by file in the lock and
fetched like the results (or a local tree given with --code, e.g. a regenerated one); a
CMSIS-NN project also gets the pinned CMSIS (lock toolchain.cmsis) by git commit through
bundle/fetch/gittree.py.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bundle.dut import native_build
from bundle.dut.native_build import BuildResult, NativeBuilder, Project
from bundle.errors import ChecksumMismatch, ConfigError, FetchError, StageUnavailable, UsageError
from bundle.fetch.gittree import GitPin, GitTreeFetcher

BUILD_RE = re.compile(r"^(?P<variant>[\w.-]+)/(?P<board>[\w.-]+)/(?P<benchmark>kws|ic|vww|ad)$")


@dataclass(frozen=True)
class BuildSpec:
    variant: str
    board: str
    benchmark: str

    @classmethod
    def parse(cls, text: str) -> "BuildSpec":
        m = BUILD_RE.match(text.strip("/"))
        if not m:
            raise UsageError(f"--build {text!r} is not <variant>/<board>/<benchmark>",
                             hint="e.g. --build microtvm_native/NUCLEO_L4R5ZI/kws")
        return cls(m["variant"], m["board"], m["benchmark"])

    @property
    def system(self) -> str:
        """The results tree's name of the system (its board folders differ: NRF5340DK vs NRF5340-DK)."""
        board = "NRF5340-DK" if self.board == "NRF5340DK" else self.board
        return f"{self.variant}/{board}"

    def project_dir(self, code_root: Path) -> Path:
        for board in dict.fromkeys((self.board, self.board.replace("-", ""))):
            candidate = Path(code_root) / self.variant / board / self.benchmark
            if candidate.is_dir():
                return candidate
        raise ConfigError(f"the code tree {code_root} has no project {self.variant}/{self.board}/{self.benchmark}",
                          hint="list the tree's <variant>/<board>/<benchmark> folders for the right name")


CODE_PREFIX = "published/octoml-v1.0/code/"


def published_code_tree(cache_dir: Path, mirror: Path | None, offline: bool) -> Path:
    """closed/OctoML/code/ at the pinned commit: every file pinned in the lock (`files:`),
    fetched and SHA-256 verified like the results (cache, mirror, raw GitHub URL)."""
    from bundle.fetch.fetcher import Fetcher

    return Fetcher.from_lock(cache_dir=cache_dir, mirror=mirror, offline=offline,
                             progress=False).fetch_tree(CODE_PREFIX)


def cmsis_tree(cache_dir: Path, mirror: Path | None, offline: bool, run=subprocess.run) -> Path:
    """The pinned CMSIS_5 checkout root (holding CMSIS/NN, CMSIS/Core, CMSIS/DSP)."""
    from bundle.fetch.lock import load_lock

    pin = GitPin.from_toolchain(load_lock().toolchain, "cmsis")
    return GitTreeFetcher(cache_dir, mirror, offline, run).fetch(pin).parent


def built_image(kind: str, build: str, cache_dir: Path | None = None, mirror: Path | None = None,
                offline: bool = False, code: Path | None = None) -> BuildResult:
    """One published build (`<variant>/<board>/<benchmark>`) compiled for `kind` (host | qemu),
    from the pinned code tree (or `code`), reused from the build cache when unchanged.
    `.program` is the image: for qemu a Cortex-M4F ELF with its symbol table (not stripped)."""
    from bundle.fetch.fetcher import default_cache_dir

    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    tree = code or published_code_tree(cache, mirror, offline)
    return build_program(kind, BuildSpec.parse(build), tree, cache / "native",
                         cmsis=lambda: cmsis_tree(cache, mirror, offline))


def build_program(kind: str, spec: BuildSpec, code_root: Path, build_dir: Path,
                  cmsis: "callable | None" = None, builder: NativeBuilder | None = None,
                  target: "native_build.Target | None" = None) -> BuildResult:
    """Compile the project for `kind` (host | qemu). `cmsis()` returns the CMSIS root; a
    CMSIS-NN project whose CMSIS cannot be fetched is StageUnavailable with the reason.
    `target` overrides the kind's compiler target (the estimate builds for the board's core)."""
    from bundle.dut.qemu import build_defines

    project = Project.load(spec.project_dir(code_root))
    cmsis_root = None
    if project.cmsis:
        if cmsis is None:
            raise StageUnavailable(f"{project.name} needs CMSIS-NN and no CMSIS source was given",
                                   hint="pass cmsis= (the pinned CMSIS_5 checkout)")
        try:
            cmsis_root = cmsis()
        except ChecksumMismatch:
            raise      # a source that is not the pinned commit is a failure, not "unavailable here"
        except FetchError as err:
            raise StageUnavailable(f"{project.name} needs the pinned CMSIS (ARM-software/CMSIS_5): "
                                   f"{err.message}", hint=err.hint) from None
    if target is None:
        target = native_build.HOST if kind == "host" else native_build.qemu_target(build_defines(spec.board))
    return (builder or NativeBuilder(build_dir)).build(project, target, cmsis_root)
