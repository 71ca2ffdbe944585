"""Published-results parser and recomputation, on the mirrored OctoML v1.0 tree."""
from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from bundle.cli import main
from bundle.errors import EXIT_PARSE, ParseError
from bundle.published.systems import board_key, load_systems, match_system
from bundle.published.logs import parse_log
from bundle.diff_published import recompute_tree
from bundle.published.parse import MODE_METRICS, load_mode_dir, load_tree, recomputed_metrics
from bundle.published.results import parse_results
from bundle.published.script import infer_counts, parse_script, stimuli

# Spec §6: (system, benchmark) -> published top1, auc, throughput, energy
SPEC = {
    ("microtvm_native/NUCLEO_L4R5ZI", "kws"): (90.2, 0.99, 6.943, 7950.510),
    ("microtvm_native/NUCLEO_L4R5ZI", "ic"): (87.5, 0.98, 2.569, 21342.301),
    ("microtvm_native/NUCLEO_L4R5ZI", "vww"): (83.6, 0.90, 2.971, 17131.583),
    ("microtvm_native/NUCLEO_L4R5ZI", "ad"): (77.0, 0.86, 85.339, 633.734),
    ("microtvm_cmsis_nn/NUCLEO_L4R5ZI", "kws"): (90.1, 0.99, 10.019, 5230.273),
    ("microtvm_cmsis_nn/NUCLEO_L4R5ZI", "ic"): (87.5, 0.98, 2.567, 20236.298),
    ("microtvm_cmsis_nn/NUCLEO_L4R5ZI", "vww"): (85.8, 0.94, 3.320, 15531.354),
    ("microtvm_cmsis_nn/NUCLEO_L4R5ZI", "ad"): (77.4, 0.86, 116.212, 443.184),
    # nRF5340-DK: no energy mode was published
    ("microtvm_cmsis_nn/NRF5340-DK", "kws"): (90.1, 0.99, 13.143, None),
    ("microtvm_cmsis_nn/NRF5340-DK", "ic"): (87.5, 0.98, 3.163, None),
    ("microtvm_cmsis_nn/NRF5340-DK", "vww"): (85.8, 0.94, 4.310, None),
    ("microtvm_cmsis_nn/NRF5340-DK", "ad"): (77.4, 0.86, 159.579, None),
}
METRIC_COL = {"top1_pct": 0, "auc": 1, "throughput_ips": 2, "energy_uj": 3}


@pytest.fixture(scope="module")
def labels_dir(fetcher):
    return fetcher.fetch_tree("datasets/")


@pytest.fixture(scope="module")
def rows(published_root, labels_dir):
    return recompute_tree(published_root, labels_dir)


def _by_metric(rows, metric):
    return [r for r in rows if r["metric"] == metric]


def test_every_present_metric_is_recomputed_and_matches(rows):
    assert Counter(r["status"] for r in _by_metric(rows, "throughput_ips")) == {"MATCH": 12}
    assert Counter(r["status"] for r in _by_metric(rows, "latency_ms")) == {"MATCH": 12}
    energy = _by_metric(rows, "energy_uj")   # the two NUCLEO systems (no nRF5340-DK energy runs)
    assert len(energy) == 8 and all(r["status"] in ("MATCH", "WITHIN_TOLERANCE") for r in energy)
    for metric in ("top1_pct", "auc"):
        classifier = [r for r in _by_metric(rows, metric) if r["benchmark"] != "ad"]
        assert Counter(r["status"] for r in classifier) == {"MATCH": 9}
    assert all("window lines match" in r["detail"] and r["detail"].startswith("5/5")
               for r in rows if r["metric"] in ("throughput_ips", "energy_uj"))


def test_published_values_are_the_spec_table(rows):
    for r in rows:
        if r["metric"] in METRIC_COL:
            assert r["published"] == pytest.approx(SPEC[(r["system"], r["benchmark"])][METRIC_COL[r["metric"]]])


def test_ad_accuracy_is_not_run_because_the_log_is_missing(rows):
    ad = [r for r in rows if r["benchmark"] == "ad" and r["mode"] == "accuracy"]
    assert len(ad) == 6
    for r in ad:
        assert r["status"] == "NOT_RUN" and r["recomputed"] is None
        assert "log.txt missing" in r["reason"] and r["published"] is not None


def test_recomputed_auc_values_are_the_spec_ones(rows):
    auc = {(r["system"].split("/")[0], r["benchmark"]): round(r["recomputed"], 5)
           for r in _by_metric(rows, "auc") if r["recomputed"] is not None and "NUCLEO" in r["system"]}
    assert auc == {("microtvm_native", "kws"): 0.99266, ("microtvm_native", "ic"): 0.98022,
                   ("microtvm_native", "vww"): 0.90065, ("microtvm_cmsis_nn", "kws"): 0.99308,
                   ("microtvm_cmsis_nn", "ic"): 0.97976, ("microtvm_cmsis_nn", "vww"): 0.93641}
    nrf = {r["benchmark"]: round(r["recomputed"], 5) for r in _by_metric(rows, "auc")
           if r["recomputed"] is not None and r["system"] == "microtvm_cmsis_nn/NRF5340-DK"}
    assert nrf == {"kws": 0.99308, "ic": 0.97976, "vww": 0.93641}


