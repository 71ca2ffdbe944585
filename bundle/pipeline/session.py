"""One `reproduce` in progress: the request, what the stages produced so far, and the
services they share (the engine, the progress display, the stage cache, the notes)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bundle.pipeline.outputs import CodeDiff, Fetched, Firmware, Images
from bundle.pipeline.records import Recorder, console
from bundle.pipeline.request import Request


@dataclass
class Session:
    request: Request
    cache: Any = None                  # bundle.stagecache.StageCache: reuse what nothing changed
    progress: Any = None               # bundle.progress.PipelineProgress: the one live display
    recorder: Recorder | None = None
    engine_obj: Any = None             # bundle.engine.base.Engine, made when first needed
    outputs: dict[str, Any] = field(default_factory=dict)   # stage name -> its output
    ran: set[str] = field(default_factory=set)   # stages that ran (or, in a dry run, could)
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stimuli_reasons: dict[str, str] = field(default_factory=dict)  # benchmark -> why it has no stimuli
    dut_choice: Any = None             # bundle.dut.select.DutChoice, once the run stage has chosen
    board: Any = None                  # the run stage's BoardDut, kept across its runs: what it carries
    _cmsis: Path | None = None

    def __post_init__(self) -> None:
        if self.progress is None:
            from bundle.progress import quiet

            self.progress = quiet(console)
        if self.recorder is None:
            self.recorder = Recorder(self.request.run_dir, self.progress)

    # -- what earlier stages produced ----------------------------------------------------
    @property
    def fetched(self) -> Fetched | None:
        return self.outputs.get("fetch")

    @property
    def images(self) -> Images:
        return self.outputs.get("images") or Images()

    @property
    def codediff(self) -> CodeDiff:
        return self.outputs.get("codediff") or CodeDiff()

    @property
    def firmware(self) -> Firmware:
        return self.outputs.get("firmware") or Firmware()

    @property
    def stimuli(self) -> dict[str, Path]:
        """benchmark -> its prepared stimulus set folder."""
        return {o.benchmark: o.dir for n, o in self.outputs.items() if n.startswith("stimuli:")}

    @property
    def run_dirs(self) -> list[dict]:
        return [r for n in ("run", "latency") if n in self.outputs for r in self.outputs[n].runs]

    @property
    def dut_kind(self) -> str:
        return "board" if self.request.board else getattr(self.dut_choice, "kind", "sim")

    # -- services --------------------------------------------------------------------------
    def engine(self):
        if self.engine_obj is None:
            from bundle.engine.select import get_engine

            req = self.request
            kwargs = {"base_image": req.base_image} if req.base_image and req.engine != "local" else {}
            self.engine_obj = get_engine(req.engine, **kwargs)
        return self.engine_obj

    def cmsis(self) -> Path:
        """The pinned CMSIS_5 checkout, verified against its manifest once per reproduce (every
        CMSIS-NN build of the host, qemu and estimate DUTs reads it; verifying it is a full hash)."""
        if self._cmsis is None:
            from bundle.dut.native_project import cmsis_tree

            self._cmsis = cmsis_tree(*self.request.code_source())
        return self._cmsis

    def stage_sink(self, stage: str, item: str) -> Callable[[str], None]:
        """A stage's output lines: <run_dir>/logs/<stage>-<item>.log (streamed with -v)."""
        self.progress.item(item)
        return self.progress.output_sink(self.request.run_dir / "logs" / f"{stage}-{item}.log", f"{stage} {item}")

    def cached(self, stage: str, inputs: Callable[[], dict], compute: Callable[[], Any], **files) -> Any:
        """compute() unless the stage cache holds its result for these inputs (JSON-able results)."""
        if self.cache is None:
            return compute()
        key = self.cache.key(stage, inputs())
        hit = self.cache.get(stage, key, files_to=files.get("files_to"))
        if hit is not None:
            return hit
        result = compute()
        self.cache.put(stage, key, result, files_from=files.get("files_from"))
        return result


def session_for(cfg, run_dir: Path, system: str | None = None, *, cache: Path | None = None,
                mirror: Path | None = None, offline: bool = False, reachable=frozenset(), block: str | None = None,
                outputs: dict | None = None, **kw) -> Session:
    """A session from flat options (tests, scripts): Request fields and Options fields by name."""
    from dataclasses import fields

    from bundle.pipeline.request import Network, Options, Sources

    opts = {f.name for f in fields(Options)}
    options = Options(**{k: tuple(v) if k == "backends" else v for k, v in kw.items() if k in opts})
    rest = {k: tuple(v) if k == "places" else v for k, v in kw.items() if k not in opts}
    engine = rest.pop("engine_obj", None)
    req = Request(cfg=cfg, run_dir=Path(run_dir), system=system or cfg.sim.performance_system,
                  sources=Sources(Path(cache) if cache else Path(run_dir) / "cache", mirror, offline),
                  options=options, network=Network(frozenset(reachable), block), **rest)
    return Session(req, engine_obj=engine, outputs=dict(outputs or {}))
