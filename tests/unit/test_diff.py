"""Tolerance policy, verdicts and the published-vs-reproduced folder diff."""
from __future__ import annotations

import json
import shutil

import pytest

from bundle.cli import main
from bundle.diff import Rule, compare, diff_mode_dirs, load_policy
from bundle.errors import EXIT_CONFIG, ConfigError, ParseError

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


# --- the reproduced side is recomputed, never read from its own results.txt -----------------

def test_reproduced_side_never_falls_back_to_its_results_txt(published_root, labels_dir, tmp_path):
    pub = published_root / NATIVE / "kws" / "accuracy"
    rep = tmp_path / "run"
    shutil.copytree(pub, rep)
    no_labels = diff_mode_dirs(pub, rep, None, "sim")
    assert {r["reproduced"] for r in no_labels} == {None}
    assert {(r["verdict"], r["reason"]) for r in no_labels} == {("NOT_RUN", "labels not given")}
    (rep / "log.txt").unlink()                        # results.txt still states 90.2 / 0.99
    no_log = diff_mode_dirs(pub, rep, labels_dir, "sim")
    assert {r["reproduced"] for r in no_log} == {None}
    assert all(r["verdict"] == "NOT_RUN" and "log.txt missing" in r["reason"] for r in no_log)


def _cut_after(src, dst, marker, count):
    """A run folder whose log stops right after the count-th line holding marker."""
    shutil.copytree(src, dst)
    lines = (dst / "log.txt").read_text().split("\n")
    hits = [i for i, line in enumerate(lines) if marker in line]
    (dst / "log.txt").write_text("\n".join(lines[:hits[count - 1] + 1]))
    return dst


def test_prefix_run_is_shown_but_not_comparable(published_root, labels_dir, tmp_path):
    pub = published_root / NATIVE / "kws" / "accuracy"
    rep = _cut_after(pub, tmp_path / "run", "m-results-[", 40)      # like `tinyrepro run --limit 40`
    rows = {r["metric"]: r for r in diff_mode_dirs(pub, rep, labels_dir, "sim")}
    for r in rows.values():
        assert r["verdict"] == "NOT_COMPARABLE" and r["reason"] == "partial run: 40 of 1000 stimuli"
        assert r["reproduced"] is not None and (r["outputs_equal"], r["outputs_total"]) == (40, 1000)


def test_truncated_performance_run_is_not_run(published_root, tmp_path):
    pub = published_root / NATIVE / "kws" / "performance"
    rep = _cut_after(pub, tmp_path / "run", "m-lap-us-", 7)
    rows = diff_mode_dirs(pub, rep, None, "board")
    assert {r["verdict"] for r in rows} == {"NOT_RUN"} and {r["reproduced"] for r in rows} == {None}
    assert all(r["reason"].startswith("incomplete run: 7 of 11 timestamps") for r in rows)


def test_duplicated_output_is_not_counted_twice(published_root, labels_dir, tmp_path):
    pub = published_root / NATIVE / "kws" / "accuracy"
    rep = tmp_path / "run"
    shutil.copytree(pub, rep)
    lines = (rep / "log.txt").read_text().split("\n")
    first = next(i for i, line in enumerate(lines) if "m-results-[" in line)
    lines.insert(first + 1, lines[first])
    (rep / "log.txt").write_text("\n".join(lines))
    rows = diff_mode_dirs(pub, rep, labels_dir, "sim")
    assert all(r["verdict"] == "NOT_RUN" and r["reason"].startswith("duplicated outputs: 1 inputs")
               and "tst_000000_Stop_7.bin" in r["reason"] for r in rows)


# --- DUT kind from run-info.json ----------------------------------------------------------------

def _run_folder(src, dst, info=None):
    shutil.copytree(src, dst)
    if info is not None:
        (dst / "run-info.json").write_text(json.dumps(info) if isinstance(info, dict) else info)
    return dst


