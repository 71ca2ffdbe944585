"""diff: every run folder against the published runs of the systems it is compared with; and
the rows for what this host did not reproduce at all, each with its reason."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from bundle.pipeline.base import Stage
from bundle.pipeline.outputs import Rows


@dataclass
class Diffed(Rows):
    pass


class DiffRuns(Stage):
    name = "diff"
    needs = ("run",)
    code = ("bundle/pipeline/diff.py",)   # its imports follow (bundle/codedeps.py)

    def key(self, req, s) -> dict:
        """The run folders (by what fixes their content) and the published tree."""
        from bundle.stagecache import code_digest
        from bundle.stagekeys import label_entries, lock_entries, run_identity

        compare = {"compare_systems": req.cfg.compare_systems, "backends": asdict(req.cfg.sim)["backends"],
                   "system": req.system, "system_given": req.system_given}
        return {"code": code_digest(*self.code), "published": lock_entries("published/"),
                "labels": label_entries(), "runs": [run_identity(r) for r in s.run_dirs],
                "compare": compare}

    def run(self, req, s) -> Diffed:
        return Diffed(s.cached(self.name, lambda: self.key(req, s), lambda: _diff_runs(req, s)))


def compare_with(req, run: dict) -> tuple[list[str], str | None]:
    """The published systems a run is diffed against, and why its rows are informational."""
    if run.get("place"):     # a labgrid place runs the system its tags name
        return [run["system"]], None
    if run["dut_kind"] == "board":
        return [req.system] if req.system_given else list(req.cfg.compare_systems), None
    if runs_published_code(run["dut_kind"]):   # that system's own code: its outputs are compared for real
        return [run.get("system") or req.system], None
    backend = req.cfg.sim.backends[run["backend"]]
    return list(backend.compare_with), backend.informational


def runs_published_code(dut_kind: str) -> bool:
    """A run record's DUT runs the published firmware code (host, qemu): its capabilities say
    its outputs are exact."""
    from bundle.dut.base import KINDS, get_dut

    return any(get_dut(k).capabilities.dut_kind == dut_kind and get_dut(k).capabilities.exact_outputs
               for k in KINDS)


def informational(row: dict, why: str) -> dict:
    """Keep the numbers, say what the verdict would have been, and never count it."""
    if row.get("verdict") in ("MATCH", "WITHIN_TOLERANCE", "DIFFERENT"):
        row["reason"] = f"informational ({why}); at the published precision: {row['verdict']}" + (
            f", {row['reason']}" if row.get("reason") else "")
        row["verdict"] = "NOT_COMPARABLE"
    return row


def _diff_runs(req, s) -> list[dict]:
    from bundle.diff import diff_mode_dirs

    rows = []
    for run in s.run_dirs:
        if run.get("latency_only"):   # its row is the latency stage's
            continue
        systems, why = compare_with(req, run)
        for system in systems:
            published = s.fetched.published / "results" / system / run["benchmark"] / run["mode"]
            if run["dir"] is None:
                rows.append(not_run_row(system, run["benchmark"], run["mode"], run["label"], run["reason"]))
                continue
            for row in diff_mode_dirs(published, run["dir"], s.fetched.datasets, run["dut_kind"]):
                row.update(system=system, dut=run["label"])
                rows.append(informational(row, why) if why else row)
    return rows


def not_run_row(system: str, benchmark: str, mode: str, dut: str, reason: str) -> dict:
    from bundle.catalogue import MODE_METRICS

    return {"section": "reproduce", "system": system, "benchmark": benchmark, "mode": mode,
            "metric": ",".join(MODE_METRICS[mode]), "published": None, "reproduced": None,
            "verdict": "NOT_RUN", "reason": reason, "dut": dut}


def not_run_rows(req, s) -> list[dict]:
    """Rows for what this host did not reproduce at all, each with its reason."""
    from bundle.catalogue import BENCHMARKS

    rows, cfg, prepared = [], req.cfg, s.stimuli
    published = s.fetched.published if s.fetched else None
    for system in cfg.compare_systems:
        for benchmark in BENCHMARKS:
            for mode in ("accuracy", "performance", "energy"):
                reason = None
                if published and not (Path(published) / "results" / system / benchmark / mode).is_dir():
                    reason = f"nothing to reproduce: no {mode} run of this system was published"
                elif benchmark not in cfg.offline_benchmarks and benchmark not in prepared:
                    reason = s.stimuli_reasons.get(benchmark) or \
                        cfg.missing_stimuli_reason.get(benchmark, "stimuli not available")
                elif mode == "energy":
                    reason = ("energy mode needs an EMON (LPM01A) and an IO manager wired to the board; "
                              "the runner drives performance and accuracy over a direct DUT link only")
                elif mode not in cfg.modes:
                    reason = "mode not selected in the reproduce config"
                if reason:
                    rows.append(not_run_row(system, benchmark, mode, s.dut_kind, reason))
    return rows
