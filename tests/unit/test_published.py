"""Published-results parser and recomputation, on the mirrored OctoML v1.0 tree."""
from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from bundle.cli import main
from bundle.published.layout import board_key, load_systems
from bundle.published.logs import parse_log
from bundle.published.parse import load_tree, recompute_tree
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
    assert Counter(r["status"] for r in _by_metric(rows, "throughput_ips")) == {"MATCH": 8}
    assert Counter(r["status"] for r in _by_metric(rows, "latency_ms")) == {"MATCH": 8}
    energy = _by_metric(rows, "energy_uj")
    assert len(energy) == 8 and all(r["status"] in ("MATCH", "WITHIN_TOLERANCE") for r in energy)
    for metric in ("top1_pct", "auc"):
        classifier = [r for r in _by_metric(rows, metric) if r["benchmark"] != "ad"]
        assert Counter(r["status"] for r in classifier) == {"MATCH": 6}
    assert all("window lines match" in r["detail"] and r["detail"].startswith("5/5")
               for r in rows if r["metric"] in ("throughput_ips", "energy_uj"))


def test_published_values_are_the_spec_table(rows):
    for r in rows:
        if r["metric"] in METRIC_COL:
            assert r["published"] == pytest.approx(SPEC[(r["system"], r["benchmark"])][METRIC_COL[r["metric"]]])


def test_ad_accuracy_is_not_run_because_the_log_is_missing(rows):
    ad = [r for r in rows if r["benchmark"] == "ad" and r["mode"] == "accuracy"]
    assert len(ad) == 4
    for r in ad:
        assert r["status"] == "NOT_RUN" and r["recomputed"] is None
        assert "log.txt missing" in r["reason"] and r["published"] is not None


def test_recomputed_auc_values_are_the_spec_ones(rows):
    auc = {(r["system"].split("/")[0], r["benchmark"]): round(r["recomputed"], 5)
           for r in _by_metric(rows, "auc") if r["recomputed"] is not None}
    assert auc == {("microtvm_native", "kws"): 0.99266, ("microtvm_native", "ic"): 0.98022,
                   ("microtvm_native", "vww"): 0.90065, ("microtvm_cmsis_nn", "kws"): 0.99308,
                   ("microtvm_cmsis_nn", "ic"): 0.97976, ("microtvm_cmsis_nn", "vww"): 0.93641}


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
    assert code == 0 and len(records) == 40
    assert {"system", "benchmark", "metric", "published", "recomputed", "status", "reason"} <= set(records[0])
    kws = [r for r in records if r["system"] == "microtvm_native/NUCLEO_L4R5ZI"
           and r["benchmark"] == "kws" and r["metric"] == "throughput_ips"]
    assert kws[0]["published"] == 6.943 and round(kws[0]["recomputed"], 3) == 6.943
