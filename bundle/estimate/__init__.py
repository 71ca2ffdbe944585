"""A board-free latency estimate: the firmware's inference under a cycle-approximate model
of the board's core and memory system (`tinyrepro estimate`).

Parameters come from the manuals (bundle/data/timing.yaml names each source); no published
latency is used to set any of them. The estimate is a model's number beside the published
one, never a verdict.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from bundle.errors import ConfigError
from bundle.estimate.machine import SETUP_CALLS, Image, Machine, Run
from bundle.estimate.memory import SocMemory
from bundle.estimate.timing import CoreTiming

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class BoardModel:
    board: str
    core: CoreTiming
    soc: SocMemory
    gcc_flags: tuple[str, ...]      # how Zephyr compiles for the core

    @property
    def clock_hz(self) -> int:
        return self.soc.clock_hz


def load_timing(path: Path | None = None) -> dict:
    text = (Path(path).read_text(encoding="utf-8") if path
            else resources.files("bundle.data").joinpath("timing.yaml").read_text(encoding="utf-8"))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"timing model {path or 'bundle/data/timing.yaml'} is not YAML: {err}",
                          hint="fix the file, or drop --timing to use bundle/data/timing.yaml") from None
    if not isinstance(data, dict) or data.get("version") != SCHEMA_VERSION:
        raise ConfigError(f"timing model {path or 'bundle/data/timing.yaml'}: version {SCHEMA_VERSION} expected",
                          hint="see bundle/data/timing.yaml for the format")
    for key in ("cores", "socs", "boards"):
        if not isinstance(data.get(key), dict):
            raise ConfigError(f"timing model: `{key}` missing or not a mapping",
                              hint="see bundle/data/timing.yaml for the format")
    return data


def board_model(board: str, timing: dict | None = None) -> BoardModel:
    timing = timing or load_timing()
    key = board.replace("-", "")
    entry = timing["boards"].get(board) or timing["boards"].get(key)
    if entry is None:
        raise ConfigError(f"no timing model for board {board!r}",
                          hint=f"known boards: {', '.join(timing['boards'])} (bundle/data/timing.yaml)")
    try:
        return BoardModel(key, CoreTiming.from_config(entry["core"], timing["cores"]),
                          SocMemory.from_config(entry["soc"], timing["socs"]),
                          tuple(timing["cores"][entry["core"]]["gcc_flags"]))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ConfigError(f"timing model for {board}: missing or bad entry {err}",
                          hint="compare with bundle/data/timing.yaml") from None


def estimate_elf(elf: Path, model: BoardModel) -> Run:
    """Cycles of one th_infer() of the image under the board's model."""
    machine = Machine(Image.load(Path(elf)), model.core, model.soc)
    for name in SETUP_CALLS:
        machine.call(name)
    return machine.measure()


def estimate_build(spec, *, elf: Path | None = None, code_root: Path | None = None, build_dir: Path | None = None,
                   cmsis=None, published_results: Path | None = None, timing: dict | None = None,
                   progress=None):
    """Build (or take) the image of `spec` (a BuildSpec) for its board's core and estimate it.
    `published_results`: the published results tree (…/results/), for the latency beside it."""
    from bundle.estimate.build import build_for_core
    from bundle.estimate.result import Estimate, published_latency_ms

    model = board_model(spec.board, timing)
    if elf is None:
        built = build_for_core(spec, code_root, build_dir, model.gcc_flags, cmsis=cmsis)
        elf = built.program
        if progress:
            progress(f"{built.project}: image {'reused' if built.reused else 'built'} ({built.digest})")
    run = estimate_elf(elf, model)
    published = None
    if published_results is not None:
        published = published_latency_ms(Path(published_results) / spec.system / spec.benchmark
                                         / "performance" / "results.txt")
    return Estimate(f"{spec.variant}/{spec.board}/{spec.benchmark}", model.board, model.core.name, model.soc.name,
                    model.clock_hz, str(elf), run, published)
