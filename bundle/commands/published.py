"""`tinyrepro published`: recompute every published number of a closed/<Submitter>/ tree.

Prints one record per (system, benchmark, metric): published, recomputed, status,
reason, and the matched system description's board and SoC. A folder that cannot
be parsed does not stop the report: its rows are NOT_RUN ("cannot parse: ...") and
the exit code is EXIT_PARSE at the end. A system JSON that cannot be read is a
note (no number depends on it). Notes go to stdout after the table, or to stderr
with --format json (stdout stays one JSON array). Otherwise exit code 1
(EXIT_DIFFERENT) if any record is DIFFERENT.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from bundle.diff import load_policy
from bundle.errors import EXIT_PARSE
from bundle.published.parse import recompute_tree, system_notes
from bundle.report import exit_code_for, terminal_report

FIELDS = ("system", "board_name", "soc_name", "benchmark", "mode", "metric", "published", "recomputed",
          "status", "reason", "detail", "parse_error")


def register(sub) -> None:
    p = sub.add_parser("published", help="recompute the published results from their raw logs and traces")
    p.add_argument("--source", required=True, type=Path,
                   help="folder laid out like closed/<Submitter>/ (results/, systems/)")
    p.add_argument("--format", choices=("json", "table"), default="table")
    p.add_argument("--labels", type=Path, default=None,
                   help="datasets folder with kws01/ ic01/ vww01/ ad01/ y_labels.csv (else top-1/AUC are NOT_RUN)")
    p.add_argument("--policy", type=Path, default=None, help="tolerance policy YAML (default: packaged)")
    p.set_defaults(func=run)


def run(args) -> int:
    policy = load_policy(args.policy)
    rows = recompute_tree(args.source, args.labels, policy, on_error="row")
    notes = system_notes(args.source)
    if args.format == "json":
        json.dump([{k: r.get(k) for k in FIELDS} for r in rows], sys.stdout, indent=2)
        print()
        for n in notes:
            print(f"note: {n}", file=sys.stderr)
    else:
        print(terminal_report(rows, notes))
    if any(r.get("parse_error") for r in rows):
        print("error: some folders could not be parsed (rows with 'cannot parse')", file=sys.stderr)
        return EXIT_PARSE
    return exit_code_for(rows)
