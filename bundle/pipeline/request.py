"""What `tinyrepro reproduce` was asked to do, fixed before the first stage runs.

The request is immutable: stages read it and never write it; what they produce is their
typed output (bundle/pipeline/outputs.py), kept apart in the session.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bundle.reproduce_config import ReproduceConfig


@dataclass(frozen=True)
class Sources:
    """Where pinned inputs come from: the verified cache, an offline mirror, the network."""
    cache: Path
    mirror: Path | None = None
    offline: bool = False

    @classmethod
    def from_options(cls, cache: str | Path | None, mirror: str | Path | None, offline: bool) -> "Sources":
        import os

        from bundle.fetch.fetcher import MIRROR_ENV, default_cache_dir

        mirror = mirror or os.environ.get(MIRROR_ENV) or None
        return cls(Path(cache) if cache else default_cache_dir(), Path(mirror) if mirror else None, offline)


@dataclass(frozen=True)
class Network:
    """Which pinned upstreams answer; `block` says why GitHub sources are not fetched."""
    reachable: frozenset[str] = frozenset()
    block: str | None = None

    @classmethod
    def probe(cls, offline: bool) -> "Network":
        """doctor's checks; GitHub gates the build chain."""
        if offline:
            # Not probed. Image builds still install from the package registries (as `make venv`
            # does); the pinned GitHub sources are what an offline run goes without.
            return cls(frozenset({"pypi", "debian"}), "offline run (--offline): GitHub sources are not fetched")
        from bundle.doctor import check_network, reachable_upstreams

        checks = check_network()
        reachable = reachable_upstreams(checks)
        if "github" in reachable:
            return cls(reachable)
        down = [c.detail for c in checks if not c.data.get("reachable")]
        return cls(reachable, "; ".join(down) or "github unreachable")


@dataclass(frozen=True)
class Options:
    limit: int | None = None               # accuracy runs: only the first N stimuli
    backends: tuple[str, ...] = ()         # software-DUT model runtimes
    dut: str = "auto"                      # auto (board, else host, else sim), qemu (host's place) or sim
    energy_firmware: bool = False          # also build energy-mode firmware (-DENERGY_MODE=1)
    estimate: bool = True                  # the estimate stage (latency under the timing model)
    compile: bool = True                   # the compile stage (TVM in the tvm image), and so codediff


@dataclass(frozen=True)
class Request:
    cfg: ReproduceConfig
    run_dir: Path
    system: str                            # the build on the board (its N/W and build-chain stages)
    sources: Sources
    system_given: bool = False             # --system: a board run is diffed against that system only
    port: str | None = None
    places: tuple[str, ...] = ()           # labgrid places to acquire and run on
    coordinator: str | None = None         # labgrid coordinator HOST:PORT (bundle/lab/)
    engine: str = "auto"
    base_image: str | None = None
    options: Options = field(default_factory=Options)
    network: Network = field(default_factory=Network)

    @property
    def board(self) -> bool:
        return bool(self.port or self.places)

    def code_source(self) -> tuple[Path, Path | None, bool]:
        """(cache, mirror, offline) for git-pinned trees: without GitHub, the cache or mirror only."""
        s = self.sources
        return s.cache, s.mirror, s.offline or bool(self.network.block)
