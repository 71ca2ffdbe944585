"""Report files: `<run_dir>/report.md`, `report.csv`, `report.json`.

`write_report(rows, run_dir, title, notes, **sections) -> {"md": Path, "csv": Path, "json": Path}`
writes all three; extra keyword sections (e.g. `stages=[{stage, status, reason}]`,
`environment={...}`) go into the JSON as top-level keys and into the Markdown as
their own tables. `exit_code_for(rows)` is EXIT_DIFFERENT when any row is
DIFFERENT, else EXIT_OK. `terminal_report(rows, notes)` is the text the CLI prints.

Rows are bundle.report.row.Row (records given as dicts are read as Rows): section, system,
benchmark, mode, metric, published, reproduced, verdict, reason; optional outputs_equal,
outputs_total, first_mismatches, detail, and for published-recompute rows submitter,
system_description, board_name, soc_name.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from bundle.fsutil import atomic_output
from tabulate import tabulate

from bundle.errors import EXIT_DIFFERENT, EXIT_OK
from bundle.report.summary import Reasons, columns, fmt, headline, short_reason, side_by_side
from bundle.report.row import FIELDS, Row, as_rows
from bundle.report.tables import rows_table, summary_line, verdict_counts
from bundle import jsonout

CSV_COLUMNS = list(FIELDS)     # one column per Row field, in its order


def _csv_cell(key: str, value):
    if key == "first_mismatches":
        return jsonout.dumps(value) if value else ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""       # no value to report, as in report.json (null)
    return "" if value is None else value


def exit_code_for(rows: list[Row | dict]) -> int:
    return EXIT_DIFFERENT if any(r.verdict == "DIFFERENT" for r in as_rows(rows)) else EXIT_OK


def _mismatch_lines(rows: list[Row]) -> list[str]:
    lines = []
    for r in rows:
        for m in r.first_mismatches or []:
            lines.append(f"- {r.dut} vs {r.system} {r.benchmark} `{m['file']}`: "
                         f"published {m['published']}, reproduced {m['reproduced']}")
    return lines


WIDE = 60   # a cell wider than this becomes a short text and a numbered detail below


def _narrow(value, reasons: Reasons):
    if not isinstance(value, str) or len(value) <= WIDE:
        return value if not isinstance(value, (dict, list)) else _narrow(jsonout.dumps(value, default=str), reasons)
    if all(c in "0123456789abcdef" for c in value):
        return value[:12] + "…"             # a hash: its head identifies it; the JSON has it whole
    return f"{short_reason(value)} [{reasons.ref(value)}]"


def _section_md(name: str, value, reasons: Reasons) -> list[str]:
    lines = [f"## {name.replace('_', ' ').capitalize()}", ""]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        narrow = [{k: _narrow(v, reasons) for k, v in row.items()} for row in value]
        lines.append(tabulate(narrow, headers="keys", tablefmt="github", disable_numparse=True))
    elif isinstance(value, dict):
        lines.append(f"```json\n{jsonout.dumps(value, indent=2, default=str)}\n```")
    else:
        lines.append(f"```\n{jsonout.dumps(value, indent=2, default=str)}\n```")
    return lines + [""]


def _cell_md(cell) -> str:
    if cell is None:
        return ""
    ref = f" [{cell.ref}]" if cell.ref else ""
    outputs = f" ({cell.outputs})" if cell.outputs else ""
    return f"{fmt(cell.value)} {cell.verdict}{ref}{outputs}"


def _systems_md(rows: list[Row], reasons: Reasons) -> list[str]:
    cols = columns(rows)
    lines = ["## Published and reproduced, per system", ""]
    for system, entries in side_by_side(rows, reasons).items():
        body = [[e.benchmark, e.mode, e.metric, fmt(e.published)] + [_cell_md(e.cells.get(c)) for c in cols]
                for e in entries]
        lines += [f"### {system}", "",
                  tabulate(body, headers=["benchmark", "mode", "metric", "published"] + cols,
                           tablefmt="github", disable_numparse=True), ""]
    return lines


def _markdown(rows: list[Row], title: str, notes: list[str], sections: dict) -> str:
    """Top-down: the headline, the numbers side by side, then why, then the details."""
    head = headline(rows)
    reasons = Reasons()
    lines = [f"# {title}", "", f"**{head.sentence()}**", "", head.recompute_sentence(), "",
             f"Verdict counts (rows): {summary_line(rows) or 'no rows'}. "
             "Figures: report.html beside this file.", ""]
    lines += _systems_md(rows, reasons)
    details: list[str] = []
    for name, value in sections.items():
        if name in ("environment",):
            continue
        details += _section_md(name, value, reasons)
    mismatches = _mismatch_lines(rows)
    lines += ["## Reasons", ""] + [f"{i}. {t}" for i, t in enumerate(reasons.texts, 1)] + [""]
    lines += details
    if mismatches:
        lines += ["## First output mismatches", ""] + mismatches + [""]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    if "environment" in sections:
        lines += _section_md("environment", sections["environment"], reasons)
    return "\n".join(lines)


def write_report(rows: list[Row | dict], run_dir: Path, title: str, notes: list[str] | None = None,
                 **sections) -> dict[str, Path]:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    notes = list(notes or [])
    norm = as_rows(rows)
    paths = {"md": run_dir / "report.md", "csv": run_dir / "report.csv", "json": run_dir / "report.json"}
    # Each file appears whole or not at all: a killed report stage leaves no half-written report.
    with atomic_output(paths["md"]) as tmp:
        tmp.write_text(_markdown(norm, title, notes, sections), encoding="utf-8")
    with atomic_output(paths["csv"]) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in norm:     # None is an empty cell, never a number that was not computed
            writer.writerow({k: _csv_cell(k, v) for k, v in row.as_dict().items()})
    doc = {"title": title, "notes": notes, "summary": verdict_counts(norm), **sections,
           "rows": [r.as_dict() for r in norm]}
    with atomic_output(paths["json"]) as tmp:
        tmp.write_text(jsonout.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    return paths


def terminal_report(rows: list[Row | dict], notes: list[str] | None = None) -> str:
    norm = as_rows(rows)
    parts = [rows_table(norm, "simple"), "", f"verdicts: {summary_line(norm) or 'no rows'}"]
    parts += [f"note: {n}" for n in notes or []]
    return "\n".join(parts)
