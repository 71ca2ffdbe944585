"""Tolerance policy, verdicts and the published-vs-reproduced folder diff."""
from __future__ import annotations

import json
import shutil

import pytest

from bundle.cli import main
from bundle.diff import Rule, compare, diff_mode_dirs, load_policy

NATIVE = "results/microtvm_native/NUCLEO_L4R5ZI"


def test_packaged_policy_loads():
    policy = load_policy()
    assert policy.version == 1
    assert policy.rules_for("reproduce", "board")["throughput_ips"].rel_tol == 0.02
    assert policy.rules_for("reproduce", "sim")["throughput_ips"].not_comparable


@pytest.mark.parametrize("pub, other, rule, verdict", [
    (90.2, 90.2, Rule(1), "MATCH"),
    (0.99, 0.99266, Rule(2), "MATCH"),
    (0.99, 0.9849, Rule(2), "DIFFERENT"),
    (7950.510, 7950.641, Rule(3, 1e-4), "WITHIN_TOLERANCE"),
    (6.943, 7.2, Rule(3, 0.02), "DIFFERENT"),
    (6.943, None, Rule(3), "NOT_RUN"),
    (6.943, 50.0, Rule(3, not_comparable="sim"), "NOT_COMPARABLE"),
])
def test_compare_verdicts(pub, other, rule, verdict):
    assert compare(pub, other, rule, "missing")[0] == verdict


@pytest.fixture(scope="module")
def labels_dir(fetcher):
    return fetcher.fetch_tree("datasets/")


def _edit_outputs(src, dst, files):
    """A reproduced run folder: the published log with the vectors of `files` changed."""
    shutil.copytree(src, dst)
    lines = (dst / "log.txt").read_text().split("\n")
    current = None
    for i, line in enumerate(lines):
        for f in files:
            if f'{f}"' in line:
                current = f
        if current and "m-results-[" in line:
            lines[i] = line.split("m-results-[")[0] + "m-results-[0.900,0.100]"
            current = None
    (dst / "log.txt").write_text("\n".join(lines))


def test_accuracy_diff_counts_equal_outputs(published_root, labels_dir, tmp_path):
    pub = published_root / NATIVE / "vww" / "accuracy"
    files = ["000000343218.bin", "000000332570.bin"]          # both labelled 1: now predicted 0
    _edit_outputs(pub, tmp_path / "run", files)
    rows = diff_mode_dirs(pub, tmp_path / "run", labels_dir, "sim")
    top1 = next(r for r in rows if r["metric"] == "top1_pct")
    assert top1["system"] == "microtvm_native/NUCLEO_L4R5ZI"
    assert (top1["outputs_equal"], top1["outputs_total"]) == (998, 1000)
    assert [m["file"] for m in top1["first_mismatches"]] == files
    assert top1["first_mismatches"][0]["reproduced"] == [0.9, 0.1]
    assert top1["verdict"] in ("MATCH", "DIFFERENT") and top1["reproduced"] is not None


def test_performance_diff_sim_is_not_comparable_board_is_compared(published_root, tmp_path):
    pub = published_root / NATIVE / "kws" / "performance"
    rep = published_root / "results/microtvm_cmsis_nn/NUCLEO_L4R5ZI/kws/performance"
    sim = diff_mode_dirs(pub, rep, None, "sim")
    assert {r["verdict"] for r in sim} == {"NOT_COMPARABLE"} and all(r["reason"] for r in sim)
    board = diff_mode_dirs(pub, rep, None, "board")
    assert {r["verdict"] for r in board} == {"DIFFERENT"}
    same = diff_mode_dirs(pub, pub, None, "board")
    assert {r["verdict"] for r in same} == {"MATCH"}


def test_cli_diff_json_and_exit_code(published_root, labels_dir, capsys):
    pub = published_root / NATIVE / "kws" / "accuracy"
    code = main(["diff", "--published", str(pub), "--reproduced", str(pub), "--format", "json",
                 "--labels", str(labels_dir), "--dut-kind", "sim"])
    records = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {r["metric"]: r["verdict"] for r in records} == {"top1_pct": "MATCH", "auc": "MATCH"}
    assert all(r["outputs_equal"] == r["outputs_total"] == 1000 for r in records)
