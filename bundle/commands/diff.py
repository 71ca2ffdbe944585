"""`tinyrepro diff`: one published mode folder against one reproduced run folder.

Prints one record per metric (published, reproduced, verdict, reason; for
accuracy runs also outputs_equal / outputs_total / first_mismatches). Exit code 1
(EXIT_DIFFERENT) if any record is DIFFERENT.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from bundle.diff import DUT_KINDS, diff_mode_dirs, load_policy
from bundle.report import exit_code_for, terminal_report


def register(sub) -> None:
    p = sub.add_parser("diff", help="compare a reproduced run folder with a published one")
    p.add_argument("--published", required=True, type=Path,
                   help="published mode folder, e.g. results/microtvm_native/NUCLEO_L4R5ZI/kws/accuracy")
    p.add_argument("--reproduced", required=True, type=Path, help="run folder holding log.txt / results.txt")
    p.add_argument("--format", choices=("json", "table"), default="table")
    p.add_argument("--labels", type=Path, default=None, help="datasets folder with <model>/y_labels.csv")
    p.add_argument("--dut-kind", choices=DUT_KINDS, default="board",
                   help="what produced the run: board (timing compared), sim or emulated (timing not comparable)")
    p.add_argument("--policy", type=Path, default=None, help="tolerance policy YAML (default: packaged)")
    p.set_defaults(func=run)


def run(args) -> int:
    rows = diff_mode_dirs(args.published, args.reproduced, args.labels, args.dut_kind, load_policy(args.policy))
    if args.format == "json":
        json.dump(rows, sys.stdout, indent=2, default=str)
        print()
    else:
        print(terminal_report(rows))
    return exit_code_for(rows)
