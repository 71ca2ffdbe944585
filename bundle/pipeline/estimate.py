"""estimate: a latency row per published build from the cycle-approximate model (tinyrepro
estimate), beside the published latency: NOT_COMPARABLE always (a model's number, not a
measurement), NOT_RUN with the reason when the code tree is not available here or the stage
was not selected."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bundle.errors import ReproError
from bundle.pipeline.base import Stage
from bundle.pipeline.outputs import Rows

ESTIMATE_DUT = "estimate"
NOT_SELECTED = "not selected (--no-estimate)"


@dataclass
class Estimated(Rows):
    pass


def _specs() -> list:
    from bundle.dut.native_project import BuildSpec
    from bundle.toolchain.compile_config import compile_configs

    return [BuildSpec(c.variant, c.board.replace("-", ""), c.benchmark) for c in compile_configs()]


class Estimate(Stage):
    name = "estimate"
    needs = ("fetch",)
    # This module and the C sources the estimated programs are built from; their imports
    # follow (bundle/codedeps.py).
    code = ("bundle/pipeline/estimate.py", "bundle/dut/native")

    def why_not(self, req, s) -> str | None:
        return None if req.options.estimate else NOT_SELECTED

    def plan_note(self, req, s) -> str:
        return ("latency of each published build under the cycle-approximate timing model, beside the "
                "published one (NOT_COMPARABLE); needs the code tree, as the host and qemu DUTs do")

    def not_run(self, req, s, reason: str) -> Estimated | None:
        if req.options.estimate:
            return None
        return Estimated([_row(spec, None, NOT_SELECTED) for spec in _specs()])

    def key(self, req, s, specs: list[dict]) -> dict:
        """The builds estimated, the timing model's code and data, the pinned code trees (OctoML's
        code, CMSIS) and the published results the ratios are taken against."""
        from bundle.fetch.lock import load_lock
        from bundle.stagecache import code_digest
        from bundle.stagekeys import lock_entries

        toolchain = load_lock().toolchain
        return {"code": code_digest(*self.code), "specs": specs,
                "pins": {k: toolchain.get(k) for k in sorted(toolchain)}, "published": lock_entries("published/")}

    def run(self, req, s) -> Estimated:
        from bundle.dut import native_project

        specs = _specs()
        try:
            code = native_project.published_code_tree(*req.code_source())
        except ReproError as err:
            return Estimated([_row(spc, None, f"the published code tree is not available here: {err.message}")
                              for spc in specs])
        out = s.cached(self.name, lambda: self.key(req, s, [vars(spc) for spc in specs]),
                       lambda: _estimate_all(req, s, specs, code))
        s.notes += out["notes"]
        return Estimated(out["rows"])


def _estimate_all(req, s, specs, code: Path) -> dict:
    import bundle.estimate as estimate

    rows, notes = [], []
    for spec in specs:
        # each build's figures go to logs/estimate-builds.log (the terminal shows the progress line)
        say = s.stage_sink("estimate", "builds")
        try:
            est = estimate.estimate_build(spec, code_root=code, build_dir=req.sources.cache / "native", cmsis=s.cmsis,
                                          published_results=s.fetched.published / "results")
        except ReproError as err:
            notes.append(f"estimate {spec.variant}/{spec.board}/{spec.benchmark}: not run: {err.message}")
            rows.append(_row(spec, None, err.message))
            continue
        say(f"estimate {est.build}: {est.ms:.2f} ms ({est.run.cycles:,} cycles"
            + (f"; published {est.published_ms:.2f} ms, ratio {est.ratio:.3f})" if est.ratio else ")"))
        rows.append(_row(spec, est, None))
    return {"rows": rows, "notes": notes}


def _row(spec, est, reason: str | None) -> dict:
    row = {"section": "reproduce", "system": spec.system, "benchmark": spec.benchmark, "mode": "performance",
           "metric": "latency_ms", "dut": ESTIMATE_DUT, "published": None, "reproduced": None}
    if est is None:
        return {**row, "verdict": "NOT_RUN", "reason": f"latency estimate: {reason}"}
    why = (f"cycle-approximate model ({est.core} + {est.soc}, bundle/data/timing.yaml): {est.run.cycles:,} cycles "
           f"at {est.clock_hz / 1e6:g} MHz" + (f", ratio {est.ratio:.3f}" if est.ratio else "")
           + "; a model's estimate, never a verdict")
    return {**row, "published": round(est.published_ms, 2) if est.published_ms else None,
            "reproduced": round(est.ms, 2), "verdict": "NOT_COMPARABLE", "reason": why}
