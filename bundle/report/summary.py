"""What a reader sees first, for report.md and report.html alike.

- `headline(rows) -> Headline`: of the published numbers this run covers, how many were
  regenerated and equal, within tolerance, different, not comparable, not reproducible here,
  and the main reasons why not.
- `side_by_side(rows, reasons) -> {system: [line]}`: per system and benchmark, the published
  number, the one recomputed from the published logs and each DUT's, with its verdict.
- `Reasons`: long reasons become a short text and a number; the full text is listed below
  the table (no 250-character cells).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from bundle.catalogue import MODES
from bundle.report.row import Row, as_rows

SHORT_REASON = 56
# Best outcome first: a number counts once, by its best reproduction.
RANK = {"MATCH": 0, "WITHIN_TOLERANCE": 1, "DIFFERENT": 2, "NOT_COMPARABLE": 3, "NOT_RUN": 4}


def short_reason(reason: str) -> str:
    """The reason's first clause, cut at a word: enough to recognise it in a table."""
    text = re.split(r"(?<=[^\d])[:;(]|\. ", reason.strip(), maxsplit=1)[0].strip()
    if len(text) > SHORT_REASON:
        text = text[:SHORT_REASON].rsplit(" ", 1)[0] + "…"
    return text or reason[:SHORT_REASON]


@dataclass
class Reasons:
    """Full reason texts, numbered in order of first use."""
    texts: list[str] = field(default_factory=list)

    def ref(self, reason: str | None) -> int | None:
        if not reason:
            return None
        if reason not in self.texts:
            self.texts.append(reason)
        return self.texts.index(reason) + 1


@dataclass
class Headline:
    total: int
    counts: dict[str, int]
    reasons: list[tuple[str, int]]          # short reason of NOT_RUN numbers, how many
    recompute_total: int
    recompute_equal: int

    def sentence(self) -> str:
        c = self.counts
        text = (f"Of {self.total} published numbers, {c.get('MATCH', 0)} regenerated and equal, "
                f"{c.get('WITHIN_TOLERANCE', 0)} within tolerance, {c.get('DIFFERENT', 0)} different, "
                f"{c.get('NOT_COMPARABLE', 0)} not comparable, {c.get('NOT_RUN', 0)} not reproducible here")
        if self.reasons:
            text += ", for these reasons: " + "; ".join(f"{why} ({n})" for why, n in self.reasons)
        return text + "."

    def recompute_sentence(self) -> str:
        return (f"Recomputed from the published raw logs and traces: {self.recompute_equal} of "
                f"{self.recompute_total} published numbers equal.")


def headline(rows: list[Row | dict]) -> Headline:
    best: dict[tuple, str] = {}
    why: dict[tuple, str] = {}
    rows = as_rows(rows)
    for r in rows:
        if r.section != "reproduce":
            continue
        for metric in r.metrics:
            key = (r.system, r.benchmark, r.mode, metric)
            if key not in best or RANK.get(r.verdict, 9) < RANK.get(best[key], 9):
                best[key] = r.verdict
                why[key] = r.reason
    counts = Counter(best.values())
    reasons = Counter(short_reason(why[k]) for k, v in best.items() if v == "NOT_RUN" and why[k])
    recompute = [r for r in rows if r.section != "reproduce"]
    return Headline(len(best), dict(counts), reasons.most_common(4),
                    sum(len(r.metrics) for r in recompute),
                    sum(len(r.metrics) for r in recompute if r.verdict == "MATCH"))


@dataclass
class Cell:
    value: float | None
    verdict: str
    ref: int | None = None
    outputs: str = ""                        # "998/1000 outputs equal" for accuracy rows


@dataclass
class Line:
    benchmark: str
    mode: str
    metric: str
    published: float | None
    cells: dict[str, Cell]                   # column (recomputed, a DUT label) -> cell


def columns(rows: list[Row | dict]) -> list[str]:
    duts = [str(r.dut) for r in as_rows(rows) if r.section == "reproduce"]
    return ["recomputed"] + list(dict.fromkeys(duts))


def side_by_side(rows: list[Row | dict], reasons: Reasons) -> dict[str, list[Line]]:
    """Per system, one line per (benchmark, mode, metric)."""
    out: dict[str, dict[tuple, Line]] = {}
    for r in as_rows(rows):
        system = r.system or "?"
        # The column of the recompute side keeps its name: "recomputed" from the published logs.
        column = "recomputed" if r.section != "reproduce" else str(r.dut)
        single = len(r.metrics) == 1
        for metric in r.metrics:
            key = (r.benchmark, r.mode, metric)
            line = out.setdefault(system, {}).setdefault(
                key, Line(str(key[0]), str(key[1]), metric, None, {}))
            if line.published is None and r.published is not None and single:
                line.published = r.published
            value = r.reproduced if single else None
            ref = reasons.ref(r.reason) if r.verdict != "MATCH" else None
            outputs = (f"{r.outputs_equal}/{r.outputs_total} outputs equal"
                       if r.outputs_total is not None else "")
            line.cells[column] = Cell(value, r.verdict, ref, outputs)
    order = {mode: i for i, mode in enumerate(MODES)}
    return {s: sorted(lines.values(), key=lambda ln: (ln.benchmark, order.get(ln.mode, 9), ln.metric))
            for s, lines in sorted(out.items())}


def fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.1f}"
    return str(value)
