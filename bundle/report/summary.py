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

from bundle.report.tables import row_verdict

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


def _metrics(row: dict) -> list[str]:
    return [m for m in str(row.get("metric") or "").split(",") if m]


def headline(rows: list[dict]) -> Headline:
    best: dict[tuple, str] = {}
    why: dict[tuple, str] = {}
    for r in rows:
        if r.get("section") != "reproduce":
            continue
        for metric in _metrics(r):
            key = (r.get("system"), r.get("benchmark"), r.get("mode"), metric)
            verdict = row_verdict(r)
            if key not in best or RANK.get(verdict, 9) < RANK.get(best[key], 9):
                best[key] = verdict
                why[key] = r.get("reason") or ""
    counts = Counter(best.values())
    reasons = Counter(short_reason(why[k]) for k, v in best.items() if v == "NOT_RUN" and why[k])
    recompute = [r for r in rows if r.get("section") != "reproduce"]
    return Headline(len(best), dict(counts), reasons.most_common(4),
                    sum(len(_metrics(r)) for r in recompute),
                    sum(len(_metrics(r)) for r in recompute if row_verdict(r) == "MATCH"))


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


def columns(rows: list[dict]) -> list[str]:
    duts = [str(r.get("dut")) for r in rows if r.get("section") == "reproduce"]
    return ["recomputed"] + list(dict.fromkeys(duts))


def side_by_side(rows: list[dict], reasons: Reasons) -> dict[str, list[Line]]:
    """Per system, one line per (benchmark, mode, metric)."""
    out: dict[str, dict[tuple, Line]] = {}
    for r in rows:
        system = r.get("system") or "?"
        column = "recomputed" if r.get("section") != "reproduce" else str(r.get("dut"))
        for metric in _metrics(r):
            key = (r.get("benchmark"), r.get("mode"), metric)
            line = out.setdefault(system, {}).setdefault(
                key, Line(str(key[0]), str(key[1]), metric, None, {}))
            if line.published is None and r.get("published") is not None and len(_metrics(r)) == 1:
                line.published = r["published"]
            value = r.get("reproduced", r.get("recomputed")) if len(_metrics(r)) == 1 else None
            verdict = row_verdict(r)
            ref = reasons.ref(r.get("reason")) if verdict != "MATCH" else None
            outputs = (f"{r['outputs_equal']}/{r['outputs_total']} outputs equal"
                       if r.get("outputs_total") is not None else "")
            line.cells[column] = Cell(value, verdict, ref, outputs)
    order = {"accuracy": 0, "performance": 1, "energy": 2}
    return {s: sorted(lines.values(), key=lambda ln: (ln.benchmark, order.get(ln.mode, 9), ln.metric))
            for s, lines in sorted(out.items())}


def fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.1f}"
    return str(value)
