"""`tinyrepro published`: recompute every published number of any submitter's tree.

`--source` is one `closed/<Submitter>/` tree in any known layout (bundle/data/layouts.yaml),
or a whole round checkout (`closed/`), which gives one table over all submitters.
Prints one record per (submitter, system, benchmark, metric): published, recomputed,
status, reason, and the matched system description's file, board and SoC. A folder that
cannot be parsed does not stop the report: its rows are NOT_RUN ("cannot parse: ...") and
the exit code is EXIT_PARSE at the end; so does, in a round, a submitter tree of unknown
layout (one such row). A single tree of unknown layout is refused (exit 5) with a message
listing what was found. A system JSON that cannot be read is a note (no number depends on
it). --format table|md print the table then the notes; json|csv print only the rows on
stdout, notes go to stderr. --out DIR also writes report.{md,csv,json} there. Otherwise exit
code 1 (EXIT_DIFFERENT) if any record is DIFFERENT.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

from bundle.diff import load_policy
from bundle.errors import EXIT_PARSE
from bundle.diff_published import recompute_tree
from bundle.published.parse import system_notes
from bundle import jsonout
from bundle.report import exit_code_for, terminal_report, write_report
from bundle.report.tables import rows_table, summary_line

FIELDS = ("submitter", "system", "system_description", "board_name", "soc_name", "benchmark", "mode", "metric",
          "published", "recomputed", "status", "reason", "detail", "parse_error")


def register(sub) -> None:
    p = sub.add_parser("published", help="recompute the published results from their raw logs and traces")
    p.add_argument("--source", required=True, type=Path,
                   help="a submitter's tree laid out like closed/<Submitter>/ (results/, systems/), "
                        "or a round checkout closed/ holding several")
    p.add_argument("--format", choices=("table", "md", "csv", "json"), default="table")
    p.add_argument("--labels", type=Path, default=None,
                   help="datasets folder with kws01/ ic01/ vww01/ ad01/ y_labels.csv (else top-1/AUC are NOT_RUN)")
    p.add_argument("--policy", type=Path, default=None, help="tolerance policy YAML (default: packaged)")
    p.add_argument("--out", type=Path, default=None,
                   help="also write report.md, report.csv and report.json into this folder")
    p.set_defaults(func=run)


def _rows_text(rows: list[dict], fmt: str) -> str:
    records = [{k: r.get(k) for k in FIELDS} for r in rows]
    if fmt == "json":
        return jsonout.dumps(records, indent=2)
    buf = io.StringIO()
    import pandas as pd   # 0.9 s to import: only for this command's CSV, not every command's start

    pd.DataFrame(records, columns=list(FIELDS)).to_csv(buf, index=False)
    return buf.getvalue().rstrip("\n")


def run(args) -> int:
    policy = load_policy(args.policy)
    rows = recompute_tree(args.source, args.labels, policy, on_error="row")
    notes = system_notes(args.source)
    if args.format in ("json", "csv"):
        print(_rows_text(rows, args.format))
        for n in notes:
            print(f"note: {n}", file=sys.stderr)
    elif args.format == "md":
        print(rows_table(rows, "github"))
        print(f"\n**Verdicts:** {summary_line(rows) or 'no rows'}")
        print("".join(f"\n- note: {n}" for n in notes))
    else:
        print(terminal_report(rows, notes))
    if args.out is not None:
        paths = write_report(rows, args.out, f"Published results recomputed: {args.source}", notes)
        print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    if any(r.get("parse_error") for r in rows):
        print("error: some folders could not be parsed (rows with 'cannot parse')", file=sys.stderr)
        return EXIT_PARSE
    return exit_code_for(rows)