def test_without_labels_accuracy_rows_say_why(published_root):
    rows = recompute_tree(published_root, None)
    acc = [r for r in rows if r["mode"] == "accuracy" and r["benchmark"] != "ad"]
    assert acc and all(r["status"] == "NOT_RUN" and r["reason"] == "labels not given" for r in acc)


def test_another_tree_with_other_names_works_unchanged(published_root, labels_dir, tmp_path):
    src = published_root / "results" / "microtvm_cmsis_nn" / "NUCLEO_L4R5ZI"
    root = tmp_path / "closed" / "OtherVendor"
    for bench in ("kws", "ic"):
        for mode in ("performance", "accuracy"):
            shutil.copytree(src / bench / mode, root / "results" / "microtvm_cmsis_nn" / "NRF5340-DK" / bench / mode)
    (root / "systems").mkdir()
    (root / "systems" / "system_description_nrf5340dk_microtvm_cmsis_nn.json").write_text(
        '{"Board Name": "nRF5340 DK"\n"Submitter": "OtherVendor"}')
    rows = recompute_tree(root, labels_dir)
    assert {r["system"] for r in rows} == {"microtvm_cmsis_nn/NRF5340-DK"}
    assert len(rows) == 8 and all(r["status"] == "MATCH" for r in rows)
    (info,) = load_systems(root)
    assert info.repairs and info.matches("microtvm_cmsis_nn", "NRF5340-DK")
    assert {r["board_name"] for r in rows} == {"nRF5340 DK"}      # matched despite the spelling


def test_rows_carry_the_matched_system_description(rows):
    assert {(r["board_name"], r["soc_name"]) for r in rows} == {("NUCLEO-L4R5ZI", "STM32L4R5ZIT6U"),
                                                               ("nRF5340 DK", "nRF5340")}


def test_system_matching_across_spellings_and_variants(tmp_path):
    (tmp_path / "systems").mkdir()
    for stem, board in [("system_description_nucleo-l4r5zi_microtvm", "NUCLEO-L4R5ZI"),
                        ("system_description_NUCLEO_L4R5ZI_microtvm_cmsis_nn", "NUCLEO-L4R5ZI"),
                        ("other_vendor_box", "NRF5340-DK")]:
        (tmp_path / "systems" / f"{stem}.json").write_text(json.dumps({"Board Name": board}))
    systems = load_systems(tmp_path)
    def stem(variant, board):
        info = match_system(systems, variant, board)
        return info.path.stem if info else None
    # "microtvm" is inside both file names: the closer one wins.
    assert stem("microtvm", "NUCLEO_L4R5ZI") == "system_description_nucleo-l4r5zi_microtvm"
    assert stem("microtvm_cmsis_nn", "nucleo_l4r5zi") == "system_description_NUCLEO_L4R5ZI_microtvm_cmsis_nn"
    assert stem("microtvm", "nrf5340dk") is None          # board name matches, variant not in the file name
    assert stem("tflm", "NUCLEO_L4R5ZI") is None


def test_latency_is_the_derived_two_decimal_table_value(rows):
    perf = {(r["system"], r["benchmark"]): r for r in rows if r["metric"] == "throughput_ips"}
    for r in _by_metric(rows, "latency_ms"):
        assert r["published"] == round(1000 / perf[(r["system"], r["benchmark"])]["published"], 2)
        assert r["detail"].startswith("derived: 1000 / median throughput")
    native_kws = next(r for r in _by_metric(rows, "latency_ms")
                      if r["benchmark"] == "kws" and r["system"].startswith("microtvm_native"))
    assert native_kws["published"] == 144.03


def test_board_spellings_normalise():
    assert board_key("NUCLEO_L4R5ZI") == board_key("NUCLEO-L4R5ZI") == board_key("nucleo_l4r5zi")
    assert board_key("NRF5340-DK") == board_key("nrf5340dk")


def test_cmsis_system_json_is_repaired_and_reported(published_root):
    systems = {s.path.name: s for s in load_systems(published_root)}
    cmsis = systems["system_description_NUCLEO_L4R5ZI_microtvm_cmsis_nn.json"]
    assert cmsis.repairs == ["added missing comma at end of line 39"]
    assert cmsis.data["Software Libraries"]["CMSIS_NN"]["SHA"].startswith("51263182")
    assert systems["system_description_NUCLEO_L4R5ZI_microtvm_native.json"].repairs == []


