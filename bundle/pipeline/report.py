"""report: report.md/csv/json and report.html in the run folder, written after the stages
(also when one failed or the user pressed Ctrl-C), and the summary on the terminal."""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from bundle.errors import ReproError
from bundle.pipeline.base import Stage
from bundle.pipeline.firmware import firmware_section
from bundle.pipeline.records import console

TITLE = "OctoML MLPerf Tiny v1.0: reproduction report"


class Report(Stage):
    name = "report"
    recorded = False     # it reports on the records; it has none of its own

    def run(self, req, s) -> int:
        return write_report(s)

    def container(self, ctx):
        from bundle.toolchain.containers import report_stage

        return report_stage(ctx)


def code_diff_section(s) -> list[dict]:
    """A row per published build: byte-identical, equivalent or different, else NOT_RUN and why."""
    from bundle.toolchain.compile_config import compile_configs

    done = {r["build"]: r for r in s.codediff.compared}
    rows = []
    for cfg in compile_configs():
        r = done.get(cfg.name)
        rows.append({"build": cfg.name, "verdict": r["verdict"], "files": r["files"],
                     "byte_identical": r["byte_identical"], "cause": "; ".join(r.get("causes") or []),
                     "detail": r["diff"] or ""} if r else
                    {"build": cfg.name, "verdict": "NOT_RUN", "files": None, "byte_identical": None,
                     "cause": "", "detail": s.recorder.reason("codediff")})
    return rows


def environment(s) -> dict:
    req, cache = s.request, s.cache
    return {"dut": s.dut_kind, "port": req.port, "coordinator": req.coordinator, "places": list(req.places),
            "engine": getattr(getattr(s.engine_obj, "caps", None), "name", req.engine),
            "backends": list(req.options.backends) if s.dut_kind == "sim" else None,
            "dut_choice": getattr(s.dut_choice, "reason", None),
            "images": s.images.details() if "images" in s.outputs else None,
            "runs": [{k: str(v) if isinstance(v, Path) else v for k, v in r.items()} for r in s.run_dirs],
            "stage_cache": {"root": str(cache.root), "reused": dict(cache.hits),
                            "forced": sorted(cache.force)} if cache else None}


def write_report(s) -> int:
    from bundle.report import exit_code_for, write_report as write_files
    from bundle.report.console import final_summary

    req = s.request
    stages = [asdict(r) for r in s.recorder.records]
    notes = list(s.notes)
    if s.dut_kind == "host":
        notes.insert(0, "no board attached: the published firmware code ran compiled for this host (host DUT); "
                        "its outputs are the code's own, its throughput is this CPU's and NOT_COMPARABLE")
    elif s.dut_kind == "qemu":
        notes.insert(0, "no board attached: the published firmware code ran on an emulated Cortex-M4F (qemu DUT); "
                        "its outputs are the code's own, its timing is emulated and NOT_COMPARABLE")
    elif not req.board:
        notes.insert(0, "no board attached: a software DUT (sim) stood in; its throughput says nothing "
                        "about the board and is NOT_COMPARABLE")
    paths = write_files(s.rows, req.run_dir, TITLE, notes, stages=stages, code_diff=code_diff_section(s),
                        firmware=firmware_section(s), environment=environment(s))
    html = _write_html(s)
    elapsed = time.monotonic() - s.progress.started if getattr(s.progress, "started", None) is not None else None
    print(final_summary(s.rows, stages, html or paths["md"], elapsed))
    return exit_code_for(s.rows)


def _write_html(s) -> Path | None:
    """report.html beside the others; a figure that cannot be drawn is a note, and a failure
    here never loses report.md/csv/json (already written)."""
    from bundle.report.html import write_html

    try:
        return write_html(s.request.run_dir, s.fetched.published if s.fetched else None, cache=s.cache)
    except ReproError as err:
        console.print(f"[yellow]report.html not written[/]: {err}")
        return None
