"""latency: performance mode of each published build on QEMU, one emulated latency estimate per
build, a row beside the published latency (NOT_COMPARABLE: instructions at 1 IPC are not the
board). A build that fails is a row saying why; the others go on."""
from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

from bundle.errors import ReproError, StageUnavailable
from bundle.pipeline.base import Stage
from bundle.pipeline.outputs import Latency
from bundle.stagekeys import known_content

TOOLS = ("arm-none-eabi-gcc", "qemu-system-arm")


def latency_builds() -> list[str]:
    """The 12 published builds, <variant>/<board>/<benchmark> as the code tree names them."""
    from bundle.toolchain.compile_config import compile_configs

    return [f"{c.variant}/{c.board}/{c.benchmark}" for c in compile_configs()]


class QemuLatency(Stage):
    name = "latency"
    needs = ("fetch",)
    hint = "make deps installs the cross compiler and QEMU"
    # This module (it runs the runner and the qemu DUT in this process) and the C sources the
    # qemu programs are built from; their imports follow (bundle/codedeps.py).
    code = ("bundle/pipeline/latency.py", "bundle/dut/native")

    def why_not(self, req, s) -> str | None:
        if req.port:
            return "a board is attached: the run stage measures its latency"
        if req.options.dut == "sim":
            return "the software DUT only was asked for (--dut sim / --backends)"
        missing = [t for t in TOOLS if shutil.which(t) is None]
        if missing:
            return f"{', '.join(missing)} not installed (the qemu DUT needs them: make deps)"
        if s.fetched is not None and not s.fetched.code.is_dir():
            return "the published code tree was not fetched (fetch stage)"
        return None

    def plan_note(self, req, s) -> str:
        return "each of the 12 published builds in performance mode on QEMU: an emulated latency estimate"

    def key(self, req, s, builds: list[str]) -> dict:
        """The QEMU performance runs: the builds, their pinned code and results, the inputs each
        benchmark loads, the cross compiler and QEMU that build and run them, and the Python
        packages of this process, which runs the runner."""
        from bundle.fetch.lock import load_lock
        from bundle.stagecache import code_digest
        from bundle.stagekeys import lock_entries, python_env, stimuli_identity, tool_version

        toolchain = load_lock().toolchain
        benchmarks = sorted({b.rsplit("/", 1)[-1] for b in builds})
        return {"code": code_digest(*self.code), "python": python_env(), "builds": builds,
                "pins": {k: toolchain.get(k) for k in sorted(toolchain)}, "published": lock_entries("published/"),
                "stimuli": {b: stimuli_identity(b, s.stimuli.get(b)) for b in benchmarks},
                "tools": {t: tool_version(t) for t in TOOLS}}

    def run(self, req, s) -> Latency:
        builds, root, cache = latency_builds(), req.run_dir / "runs" / "qemu", s.cache
        key = cache.key(self.name, self.key(req, s, builds)) if cache else None
        hit = cache.get(self.name, key, files_to=root) if cache else None
        if hit is not None:   # the QEMU runs' folders come back with the rows
            s.notes += hit["notes"]
            runs = [{**d, "dir": root / d["dir"]} for d in hit["run_dirs"]]
            for run, d in zip(runs, hit["run_dirs"]):
                known_content(run["dir"], f"{key}/{d['dir']}")
            return Latency(runs, hit["rows"])
        notes_at = len(s.notes)
        out = s.outputs[self.name] = Latency()   # its run folders are reported even when no build ran
        rows = [_latency_row(req, s, build, out.runs) for build in builds]
        if not any(r["reproduced"] is not None for r in rows):
            s.rows += rows
            raise StageUnavailable("no build ran on QEMU: " + "; ".join(r["reason"] for r in rows[:3]))
        out.rows = rows
        if cache and all(r["verdict"] != "NOT_RUN" for r in rows):   # a failed build may be the machine's fault: retried
            dirs = [{**d, "dir": str(Path(d["dir"]).relative_to(root))} for d in out.runs]
            cache.put(self.name, key, {"rows": rows, "notes": s.notes[notes_at:], "run_dirs": dirs}, files_from=root)
            for run, d in zip(out.runs, dirs):
                known_content(run["dir"], f"{key}/{d['dir']}")
        return out


class _LineWriter(io.TextIOBase):
    """A text stream that hands each complete line to a sink (a stage's log)."""

    def __init__(self, sink):
        self._sink, self._part = sink, ""

    def write(self, text: str) -> int:
        lines = (self._part + text).split("\n")
        self._part = lines.pop()
        for line in lines:
            self._sink(line)
        return len(text)

    def flush(self) -> None:
        if self._part:
            self._sink(self._part)
            self._part = ""


def _latency_row(req, s, build: str, runs: list[dict]) -> dict:
    from bundle.runner.onerun import RunOptions, execute
    from bundle.dut.native_project import BuildSpec

    spec = BuildSpec.parse(build)
    cache, mirror, offline = req.code_source()
    out = req.run_dir / "runs" / "qemu" / spec.system / spec.benchmark / "performance"
    opts = RunOptions(out=out, dut="qemu", build=build, mode="performance", code=s.fetched.code, cache=cache,
                      mirror=mirror, offline=offline, stimuli=s.stimuli.get(spec.benchmark) or None)
    row = {"section": "reproduce", "dut": "qemu", "system": spec.system, "benchmark": spec.benchmark,
           "mode": "performance", "metric": "latency_ms", "published": None, "reproduced": None}
    lines = _LineWriter(s.stage_sink("latency", build.replace("/", "-")))
    try:
        with contextlib.redirect_stdout(lines):   # the run command's own lines: to its log
            outcome = execute(opts)
    except ReproError as err:
        s.notes.append(f"latency qemu {build}: {err}")
        return {**row, "verdict": "NOT_RUN", "reason": f"qemu run failed: {err.message}"}
    finally:
        lines.flush()
    est = outcome["estimate"] or {}
    runs.append({"label": "qemu", "system": spec.system, "benchmark": spec.benchmark, "mode": "performance",
                 "dir": out, "dut_kind": "emulated", "backend": "qemu", "latency_only": True})
    if est.get("estimate_ms") is None:
        return {**row, "verdict": "NOT_RUN", "reason": est.get("line", "no median throughput")}
    ratio = f"ratio {est['ratio']:.3f}" if est.get("ratio") else "no published latency"
    return {**row, "published": est["published_ms"], "reproduced": est["estimate_ms"], "ratio": est.get("ratio"),
            "verdict": "NOT_COMPARABLE",
            "reason": f"emulated estimate, not a measurement ({ratio}; {est['emulation']}); input: {outcome['input']}"}