def test_log_pairs_outputs_with_loaded_files(published_root):
    runs = {(r.system, r.benchmark, r.mode): r for r in load_tree(published_root)}
    acc = runs[("microtvm_native/NUCLEO_L4R5ZI", "vww", "accuracy")].log
    assert len(acc.outputs) == 1000 and len(acc.laps) == 2001
    assert acc.outputs[0].file == "000000343218.bin"
    assert all(len(o.values) == 2 for o in acc.outputs)       # VWW trailing comma dropped
    energy = runs[("microtvm_native/NUCLEO_L4R5ZI", "kws", "energy")].log
    assert energy.code == "ulp-ml" and energy.laps == []      # relayed io: [dut]: lines, no laps
    assert energy.infers == [(80, 1)] * 5 and len(energy.outputs) == 5


def test_log_with_final_newline_parses_the_same(published_root, tmp_path):
    src = published_root / "results/microtvm_native/NUCLEO_L4R5ZI/kws/performance/log.txt"
    copy = tmp_path / "log.txt"
    copy.write_text(src.read_text() + "\n")
    assert parse_log(copy).laps == parse_log(src).laps and len(parse_log(src).laps) == 11


def test_script_async_gives_counts_and_stimuli(published_root):
    steps = parse_script(published_root / "results/microtvm_native/NUCLEO_L4R5ZI/ad/performance/script.async")
    assert infer_counts(steps) == [(1000, 10)] * 5
    assert stimuli(steps)[0] == ("normal_id_01_00000003_hist_librosa.bin", 0, 2560)
    assert steps[-1].ms == -1 and steps[-1].ack == "dut.?: m-ready"


def test_results_txt_open_runner_spellings_and_duplicates(tmp_path):
    path = tmp_path / "results.txt"
    path.write_text("0101.120000 ulp-mlperf: Top 1% = 90.2\n0101.120000 ulp-mlperf: AUC = 0.995\n"
                    "0101.120000 ulp-mlperf: Median throughput is      6.943 inf./sec.\n"
                    "0101.120001 ulp-mlperf: Top-1: 91.0%")
    res = parse_results(path)
    assert (res.top1_pct, res.auc, res.median_throughput) == (91.0, 0.995, 6.943)


def test_cli_published_json(published_root, labels_dir, capsys):
    code = main(["published", "--source", str(published_root), "--format", "json", "--labels", str(labels_dir)])
    records = json.loads(capsys.readouterr().out)
    assert code == 0 and len(records) == 56
    assert {"system", "benchmark", "metric", "published", "recomputed", "status", "reason"} <= set(records[0])
    assert Counter(r["status"] for r in records) == {"MATCH": 46, "WITHIN_TOLERANCE": 4, "NOT_RUN": 6}
    assert not any(r["parse_error"] for r in records) and {r["board_name"] for r in records} == {"NUCLEO-L4R5ZI", "nRF5340 DK"}
    kws = [r for r in records if r["system"] == "microtvm_native/NUCLEO_L4R5ZI"
           and r["benchmark"] == "kws" and r["metric"] == "throughput_ips"]
    assert kws[0]["published"] == 6.943 and round(kws[0]["recomputed"], 3) == 6.943


# --- incomplete and broken inputs ----------------------------------------------------------

def _copy_mode(published_root, tmp_path, bench, mode, system="microtvm_native/NUCLEO_L4R5ZI"):
    dst = tmp_path / "tree" / "results" / system / bench / mode
    shutil.copytree(published_root / "results" / system / bench / mode, dst)
    return dst


def _drop_lines(path, marker, keep):
    """Keep the log up to (and including) the keep-th line holding marker."""
    lines = path.read_text().split("\n")
    hits = [i for i, line in enumerate(lines) if marker in line]
    path.write_text("\n".join(lines[:hits[keep - 1] + 1]))


def test_accuracy_log_one_output_short_is_not_run(published_root, labels_dir, tmp_path):
    _drop_lines(_copy_mode(published_root, tmp_path, "kws", "accuracy") / "log.txt", "m-results-[", 999)
    rows = recompute_tree(tmp_path / "tree", labels_dir)
    assert {(r["status"], r["reason"], r["recomputed"]) for r in rows} == {
        ("NOT_RUN", "incomplete log: 999 of 1000 stimuli", None)}


