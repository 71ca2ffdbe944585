"""Row tables for the terminal and Markdown (tabulate), and the verdict summary.

`rows_table(rows, fmt)` renders report rows (`fmt` is a tabulate format:
"github" for Markdown, "simple" for the terminal); `verdict_counts(rows)` counts
rows per verdict, in a fixed order. Rows use `verdict`, or `status` for the
published-recompute records; `row_verdict(row)` reads either.
"""
from __future__ import annotations

from collections import Counter

from tabulate import tabulate

VERDICT_ORDER = ("MATCH", "WITHIN_TOLERANCE", "DIFFERENT", "NOT_COMPARABLE", "NOT_RUN")
COLUMNS = ("section", "dut", "system", "benchmark", "mode", "metric", "published", "reproduced", "verdict", "reason")


def row_verdict(row: dict) -> str:
    return str(row.get("verdict") or row.get("status") or "")


def _cell(value) -> str:
    if value is None:
        return "-"               # never a number that was not computed
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.1f}"
    return str(value)


def _reproduced(row: dict):
    return row.get("reproduced", row.get("recomputed"))


def _outputs(row: dict) -> str:
    if row.get("outputs_total") is None:
        return ""
    return f"{row['outputs_equal']}/{row['outputs_total']}"


def _columns(rows: list[dict]) -> list[str]:
    """COLUMNS, with the submitter before the system when rows name one (published trees)."""
    cols = list(COLUMNS)
    if any(r.get("submitter") for r in rows):
        cols.insert(cols.index("system"), "submitter")
    return cols


def rows_table(rows: list[dict], fmt: str = "simple") -> str:
    with_outputs = any(r.get("outputs_total") is not None for r in rows)
    cols = _columns(rows)
    headers = cols + (["outputs equal"] if with_outputs else [])
    body = []
    for r in rows:
        line = [_cell(r.get(c)) for c in cols]
        line[cols.index("reproduced")] = _cell(_reproduced(r))
        line[cols.index("verdict")] = row_verdict(r)
        line[cols.index("reason")] = str(r.get("reason") or "")
        if with_outputs:
            line.append(_outputs(r))
        body.append(line)
    return tabulate(body, headers=headers, tablefmt=fmt, disable_numparse=True)


def verdict_counts(rows: list[dict]) -> dict[str, int]:
    counts = Counter(row_verdict(r) for r in rows)
    ordered = {v: counts.pop(v, 0) for v in VERDICT_ORDER}
    ordered.update(sorted(counts.items()))
    return ordered


def summary_line(rows: list[dict]) -> str:
    return ", ".join(f"{v} {n}" for v, n in verdict_counts(rows).items() if n)
