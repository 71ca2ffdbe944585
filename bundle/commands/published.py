"""`tinyrepro published`: recompute every published number of a closed/<Submitter>/ tree.

Prints one record per (system, benchmark, metric): published, recomputed, status,
reason. Exit code 1 (EXIT_DIFFERENT) if any record is DIFFERENT.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from bundle.diff import load_policy
from bundle.published.parse import recompute_tree, system_notes
from bundle.report import exit_code_for, terminal_report

FIELDS = ("system", "benchmark", "mode", "metric", "published", "recomputed", "status", "reason", "detail")


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
    rows = recompute_tree(args.source, args.labels, load_policy(args.policy))
    records = [{k: r.get(k) for k in FIELDS} for r in rows]
    if args.format == "json":
        json.dump(records, sys.stdout, indent=2)
        print()
    else:
        print(terminal_report(rows, system_notes(args.source)))
    return exit_code_for(rows)