def _ad_run(folder, files, windows):
    """An AD accuracy session: `windows` outputs per (file, label), MSE = label + window/1000."""
    folder.mkdir(parents=True)
    lines = ["100000.000 parser: m-bm-cfg-name[ulp-mlperf]-key[runMode]-val[multi]",
             "100000.000 parser: m-bm-cfg-name[ulp-mlperf]-key[model]-val[ad01]"]
    for name, label in files:
        for w in range(windows.get(name, 196)):
            lines += [f'100000.001 parser: Command "bloadp "/d/ad01/{name}" {w * 512} 2560"',
                      f"100000.002 dut: m-results-[{label + w / 1000:.3f}]"]
    (folder / "log.txt").write_text("\n".join(lines))
    (folder / "results.txt").write_text("100001.000 ulp-mlperf: Top-1: 100.0%\n100001.000 ulp-mlperf: AUC: 1.00")


def test_ad_accuracy_needs_196_windows_for_every_labelled_file(tmp_path):
    files = [("n1.bin", 0), ("n2.bin", 0), ("a1.bin", 1), ("a2.bin", 1)]
    labels = tmp_path / "labels" / "ad01" / "y_labels.csv"
    labels.parent.mkdir(parents=True)
    labels.write_text("".join(f"{f},2,{y},2560,512\n" for f, y in files))
    _ad_run(tmp_path / "whole", files, {})
    whole = recomputed_metrics(load_mode_dir(tmp_path / "whole"), tmp_path / "labels")
    assert (whole["top1_pct"].value, whole["auc"].value) == (100.0, pytest.approx(1.0))
    assert whole["auc"].detail == "784 outputs scored, 4 files (mean window MSE per file)"
    _ad_run(tmp_path / "cut", files, {"a2.bin": 195})
    run = load_mode_dir(tmp_path / "cut")
    cut = recomputed_metrics(run, tmp_path / "labels")
    assert {(v.value, v.reason) for v in cut.values()} == {(None, "incomplete log: 783 of 784 windows (196 per file)")}
    partial = recomputed_metrics(run, tmp_path / "labels", partial_ok=True)   # scored on the 3 whole files
    assert partial["top1_pct"].value == 100.0 and partial["top1_pct"].partial.startswith("partial run: 783 of 784")


def test_ad_duplicated_window_is_not_counted_twice(tmp_path):
    labels = tmp_path / "labels" / "ad01" / "y_labels.csv"
    labels.parent.mkdir(parents=True)
    labels.write_text("n1.bin,2,0,2560,512\na1.bin,2,1,2560,512\n")
    _ad_run(tmp_path / "run", [("n1.bin", 0), ("a1.bin", 1), ("a1.bin", 1)], {"a1.bin": 98})
    values = recomputed_metrics(load_mode_dir(tmp_path / "run"), tmp_path / "labels")
    assert all(v.value is None and v.reason.startswith("duplicated outputs: 98 inputs") for v in values.values())


def test_row_mode_keeps_the_other_folders(published_root, labels_dir, tmp_path):
    bad = _copy_mode(published_root, tmp_path, "kws", "energy")
    (bad / "trace1-energy.bin").write_bytes(b"\xf1\x00")          # cut trace
    _copy_mode(published_root, tmp_path, "kws", "performance")
    with pytest.raises(ParseError, match="too short for a trace"):
        recompute_tree(tmp_path / "tree", labels_dir)                # default: the precise error
    rows = recompute_tree(tmp_path / "tree", labels_dir, on_error="row")
    by_mode = {r["mode"]: r for r in rows}
    assert by_mode["energy"]["parse_error"] and by_mode["energy"]["status"] == "NOT_RUN"
    assert by_mode["energy"]["reason"].startswith("cannot parse: ") and "too short" in by_mode["energy"]["reason"]
    assert [r["status"] for r in rows if r["mode"] == "performance"] == ["MATCH", "MATCH"]


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_cli_published_reports_everything_then_exits_with_parse_code(published_root, labels_dir, tmp_path,
                                                                    capsys, fmt):
    _copy_mode(published_root, tmp_path, "kws", "performance")
    bad = _copy_mode(published_root, tmp_path, "ic", "performance")
    (bad / "log.txt").write_text((bad / "log.txt").read_text().replace("dut: m-lap-us-", "not a log line ", 1))
    (tmp_path / "tree" / "systems").mkdir()
    (tmp_path / "tree" / "systems" / "system_description_x.json").write_text("{\n\"a\": \n}")
    code = main(["published", "--source", str(tmp_path / "tree"), "--format", fmt, "--labels", str(labels_dir)])
    out, err = capsys.readouterr()
    assert code == EXIT_PARSE
    assert "system description not read, ignored: " in (err if fmt == "json" else out)
    if fmt == "json":
        records = json.loads(out)
        assert [r["parse_error"] for r in records] == [True, True, False, False]
        assert [r["status"] for r in records] == ["NOT_RUN", "NOT_RUN", "MATCH", "MATCH"]
    else:
        assert "cannot parse" in out and "MATCH 2, NOT_RUN 2" in out


def test_mode_metrics_cover_every_mode():
    from bundle.catalogue import MODES
    assert set(MODE_METRICS) == set(MODES)
