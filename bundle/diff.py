"""Diff engine: verdicts for pairs of numbers under a versioned tolerance policy.

- `load_policy(path=None) -> Policy`: reads and validates `bundle/data/policy.yaml`
  (or another file); ConfigError on a bad schema.
- `compare(published, reproduced, rule) -> (verdict, reason)`: MATCH when both round
  to the same printed text, WITHIN_TOLERANCE inside `rel_tol`, else DIFFERENT;
  NOT_RUN when a side is missing; NOT_COMPARABLE when the rule says so.
- `compare_run(run, published, other, rules)`: records for one mode folder.
- `compare_outputs(published, reproduced)`: per-input output vectors paired by file
  name (and window offset): equal count, total, first mismatches.
- `diff_mode_dirs(published_dir, reproduced_dir, labels_dir=None, dut_kind=None, policy=None,
  labels_reason="labels not given") -> list[dict]`: one published mode folder against
  one reproduced run folder (`tinyrepro diff`). The reproduced side is always
  recomputed from its own log.txt (never read from its results.txt); dut_kind None
  means: from the run folder's run-info.json, else "board".
- `read_run_info(run_dir) -> dict | None`: the runner's `run-info.json`, validated.

Records carry `system`, `benchmark`, `mode`, `metric`, `published`, `reproduced`
(`recomputed` in the published-recompute section), `verdict`/`status`, `reason`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bundle.catalogue import METRICS
from bundle.datafile import load_yaml
from bundle.errors import ConfigError, ParseError
from bundle.published import parse as published
from bundle.published.logs import Output

POLICY_HINT = "see bundle/data/policy.yaml for the schema"
RUN_INFO = "run-info.json"

MATCH, WITHIN, DIFFERENT, NOT_RUN, NOT_COMPARABLE = (
    "MATCH", "WITHIN_TOLERANCE", "DIFFERENT", "NOT_RUN", "NOT_COMPARABLE")
VERDICTS = (MATCH, WITHIN, DIFFERENT, NOT_RUN, NOT_COMPARABLE)
# METRICS: every metric name, in report order (the catalogue's modes)
DUT_KINDS = ("board", "sim", "emulated", "host")
POLICY_VERSION = 1
MAX_MISMATCHES = 5


@dataclass(frozen=True)
class Rule:
    decimals: int | None = None
    rel_tol: float = 0.0
    not_comparable: str | None = None


@dataclass(frozen=True)
class Policy:
    version: int
    recompute: dict[str, Rule]
    reproduce: dict[str, dict[str, Rule]]
    source: str

    def rules_for(self, section: str, dut_kind: str | None = None) -> dict[str, Rule]:
        if section == "recompute":
            return self.recompute
        if dut_kind not in self.reproduce:
            raise ConfigError(f"policy {self.source} has no rules for DUT kind {dut_kind!r}",
                              hint=f"use one of {sorted(self.reproduce)}")
        return self.reproduce[dut_kind]


def _rule(raw, where: str) -> Rule:
    if not isinstance(raw, dict) or not set(raw) <= {"decimals", "rel_tol", "not_comparable"}:
        raise ConfigError(f"{where}: expected a mapping with decimals / rel_tol / not_comparable, got {raw!r}", hint=POLICY_HINT)
    dec, tol, nc = raw.get("decimals"), raw.get("rel_tol", 0.0), raw.get("not_comparable")
    if dec is not None and (not isinstance(dec, int) or isinstance(dec, bool) or not 0 <= dec <= 9):
        raise ConfigError(f"{where}.decimals: expected an integer 0..9, got {dec!r}", hint=POLICY_HINT)
    if not isinstance(tol, (int, float)) or isinstance(tol, bool) or not 0 <= tol < float("inf"):
        raise ConfigError(f"{where}.rel_tol: expected a number >= 0, got {tol!r}", hint=POLICY_HINT)
    if nc is not None and not (isinstance(nc, str) and nc.strip()):
        raise ConfigError(f"{where}.not_comparable: expected a reason (text), got {nc!r}", hint=POLICY_HINT)
    if dec is None and nc is None:
        raise ConfigError(f"{where}: needs decimals or not_comparable", hint=POLICY_HINT)
    return Rule(dec, float(tol), nc)


def _rules(raw, where: str) -> dict[str, Rule]:
    if not isinstance(raw, dict) or set(raw) != set(METRICS):
        got = sorted(raw) if isinstance(raw, dict) else raw
        raise ConfigError(f"{where}: expected rules for exactly {list(METRICS)}, got {got}", hint=POLICY_HINT)
    return {m: _rule(raw[m], f"{where}.{m}") for m in METRICS}


def _read_policy_yaml(path: Path | None) -> tuple[dict, str]:
    try:
        return load_yaml(path, "policy.yaml")
    except ConfigError as exc:
        exc.hint = exc.hint or "pass an existing tolerance policy YAML to --policy, or omit it for the packaged one"
        raise
    except OSError as exc:                  # a folder, no permission, ...
        raise ConfigError(f"{path}: cannot read the policy ({exc.strerror or exc})",
                          hint="pass a readable YAML file to --policy") from None


def load_policy(path: Path | None = None) -> Policy:
    """Load and validate a tolerance policy (default: the packaged bundle/data/policy.yaml)."""
    raw, source = _read_policy_yaml(path)
    hint = POLICY_HINT
    if raw.get("version") != POLICY_VERSION:
        raise ConfigError(f"{source}: expected version: {POLICY_VERSION}", hint=hint)
    extra = set(raw) - {"version", "recompute", "reproduce"}
    if extra:
        raise ConfigError(f"{source}: unknown keys {sorted(extra)}", hint=hint)
    reproduce = raw.get("reproduce")
    if not isinstance(reproduce, dict) or set(reproduce) != set(DUT_KINDS):
        raise ConfigError(f"{source}: reproduce: needs exactly the DUT kinds {list(DUT_KINDS)}", hint=hint)
    return Policy(
        version=POLICY_VERSION,
        recompute=_rules(raw.get("recompute"), f"{source}: recompute"),
        reproduce={k: _rules(v, f"{source}: reproduce.{k}") for k, v in reproduce.items()},
        source=source,
    )


def compare(published_value: float | None, other: float | None, rule: Rule,
            missing_reason: str = "") -> tuple[str, str]:
    """Verdict and reason for one metric."""
    if rule.not_comparable:
        return NOT_COMPARABLE, rule.not_comparable
    if published_value is None or other is None:
        return NOT_RUN, missing_reason or "value missing"
    d = rule.decimals
    if f"{published_value:.{d}f}" == f"{other:.{d}f}":
        return MATCH, ""
    rel = abs(other - published_value) / abs(published_value) if published_value else float("inf")
    if rel <= rule.rel_tol:
        return WITHIN, f"relative difference {rel:.2e} <= {rule.rel_tol:g}"
    return DIFFERENT, f"{other:.{d}f} vs {published_value:.{d}f} (relative {rel:.2e}, allowed {rule.rel_tol:g})"


def compare_run(run, pub: dict, other: dict, rules: dict[str, Rule], other_key: str = "recomputed",
                verdict_key: str = "status") -> list[dict]:
    """Records for the metrics of one mode folder (pub/other: metric -> parse.Value)."""
    records = []
    for metric, p in pub.items():
        o = other.get(metric, published.Value(None, "not computed"))
        reason_missing = "; ".join(r for r in (o.reason, p.reason) if r)
        verdict, reason = compare(p.value, o.value, rules[metric], reason_missing)
        # The median can agree while a window line does not: that is still a difference.
        if verdict in (MATCH, WITHIN) and o.windows_total and o.windows_equal != o.windows_total:
            verdict, reason = DIFFERENT, f"median agrees but not every window line: {o.detail}"
        # A run that stopped early is shown, but a prefix says nothing about the whole set.
        if o.partial and verdict != NOT_COMPARABLE and o.value is not None:
            verdict, reason = NOT_COMPARABLE, o.partial
        records.append({
            "system": run.system, "benchmark": run.benchmark, "mode": run.mode, "metric": metric,
            "published": p.value, other_key: o.value, verdict_key: verdict, "reason": reason,
            "detail": o.detail or p.detail,
        })
    return records


def compare_outputs(pub: list[Output], rep: list[Output]) -> dict:
    """Pair output vectors by (file basename, offset); count equal ones, list the first mismatches."""
    mine = {(o.file, o.offset): o.values for o in rep}
    equal, mismatches = 0, []
    for o in pub:
        theirs = mine.get((o.file, o.offset))
        if theirs == o.values:
            equal += 1
        elif len(mismatches) < MAX_MISMATCHES:
            mismatches.append({"file": o.file if not o.offset else f"{o.file}@{o.offset}",
                               "published": list(o.values),
                               "reproduced": list(theirs) if theirs is not None else None})
    return {"outputs_equal": equal, "outputs_total": len(pub), "first_mismatches": mismatches}


def read_run_info(run_dir: Path) -> dict | None:
    """`run-info.json` the runner writes: {"dut_kind", "backend", "emulated_infer_ms"}; None if absent."""
    path = Path(run_dir) / RUN_INFO
    if not path.is_file():
        return None
    hint = "the run folder's run-info.json is corrupt; rerun, or pass --dut-kind"
    try:
        info = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise ParseError(f"{path}: not valid JSON ({str(exc)[:120]})", hint=hint) from None
    except RecursionError:
        raise ParseError(f"{path}: JSON nested too deeply for run-info", hint=hint) from None
    except OSError as exc:
        raise ParseError(f"{path}: cannot read ({exc.strerror or exc})", hint=hint) from None
    if not isinstance(info, dict):
        raise ParseError(f"{path}: expected a JSON object, found {type(info).__name__}", hint=hint)
    if info.get("dut_kind") not in DUT_KINDS:
        raise ParseError(f"{path}: dut_kind {info.get('dut_kind')!r} is not one of {list(DUT_KINDS)}", hint=hint)
    for key, ok in RUN_INFO_FIELDS.items():
        if key in info and not ok(info[key]):
            raise ParseError(f"{path}: {key} {info[key]!r} is not of the right type", hint=hint)
    return info


def _no_constant(name: str):
    raise ValueError(f"{name} is not a value run-info.json holds")


def _opt_text(v) -> bool:
    return v is None or isinstance(v, str)


def _opt_number(v) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0)


RUN_INFO_FIELDS = {"backend": _opt_text, "emulated_infer_ms": _opt_number, "system": _opt_text,
                   "benchmark": _opt_text, "mode": _opt_text}


def _dut_detail(info: dict | None) -> str:
    if not info:
        return ""
    parts = [f"backend {info['backend']}" if info.get("backend") else "",
             f"emulated infer {info['emulated_infer_ms']} ms" if info.get("emulated_infer_ms") is not None else ""]
    return ", ".join(p for p in parts if p)


def diff_mode_dirs(published_dir: Path, reproduced_dir: Path, labels_dir: Path | None = None,
                   dut_kind: str | None = None, policy: Policy | None = None,
                   labels_reason: str = "labels not given") -> list[dict]:
    """One published mode folder against one reproduced run folder (section "reproduce").

    The published side is what its results.txt states; the reproduced side is
    recomputed from the run's own log.txt, or NOT_RUN with the reason (never taken
    from its results.txt, which the run itself wrote). An accuracy run that stopped
    early is scored on what it holds and reported NOT_COMPARABLE.
    """
    policy = policy or load_policy()
    info = read_run_info(reproduced_dir)
    dut_kind = dut_kind or (info or {}).get("dut_kind") or "board"
    pub_run = published.load_mode_dir(published_dir)
    rep_run = published.load_mode_dir(reproduced_dir, mode=pub_run.mode,
                                      benchmark=pub_run.benchmark)
    pub_run.system = rep_run.system = _system_of(Path(published_dir))
    rep_values = published.recomputed_metrics(rep_run, labels_dir, labels_reason, partial_ok=True)
    records = compare_run(pub_run, published.published_metrics(pub_run), rep_values,
                          policy.rules_for("reproduce", dut_kind), "reproduced", "verdict")
    dut_detail = _dut_detail(info)
    for r in records:
        r["section"] = "reproduce"
        r["dut"] = dut_kind
        if dut_detail:
            r["detail"] = "; ".join(x for x in (r.get("detail"), dut_detail) if x)
    if dut_kind == "emulated":
        for r in records:
            _emulated_estimate(r)
    if pub_run.mode == "accuracy" and records:
        outs = _output_comparison(pub_run, rep_run)
        for r in records:
            r.update(outs)
    return records


def _emulated_estimate(row: dict) -> None:
    """An emulated CPU's timing is an estimate: shown beside the published number with their
    ratio, never turned into a verdict."""
    pub, rep = row.get("published"), row.get("reproduced")
    if row["metric"] not in ("latency_ms", "throughput_ips") or not pub or rep is None:
        return
    unit = " ms" if row["metric"] == "latency_ms" else " inf/s"
    note = f"emulated estimate {rep:.2f}{unit} beside published {pub:.2f}{unit} (ratio {rep / pub:.3f})"
    row["reason"] = f"{row['reason']}; {note}" if row.get("reason") else note


def _system_of(mode_dir: Path) -> str | None:
    """<variant>/<board> of OctoML's layout, or <system> of the official one (results/<system>/...)."""
    parts = mode_dir.resolve().parts
    if len(parts) >= 4 and parts[-4] == "results":
        return parts[-3]
    return f"{parts[-4]}/{parts[-3]}" if len(parts) >= 4 else None


def _output_comparison(pub_run, rep_run) -> dict:
    if pub_run.log is None or rep_run.log is None:
        return {"outputs_equal": None, "outputs_total": None, "first_mismatches": []}
    return compare_outputs(pub_run.log.outputs, rep_run.log.outputs)