def test_dut_kind_comes_from_run_info(published_root, tmp_path):
    pub = published_root / NATIVE / "kws" / "performance"
    sim = _run_folder(pub, tmp_path / "sim", {"dut_kind": "sim", "backend": "tflite", "emulated_infer_ms": 144.0})
    rows = diff_mode_dirs(pub, sim)
    assert {r["verdict"] for r in rows} == {"NOT_COMPARABLE"} and {r["dut"] for r in rows} == {"sim"}
    assert all("timing is emulated (set by --sim-infer-ms)" in r["reason"] for r in rows)
    assert all("emulated infer 144.0 ms" in r["detail"] for r in rows)
    assert {r["verdict"] for r in diff_mode_dirs(pub, sim, dut_kind="board")} == {"MATCH"}   # flag wins
    plain = _run_folder(pub, tmp_path / "plain")
    assert {(r["dut"], r["verdict"]) for r in diff_mode_dirs(pub, plain)} == {("board", "MATCH")}


@pytest.mark.parametrize("info, message", [
    ("{not json", "not valid JSON"),
    ({"dut_kind": "fpga"}, "dut_kind 'fpga' is not one of"),
])
def test_bad_run_info_is_a_parse_error(published_root, tmp_path, info, message):
    pub = published_root / NATIVE / "kws" / "performance"
    rep = _run_folder(pub, tmp_path / "run", info)
    with pytest.raises(ParseError, match=message) as err:
        diff_mode_dirs(pub, rep)
    assert err.value.hint


# --- policy file errors, labels through the fetch layer -----------------------------------------

@pytest.mark.parametrize("name", ["nonexistent.yaml", "."])
def test_policy_that_cannot_be_read_is_a_config_error_with_hint(tmp_path, name):
    with pytest.raises(ConfigError) as err:
        load_policy(tmp_path / name)
    assert err.value.hint


def test_cli_diff_bad_policy_exits_with_config_code(published_root, capsys):
    pub = published_root / NATIVE / "kws" / "performance"
    code = main(["diff", "--published", str(pub), "--reproduced", str(pub), "--policy", "/nonexistent"])
    assert code == EXIT_CONFIG and "hint:" in capsys.readouterr().err


def test_cli_diff_fetches_labels_when_not_given(published_root, capsys):
    pub = published_root / NATIVE / "kws" / "accuracy"
    code = main(["diff", "--published", str(pub), "--reproduced", str(pub), "--format", "json", "--dut-kind", "sim"])
    records = json.loads(capsys.readouterr().out)
    assert code == 0 and {r["verdict"] for r in records} == {"MATCH"}


def test_cli_diff_labels_fetch_failure_is_the_reason(published_root, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("TINYREPRO_MIRROR", str(tmp_path / "no-mirror"))
    pub = published_root / NATIVE / "kws" / "accuracy"
    code = main(["diff", "--published", str(pub), "--reproduced", str(pub), "--format", "json"])
    records = json.loads(capsys.readouterr().out)
    assert code == 0 and {r["verdict"] for r in records} == {"NOT_RUN"}
    assert all(r["reason"] == "labels not fetched (datasets/kws01/y_labels.csv): mirror folder not found: "
               f"{tmp_path / 'no-mirror'}" for r in records)


def test_cli_diff_scores_offline_with_only_its_own_datasets_labels(published_root, capsys, tmp_path, kws_dataset):
    """A mirror holding nothing but kws01's labels is enough to score a KWS run offline
    (no other dataset's labels are fetched), and --mirror takes it without the variable."""
    mirror = tmp_path / "mirror" / "datasets" / "kws01"
    mirror.mkdir(parents=True)
    shutil.copy(kws_dataset / "y_labels.csv", mirror / "y_labels.csv")
    pub = published_root / NATIVE / "kws" / "accuracy"
    code = main(["diff", "--published", str(pub), "--reproduced", str(pub), "--format", "json",
                 "--dut-kind", "sim", "--mirror", str(tmp_path / "mirror"), "--offline",
                 "--cache", str(tmp_path / "cache")])
    records = json.loads(capsys.readouterr().out)
    assert code == 0 and {r["verdict"] for r in records} == {"MATCH"}
    assert sorted(p.name for p in (tmp_path / "cache" / "tree" / "datasets").iterdir()) == ["kws01"]


def test_latency_rows_say_they_are_derived_even_when_not_run(published_root, tmp_path):
    pub = published_root / NATIVE / "kws" / "performance"
    rep = _cut_after(pub, tmp_path / "run", "m-lap-us-", 3)
    latency = next(r for r in diff_mode_dirs(pub, rep, None, "board") if r["metric"] == "latency_ms")
    assert latency["published"] == 144.03 and latency["verdict"] == "NOT_RUN"
    assert latency["detail"].startswith("derived: 1000 / median throughput")
