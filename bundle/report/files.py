"""Report files: `<run_dir>/report.md`, `report.csv`, `report.json`.

`write_report(rows, run_dir, title, notes, **sections) -> {"md": Path, "csv": Path, "json": Path}`
writes all three; extra keyword sections (e.g. `stages=[{stage, status, reason}]`,
`environment={...}`) go into the JSON as top-level keys and into the Markdown as
their own tables. `exit_code_for(rows)` is EXIT_DIFFERENT when any row is
DIFFERENT, else EXIT_OK. `terminal_report(rows, notes)` is the text the CLI prints.

Row fields: section, system, benchmark, mode, metric, published, reproduced,
verdict, reason; optional outputs_equal, outputs_total, first_mismatches, detail, and for
published-recompute rows submitter, system_description, board_name, soc_name.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bundle.fsutil import atomic_output
from tabulate import tabulate

from bundle.errors import EXIT_DIFFERENT, EXIT_OK
from bundle.report.tables import row_verdict, rows_table, summary_line, verdict_counts
from bundle import jsonout

CSV_COLUMNS = ["section", "dut", "submitter", "system", "benchmark", "mode", "metric", "published", "reproduced",
               "verdict", "reason", "detail", "outputs_equal", "outputs_total", "first_mismatches",
               "system_description", "board_name", "soc_name", "ratio"]


def normalise(row: dict) -> dict:
    """One row with the report's field names (published-recompute rows say recomputed/status)."""
    out = {c: row.get(c) for c in CSV_COLUMNS}
    if out["reproduced"] is None:
        out["reproduced"] = row.get("recomputed")
    out["verdict"] = row_verdict(row)
    out["reason"] = row.get("reason") or ""
    return out


def exit_code_for(rows: list[dict]) -> int:
    return EXIT_DIFFERENT if any(row_verdict(r) == "DIFFERENT" for r in rows) else EXIT_OK


def _mismatch_lines(rows: list[dict]) -> list[str]:
    lines = []
    for r in rows:
        for m in r.get("first_mismatches") or []:
            lines.append(f"- {r.get('system')} {r.get('benchmark')} `{m['file']}`: "
                         f"published {m['published']}, reproduced {m['reproduced']}")
    return lines


def _section_md(name: str, value) -> list[str]:
    lines = [f"## {name.replace('_', ' ').capitalize()}", ""]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        lines.append(tabulate(value, headers="keys", tablefmt="github"))
    elif isinstance(value, dict):
        lines.append(tabulate(sorted(value.items()), headers=["key", "value"], tablefmt="github"))
    else:
        lines.append(f"```\n{jsonout.dumps(value, indent=2, default=str)}\n```")
    return lines + [""]


def _markdown(rows: list[dict], title: str, notes: list[str], sections: dict) -> str:
    lines = [f"# {title}", "", f"**Verdicts:** {summary_line(rows) or 'no rows'}", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    for name, value in sections.items():
        lines += _section_md(name, value)
    lines += ["## Results", "", rows_table(rows, "github"), ""]
    mismatches = _mismatch_lines(rows)
    if mismatches:
        lines += ["## First output mismatches", ""] + mismatches + [""]
    return "\n".join(lines)


def write_report(rows: list[dict], run_dir: Path, title: str, notes: list[str] | None = None,
                 **sections) -> dict[str, Path]:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    notes = list(notes or [])
    norm = [normalise(r) for r in rows]
    paths = {"md": run_dir / "report.md", "csv": run_dir / "report.csv", "json": run_dir / "report.json"}
    # Each file appears whole or not at all: a killed report stage leaves no half-written report.
    with atomic_output(paths["md"]) as tmp:
        tmp.write_text(_markdown(norm, title, notes, sections), encoding="utf-8")
    frame = pd.DataFrame(norm, columns=CSV_COLUMNS)
    frame["first_mismatches"] = [jsonout.dumps(m) if m else "" for m in frame["first_mismatches"]]
    with atomic_output(paths["csv"]) as tmp:
        frame.to_csv(tmp, index=False)
    doc = {"title": title, "notes": notes, "summary": verdict_counts(norm), **sections, "rows": norm}
    with atomic_output(paths["json"]) as tmp:
        tmp.write_text(jsonout.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    return paths


def terminal_report(rows: list[dict], notes: list[str] | None = None) -> str:
    norm = [normalise(r) for r in rows]
    parts = [rows_table(norm, "simple"), "", f"verdicts: {summary_line(norm) or 'no rows'}"]
    parts += [f"note: {n}" for n in notes or []]
    return "\n".join(parts)
