"""The end of `tinyrepro reproduce` on the terminal: a summary of at most MAX_LINES lines
(the headline, verdicts per DUT, what did not run, the first differences) and where the
full report is. Everything else is in report.html / report.md.
"""
from __future__ import annotations

import textwrap
from collections import Counter, defaultdict
from pathlib import Path

from bundle.report.row import Row, as_rows
from bundle.report.summary import headline, short_reason
from bundle.report.tables import VERDICT_ORDER

MAX_LINES = 40
WIDTH = 100
MAX_DIFFERENT = 5


def _per_dut(rows: list[Row]) -> list[str]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        key = r.dut if r.section == "reproduce" else "published logs (recompute)"
        counts[str(key)][r.verdict] += 1
    width = max((len(k) for k in counts), default=0)
    return [f"  {dut:<{width}}  " + ", ".join(f"{v} {c[v]}" for v in VERDICT_ORDER if c[v])
            for dut, c in counts.items()]


def _stages(stages: list[dict]) -> list[str]:
    by_status: dict[str, list[str]] = defaultdict(list)
    for s in stages:
        by_status[s["status"]].append(s["stage"] + (f" ({short_reason(s['reason'])})"
                                                     if s["status"] == "FAILED" and s.get("reason") else ""))
    return [textwrap.fill(f"{status} {len(names)}: {', '.join(names)}", WIDTH, initial_indent="  ",
                          subsequent_indent="    ") for status, names in by_status.items()]


def _differences(rows: list[Row]) -> list[str]:
    diff = [r for r in rows if r.verdict == "DIFFERENT"]
    lines = [f"  {r.dut} {r.system} {r.benchmark} {r.metric}: "
             f"published {r.published}, reproduced {r.reproduced}"
             for r in diff[:MAX_DIFFERENT]]
    if len(diff) > MAX_DIFFERENT:
        lines.append(f"  ... and {len(diff) - MAX_DIFFERENT} more (report.html)")
    return lines


def final_summary(rows: list[Row | dict], stages: list[dict], report: Path, elapsed_s: float | None = None) -> str:
    rows = as_rows(rows)
    head = headline(rows)
    lines = textwrap.wrap(head.sentence(), WIDTH) + [head.recompute_sentence(), "", "verdicts per DUT (rows):"]
    lines += _per_dut(rows)
    lines += ["stages:"] + _stages(stages)
    diff = _differences(rows)
    if diff:
        lines += ["different:"] + diff
    lines = lines[:MAX_LINES - 2]
    took = f" in {elapsed_s:.1f} s" if elapsed_s is not None else ""
    lines += ["", f"report{took}: {report}  (also report.md, report.csv, report.json beside it)"]
    return "\n".join(lines)
