"""Row tables for the terminal and Markdown (tabulate), and the verdict summary.

`rows_table(rows, fmt)` renders report rows (`fmt` is a tabulate format:
"github" for Markdown, "simple" for the terminal); `verdict_counts(rows)` counts
rows per verdict, in a fixed order. They read `Row`s (bundle.report.row); a record
(dict) is read as one, so `row_verdict(row)` also reads a published-recompute `status`.
"""
from __future__ import annotations

from collections import Counter

from tabulate import tabulate

from bundle.report.row import Row, as_row, as_rows

VERDICT_ORDER = ("MATCH", "WITHIN_TOLERANCE", "DIFFERENT", "NOT_COMPARABLE", "NOT_RUN")
COLUMNS = ("section", "dut", "system", "benchmark", "mode", "metric", "published", "reproduced", "verdict", "reason")


def row_verdict(row: Row | dict) -> str:
    return as_row(row).verdict


def _cell(value) -> str:
    if value is None:
        return "-"               # never a number that was not computed
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.1f}"
    return str(value)


def _outputs(row: Row) -> str:
    if row.outputs_total is None:
        return ""
    return f"{row.outputs_equal}/{row.outputs_total}"


def _columns(rows: list[Row]) -> list[str]:
    """COLUMNS, with the submitter before the system when rows name one (published trees)."""
    cols = list(COLUMNS)
    if any(r.submitter for r in rows):
        cols.insert(cols.index("system"), "submitter")
    return cols


def rows_table(rows: list[Row | dict], fmt: str = "simple") -> str:
    rows = as_rows(rows)
    with_outputs = any(r.outputs_total is not None for r in rows)
    cols = _columns(rows)
    headers = cols + (["outputs equal"] if with_outputs else [])
    body = []
    for r in rows:
        line = [_cell(getattr(r, c)) for c in cols]
        line[cols.index("verdict")] = r.verdict
        line[cols.index("reason")] = str(r.reason)
        if with_outputs:
            line.append(_outputs(r))
        body.append(line)
    return tabulate(body, headers=headers, tablefmt=fmt, disable_numparse=True)


def verdict_counts(rows: list[Row | dict]) -> dict[str, int]:
    counts = Counter(r.verdict for r in as_rows(rows))
    ordered = {v: counts.pop(v, 0) for v in VERDICT_ORDER}
    ordered.update(sorted(counts.items()))
    return ordered


def summary_line(rows: list[Row | dict]) -> str:
    return ", ".join(f"{v} {n}" for v, n in verdict_counts(rows).items() if n)
