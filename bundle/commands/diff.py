"""`tinyrepro diff`: one published mode folder against one reproduced run folder.

Prints one record per metric (published, reproduced, verdict, reason; for
accuracy runs also outputs_equal / outputs_total / first_mismatches). The
reproduced side is recomputed from its log.txt. Labels come from --labels, else
the one pinned label file of the run's own dataset (e.g. datasets/kws01/y_labels.csv)
through the fetch layer (--mirror / $TINYREPRO_MIRROR, cache, network unless --offline);
if that fails, top-1/AUC are NOT_RUN with the fetch error as reason. The DUT kind comes from --dut-kind, else the run
folder's run-info.json, else "board". Exit code 1 (EXIT_DIFFERENT) if any record
is DIFFERENT.
"""
from __future__ import annotations

import sys
from pathlib import Path

from bundle.commands.fetch import add_fetch_options, fetcher_from_args
from bundle.diff import DUT_KINDS, diff_mode_dirs, load_policy
from bundle.errors import ReproError
from bundle.catalogue import DATASETS as DATASET
from bundle.report import exit_code_for, terminal_report
from bundle import jsonout


def register(sub) -> None:
    p = sub.add_parser("diff", help="compare a reproduced run folder with a published one")
    p.add_argument("--published", required=True, type=Path,
                   help="published mode folder, e.g. results/microtvm_native/NUCLEO_L4R5ZI/kws/accuracy")
    p.add_argument("--reproduced", required=True, type=Path, help="run folder holding log.txt / results.txt")
    p.add_argument("--format", choices=("json", "table"), default="table")
    p.add_argument("--labels", type=Path, default=None,
                   help="datasets folder with <model>/y_labels.csv (default: the pinned datasets, fetched)")
    p.add_argument("--dut-kind", choices=DUT_KINDS, default=None,
                   help="what produced the run, for a folder that does not say so itself (an EnergyRunner "
                        "session from elsewhere): board (timing compared), sim, host or emulated (timing not "
                        "comparable); default: the DUT part of run-info.json in the run folder, else board")
    p.add_argument("--policy", type=Path, default=None, help="tolerance policy YAML (default: packaged)")
    add_fetch_options(p)
    p.set_defaults(func=run)


def _benchmark(published: Path) -> str | None:
    """The benchmark of a published mode folder (.../<benchmark>/<mode>), read from its log if named otherwise."""
    from bundle.published.parse import load_mode_dir

    name = Path(published).resolve().parent.name
    if name in DATASET:
        return name
    try:
        return load_mode_dir(published).benchmark
    except ReproError:
        return None     # diff_mode_dirs reports the unreadable folder itself


def _labels(args) -> tuple[Path | None, str]:
    """The labels folder (holding <dataset>/y_labels.csv) and, when there is none, why.
    Only the run's own dataset's labels are fetched: scoring a KWS run needs nothing of ad01."""
    if args.labels is not None:
        return args.labels, ""
    benchmark = _benchmark(args.published)
    if benchmark is None:
        return None, "labels not fetched: cannot tell the benchmark of the published folder"
    rel = f"datasets/{DATASET[benchmark]}/y_labels.csv"
    try:
        return fetcher_from_args(args, progress=False).fetch(rel).parent.parent, ""
    except ReproError as exc:
        return None, f"labels not fetched ({rel}): {exc.message}"


def run(args) -> int:
    policy = load_policy(args.policy)
    labels, why = _labels(args)
    rows = diff_mode_dirs(args.published, args.reproduced, labels, args.dut_kind, policy,
                          labels_reason=why or "labels not given")
    if args.format == "json":
        jsonout.dump(rows, sys.stdout, indent=2, default=str)
        print()
    else:
        print(terminal_report(rows))
    return exit_code_for(rows)
