"""The pipeline's one list of stages, in order, and the two ways through it: `run` (reproduce)
and `dry_run` (plan), which ask each stage the same `why_not`.

fetch ─▶ published-recompute ─▶ images ─▶ code ─▶ compile ─▶ codediff ─▶ firmware ─▶ flash
      ─▶ stimuli:<set> ... ─▶ run ─▶ latency ─▶ diff ─▶ estimate ─▶ report
"""
from __future__ import annotations

from bundle.pipeline.base import Stage
from bundle.pipeline.code import Code
from bundle.pipeline.codediff import Codediff
from bundle.pipeline.compile import Compile
from bundle.pipeline.diff import DiffRuns, not_run_rows
from bundle.pipeline.estimate import Estimate
from bundle.pipeline.fetch import Fetch
from bundle.pipeline.firmware import BuildFirmware
from bundle.pipeline.flash import Flash
from bundle.pipeline.images import BuildImages, image_status
from bundle.pipeline.latency import QemuLatency
from bundle.pipeline.recompute import Recompute
from bundle.pipeline.records import NOT_RUN
from bundle.pipeline.report import Report
from bundle.pipeline.run import RunBenchmarks
from bundle.pipeline.stimuli import PrepareStimuli, set_names


def stages(cfg) -> list[Stage]:
    """Every stage, in pipeline order (one stimuli stage per derived set the config leaves)."""
    return [Fetch(), Recompute(), BuildImages(), Code(), Compile(), Codediff(), BuildFirmware(), Flash(),
            *(PrepareStimuli(name) for name in set_names(cfg)), RunBenchmarks(), QemuLatency(), DiffRuns(),
            Estimate(), Report()]


def cached_stages() -> list[str]:
    """The stages the stage cache keeps (--force STAGE), and the report's figures."""
    from bundle.reproduce_config import load_reproduce_config

    return [s.name for s in stages(load_reproduce_config(None)) if s.code] + ["figures"]


def run(s) -> None:
    """Each recorded stage in order: NOT_RUN when a stage it needs did not run or it says why
    not; its output kept for the stages after it, its rows for the report."""
    req = s.request
    for stage in stages(req.cfg):
        if not stage.recorded:
            continue
        missing = [n for n in stage.needs if n not in s.ran]
        if missing:
            s.recorder.skip(stage.name, f"needs stage(s) {', '.join(missing)}, which did not run")
            continue
        out = s.recorder.run(stage.name, lambda stage=stage: stage.execute(req, s))
        if out is None and s.recorder.records[-1].status == NOT_RUN:
            out = stage.not_run(req, s, s.recorder.records[-1].reason)
        elif out is not None:
            s.outputs[stage.name] = out
            s.ran.add(stage.name)
        s.rows += getattr(out, "rows", None) or []
    s.rows += not_run_rows(req, s)


def dry_run(s, docker: bool) -> list[dict]:
    """What `plan` shows: each stage, its image, whether it can run here and why not; a stage
    that could run counts as done for the stages after it."""
    req, rows = s.request, []
    for stage in stages(req.cfg):
        reason = stage.dry_run_reason(req, s, docker) or ""
        rows.append({"name": stage.name, "image": stage.image, "runnable": not reason, "reason": reason,
                     "note": "" if reason else stage.plan_note(req, s),
                     "image_status": image_status(s, stage.image)})
        if not reason:
            s.ran.add(stage.name)
    return rows
